"""c147.optim.Adam and AdamW: AdamW is Adam with decoupled weight decay, and the sheet's Adam and
bias-correction claims.

What Adam and AdamW share with every optimizer (parity with torch's twins, state_dicts, invalid arguments,
...) is tested over the table in test_optimizers.py.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.optim.adam as torch_adam

import c147.optim.adam as c147_adam
from c147.optim.adam import Adam
from c147.optim.adamw import AdamW
from tests.optim.trajectory import EXACT, assert_same_params, make_model, run, train

# ---- AdamW ------------------------------------------------------------------------------------------------------


def test_adamw_is_adam_with_decoupled_weight_decay():
    """AdamW shares Adam's code: the same trajectory as Adam(decoupled_weight_decay=True, weight_decay=1e-2)."""
    assert issubclass(AdamW, Adam)
    model, opt = run(AdamW, {})
    model_a, opt_a = run(Adam, dict(weight_decay=1e-2, decoupled_weight_decay=True))
    assert_same_params(model, model_a, **EXACT)
    assert opt.defaults["weight_decay"] == 1e-2 and opt.defaults["decoupled_weight_decay"] is True


def test_decoupled_decay_differs_from_l2():
    """The two weight decays are different algorithms: the test above is not vacuous."""
    model, _ = run(Adam, dict(weight_decay=0.1))
    model_w, _ = run(Adam, dict(weight_decay=0.1, decoupled_weight_decay=True))
    assert not torch.allclose(model[0].weight, model_w[0].weight, rtol=1e-3)


def test_adamw_loading_an_adam_state_dict_stays_decoupled():
    model = make_model()
    adam = torch.optim.Adam(model.parameters(), weight_decay=0.1)
    train(model, adam, 3)
    opt = AdamW(model.parameters())
    opt.load_state_dict(adam.state_dict())
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    assert opt.param_groups[0]["weight_decay"] == 0.1


# ---- the sheet ---------------------------------------------------------------------------------------------------


def test_sheet_erratum_second_moment_is_g_squared_not_g_log():
    """Sheet: ``a = B2 a + (1 - B2) g log``. Adam's second moment accumulates g ⊙ g (as the RMSprop line does)."""
    beta2 = 0.999
    g = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)
    for cls in (Adam, torch.optim.Adam):
        p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        opt = cls([p], betas=(0.9, beta2))
        p.grad = g.clone()
        opt.step()
        v = opt.state[p]["exp_avg_sq"]
        torch.testing.assert_close(v, (1 - beta2) * g * g, rtol=0, atol=0)
        g_log = (1 - beta2) * g * torch.log(g)  # the literal reading: NaN for negative gradients
        assert torch.isnan(g_log[1]) and not torch.allclose(v[[0, 2]], g_log[[0, 2]])


def sheet_adam_step(theta, m, t, g, lr=0.1, beta1=0.9):
    """The sheet's last line as written: Θ = Θ - ε / V̂ ⊙ V, with V = β1 V + (1 - β1) g, V̂ = V / (1 - β1^t)."""
    m = beta1 * m + (1 - beta1) * g
    m_hat = m / (1 - beta1**t)
    return theta - lr / m_hat * m, m


