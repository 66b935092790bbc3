"""c147.optim.Adagrad against torch.optim.Adagrad, the sheet's Adagrad box, and the sheet's later (wrong) rule."""

from __future__ import annotations

import copy
import inspect
import math

import pytest
import torch
from torch.optim.optimizer import _get_scalar_dtype

from c147.optim.adagrad import Adagrad
from tests.optim.trajectory import (
    TIGHT,
    assert_same_params,
    assert_same_state,
    make_loss,
    make_model,
    param_groups,
    run,
)
from tests.twins import DEVICES

CASES = {
    "default": dict(),
    "lr": dict(lr=0.1),
    "lr_decay": dict(lr=0.1, lr_decay=0.05),
    "weight_decay": dict(lr=0.1, weight_decay=0.05),
    "initial_accumulator_value": dict(lr=0.1, initial_accumulator_value=0.3),
    "eps": dict(lr=0.1, eps=1e-3),
    "maximize": dict(lr=0.01, maximize=True),
    "maximize_weight_decay_lr_decay": dict(lr=0.01, maximize=True, weight_decay=0.05, lr_decay=0.1),
    "all": dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-6),
    "tensor_lr": dict(lr=torch.tensor(0.1), lr_decay=0.01),
}


@pytest.mark.parametrize("two_groups", [False, True], ids=["one_group", "two_groups"])
@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_matches_torch(case, foreach, two_groups):
    kwargs = CASES[case]
    ours_model, ours = run(Adagrad, dict(kwargs, foreach=foreach), two_groups=two_groups)
    for torch_foreach in (False, True):
        theirs_model, theirs = run(torch.optim.Adagrad, dict(kwargs, foreach=torch_foreach), two_groups=two_groups)
        assert_same_params(ours_model, theirs_model)
        assert_same_state(ours, theirs)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", ["lr_decay", "all", "maximize_weight_decay_lr_decay"])
def test_trajectory_matches_torch_on_device(case, device, foreach):
    kwargs = dict(CASES[case], foreach=foreach)
    ours_model, ours = run(Adagrad, kwargs, steps=20, two_groups=True, device=device)
    theirs_model, theirs = run(torch.optim.Adagrad, kwargs, steps=20, two_groups=True, device=device)
    assert_same_params(ours_model, theirs_model)
    assert_same_state(ours, theirs)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_trajectory_matches_torch_float32(foreach):
    kwargs = dict(CASES["all"], foreach=foreach)
    ours_model, ours = run(Adagrad, kwargs, dtype=torch.float32)
    theirs_model, theirs = run(torch.optim.Adagrad, kwargs, dtype=torch.float32)
    # float32: ours multiplies -γ̃ into addcdiv's scalar where torch's foreach multiplies it into g first;
    # 60 steps of 1-ulp differences stay well inside 1e-5
    tol = dict(rtol=1e-5, atol=1e-6)
    assert_same_params(ours_model, theirs_model, **tol)
    assert_same_state(ours, theirs, **tol)


def _continue(model, opt, start, steps):
    for step in range(start, start + steps):
        opt.zero_grad()
        make_loss(model, step).backward()
        opt.step()


@pytest.mark.parametrize(
    "src, dst",
    [(Adagrad, torch.optim.Adagrad), (torch.optim.Adagrad, Adagrad), (Adagrad, Adagrad)],
    ids=["ours_to_torch", "torch_to_ours", "ours_to_ours"],
)
@pytest.mark.parametrize("case", ["lr_decay", "all"])
def test_state_dict_round_trip(case, src, dst):
    kwargs = CASES[case]
    model, opt = run(src, kwargs, steps=20, two_groups=True)
    model_dst = copy.deepcopy(model)
    opt_dst = dst(param_groups(model_dst, True), **kwargs)
    # load_state_dict keeps the very tensors it is given when dtype and device match: a deep copy each, as a
    # checkpoint on disk would be, so the two runs do not share accumulators
    opt_dst.load_state_dict(copy.deepcopy(opt.state_dict()))
    model_src = copy.deepcopy(model)
    opt_src = src(param_groups(model_src, True), **kwargs)
    opt_src.load_state_dict(copy.deepcopy(opt.state_dict()))
    _continue(model_src, opt_src, 20, 20)
    _continue(model_dst, opt_dst, 20, 20)
    assert_same_params(model_dst, model_src)
    assert_same_state(opt_dst, opt_src)


