"""The sheet's Adam lines (350-366, 595, 609-613): the update written as the sheet writes it beside
torch.optim.Adam in float64, and the first moment's mean and variance, exactly and by seeded Monte Carlo.

Adam's first moment m_t = β₁m_{t-1} + (1-β₁)g_t (the sheet's V) is an exponentially weighted average of the
gradients, its second v_t = β₂v_{t-1} + (1-β₂)g_t⊙g_t RMSProp's accumulator; for i.i.d. gradients of mean M
and variance σ², E[m_t] = M(1-β₁^t) (the bias correction divides it out) and Var[m_t] = σ²(1-β₁)/(1+β₁)
(1-β₁^{2t}), which does not depend on M.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

from c147.theory.adaptive import quadratic_grad, torch_run
from c147.theory.evidence import (
    HOLDS,
    OCR,
    WRONG,
    Evidence,
    Section,
    close,
    evidence,
    gap,
    generator,
    holds_if,
    monte_carlo,
    ocr_if,
    wrong_if,
)
from c147.theory.momentum import M

ADAM = "tests/optim/test_adam.py::"


def adam_parts() -> Evidence:
    """Adam's m is a momentum-style EWMA of g; its v is exactly RMSProp's square_avg (α = β₂) on the same g."""
    traj, state = torch_run(torch.optim.Adam, 10, lr=0.01, betas=(0.9, 0.999))
    gs = [quadratic_grad(torch.tensor([1.0, 1.0], dtype=torch.float64))] + [quadratic_grad(t) for t in traj[:-1]]
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    rms = torch.optim.RMSprop([p], lr=0.01, alpha=0.999)
    for g in gs:
        p.grad = g.clone()
        rms.step()
    m = sum(0.1 * 0.9 ** (10 - i) * gs[i - 1] for i in range(1, 11))
    v = rms.state[p]["square_avg"]
    ok = close(state["exp_avg"], m, 1000) and close(state["exp_avg_sq"], v, 1000)
    return evidence(holds_if(ok), "exp_avg: an EWMA of g (momentum); exp_avg_sq: RMSprop's square_avg",
                    gap_m=gap(state["exp_avg"], m), gap_v=gap(state["exp_avg_sq"], v))


def adam_first_moment() -> Evidence:
    _, state = torch_run(torch.optim.Adam, 1, lr=0.01)
    g = quadratic_grad(torch.tensor([1.0, 1.0], dtype=torch.float64))
    return evidence(holds_if(close(state["exp_avg"], 0.1 * g)), "V = β₁V + (1-β₁)g: torch's exp_avg",
                    gap=gap(state["exp_avg"], 0.1 * g))


def _constant_gradient_adam(steps: int, beta1: float = 0.9, beta2: float = 0.999):
    g = torch.tensor([0.3, -1.7, 4.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = torch.optim.Adam([p], lr=0.01, betas=(beta1, beta2), eps=0.0)
    for _ in range(steps):
        p.grad = g.clone()
        opt.step()
    return g, p.detach(), opt.state[p]


def bias_correction(verdict: str = HOLDS) -> Evidence:
    """Constant g: m_t = (1-β₁^t)g, v_t = (1-β₂^t)g⊙g (shrunk); m̂ = g, v̂ = g⊙g exactly (amplified back)."""
    g, _, state = _constant_gradient_adam(5)
    m_hat, v_hat = state["exp_avg"] / (1 - 0.9**5), state["exp_avg_sq"] / (1 - 0.999**5)
    ok = close(m_hat, g, 10) and close(v_hat, g * g, 10) and 1 / (1 - 0.999**5) > 1
    return evidence(verdict if ok else WRONG, "m̂_5 = g and v̂_5 = g⊙g; both corrections divide by 1 - β^t < 1",
                    v_amplification=1 / (1 - 0.999**5), m_amplification=1 / (1 - 0.9**5))


def adam_defaults() -> Evidence:
    betas = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]).defaults["betas"]
    return evidence(holds_if(tuple(betas) == (0.9, 0.999)), "torch.optim.Adam's default betas", betas=str(betas))


def adam_second_moment() -> Evidence:
    """'g log' is no formula; read as g⊙g (the sheet's RMSProp line) it is torch's exp_avg_sq."""
    g, _, state = _constant_gradient_adam(1)
    g_log = 0.001 * g * torch.log(g)  # the literal reading: nan for negative g
    return evidence(ocr_if(close(state["exp_avg_sq"], 0.001 * g * g), close(state["exp_avg_sq"], g_log)),
                    "exp_avg_sq = (1-β₂) g⊙g after one step", gap=gap(state["exp_avg_sq"], 0.001 * g * g))


def adam_step() -> Evidence:
    """θ_t - θ_{t-1} = -ε V̂/(√α̃ + δ) with V̂ = V/(1-β₁^t), α̃ = α/(1-β₂^t), from torch's state."""
    traj, state = torch_run(torch.optim.Adam, 7, lr=0.01, eps=1e-8)
    m_hat, v_hat = state["exp_avg"] / (1 - 0.9**7), state["exp_avg_sq"] / (1 - 0.999**7)
    step = -0.01 * m_hat / (v_hat.sqrt() + 1e-8)
    return evidence(
        holds_if(close(traj[6] - traj[5], step, 100)), "torch's 7th step from V̂ and α̃", gap=gap(traj[6] - traj[5], step)
    )


def adam_update() -> Evidence:
    """Θ = Θ - ε/V̂ ⊙ V moves every coordinate by -ε(1-β₁^t), whatever g; Adam's first step is -ε sign(g)."""
    g, theta, _ = _constant_gradient_adam(1)
    m = 0.1 * g
    sheet = -0.01 / (m / 0.1) * m
    return evidence(wrong_if(close(sheet, theta), close(theta, -0.01 * g.sign())), "the sheet's step ignores g",
                    sheet=str(sheet.tolist()), adam=str(theta.tolist()))


def first_steps() -> Evidence:
    """With correction the first step is ε·sign(g) (size ε); without, ε(1-β₁)/√(1-β₂) ≈ 3.16ε."""
    g, theta, _ = _constant_gradient_adam(1)
    uncorrected = 0.01 * 0.1 / math.sqrt(0.001)
    return evidence(
        holds_if(close(theta.abs(), torch.full((3,), 0.01, dtype=torch.float64)) and uncorrected > 3 * 0.01),
        "first step ε with bias correction, 3.16ε without", uncorrected_first_step=uncorrected
    )


def _adam_first_moments(mean: float, sigma: float, beta1: float, t: int, n: int):
    """m_t of torch.optim.Adam after t steps of i.i.d. N(mean, σ²) gradients, n coordinates."""
    gen = generator(161)
    p = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    opt = torch.optim.Adam([p], betas=(beta1, 0.999))
    for _ in range(t):
        p.grad = mean + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
        opt.step()
    return opt.state[p]["exp_avg"]


def adam_geometric_sum() -> Evidence:
    """(1-β₁)M Σ β₁^{t-i} = M(1-β₁^t): the sum is (1-β₁^t)/(1-β₁); the sheet divides by 1-(1-β₁) = β₁."""
    b, t = Fraction(9, 10), 4
    exact = (1 - b) * M * sum(b ** (t - i) for i in range(1, t + 1))
    sheet = M * (1 - b) * (1 - b**t) / (1 - (1 - b))
    return evidence(
        wrong_if(sheet == exact, exact == M * (1 - b**t)), "β₁ = 0.9, t = 4", exact=float(exact), sheet=float(sheet)
    )


def adam_expected_moment(n: int = 50_000, t: int = 3, beta1: float = 0.9, mean: float = 2.0, sigma: float = 1.0):
    """E[m_t] = M(1-β₁^t), sampled through torch.optim.Adam (contrast: M); with the bias correction
    m̂_t = m_t/(1-β₁^t), E[m̂_t] = M (contrast: M(1-β₁^t))."""
    m = _adam_first_moments(mean, sigma, beta1, t, n)
    raw = monte_carlo("E_m3", m, mean * (1 - beta1**t), mean)
    corrected = monte_carlo("E_m3_hat", m / (1 - beta1**t), mean, mean * (1 - beta1**t))
    return evidence(holds_if(raw.ok and corrected.ok), "sampled E[m_3] = M(1-β₁³), E[m̂_3] = M", raw, corrected)


def adam_variance(n: int = 50_000, t: int = 3, beta1: float = 0.9, mean: float = 5.0, sigma: float = 1.5):
    """Var[m_t] = σ²(1-β₁)/(1+β₁)(1-β₁^{2t}) (sampled with the known mean); the sheet's value: M."""
    m = _adam_first_moments(mean, sigma, beta1, t, n)
    right = sigma**2 * (1 - beta1) / (1 + beta1) * (1 - beta1 ** (2 * t))
    run = monte_carlo("Var_m3", (m - mean * (1 - beta1**t)) ** 2, right, mean)
    return evidence(wrong_if(not run.separates, run.ok), "Var[m_3] is σ²(1-β₁)/(1+β₁)(1-β₁⁶), not M", run)


S = Section("Optimization")
CLAIMS = [
    S("adam-summary", 352, HOLDS, "Adam: momentum-like + Adagrad/RMSProp-like, 2 moments", "as written", adam_parts),
    S("adam-first-moment", 353, HOLDS, "V = B₁V + (1-B₁)g", "as written", adam_first_moment),
    S("bias-correction-amplifies", 354, HOLDS, "bias correction amplifies 2nd moment",
      "as written (it amplifies the first moment too)", bias_correction,
      ADAM + "test_sheet_bias_correction_unbiases_both_moments"),
    S("adam-defaults", 355, HOLDS, "B₁ = 0.9, B₂ = 0.999", "as written (torch's defaults)", adam_defaults),
    S("adam-first-moment-again", 356, HOLDS, "V = B₁V + (1-B₁)g (momentum-like)", "as written (line 353)",
      adam_first_moment),
    S("adam-second-moment", 357, OCR, "α = B₂α + (1-B₂) g log",
      "'g log' is no formula: read as g ⊙ g (the sheet's RMSProp line), α = B₂α + (1-B₂) g⊙g", adam_second_moment,
      ADAM + "test_sheet_erratum_second_moment_is_g_squared_not_g_log"),
    S("adam-bias-correction-v", 358, HOLDS, "V̂ = V/(1-B₁^t)", "as written", adam_step),
    S("adam-bias-correction-a", 359, HOLDS, "α̃ = α/(1-B₂^t)", "as written", adam_step),
    S("adam-update", 360, WRONG, "Θ = Θ - ε/V̂ ⊙ V", "Θ ← Θ - ε V̂/(√α̃ + δ)", adam_update,
      ADAM + "test_sheet_erratum_adam_update_ignores_the_gradient"),
    S("bias-correction-fixes", 364, HOLDS, "bias correction fixes 1st & 2nd moments", "as written", bias_correction,
      ADAM + "test_sheet_bias_correction_unbiases_both_moments"),
    S("bias-correction-first-steps", 366, HOLDS, "first steps more effective",
      "as written: the first step has size ε (3.16ε without correction)", first_steps),
    S("adam-combines", 595, HOLDS, "Adam combines effects of Adagrad & momentum",
      "as written (its 2nd moment is RMSProp's, Adagrad with a moving average)", adam_parts),
]
S = Section("Adam (derivation)")
CLAIMS += [
    S("adam-geometric-sum", 609, WRONG, "E[V_t] = (1-β₁)M Σ β₁^{t-i} = M(1-β₁)(1-β₁^t)/(1-(1-β₁))",
      "= M(1-β₁)(1-β₁^t)/(1-β₁) = M(1-β₁^t)", adam_geometric_sum,
      ADAM + "test_sheet_erratum_expected_first_moment_geometric_sum"),
    S("adam-expected-moment", 611, HOLDS, "E[V_t] = M(1-β₁^t)", "as written (bias-corrected: E[V̂_t] = M)",
      adam_expected_moment, ADAM + "test_sheet_expected_first_moment"),
    S("adam-variance", 613, WRONG, "Var[V_t] = M(1-β₁^t)/(1-β₁^t) = M",
      "Var[V_t] = σ²(1-β₁)/(1+β₁)(1-β₁^{2t}) for i.i.d. N(M, σ²) gradients: independent of M", adam_variance,
      ADAM + "test_sheet_erratum_first_moment_variance"),
]