def test_sheet_erratum_adam_update_ignores_the_gradient():
    """Sheet: ``Θ = Θ - ε / V̂ ⊙ V``. Since V / V̂ = 1 - β1^t, that moves every coordinate by -ε (1 - β1^t):
    the same step for g and -g, for any scale, and it never uses the second moment. Adam's step is
    -ε m̂ / (√v̂ + δ), whose first step is -ε sign(g)."""
    lr, beta1 = 0.1, 0.9
    g = torch.tensor([1e-3, -1.0, 50.0], dtype=torch.float64)
    theta0 = torch.zeros(3, dtype=torch.float64)
    sheet_plus, _ = sheet_adam_step(theta0, torch.zeros(3, dtype=torch.float64), 1, g, lr, beta1)
    sheet_minus, _ = sheet_adam_step(theta0, torch.zeros(3, dtype=torch.float64), 1, -g, lr, beta1)
    torch.testing.assert_close(sheet_plus, sheet_minus)  # blind to the gradient's sign...
    torch.testing.assert_close(sheet_plus, torch.full((3,), -lr * (1 - beta1), dtype=torch.float64))  # ...and size
    p = torch.nn.Parameter(theta0.clone())
    opt = Adam([p], lr=lr, betas=(beta1, 0.999), eps=0.0)
    p.grad = g.clone()
    opt.step()
    torch.testing.assert_close(p.detach(), -lr * g.sign())


