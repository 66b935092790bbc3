"""c147.optim.RMSprop: the sheet's RMSprop (+ momentum, + Nesterov momentum) equations.

What RMSprop shares with every optimizer (parity with torch.optim.RMSprop, state_dicts, invalid arguments, ...)
is tested over the table in test_optimizers.py.
"""

from __future__ import annotations

import copy

import pytest
import torch

from c147.optim.rmsprop import RMSprop
from tests.optim.trajectory import EXACT, assert_same_params, assert_same_state, make_loss, make_model, run, train

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


# ---- Nesterov momentum (c147's extension: torch.optim.RMSprop has none) ------------------------------------------


def sheet_nesterov_trajectory(lr, beta, nu, alpha, steps, weight_decay=0.0, centered=False, maximize=False):
    """The sheet's Nesterov step on RMSprop's normalized gradient ĝ, written out in float64 (the reference):

    a = β a + (1 - β) g ⊙ g,   ĝ = g / (√a + ν)   (centered: ĝ = g / (√(a - ḡ ⊙ ḡ) + ν), ḡ = β ḡ + (1 - β) g)
    temp = V,   V = α V - ε ĝ,   θ = θ + V + α (V - temp)
    with g = ±∇ + λ θ. Returns the model.
    """
    model = make_model()
    params = list(model.parameters())
    a = [torch.zeros_like(p) for p in params]
    g_avg = [torch.zeros_like(p) for p in params]
    velocity = [torch.zeros_like(p) for p in params]
    for step in range(steps):
        for p in params:
            p.grad = None
        make_loss(model, step).backward()
        with torch.no_grad():
            for i, p in enumerate(params):
                if p.grad is None:
                    continue
                g = (-p.grad if maximize else p.grad) + weight_decay * p
                a[i] = beta * a[i] + (1 - beta) * g * g
                var = a[i]
                if centered:
                    g_avg[i] = beta * g_avg[i] + (1 - beta) * g
                    var = a[i] - g_avg[i] * g_avg[i]
                g_hat = g / (var.sqrt() + nu)
                temp = velocity[i]
                velocity[i] = alpha * velocity[i] - lr * g_hat
                p += velocity[i] + alpha * (velocity[i] - temp)
    return model


NESTEROV_CASES = {
    "plain": dict(lr=0.01, alpha=0.97, eps=1e-8, momentum=0.9),
    "everything": dict(lr=1e-3, alpha=0.9, eps=1e-6, momentum=0.8, weight_decay=0.1, centered=True, maximize=True),
}


@pytest.mark.parametrize("case", NESTEROV_CASES)
@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_nesterov_follows_the_sheets_form(foreach, case):
    """nesterov=True is the sheet's θ = θ + V + α (V - V'), V = α V - ε ĝ (the docstring's derivation: the look-ahead
    b = α b + ĝ, θ = θ - ε (α b + ĝ)), against the float64 reference above: 40 steps, a parameter sometimes
    without gradient. The same order of rounding is not expected (the reference keeps V, ours b): TIGHT."""
    hyper = NESTEROV_CASES[case]
    model_s = sheet_nesterov_trajectory(
        hyper["lr"], hyper["alpha"], hyper["eps"], hyper["momentum"], steps=40,
        weight_decay=hyper.get("weight_decay", 0.0), centered=hyper.get("centered", False),
        maximize=hyper.get("maximize", False),
    )
    model, _ = run(RMSprop, dict(hyper, nesterov=True, foreach=foreach), steps=40)
    assert_same_params(model, model_s)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_nesterov_differs_from_plain_momentum(foreach):
    """The look-ahead is really taken: the same hyperparameters without it (torch's RMSprop) give another
    trajectory, so the test above can tell the two apart."""
    hyper = NESTEROV_CASES["plain"]
    model, _ = run(RMSprop, dict(hyper, nesterov=True, foreach=foreach), steps=20)
    model_t, _ = run(torch.optim.RMSprop, hyper, steps=20)
    assert not torch.allclose(model[0].weight, model_t[0].weight, rtol=1e-4)


@pytest.mark.parametrize("momentum", [0, 0.0])
def test_nesterov_requires_momentum(momentum):
    """As SGD's nesterov: no look-ahead without a momentum buffer."""
    with pytest.raises(ValueError, match=r"^Nesterov momentum requires a momentum > 0, got momentum=0(\.0)?$"):
        RMSprop([torch.nn.Parameter(torch.ones(1))], momentum=momentum, nesterov=True)


def test_nesterov_state_dict_round_trip_and_torch_state_dict_loads_without_it():
    """Ours -> ours keeps nesterov: 30 steps, save, load into a fresh one built *without* it, 10 more steps: as the
    original's 10 more. Ours loads into torch's (the same state keys). A torch RMSprop state_dict (no ``nesterov``
    key) loads with it off: the saved hyperparameters win, as in any load_state_dict."""
    hyper = dict(NESTEROV_CASES["plain"], nesterov=True)
    model, opt = run(RMSprop, hyper, steps=30)
    model_copy = copy.deepcopy(model)
    opt_copy = RMSprop(model_copy.parameters(), **NESTEROV_CASES["plain"])
    opt_copy.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt_copy.param_groups[0]["nesterov"] is True
    twin = torch.optim.RMSprop(copy.deepcopy(model).parameters(), **NESTEROV_CASES["plain"])
    twin.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert_same_state(twin, opt, **EXACT)
    train(model_copy, opt_copy, 10, start=30)
    train(model, opt, 10, start=30)
    assert_same_params(model_copy, model, **EXACT)
    assert_same_state(opt_copy, opt, **EXACT)

    _, torch_opt = run(torch.optim.RMSprop, NESTEROV_CASES["plain"], steps=5)
    ours = RMSprop(make_model().parameters(), **hyper)
    ours.load_state_dict(torch_opt.state_dict())
    assert ours.param_groups[0]["nesterov"] is False


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_nesterov_on_complex_parameters_treats_real_and_imaginary_parts_as_coordinates(foreach):
    """A complex parameter steps as its real view would (torch's rule for complex parameters, on every path)."""
    torch.manual_seed(0)
    z = torch.nn.Parameter(torch.randn(6, dtype=torch.complex128))
    r = torch.nn.Parameter(torch.view_as_real(z.detach()).clone())
    start = r.detach().clone()
    hyper = dict(NESTEROV_CASES["everything"], nesterov=True, foreach=foreach)
    opts = [RMSprop([z], **hyper), RMSprop([r], **hyper)]
    for _ in range(10):
        for opt in opts:
            opt.zero_grad()
        ((z - (1 + 2j)).abs() ** 2).sum().backward()
        ((r - torch.tensor([1.0, 2.0], dtype=r.dtype)) ** 2).sum().backward()
        for opt in opts:
            opt.step()
    torch.testing.assert_close(torch.view_as_real(z.detach()), r.detach(), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(r, start)  # it moved
