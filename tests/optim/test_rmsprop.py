"""c147.optim.RMSprop against torch.optim.RMSprop, and the sheet's RMSprop (+ momentum) equations."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from c147.optim.rmsprop import RMSprop
from tests.optim.test_adam import DEVICES, EXACT, check_round_trip, same_signature, train
from tests.optim.trajectory import assert_same_params, assert_same_state, make_loss, make_model, run

CASES = {
    "default": {},
    "lr": dict(lr=1e-3),
    "alpha": dict(alpha=0.9),
    "eps": dict(eps=1e-3),
    "weight_decay": dict(weight_decay=0.1),
    "momentum": dict(momentum=0.9),
    "centered": dict(centered=True),
    "momentum_centered": dict(momentum=0.5, centered=True),
    "maximize": dict(maximize=True),
    "maximize_weight_decay": dict(maximize=True, weight_decay=0.1),
    "everything": dict(lr=1e-3, alpha=0.9, weight_decay=0.1, momentum=0.9, centered=True, maximize=True),
}


@functools.cache
def twin_run(case: str, foreach: bool):
    """torch's run of a table case, computed once for both of our paths."""
    return run(torch.optim.RMSprop, dict(CASES[case], foreach=foreach), two_groups=True)


# ---- parity with the twin -------------------------------------------------------------------------------------


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("case", CASES)
def test_trajectory_matches_torch(case, foreach):
    """Both of our paths against both of torch's: 60 steps, two param groups, a parameter sometimes without grad."""
    model, opt = run(RMSprop, dict(CASES[case], foreach=foreach), two_groups=True)
    for torch_foreach in (False, True):
        model_t, opt_t = twin_run(case, torch_foreach)
        assert_same_params(model, model_t)
        assert_same_state(opt, opt_t)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_bit_identical_to_torch_on_cpu(foreach):
    """torch's order of operations is kept: not one bit differs, float64 and float32."""
    kwargs = dict(CASES["everything"], foreach=foreach)
    for dtype in (torch.float64, torch.float32):
        model, opt = run(RMSprop, kwargs, two_groups=True, dtype=dtype)
        model_t, opt_t = run(torch.optim.RMSprop, kwargs, two_groups=True, dtype=dtype)
        assert_same_params(model, model_t, **EXACT)
        assert_same_state(opt, opt_t, **EXACT)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("device", DEVICES)
def test_trajectory_matches_torch_on_device(device, foreach):
    kwargs = dict(momentum=0.9, centered=True, weight_decay=0.1, foreach=foreach)
    model, opt = run(RMSprop, kwargs, device=device)
    model_t, opt_t = run(torch.optim.RMSprop, kwargs, device=device)
    assert_same_params(model, model_t)
    assert_same_state(opt, opt_t)


def test_lr_scheduler_and_tensor_lr_match_torch():
    sched = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)  # noqa: E731
    model, opt = run(RMSprop, dict(momentum=0.9), scheduler=sched)
    model_t, opt_t = run(torch.optim.RMSprop, dict(momentum=0.9), scheduler=sched)
    assert_same_params(model, model_t)
    for foreach in (False, True):
        model, opt = run(RMSprop, dict(lr=torch.tensor(0.01), foreach=foreach))
        model_t, opt_t = run(torch.optim.RMSprop, dict(lr=torch.tensor(0.01), foreach=foreach))
        assert_same_params(model, model_t)
        assert_same_state(opt, opt_t)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_complex_parameters_match_torch(foreach):
    results = []
    for cls in (RMSprop, torch.optim.RMSprop):
        torch.manual_seed(0)
        z = torch.nn.Parameter(torch.randn(6, dtype=torch.complex128))
        opt = cls([z], lr=0.01, momentum=0.9, centered=True, weight_decay=0.1, foreach=foreach)
        for _ in range(10):
            opt.zero_grad()
            ((z - (1 + 2j)).abs() ** 2).sum().backward()
            opt.step()
        results.append((z.detach().clone(), opt))
    (z, opt), (z_t, opt_t) = results
    torch.testing.assert_close(z, z_t, rtol=1e-10, atol=1e-12)
    assert_same_state(opt, opt_t)


def test_signature_matches_torch():
    same_signature(RMSprop, torch.optim.RMSprop)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_foreach_none_chooses_like_torch(foreach, monkeypatch):
    """On CPU torch's default is the single-tensor loop; foreach=None must take that path here."""
    monkeypatch.setattr(RMSprop, "_step_foreach" if not foreach else "_step_single", None)
    model = make_model()
    opt = RMSprop(model.parameters(), foreach=None if not foreach else True)
    train(model, opt, 2)  # would call None (TypeError) on the wrong path
    assert opt.state


