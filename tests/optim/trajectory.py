"""Trajectory parity for optimizers: ours and torch's twin trained side by side, compared key by key.

The model is small, seeded and float64 by default; one parameter gets no gradient on some steps
(its ``.grad`` is ``None``), as torch's own optimizer tests do, and the loss is a closure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

TIGHT = dict(rtol=1e-10, atol=1e-12)  # float64: only the order of floating-point operations may differ
EXACT = dict(rtol=0, atol=0)  # not one bit: the same operations in the same order as torch


def make_model(seed: int = 0, dtype: torch.dtype = torch.float64, device: str = "cpu") -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)
    )
    # a parameter that only sometimes receives a gradient
    model.register_parameter("extra", torch.nn.Parameter(torch.randn(4)))
    return model.to(device=device, dtype=dtype)


def param_groups(model: torch.nn.Module, two_groups: bool) -> list[Any]:
    params = list(model.parameters())
    if not two_groups:
        return params
    return [{"params": params[:3]}, {"params": params[3:], "lr": 0.003}]


@functools.cache
def _batch(seed: int, step: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs and targets of a step (drawn once: every run of a step sees the same, read-only)."""
    g = torch.Generator().manual_seed(seed * 1000 + step)
    x = torch.randn(16, 5, generator=g, dtype=dtype).to(device)
    y = torch.randn(16, 1, generator=g, dtype=dtype).to(device)
    return x, y


def make_loss(model: torch.nn.Module, step: int, seed: int = 0) -> torch.Tensor:
    p = next(model.parameters())
    x, y = _batch(seed, step, p.dtype, p.device)
    loss = (model(x) - y).pow(2).mean()
    if step % 3 != 0:  # 'extra' gets a gradient on two steps out of three; None on the others
        loss = loss + model.extra.sin().sum() * 0.1
    return loss


def run(
    optimizer_cls: Callable[..., torch.optim.Optimizer],
    kwargs: dict[str, Any],
    steps: int = 60,
    two_groups: bool = False,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """Train the seeded model ``steps`` steps with ``optimizer_cls(**kwargs)`` and a closure."""
    model = make_model(seed, dtype, device)
    opt = optimizer_cls(param_groups(model, two_groups), **kwargs)
    sched = scheduler(opt) if scheduler else None
    for step in range(steps):
        train(model, opt, 1, start=step, seed=seed)
        if sched is not None:
            sched.step()
    return model, opt


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, start: int = 0, seed: int = 0) -> None:
    """Continue the trajectory of :func:`run` from step ``start`` (with a closure, as :func:`run` does)."""
    for step in range(start, start + steps):

        def closure(step=step):
            opt.zero_grad()  # set_to_none: 'extra' really has grad None on every third step
            loss = make_loss(model, step, seed)
            loss.backward()
            return loss

        opt.step(closure)


def assert_same_state(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer, **tol) -> None:
    """Every state tensor of every parameter equal, key by key, and the same param_groups."""
    tol = tol or TIGHT
    sd_ours, sd_theirs = ours.state_dict(), theirs.state_dict()
    assert sd_ours["state"].keys() == sd_theirs["state"].keys()
    for idx, st in sd_theirs["state"].items():
        assert sd_ours["state"][idx].keys() == st.keys(), (idx, sorted(sd_ours["state"][idx]), sorted(st))
        for key, value in st.items():
            mine = sd_ours["state"][idx][key]
            if torch.is_tensor(value):
                assert torch.is_tensor(mine), (idx, key)
                torch.testing.assert_close(mine, value, **tol, msg=lambda m, i=idx, k=key: f"state[{i}][{k}]: {m}")
            else:
                assert mine == value, (idx, key, mine, value)
    for g_ours, g_theirs in zip(sd_ours["param_groups"], sd_theirs["param_groups"], strict=True):
        for key in g_theirs:
            if key in ("foreach", "fused", "differentiable", "capturable", "decoupled_weight_decay"):
                continue  # implementation switches, not hyperparameters
            assert key in g_ours, key
            assert g_ours[key] == g_theirs[key], (key, g_ours[key], g_theirs[key])


def assert_same_params(ours: torch.nn.Module, theirs: torch.nn.Module, **tol) -> None:
    tol = tol or TIGHT
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p, q, **tol, msg=lambda m, n=name: f"parameter {n}: {m}")
