"""c147.optim.RMSprop: the sheet's RMSprop (+ momentum) equations.

What RMSprop shares with every optimizer (parity with torch.optim.RMSprop, state_dicts, invalid arguments, ...)
is tested over the table in test_optimizers.py.
"""

from __future__ import annotations

import pytest
import torch

from c147.optim.rmsprop import RMSprop
from tests.optim.trajectory import assert_same_params, make_loss, make_model, run

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
