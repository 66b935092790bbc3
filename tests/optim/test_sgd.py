"""c147.optim.SGD: the sheet's momentum and Nesterov forms, and the sheet's errata.

What SGD shares with every optimizer (parity with torch.optim.SGD, state_dicts, sparse gradients, ...) is
tested over the table in test_optimizers.py.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from c147.optim.sgd import SGD
from tests.optim.trajectory import TIGHT, assert_same_params, make_loss, make_model, run


def test_first_momentum_buffer_is_a_copy_of_the_gradient():
    """b_1 = g_1: a copy (equal to the bit, not the gradient tensor itself), only where a gradient came."""
    model = make_model()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    make_loss(model, 0).backward()  # step 0: 'extra' gets no gradient
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    opt.step()
    for name, p in model.named_parameters():
        if name == "extra":
            assert p not in opt.state
            continue
        (buf,) = opt.state[p].values()
        torch.testing.assert_close(buf, grads[name], rtol=0, atol=0)
        assert buf.data_ptr() != p.grad.data_ptr()


# --- the sheet's forms ---------------------------------------------------------------------------------------


def _sheet_trajectory(update, lr, steps=60, lr_at=None):
    """Train the trajectory model with a plainly written sheet rule ``update(p, g, velocity, lr)``."""
    model = make_model()
    velocity = {p: torch.zeros_like(p) for p in model.parameters()}
    history = []
    for step in range(steps):
        model.zero_grad(set_to_none=True)
        make_loss(model, step).backward()
        step_lr = lr_at(step) if lr_at else lr
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:  # torch skips a parameter without a gradient; so does the sheet's loop here
                    update(p, p.grad, velocity, step_lr)
        history.append({p: v.clone() for p, v in velocity.items()})
    return model, history


def _sheet_momentum(p, g, velocity, lr, alpha=0.9):
    velocity[p] = alpha * velocity[p] - lr * g  # V = α V - ε g
    p += velocity[p]  # θ += V


def _sheet_nesterov(p, g, velocity, lr, alpha=0.9):
    temp = velocity[p]  # temp = P
    velocity[p] = alpha * velocity[p] - lr * g  # P = α P - ε g
    p += velocity[p] + alpha * (velocity[p] - temp)  # θ += P + α (P - temp)


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_sheet_momentum_forms_equal_torch(nesterov):
    """The sheet's V = αV - εg, θ += V (and its Nesterov rewrite) is torch's b = μb + g, θ -= γb with V = -γ b."""
    lr = 0.05
    sheet_model, history = _sheet_trajectory(_sheet_nesterov if nesterov else _sheet_momentum, lr)
    model = make_model()
    opt = SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=nesterov)
    for step in range(60):
        opt.zero_grad()
        make_loss(model, step).backward()
        opt.step()
        for p_sheet, p in zip(sheet_model.parameters(), model.parameters(), strict=True):
            buf = opt.state[p].get("momentum_buffer", torch.zeros_like(p))
            torch.testing.assert_close(history[step][p_sheet], -lr * buf, **TIGHT)  # V_t = -γ b_t
    assert_same_params(sheet_model, model)


def test_sheet_nesterov_form_equals_torch_nesterov():
    """θ += P + α(P - P_{t-1}) = -ε(1 + α) g_t + α² P_{t-1}; torch: -γ(1 + μ) g_t - γ μ² b_{t-1}; same with P = -γ b."""
    eps, alpha = Fraction(1, 10), Fraction(9, 10)
    grads = [Fraction(3), Fraction(-1, 2), Fraction(7, 4), Fraction(2), Fraction(-5)]
    theta_sheet = theta_torch = Fraction(1)
    p, b = Fraction(0), None
    for g in grads:
        temp = p
        p = alpha * p - eps * g
        theta_sheet += p + alpha * (p - temp)
        b = g if b is None else alpha * b + g
        theta_torch -= eps * (g + alpha * b)
        assert theta_sheet == theta_torch and p == -eps * b  # exact arithmetic: the same number
    model, _ = _sheet_trajectory(_sheet_nesterov, 0.05)
    theirs_model, _ = run(torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True))
    assert_same_params(model, theirs_model)


def test_sheet_momentum_form_differs_from_torch_when_lr_changes():
    """With an lr schedule the forms part: the sheet's V keeps lr-scaled past steps, torch's b keeps raw gradients."""
    lr_at = [0.05 * 0.5 ** (step // 10) for step in range(60)]
    sheet_model, _ = _sheet_trajectory(_sheet_momentum, None, lr_at=lr_at.__getitem__)
    ours_model, _ = run(
        SGD,
        dict(lr=0.05, momentum=0.9),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5),
    )
    theirs_model, _ = run(
        torch.optim.SGD,
        dict(lr=0.05, momentum=0.9),
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5),
    )
    assert_same_params(ours_model, theirs_model)
    gap = max(
        (p - q).abs().max().item() for p, q in zip(sheet_model.parameters(), ours_model.parameters(), strict=True)
    )
    assert gap > 1e-4


# --- the sheet's errata ------------------------------------------------------------------------------------------

EPS, ALPHA, M = Fraction(1, 10), Fraction(1, 2), Fraction(3)
GRADS = [Fraction(2), Fraction(-3), Fraction(5, 2), Fraction(1, 3), Fraction(-7, 5), Fraction(4)]


def _velocities(grads, eps=EPS, alpha=ALPHA):
    """V_t = α V_{t-1} - ε g_t from V_0 = 0, exactly."""
    v, out = Fraction(0), []
    for g in grads:
        v = alpha * v - eps * g
        out.append(v)
    return out


def _scalar_sgd_buffers(grads, lr, momentum):
    """Our SGD on a scalar with loss g_t θ (gradient exactly g_t); the momentum buffers b_t."""
    theta = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    opt = SGD([theta], lr=lr, momentum=momentum)
    bufs = []
    for g in grads:
        opt.zero_grad()
        (float(g) * theta).backward()
        opt.step()
        bufs.append(opt.state[theta]["momentum_buffer"].item())
    return bufs


def test_sheet_erratum_momentum_v2_expansion():
    """Sheet: V_2 = -ε(g_1 + α g_2), V_3 = -ε(g_1 + α g_2 + α² g_3). Correct: V_t = -ε Σ_i α^{t-i} g_i."""
    g1, g2, g3 = GRADS[:3]
    v1, v2, v3 = _velocities(GRADS[:3])
    assert v2 != -EPS * (g1 + ALPHA * g2)  # the sheet's V_2
    assert v2 == -EPS * (g2 + ALPHA * g1)
    assert v3 != -EPS * (g1 + ALPHA * g2 + ALPHA**2 * g3)  # the sheet's V_3
    closed = [-EPS * sum(ALPHA ** (t - i) * GRADS[i - 1] for i in range(1, t + 1)) for t in range(1, len(GRADS) + 1)]
    assert _velocities(GRADS) == closed  # the sheet's final "⇒ V_t = -ε[g_t + α g_{t-1} + ...]" is right
    bufs = _scalar_sgd_buffers(GRADS, float(EPS), float(ALPHA))
    torch.testing.assert_close(torch.tensor([-float(EPS) * b for b in bufs]), torch.tensor([float(v) for v in closed]))


def _expected_theta(t, theta0=Fraction(1)):
    """E[θ_t] exactly: θ_t is linear in the gradients, so E[θ_t] is the trajectory with every g_i = M."""
    return theta0 + sum(_velocities([M] * t))


def test_sheet_erratum_expected_theta_sign():
    """Sheet: E[θ_t] = ε M / (1-α) (t - α(1-α^t)/(1-α)). Correct: θ_0 - ε M / (1-α) (t - α(1-α^t)/(1-α))."""
    theta0 = Fraction(1)
    for t in range(1, 7):
        bracket = t - ALPHA * (1 - ALPHA**t) / (1 - ALPHA)
        sheet = EPS * M / (1 - ALPHA) * bracket
        correct = theta0 - EPS * M / (1 - ALPHA) * bracket
        assert _expected_theta(t, theta0) == correct
        assert _expected_theta(t, theta0) != sheet
        assert _expected_theta(t, Fraction(0)) == -sheet  # even from θ_0 = 0 the sign is wrong
        assert _velocities([M] * t)[-1] == -EPS * M * (1 - ALPHA**t) / (1 - ALPHA)  # the sheet's E[V_t] is right
    # Monte Carlo with our SGD: g_i ~ N(M, σ²) i.i.d., 200k independent scalar runs side by side
    n, t, sigma, lr, mu = 200_000, 5, 2.0, float(EPS), float(ALPHA)
    gen = torch.Generator().manual_seed(0)
    theta = torch.nn.Parameter(torch.ones(n, dtype=torch.float64))
    opt = SGD([theta], lr=lr, momentum=mu)
    for _ in range(t):
        theta.grad = float(M) + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
        opt.step()
    bracket = t - mu * (1 - mu**t) / (1 - mu)
    correct, sheet = 1 - lr * float(M) / (1 - mu) * bracket, lr * float(M) / (1 - mu) * bracket
    standard_error = theta.detach().std().item() / n**0.5
    assert abs(theta.mean().item() - correct) < 5 * standard_error
    assert abs(theta.mean().item() - sheet) > 100 * standard_error


def test_sheet_erratum_expected_theta_3():
    """Sheet: E[θ_3] = θ_0 - εM/(1-α) [3 - (1-α³)/(1-α)]. Correct: θ_0 - εM/(1-α) [3 - α(1-α³)/(1-α)]."""
    theta0 = Fraction(1)
    assert _expected_theta(3, theta0) == theta0 - EPS * M * (3 + 2 * ALPHA + ALPHA**2)  # the sheet's line before
    assert _expected_theta(3, theta0) == theta0 - EPS * M / (1 - ALPHA) * (3 - ALPHA * (1 - ALPHA**3) / (1 - ALPHA))
    assert _expected_theta(3, theta0) != theta0 - EPS * M / (1 - ALPHA) * (3 - (1 - ALPHA**3) / (1 - ALPHA))


def test_sheet_erratum_theta_double_sum():
    """Sheet: θ_t = θ_0 - ε Σ_{j=1}^t Σ_{i=1}^{j-1} α^{j-i} g_i. Correct: the inner sum runs to i = j."""
    theta0, t = Fraction(1), len(GRADS)
    theta_t = theta0 + sum(_velocities(GRADS))
    sheet = theta0 - EPS * sum(ALPHA ** (j - i) * GRADS[i - 1] for j in range(1, t + 1) for i in range(1, j))
    correct = theta0 - EPS * sum(ALPHA ** (j - i) * GRADS[i - 1] for j in range(1, t + 1) for i in range(1, j + 1))
    assert theta_t == correct
    assert theta_t != sheet


def test_sheet_erratum_expected_gradient_label():
    """Sheet: "E[g_t] = -εM/(1-α) Σ_{j=1}^t (1-α^j)". That is E[θ_t] - θ_0; E[g_t] is the gradients' mean M."""
    for t in range(1, 7):
        sheet = -EPS * M / (1 - ALPHA) * sum(1 - ALPHA**j for j in range(1, t + 1))
        assert sheet != M
        assert sheet == _expected_theta(t) - 1