def test_sheet_erratum_adam_update_does_not_minimize():
    """On f(θ) = (θ - 3)² / 2 from θ = 5, the sheet's rule walks down forever (past 3, to -∞); Adam settles at 3."""
    steps, lr = 300, 0.1
    theta, m = torch.tensor([5.0], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for t in range(1, steps + 1):
        theta, m = sheet_adam_step(theta, m, t, theta - 3.0, lr)
    assert theta.item() < 3.0 - 20.0  # ~ 5 - 0.1 (300 - 9): monotone, gradient-blind
    p = torch.nn.Parameter(torch.tensor([5.0], dtype=torch.float64))
    opt = Adam([p], lr=lr)
    for _ in range(steps):
        p.grad = p.detach() - 3.0
        opt.step()
    assert abs(p.item() - 3.0) < 0.05


@pytest.mark.parametrize("beta1, beta2", [(0.9, 0.999), (0.5, 0.9)])
def test_sheet_bias_correction_unbiases_both_moments(beta1, beta2):
    """Sheet: bias correction 'fixes 1st & 2nd moments' and 'amplifies' them: both are divided by 1 - β^t < 1.
    Right (for both moments, not only the 2nd): under a constant gradient g, m̂_t = g and v̂_t = g ⊙ g exactly,
    while the raw averages m_t = (1 - β1^t) g and v_t = (1 - β2^t) g ⊙ g start near 0."""
    g = torch.tensor([0.3, -1.7, 4.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = Adam([p], betas=(beta1, beta2))
    for t in range(1, 8):
        p.grad = g.clone()
        opt.step()
        m, v = opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]
        torch.testing.assert_close(m, (1 - beta1**t) * g)
        torch.testing.assert_close(v, (1 - beta2**t) * g * g)
        torch.testing.assert_close(m / (1 - beta1**t), g)  # m̂_t
        torch.testing.assert_close(v / (1 - beta2**t), g * g)  # v̂_t
        assert 1 / (1 - beta1**t) > 1 and 1 / (1 - beta2**t) > 1  # 'amplifies'


def first_moments_of_noisy_gradients(mean: float, sigma: float, beta1: float, t: int, n: int):
    """m_t of our Adam after t steps of i.i.d. N(mean, sigma²) gradients, n independent coordinates."""
    gen = torch.Generator().manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    opt = Adam([p], betas=(beta1, 0.999))
    for _ in range(t):
        p.grad = mean + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
        opt.step()
    return opt.state[p]["exp_avg"]


@pytest.mark.parametrize("t", [1, 3, 10])
def test_sheet_expected_first_moment(t):
    """Sheet: E[V_t] = M (1 - β1^t) for E[g_i] = M (right): Monte Carlo over 50k coordinates of our Adam."""
    beta1, mean, sigma, n = 0.9, 2.0, 1.0, 50_000
    m = first_moments_of_noisy_gradients(mean, sigma, beta1, t, n)
    var = sigma**2 * (1 - beta1) / (1 + beta1) * (1 - beta1 ** (2 * t))
    # the sample mean is off by less than 5 standard errors sqrt(var / n) (seeded: deterministic)
    assert abs(m.mean().item() - mean * (1 - beta1**t)) < 5 * math.sqrt(var / n)


@pytest.mark.parametrize("beta1", [0.9, 0.99, 0.3])
@pytest.mark.parametrize("t", [1, 4, 25])
def test_sheet_erratum_expected_first_moment_geometric_sum(beta1, t):
    """Sheet: (1 - β1) M Σ β1^{t-i} = M (1 - β1) (1 - β1^t) / (1 - (1 - β1)). The geometric sum is
    (1 - β1^t) / (1 - β1), not / β1; only that gives the sheet's own (right) result M (1 - β1^t)."""
    mean = 2.0
    exact = (1 - beta1) * mean * sum(beta1 ** (t - i) for i in range(1, t + 1))
    assert math.isclose(exact, mean * (1 - beta1**t), rel_tol=1e-12)
    assert math.isclose(exact, mean * (1 - beta1) * (1 - beta1**t) / (1 - beta1), rel_tol=1e-12)
    sheet = mean * (1 - beta1) * (1 - beta1**t) / (1 - (1 - beta1))
    assert not math.isclose(exact, sheet, rel_tol=1e-3)  # equal only at β1 = 1/2


@pytest.mark.parametrize("t", [1, 3, 10])
def test_sheet_erratum_first_moment_variance(t):
    """Sheet: Var[V_t] = M (1 - β1^t) / (1 - β1^t) = M. Wrong: for i.i.d. N(M, σ²) gradients
    Var[m_t] = σ² (1 - β1)² Σ β1^{2(t-i)} = σ² (1 - β1) / (1 + β1) (1 - β1^{2t}), independent of M."""
    beta1, sigma, n = 0.9, 1.5, 50_000
    weights = sum(((1 - beta1) * beta1 ** (t - i)) ** 2 for i in range(1, t + 1))
    closed = sigma**2 * (1 - beta1) / (1 + beta1) * (1 - beta1 ** (2 * t))
    assert math.isclose(sigma**2 * weights, closed, rel_tol=1e-12)
    variances = {mean: first_moments_of_noisy_gradients(mean, sigma, beta1, t, n).var().item() for mean in (0.0, 5.0)}
    for mean, var in variances.items():
        # the sample variance's relative standard error is sqrt(2 / n) ≈ 0.6%: allow 5 of them
        assert abs(var / closed - 1) < 5 * math.sqrt(2 / n), (mean, var, closed)
        assert not math.isclose(var, mean, rel_tol=0.1)  # the sheet's value M
    assert math.isclose(variances[0.0], variances[5.0], rel_tol=5 * math.sqrt(2 / n))  # M plays no part


@pytest.mark.parametrize("functional", [c147_adam.adam, torch_adam.adam], ids=["c147", "torch"])
def test_tensor_lr_with_foreach_is_refused_at_step_like_torch(functional):
    """Adam refuses a tensor lr with foreach=True in the constructor; a group switched to foreach
    afterwards (or loaded so) is refused at the step, by ours as by torch's."""
    lists = ([torch.ones(2)], [torch.ones(2)], [torch.zeros(2)], [torch.zeros(2)], [], [torch.tensor(0.0)])
    hyper = dict(
        amsgrad=False, beta1=0.9, beta2=0.999, lr=torch.tensor(0.1), weight_decay=0.0, eps=1e-8, maximize=False
    )
    with pytest.raises(RuntimeError, match="lr as a Tensor is not supported for capturable=False and foreach=True"):
        functional(*lists, foreach=True, **hyper)
    w = torch.nn.Parameter(torch.ones(2))
    opt = (Adam if functional is c147_adam.adam else torch.optim.Adam)([w], lr=torch.tensor(0.1))
    opt.param_groups[0]["foreach"] = True
    w.grad = torch.ones(2)
    with pytest.raises(RuntimeError, match="lr as a Tensor is not supported"):
        opt.step()