def test_foreach_on_several_chunks_is_bit_identical_to_torch():
    """Parameters large enough for several CPU chunks (see c147.optim._foreach.chunked), float32."""
    results = []
    for cls in (RMSprop, torch.optim.RMSprop):
        gen = torch.Generator().manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(n, generator=gen)) for n in (300_000, 100, 70_000, 7)]
        opt = cls(params, weight_decay=0.1, momentum=0.9, centered=True, foreach=True)
        for step in range(4):
            for i, p in enumerate(params):
                p.grad = None if (step == 0 and i == 1) else torch.randn(p.shape, generator=gen)
            opt.step()
        results.append((params, opt))
    (params, opt), (params_t, opt_t) = results
    for p, q in zip(params, params_t, strict=True):
        torch.testing.assert_close(p, q, **EXACT)
    assert_same_state(opt, opt_t, **EXACT)


# ---- state ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [dict(momentum=0.9, centered=True, weight_decay=0.1), {}], ids=["momentum_centered", "plain"]
)
@pytest.mark.parametrize(
    "src, dst",
    [(RMSprop, torch.optim.RMSprop), (torch.optim.RMSprop, RMSprop), (RMSprop, RMSprop)],
    ids=["ours-torch", "torch-ours", "ours-ours"],
)
def test_state_dict_round_trip(src, dst, kwargs):
    check_round_trip(src, dst, kwargs)


@pytest.mark.parametrize(
    "kwargs, keys",
    [
        ({}, {"step", "square_avg"}),
        (dict(momentum=0.9), {"step", "square_avg", "momentum_buffer"}),
        (dict(centered=True), {"step", "square_avg", "grad_avg"}),
        (dict(momentum=0.9, centered=True), {"step", "square_avg", "momentum_buffer", "grad_avg"}),
    ],
)
@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_state_keys_match_torch(kwargs, keys, foreach):
    states = []
    for cls in (RMSprop, torch.optim.RMSprop):
        p = torch.nn.Parameter(torch.ones(3))
        opt = cls([p], foreach=foreach, **kwargs)
        p.grad = torch.ones(3)
        opt.step()
        states.append(opt.state[p])
    ours, theirs = states
    assert ours.keys() == theirs.keys() == keys
    assert ours["step"].dtype == theirs["step"].dtype and ours["step"].shape == () and ours["step"].item() == 1


def test_old_state_dict_with_float_step_is_upgraded():
    model = make_model()
    opt = RMSprop(model.parameters(), momentum=0.9)
    train(model, opt, 3)
    sd = copy.deepcopy(opt.state_dict())
    for st in sd["state"].values():
        st["step"] = float(st["step"])
    for group in sd["param_groups"]:
        del group["centered"], group["maximize"], group["foreach"]
    fresh = RMSprop(make_model().parameters())
    fresh.load_state_dict(sd)
    group = fresh.param_groups[0]
    assert group["centered"] is False and group["maximize"] is False and group["foreach"] is None
    for st in fresh.state.values():
        assert torch.is_tensor(st["step"]) and st["step"].item() > 0


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_parameter_without_grad_gets_no_state(foreach):
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = RMSprop([a, b], momentum=0.9, foreach=foreach)
    a.grad = torch.ones(2)
    opt.step()
    assert a in opt.state and b not in opt.state
    assert torch.equal(b, torch.ones(2))


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_sparse_gradient_is_refused(foreach):
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3).to_sparse()
    with pytest.raises(RuntimeError, match="RMSprop does not support sparse gradients"):
        RMSprop([p], foreach=foreach).step()


def test_closure_is_run_with_grad_enabled_and_its_loss_returned():
    p = torch.nn.Parameter(torch.ones(2))
    opt = RMSprop([p])

    def closure():
        assert torch.is_grad_enabled()
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        assert opt.step(closure).item() == 2.0


# ---- invalid arguments ------------------------------------------------------------------------------------------