def test_state_dict_with_float_step_loads_as_tensor():
    """Old checkpoints stored ``step`` as a number; like torch, loading turns it into a scalar tensor."""
    _, opt = run(Adagrad, CASES["lr_decay"], steps=3)
    sd = copy.deepcopy(opt.state_dict())
    for st in sd["state"].values():
        st["step"] = float(st["step"])
    for cls in (Adagrad, torch.optim.Adagrad):
        fresh = cls(make_model().parameters(), **CASES["lr_decay"])
        fresh.load_state_dict(copy.deepcopy(sd))
        steps = [fresh.state[p]["step"] for p in fresh.param_groups[0]["params"]]
        assert all(torch.is_tensor(s) and s.dtype == _get_scalar_dtype() for s in steps)
        assert [s.item() for s in steps] == [st["step"] for st in sd["state"].values()]


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


def test_default_foreach_on_cpu_is_the_single_tensor_path(monkeypatch):
    def refuse(self, group):
        raise AssertionError("foreach path taken on CPU")

    monkeypatch.setattr(Adagrad, "_step_foreach", refuse)
    run(Adagrad, CASES["lr_decay"], steps=2)


def test_closure_loss_is_returned():
    model = make_model()
    opt = Adagrad(model.parameters(), lr=0.1)
    loss = opt.step(lambda: make_loss(model, 1).backward() or torch.tensor(3.0))
    assert loss.item() == 3.0
    assert opt.step() is None


def test_share_memory():
    opt = Adagrad(make_model().parameters())
    opt.share_memory()
    assert all(st["sum"].is_shared() for st in opt.state.values())


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")  # raised inside torch's own sparse Adagrad
@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("case", ["default", "lr_decay", "initial_accumulator_value", "maximize"])
def test_sparse_gradients_match_torch(case, foreach):
    def train(cls, kwargs):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(10, 3, sparse=True, dtype=torch.float64)
        opt = cls(emb.parameters(), **kwargs)
        for step in range(6):
            opt.zero_grad()
            idx = torch.tensor([[step % 10, 3, 3, (2 * step) % 10]])  # a repeated index: coalesced first
            emb(idx).pow(2).sum().backward()
            opt.step()
        return emb, opt

    ours_emb, ours = train(Adagrad, dict(CASES[case], foreach=foreach))
    theirs_emb, theirs = train(torch.optim.Adagrad, CASES[case])
    assert_same_params(ours_emb, theirs_emb)
    assert_same_state(ours, theirs)


@pytest.mark.parametrize("cls", [Adagrad, torch.optim.Adagrad], ids=["ours", "torch"])
def test_sparse_gradients_refuse_weight_decay(cls):
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = cls(emb.parameters(), weight_decay=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="weight_decay option is not compatible with sparse gradients"):
        opt.step()


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_complex_parameters_match_torch(foreach):
    def train(cls, **kwargs):
        p = torch.nn.Parameter(torch.tensor([1 + 2j, -0.5 + 0.1j, 3 - 1j], dtype=torch.complex128))
        opt = cls([p], lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.2, **kwargs)
        for _ in range(10):
            opt.zero_grad()
            (p * p.conj()).real.sum().backward()
            opt.step()
        return p, opt

    (p, ours), (q, theirs) = train(Adagrad, foreach=foreach), train(torch.optim.Adagrad)
    torch.testing.assert_close(p, q, **TIGHT)
    assert_same_state(ours, theirs)


INVALID = [
    (dict(lr=-0.1), "Invalid learning rate: -0.1"),
    (dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
    (dict(lr_decay=-0.5), "Invalid lr_decay value: -0.5"),
    (dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    (dict(initial_accumulator_value=-1.0), "Invalid initial_accumulator_value value: -1.0"),
    (dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
]


@pytest.mark.parametrize("cls", [Adagrad, torch.optim.Adagrad], ids=["ours", "torch"])
@pytest.mark.parametrize("kwargs, message", INVALID)
def test_invalid_hyperparameters(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(make_model().parameters(), **kwargs)


@pytest.mark.parametrize("switch", ["fused", "differentiable"])
def test_unimplemented_switches_refused(switch):
    with pytest.raises(NotImplementedError, match=f"{switch}=True"):
        Adagrad(make_model().parameters(), **{switch: True})


def test_signature_is_torchs():
    """foreach is positional after eps, the rest keyword-only, with torch's defaults."""
    ours, theirs = inspect.signature(Adagrad).parameters, inspect.signature(torch.optim.Adagrad).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [
        (p.name, p.kind, p.default) for p in theirs.values()
    ]


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
