"""Adagrad (Duchi, Hazan & Singer, 2011), by hand: the twin of :class:`torch.optim.Adagrad`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT

from c147._compat import _get_scalar_dtype
from c147.optim._base import TwoPathOptimizer
from c147.optim._foreach import chunked

__all__ = ["Adagrad"]


class Adagrad(TwoPathOptimizer):
    r"""Adagrad: the learning rate of each coordinate divided by the root of its running sum of squared gradients.

    The sheet's rule, completed (``a`` the running sum of squares, ``ε`` the learning rate, ``ν`` = eps)::

        a = a + g ⊙ g
        θ = θ - ε / (√a + ν) ⊙ g

    torch's rule, implemented here (``γ`` = lr, ``η`` = lr_decay, ``λ`` = weight decay, ``τ`` = initial
    accumulator value)::

        a_0 = τ
        g_t = ∇f(θ_{t-1}) + λ θ_{t-1}                  # (-∇f when maximize)
        γ̃_t = γ / (1 + (t - 1) η)
        a_t = a_{t-1} + g_t ⊙ g_t                      # state["sum"]
        θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν)

    "If we've already stepped far in one direction, we'll step less in that direction in the future."

    Where the sheet is wrong (tests/optim/test_adagrad.py, ``test_sheet_erratum_adagrad_update``): its later
    box ``α ← α + g_t;  θ ← θ + ε / α g_t`` accumulates signed gradients (not their squares), has no square
    root and steps *up* the gradient: it is not Adagrad (on ``θ²/2`` it climbs away from the minimum).

    Like torch, the state (``step``, ``sum``) of every parameter is created when the optimizer is built, with
    the constructor's ``initial_accumulator_value`` for every group; a parameter added later with
    :meth:`add_param_group` gets its state on its first gradient, from ``defaults``. ``step`` counts the
    steps in which the parameter had a gradient.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate ``γ`` (the sheet's ``ε``).
        lr_decay: ``η``, the learning rate at step ``t`` is ``γ / (1 + (t - 1) η)``.
        weight_decay: L2 penalty ``λ``, added to the gradient.
        initial_accumulator_value: ``τ``, the starting value of the sum of squares.
        eps: ``ν``, added to ``√a`` (outside the square root, like torch).
        foreach: ``True`` for the ``torch._foreach_*`` path, ``False`` for the per-tensor loop,
            ``None`` to choose like torch (foreach when every parameter is on CUDA).
        maximize: maximize the objective instead of minimizing it.
        differentiable: accepted for state_dict compatibility; ``True`` is not implemented.
        fused: accepted for state_dict compatibility; ``True`` is not implemented.
    """

    unimplemented = ("fused", "differentiable")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        self._refuse_unimplemented(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                _init_state(self.state[p], p, initial_accumulator_value)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if len(p_state) != 0 and not torch.is_tensor(p_state["step"]):
                    p_state["step"] = torch.tensor(float(p_state["step"]), dtype=_get_scalar_dtype())

    def share_memory(self) -> None:
        """Move every ``sum`` tensor to shared memory (for Hogwild-style multiprocessing), like torch."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()

    def _state(self, p: Tensor) -> dict[str, Tensor]:
        """The state of ``p``; created here only for parameters added after construction (torch's rule)."""
        state = self.state[p]
        if len(state) == 0:
            _init_state(state, p, self.defaults["initial_accumulator_value"])
        return state

    def _step_single(self, group: dict[str, Any]) -> None:
        """One tensor at a time, the update written as the equations (also the path for sparse gradients)."""
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        lr_now = _scalar(lr)  # γ̃ when η = 0
        for param in group["params"]:
            grad = param.grad
            if grad is None:
                continue
            state = self._state(param)
            state_sum = state["sum"]
            # t = t + 1
            state["step"] += 1
            if maximize:
                # g_t = -∇f(θ_{t-1})  (ascend)
                grad = -grad
            if weight_decay != 0:
                if grad.is_sparse:
                    raise RuntimeError("weight_decay option is not compatible with sparse gradients")
                # g_t = g_t + λ θ_{t-1}
                grad = grad.add(param, alpha=weight_decay)
            # γ̃_t = γ / (1 + (t - 1) η)  (no read of t when η = 0)
            clr = _decayed_lr(lr, state["step"], lr_decay) if lr_decay != 0 else lr_now
            if grad.is_sparse:
                _sparse_update(param, grad, state_sum, clr, eps)
                continue
            if torch.is_complex(param):  # real and imaginary parts are separate coordinates
                param, grad, state_sum = (torch.view_as_real(t) for t in (param, grad, state_sum))
            # a_t = a_{t-1} + g_t ⊙ g_t
            state_sum.addcmul_(grad, grad)
            # θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν)
            param.addcdiv_(grad, state_sum.sqrt().add_(eps), value=-clr)

    def _step_foreach(self, group: dict[str, Any]) -> None:
        """The same update on lists of tensors, one ``torch._foreach_*`` call per line and device/dtype."""
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        if any(g.is_sparse for g in grads):  # foreach kernels take no sparse tensors
            self._step_single(group)
            return
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        states = [self._state(p) for p in params]
        sums = [s["sum"] for s in states]
        steps = [s["step"] for s in states]
        grouped = Optimizer._group_tensors_by_device_and_dtype([params, grads, sums, steps])
        for lists, _ in grouped.values():
            for dev_params, dev_grads, dev_sums, dev_steps in chunked(lists):  # CPU: cache-sized chunks
                # t = t + 1  (steps are CPU scalars: a tensor 1 takes the fast overload, a Python 1 is wrapped per step)
                torch._foreach_add_(dev_steps, torch.tensor(1.0), alpha=1.0)
                if dev_params[0].is_complex():  # one dtype per group; real and imaginary parts are separate coordinates
                    dev_params, dev_grads, dev_sums = (
                        [torch.view_as_real(t) for t in ts] for ts in (dev_params, dev_grads, dev_sums)
                    )
                if maximize:
                    # g_t = -∇f(θ_{t-1})
                    dev_grads = torch._foreach_neg(dev_grads)
                    if weight_decay != 0:
                        # g_t = g_t + λ θ_{t-1}  (in the fresh copy)
                        torch._foreach_add_(dev_grads, dev_params, alpha=weight_decay)
                elif weight_decay != 0:
                    # g_t = g_t + λ θ_{t-1}
                    dev_grads = torch._foreach_add(dev_grads, dev_params, alpha=weight_decay)
                # a_t = a_{t-1} + g_t ⊙ g_t
                torch._foreach_addcmul_(dev_sums, dev_grads, dev_grads)
                # √a_t + ν
                std = torch._foreach_sqrt(dev_sums)
                torch._foreach_add_(std, eps)
                # θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν),  γ̃_t = γ / (1 + (t - 1) η)
                if lr_decay == 0:
                    torch._foreach_addcdiv_(dev_params, dev_grads, std, value=-_scalar(lr))
                else:
                    minus_clr = [-_decayed_lr(lr, t, lr_decay) for t in dev_steps]
                    torch._foreach_addcdiv_(dev_params, dev_grads, std, minus_clr)


def _init_state(state: dict[str, Tensor], p: Tensor, initial_accumulator_value: float) -> None:
    """``step = 0`` (a CPU scalar of torch's scalar dtype) and ``sum = τ`` (``τ + τi`` for complex ``p``)."""
    state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype())
    tau = initial_accumulator_value
    fill = complex(tau, tau) if p.is_complex() else tau
    state["sum"] = torch.full_like(p, fill, memory_format=torch.preserve_format)


