"""c147.optim.Adagrad: its state built at construction (as torch's), the sheet's Adagrad box, and the sheet's
later (wrong) rule.

What Adagrad shares with every optimizer (parity with torch.optim.Adagrad, state_dicts, sparse gradients, ...)
is tested over the table in test_optimizers.py.
"""

from __future__ import annotations

import math

import pytest
import torch

from c147._compat import _get_scalar_dtype
from c147.optim.adagrad import Adagrad
from tests.optim.trajectory import TIGHT, assert_same_params, assert_same_state, make_loss, make_model, run


def test_state_created_at_construction_like_torch():
    """torch builds step = 0 and sum = τ for every parameter in __init__, before any gradient."""
    ours = Adagrad(make_model().parameters(), initial_accumulator_value=0.25)
    theirs = torch.optim.Adagrad(make_model().parameters(), initial_accumulator_value=0.25)
    assert len(ours.state_dict()["state"]) == len(list(make_model().parameters()))
    assert_same_state(ours, theirs)
    for st in ours.state.values():
        assert st["step"].dtype == _get_scalar_dtype() and st["step"].item() == 0
        assert torch.all(st["sum"] == 0.25)


def test_added_param_group_gets_state_from_defaults_like_torch():
    """A group added later gets its state on its first gradient, from ``defaults`` (torch ignores the group's τ)."""

    def build(cls):
        model = make_model()
        params = list(model.parameters())
        opt = cls(params[:3], lr=0.1, initial_accumulator_value=0.2)
        opt.add_param_group({"params": params[3:], "lr": 0.05, "initial_accumulator_value": 0.7})
        for step in range(6):
            opt.zero_grad()
            make_loss(model, step).backward()
            opt.step()
        return model, opt

    (ours_model, ours), (theirs_model, theirs) = build(Adagrad), build(torch.optim.Adagrad)
    assert_same_params(ours_model, theirs_model)
    assert_same_state(ours, theirs)


def test_share_memory():
    opt = Adagrad(make_model().parameters())
    opt.share_memory()
    assert all(st["sum"].is_shared() for st in opt.state.values())


@pytest.mark.parametrize("cls", [Adagrad, torch.optim.Adagrad], ids=["ours", "torch"])
def test_sparse_gradients_refuse_weight_decay(cls):
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = cls(emb.parameters(), weight_decay=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="weight_decay option is not compatible with sparse gradients"):
        opt.step()


# --- the sheet's Adagrad -----------------------------------------------------------------------------------------


def test_sheet_adagrad_box_equals_adagrad():
    """The sheet's a = a + g ⊙ g with θ = θ - ε / (√a + ν) ⊙ g (its RMSProp step, β = 1) is Adagrad."""
    lr, nu = 0.1, 1e-10
    sheet_model = make_model()
    accumulators = {p: torch.zeros_like(p) for p in sheet_model.parameters()}
    for step in range(60):
        sheet_model.zero_grad(set_to_none=True)
        make_loss(sheet_model, step).backward()
        with torch.no_grad():
            for p in sheet_model.parameters():
                if p.grad is not None:
                    accumulators[p] = accumulators[p] + p.grad * p.grad  # a = a + g ⊙ g
                    p -= lr / (accumulators[p].sqrt() + nu) * p.grad  # θ = θ - ε / (√a + ν) ⊙ g
    ours_model, ours = run(Adagrad, dict(lr=lr, eps=nu))
    assert_same_params(sheet_model, ours_model)
    for p_sheet, p in zip(sheet_model.parameters(), ours_model.parameters(), strict=True):
        torch.testing.assert_close(accumulators[p_sheet], ours.state[p]["sum"], **TIGHT)


def _sheet_later_rule(theta, grad_fn, eps, steps):
    """The sheet's later box: α ← α + g_t; θ ← θ + ε / α g_t (scalar, as written)."""
    alpha, path = 0.0, []
    for _ in range(steps):
        g = grad_fn(theta)
        alpha = alpha + g
        theta = theta + eps / alpha * g
        path.append(theta)
    return path


def test_sheet_erratum_adagrad_update():
    """Sheet: α ← α + g_t; θ ← θ + ε/α g_t. Correct: a ← a + g_t ⊙ g_t; θ ← θ - ε g_t / (√a + ν)."""
    eps = 0.1
    # on f(θ) = θ²/2 from θ = 1 (g = θ): the sheet's rule climbs away from the minimum, Adagrad descends
    sheet_path = _sheet_later_rule(1.0, lambda th: th, eps, steps=10)
    assert all(b > a for a, b in zip([1.0, *sheet_path], sheet_path, strict=False))  # |θ| and f grow every step
    theta = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = Adagrad([theta], lr=eps)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = 0.5 * theta.pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        opt.step()
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))
    assert 0.5 * sheet_path[-1] ** 2 > losses[0] == 0.5 > losses[-1]
    # the exact first step: sheet θ_1 = 1 + 0.1 / 1 · 1 = 1.1; Adagrad θ_1 = 1 - 0.1 · 1 / (√1 + ν)
    assert sheet_path[0] == pytest.approx(1.1, rel=1e-15)
    assert 0.5 * (1 - eps / (1 + 1e-10)) ** 2 == pytest.approx(losses[1], rel=1e-15)
    # signed accumulation: gradients +1 then -1 bring the sheet's α back to 0 (a division by zero), while the
    # squares keep Adagrad's a = 2 and its step ε / √2
    grads = iter([1.0, -1.0])
    with pytest.raises(ZeroDivisionError):
        _sheet_later_rule(0.0, lambda th: next(grads), eps, steps=2)
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = Adagrad([p], lr=eps)
    for g in (1.0, -1.0):
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
    assert opt.state[p]["sum"].item() == 2.0
    nu = 1e-10  # Adagrad's default eps
    assert p.item() == pytest.approx(-eps / (1 + nu) + eps / (math.sqrt(2) + nu), rel=1e-12)