INVALID = [
    (dict(lr=-0.01), "Invalid learning rate: -0.01"),
    (dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (dict(alpha=-0.9), "Invalid alpha value: -0.9"),
    (dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
]


@pytest.mark.parametrize("cls", [RMSprop, torch.optim.RMSprop])
@pytest.mark.parametrize("kwargs, message", INVALID)
def test_invalid_arguments(cls, kwargs, message):
    """The same ValueError as torch's (the torch rows check the table itself)."""
    with pytest.raises(ValueError, match=f"^{message}$"):
        cls([torch.nn.Parameter(torch.ones(1))], **kwargs)


@pytest.mark.parametrize("key", ["capturable", "differentiable"])
def test_unimplemented_switches_are_refused(key):
    with pytest.raises(NotImplementedError, match=f"{key}=True"):
        RMSprop([torch.nn.Parameter(torch.ones(1))], **{key: True})
    RMSprop([torch.nn.Parameter(torch.ones(1))], **{key: False})  # off: accepted, kept for state_dicts


# ---- the sheet ---------------------------------------------------------------------------------------------------


def sheet_trajectory(lr: float, beta: float, nu: float, alpha: float, steps: int, lrs=None):
    """The sheet's RMSprop (+ momentum), written out on a copy of the test model:

    a = β a + (1 - β) g ⊙ g;   momentum α = 0:  θ = θ - ε / (√a + ν) ⊙ g
                               momentum α > 0:  V = α V - ε / (√a + ν) ⊙ g,  θ = θ + V
    Returns the model and the velocities V.
    """
    model = make_model()
    params = list(model.parameters())
    a = [torch.zeros_like(p) for p in params]
    velocity = [torch.zeros_like(p) for p in params]
    for step in range(steps):
        eps = lrs[step] if lrs else lr
        for p in params:
            p.grad = None
        make_loss(model, step).backward()
        with torch.no_grad():
            for i, p in enumerate(params):
                if p.grad is None:
                    continue
                g = p.grad
                a[i] = beta * a[i] + (1 - beta) * g * g
                if alpha == 0:
                    p -= eps / (a[i].sqrt() + nu) * g
                else:
                    velocity[i] = alpha * velocity[i] - eps / (a[i].sqrt() + nu) * g
                    p += velocity[i]
    return model, velocity


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_sheet_rmsprop_form_equals_torch(foreach):
    """Sheet: a = β a + (1 - β) g ⊙ g, θ = θ - ε / (√a + ν) ⊙ g (ν outside the root, as in torch)."""
    lr, beta, nu = 0.01, 0.97, 1e-8  # the sheet's β = 0.97
    model_s, _ = sheet_trajectory(lr, beta, nu, alpha=0.0, steps=30)
    model, _ = run(RMSprop, dict(lr=lr, alpha=beta, eps=nu, foreach=foreach), steps=30)
    model_t, _ = run(torch.optim.RMSprop, dict(lr=lr, alpha=beta, eps=nu), steps=30)
    assert_same_params(model, model_s)
    assert_same_params(model_t, model_s)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_sheet_rmsprop_momentum_form_equals_torch(foreach):
    """Sheet: V = α V - ε / (√a + ν) ⊙ g, θ = θ + V. torch keeps b = α b + g / (√a + ν), θ = θ - ε b:
    the same trajectory, with V = -ε b at every step (for a constant ε)."""
    lr, beta, nu, alpha = 0.01, 0.97, 1e-8, 0.9
    model_s, velocity = sheet_trajectory(lr, beta, nu, alpha, steps=30)
    model, opt = run(RMSprop, dict(lr=lr, alpha=beta, eps=nu, momentum=alpha, foreach=foreach), steps=30)
    model_t, _ = run(torch.optim.RMSprop, dict(lr=lr, alpha=beta, eps=nu, momentum=alpha), steps=30)
    assert_same_params(model, model_s)
    assert_same_params(model_t, model_s)
    for p, v in zip(model.parameters(), velocity, strict=True):
        torch.testing.assert_close(-lr * opt.state[p]["momentum_buffer"], v, rtol=1e-10, atol=1e-12)


def test_rmsprop_momentum_forms_differ_when_lr_changes():
    """The docstring's caveat: with a changing ε, torch's θ -= ε_t b_t rescales the past steps, the sheet's V does
    not; so the equality above is a property of constant ε, and this check can tell the two forms apart."""
    lrs = [0.01 if step < 10 else 0.001 for step in range(20)]
    model_s, _ = sheet_trajectory(0.01, 0.97, 1e-8, 0.9, steps=20, lrs=lrs)
    sched = lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[10], gamma=0.1)  # noqa: E731
    model, _ = run(RMSprop, dict(lr=0.01, alpha=0.97, momentum=0.9), steps=20, scheduler=sched)
    assert not torch.allclose(model[0].weight, model_s[0].weight, rtol=1e-4)