def _sparse_update(param: Tensor, grad: Tensor, state_sum: Tensor, clr: float, eps: float) -> None:
    """The update on the rows a sparse gradient touches (an ``nn.Embedding(sparse=True)`` gradient)."""
    grad = grad.coalesce()  # the update is not linear in g: each index once (so the indices below are valid)
    indices, values = grad._indices(), grad._values()
    # a_t = a_{t-1} + g_t ⊙ g_t  (on the touched entries)
    state_sum.add_(torch.sparse_coo_tensor(indices, values.pow(2), grad.size(), check_invariants=False))
    # √a_t + ν  (on the touched entries)
    std = state_sum.sparse_mask(grad)._values().sqrt_().add_(eps)
    # θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν)
    param.add_(torch.sparse_coo_tensor(indices, values / std, grad.size(), check_invariants=False), alpha=-clr)


def _decayed_lr(lr: float | Tensor, step: Tensor, lr_decay: float) -> float:
    """γ̃_t = γ / (1 + (t - 1) η), computed in lr's own precision when lr is a tensor, as torch does."""
    clr = lr / (1 + (step.item() - 1) * lr_decay)
    return clr.item() if isinstance(clr, Tensor) else clr


def _scalar(x: float | Tensor) -> float:
    """A Python number for a hyperparameter given as a float or a 1-element tensor."""
    return x.item() if isinstance(x, Tensor) else x