def test_sheet_erratum_momentum_covariance():
    """Sheet: Cov(V_t) = ε²σ² (1-α²)/(1-α) I. Correct: ε²σ² Σ_{i=1}^t α^{2(t-i)} I = ε²σ² (1-α^{2t})/(1-α²) I."""
    for t in range(1, 7):
        weights = sum(ALPHA ** (2 * (t - i)) for i in range(1, t + 1))  # the sheet's own last-but-one line
        assert weights == (1 - ALPHA ** (2 * t)) / (1 - ALPHA**2)
        assert weights != (1 - ALPHA**2) / (1 - ALPHA)
    # Monte Carlo with our SGD: g_i ~ N(0, σ² I), 200k coordinates; V_t = -γ b_t
    n, t, sigma, lr, mu = 200_000, 5, 2.0, 0.1, 0.9
    gen = torch.Generator().manual_seed(1)
    theta = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    opt = SGD([theta], lr=lr, momentum=mu)
    for _ in range(t):
        theta.grad = sigma * torch.randn(n, generator=gen, dtype=torch.float64)
        opt.step()
    v = -lr * opt.state[theta]["momentum_buffer"]
    var = v.pow(2).mean().item()  # E[v v^T] per coordinate (mean zero), as on the sheet
    correct = lr**2 * sigma**2 * (1 - mu ** (2 * t)) / (1 - mu**2)
    sheet = lr**2 * sigma**2 * (1 - mu**2) / (1 - mu)
    relative_error = (2 / n) ** 0.5  # sd of a Gaussian sample second moment / its mean
    assert abs(var / correct - 1) < 5 * relative_error
    assert abs(var / sheet - 1) > 100 * relative_error
