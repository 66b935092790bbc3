"""The sheet's momentum derivations (lines 463-535, 605-615), line by line: exactly in Fractions, and by
seeded Monte Carlo through torch.optim.SGD (the Adam moments of lines 609-613: :mod:`adam`).

Momentum, V_0 = 0:  V_t = αV_{t-1} - εg_t = -ε Σ_{i=1}^t α^{t-i} g_i,   θ_t = θ_0 + Σ_{j=1}^t V_j.
θ_t is linear in the gradients, so for E[g_i] = M, E[θ_t] is the trajectory with every g_i = M:

    E[V_t] = -εM (1-α^t)/(1-α),    E[θ_t] = θ_0 - εM/(1-α) (t - α(1-α^t)/(1-α)),
    Cov(V_t) = ε²σ² (1-α^{2t})/(1-α²) I          for i.i.d. gradients with covariance σ²I.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import torch

from c147.theory.evidence import (
    CONVENTION,
    FINDINGS,
    HOLDS,
    OCR,
    WRONG,
    Evidence,
    Section,
    convention_if,
    evidence,
    generator,
    holds_if,
    monte_carlo,
    ocr_if,
    wrong_if,
)

EPS, ALPHA, M, THETA0 = Fraction(1, 10), Fraction(1, 2), Fraction(3), Fraction(1)
GRADS = [Fraction(2), Fraction(-3), Fraction(5, 2), Fraction(1, 3), Fraction(-7, 5), Fraction(4)]
SGD = "tests/optim/test_sgd.py::"


def velocities(grads: list[Fraction], eps: Fraction = EPS, alpha: Fraction = ALPHA) -> list[Fraction]:
    """V_1..V_t of V_t = α V_{t-1} - ε g_t from V_0 = 0, exactly.

    Example:
        >>> from fractions import Fraction
        >>> velocities([Fraction(1), Fraction(2)], Fraction(1, 10), Fraction(1, 2))
        [Fraction(-1, 10), Fraction(-1, 4)]
    """
    v, out = Fraction(0), []
    for g in grads:
        v = alpha * v - eps * g
        out.append(v)
    return out


def expected_theta(t: int, theta0: Fraction = THETA0) -> Fraction:
    return theta0 + sum(velocities([M] * t))


def _closed(t: int) -> Fraction:
    return -EPS * sum(ALPHA ** (t - i) * GRADS[i - 1] for i in range(1, t + 1))


def first_velocity() -> Evidence:
    v = velocities(GRADS)
    return evidence(
        holds_if(v[0] == -EPS * GRADS[0] and all(v[t] == ALPHA * v[t - 1] - EPS * GRADS[t] for t in range(1, 6))),
        "V_1 = -εg_1 and the recursion, exactly", V1=float(v[0])
    )


def theta_update() -> Evidence:
    """θ_t = θ_{t-1} + V_t: torch.optim.SGD(momentum) moves θ by V_t = -lr·buffer at each step."""
    theta = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=float(EPS), momentum=float(ALPHA))
    steps = []
    for g in GRADS:
        before = theta.item()
        theta.grad = torch.tensor(float(g), dtype=torch.float64)
        opt.step()
        steps.append(theta.item() - before)
    ok = all(abs(s - float(v)) < 1e-15 for s, v in zip(steps, velocities(GRADS), strict=True))
    return evidence(holds_if(ok), "torch's SGD(momentum) steps are the V_t",
                    max_gap=max(abs(s - float(v)) for s, v in zip(steps, velocities(GRADS), strict=True)))


def expansion(t: int) -> Evidence:
    """The sheet's V_t = -ε(g_1 + αg_2 + ... + α^{t-1}g_t) swaps the powers: V_t = -ε Σ α^{t-i} g_i."""
    sheet = -EPS * sum(ALPHA ** (i - 1) * GRADS[i - 1] for i in range(1, t + 1))
    exact = velocities(GRADS[:t])[-1]
    return evidence(wrong_if(sheet == exact, exact == _closed(t)), f"V_{t} exactly vs the sheet's expansion",
                    exact=float(exact), sheet=float(sheet))


def closed_form() -> Evidence:
    ok = velocities(GRADS) == [_closed(t) for t in range(1, 7)]
    return evidence(holds_if(ok), "V_t = -ε Σ α^{t-i} g_i for t = 1..6, exactly", V6=float(_closed(6)))


def expected_velocity_linear() -> Evidence:
    """E[V_t] = -ε Σ α^{t-i} E[g_i]: V_t is linear in the g_i (the means may differ per step)."""
    means = [Fraction(1), Fraction(-2), Fraction(3, 2), Fraction(5)]
    ok = velocities(means)[-1] == -EPS * sum(ALPHA ** (4 - i) * means[i - 1] for i in range(1, 5))
    return evidence(holds_if(ok), "linearity of expectation, exactly", E_V4=float(velocities(means)[-1]))


def gradient_label() -> Evidence:
    """'E[g_t] = -εM/(1-α) Σ(1-α^j)': that is E[θ_t] - θ_0; E[g_t] = M (and the mean is M, not N(0, σ²)'s 0)."""
    t = 4
    sheet = -EPS * M / (1 - ALPHA) * sum(1 - ALPHA**j for j in range(1, t + 1))
    return evidence(wrong_if(sheet == M, sheet == expected_theta(t) - THETA0), "the expression is E[θ_4] - θ_0",
                    sheet=float(sheet), E_g=float(M))


def theta_sum() -> Evidence:
    """θ_3 of torch.optim.SGD(momentum) from θ_0 equals θ_0 + V_1 + V_2 + V_3."""
    theta = torch.nn.Parameter(torch.tensor(float(THETA0), dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=float(EPS), momentum=float(ALPHA))
    for g in GRADS[:3]:
        theta.grad = torch.tensor(float(g), dtype=torch.float64)
        opt.step()
    exact = THETA0 + sum(velocities(GRADS[:3]))
    return evidence(holds_if(abs(theta.item() - float(exact)) < 1e-15), "torch's θ_3 = θ_0 + V_1 + V_2 + V_3",
                    theta3=theta.item(), sum_of_V=float(exact))


# the E[θ_3] chain of lines 489-507 with θ_0 = 1, ε = 1/10, α = 1/2, M = 3; μ: the sheet's other name for M
_E3: dict[int, Callable[[Fraction], Fraction]] = {
    489: lambda mu: THETA0 - EPS * M - EPS * (M + ALPHA * M) - EPS * (M + ALPHA * M + ALPHA**2 * M),
    491: lambda mu: THETA0 - EPS * M - EPS * (mu + ALPHA * mu) - EPS * (mu + ALPHA * M + ALPHA**2 * mu),
    493: lambda mu: THETA0 - EPS * M - EPS * M - EPS * ALPHA * M - EPS * mu - EPS * ALPHA * M - EPS * ALPHA**2 * M,
    495: lambda mu: THETA0 - 3 * EPS * M - 2 * EPS * ALPHA * M - EPS * ALPHA**2 * M,
    497: lambda mu: THETA0 - EPS * M * (3 + 2 * ALPHA + ALPHA**2),
    499: lambda mu: THETA0 - EPS * M * (1 + (1 + ALPHA) + (1 + ALPHA + ALPHA**2)),
    503: lambda mu: THETA0 + sum(-EPS * M * (1 - ALPHA**t) / (1 - ALPHA) for t in range(1, 4)),
    505: lambda mu: THETA0 - EPS * M / (1 - ALPHA) * sum(1 - ALPHA**t for t in range(1, 4)),
    507: lambda mu: THETA0 - EPS * M / (1 - ALPHA) * (3 - (1 - ALPHA**3) / (1 - ALPHA)),
}


def theta3_line(line: int) -> Evidence:
    """Line ``line`` of the E[θ_3] chain against the exact E[θ_3] (μ read as M; literally another symbol)."""
    exact = expected_theta(3)
    read, literal = _E3[line](M), _E3[line](M + 1)
    if line in (491, 493):
        verdict = ocr_if(read == exact, literal == exact)
    elif line == 507:
        right = THETA0 - EPS * M / (1 - ALPHA) * (3 - ALPHA * (1 - ALPHA**3) / (1 - ALPHA))
        verdict = wrong_if(read == exact, right == exact)
    else:
        verdict = holds_if(read == exact)
    return evidence(verdict, f"line {line} = {float(read):.4f}, E[θ_3] = {float(exact):.4f}", line_value=float(read),
                    E_theta3=float(exact))


def expected_velocity() -> Evidence:
    ok = all(velocities([M] * t)[-1] == -EPS * M * (1 - ALPHA**t) / (1 - ALPHA) for t in range(1, 8))
    return evidence(holds_if(ok), "E[V_t] = -εM(1-α^t)/(1-α) for t = 1..7, exactly", E_V7=float(velocities([M] * 7)[-1])
                )


def double_sum(expected: bool) -> Evidence:
    """θ_t = θ_0 - ε Σ_j Σ_{i=1}^{j} α^{j-i} g_i: the sheet stops the inner sum at j - 1 (and line 531 drops θ_0)."""
    t = len(GRADS)
    gs = [M] * t if expected else GRADS
    exact = THETA0 + sum(velocities(gs))
    base = 0 if expected else THETA0
    sheet = base - EPS * sum(ALPHA ** (j - i) * gs[i - 1] for j in range(1, t + 1) for i in range(1, j))
    right = THETA0 - EPS * sum(ALPHA ** (j - i) * gs[i - 1] for j in range(1, t + 1) for i in range(1, j + 1))
    return evidence(wrong_if(sheet == exact, right == exact), "the inner sum must include i = j", exact=float(exact),
                    sheet=float(sheet))


def expected_theta_sum() -> Evidence:
    """-εM Σ_j (1-α^j)/(1-α) is E[θ_t] - θ_0: it equals E[θ_t] when θ_0 = 0 (the sheet's line 531 drops θ_0)."""
    t = 5
    sheet = -EPS * M * sum((1 - ALPHA**j) / (1 - ALPHA) for j in range(1, t + 1))
    return evidence(convention_if(sheet == expected_theta(t, Fraction(0)), sheet == expected_theta(t)),
                    "= E[θ_5] for θ_0 = 0", sheet=float(sheet), E_theta5=float(expected_theta(t)))


def expected_theta_closed() -> Evidence:
    t = 5
    bracket = t - ALPHA * (1 - ALPHA**t) / (1 - ALPHA)
    sheet, right = EPS * M / (1 - ALPHA) * bracket, THETA0 - EPS * M / (1 - ALPHA) * bracket
    return evidence(wrong_if(sheet == expected_theta(t), right == expected_theta(t)), "sign and θ_0",
                    sheet=float(sheet), E_theta5=float(expected_theta(t)))


def momentum_covariance(n: int = 100_000, t: int = 5, sigma: float = 2.0, lr: float = 0.1, mu: float = 0.9):
    """Monte Carlo through torch.optim.SGD: g_i ~ N(0, σ²) i.i.d. per coordinate, V_t = -lr·buffer."""
    gen = generator(160)
    theta = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=lr, momentum=mu)
    for _ in range(t):
        theta.grad = sigma * torch.randn(n, generator=gen, dtype=torch.float64)
        opt.step()
    v = -lr * opt.state[theta]["momentum_buffer"]
    right = lr**2 * sigma**2 * (1 - mu ** (2 * t)) / (1 - mu**2)
    sheet = lr**2 * sigma**2 * (1 - mu**2) / (1 - mu)
    run = monte_carlo("var_V5", v**2, right, sheet)
    weights = sum(mu ** (2 * (t - i)) for i in range(1, t + 1))  # the sheet's last-but-one line
    return evidence(wrong_if(not run.separates, run.ok and math.isclose(weights * lr**2 * sigma**2, right)),
                    "Var(V_5) matches ε²σ²(1-α^{2t})/(1-α²), not ε²σ²(1-α²)/(1-α)", run)


def geometric_series() -> Evidence:
    cases = [
        (Fraction(3), Fraction(1, 2), 0, 5),
        (Fraction(-2), Fraction(3), 2, 6),
        (Fraction(1), Fraction(-2, 3), 1, 1),
    ]
    ok = all(sum(a * r**k for k in range(m, n + 1)) == a * (r**m - r ** (n + 1)) / (1 - r) for a, r, m, n in cases)
    return evidence(holds_if(ok), "exact for three (a, r, m, n), r ≠ 1", cases=len(cases))


S = Section("Momentum (derivation)")
CLAIMS = [
    S("momentum-v1", 465, HOLDS, "V_t = αV_{t-1} - εg_t, V_1 = αV_0 - εg_1 = -εg_1", "as written", first_velocity),
    S("momentum-theta", 467, HOLDS, "θ_t = θ_{t-1} + V_t", "as written", theta_update),
    S("momentum-v2", 469, WRONG, "V_2 = -ε(g_1 + αg_2)", "V_2 = -ε(g_2 + αg_1)", lambda: expansion(2),
      SGD + "test_sheet_erratum_momentum_v2_expansion"),
    S("momentum-v3", 471, WRONG, "V_3 = -ε(g_1 + αg_2 + α²g_3)", "V_3 = -ε(g_3 + αg_2 + α²g_1)", lambda: expansion(3),
      SGD + "test_sheet_erratum_momentum_v2_expansion"),
    S("momentum-v4", 473, WRONG, "= -ε(g_1 + αg_2 + α²g_3 + α³g_4)", "V_4 = -ε(g_4 + αg_3 + α²g_2 + α³g_1)",
      lambda: expansion(4), FINDINGS + "test_sheet_erratum_momentum_v4_expansion"),
    S("momentum-closed", 475, HOLDS, "V_t = -ε[g_t + αg_{t-1} + ... + α^{t-1}g_1]", "as written", closed_form,
      SGD + "test_sheet_erratum_momentum_v2_expansion"),
    S("momentum-expected-v", 477, HOLDS, "E[V_t] = -ε[E[g_t] + αE[g_{t-1}] + ... + α^{t-1}E[g_1]]",
      "as written (lines 477-479)", expected_velocity_linear),
    S("expected-gradient-label", 481, WRONG, "g i.i.d. N(0, σ²); E[g_t] = -εM/(1-α) Σ_j(1-α^j)",
      "g_i i.i.d. N(M, σ²I), E[g_t] = M; the expression is E[θ_t] - θ_0", gradient_label,
      SGD + "test_sheet_erratum_expected_gradient_label"),
    S("theta-sum", 487, HOLDS, "θ_3 = θ_0 + V_1 + V_2 + V_3", "as written (line 485: θ_1 = θ_0 + V_1)", theta_sum),
    S("e-theta3-expansion", 489, HOLDS, "= θ_0 - εE[g_1] - ε(E[g_2] + αE[g_1]) - ε(E[g_3] + αE[g_2] + α²E[g_1])",
      "as written (of E[θ_3])", lambda: theta3_line(489)),
    S("e-theta3-mu", 491, OCR, "= θ_0 - εM - ε(μ + αμ) - ε(μ + αM + α²μ)", "μ is M", lambda: theta3_line(491)),
    S("e-theta3-mu-expanded", 493, OCR, "= θ_0 - εM - εM - εαM - εμ - εαM - εα²M", "μ is M", lambda: theta3_line(493)),
    S("e-theta3-collected", 495, HOLDS, "= θ_0 - 3εM - 2εαM - εα²M", "as written", lambda: theta3_line(495)),
    S("e-theta3-factored", 497, HOLDS, "= θ_0 - εM(3 + 2α + α²)", "as written", lambda: theta3_line(497)),
    S("e-theta3-grouped", 499, HOLDS, "= θ_0 - εM[1 + (1+α) + (1+α+α²)]", "as written", lambda: theta3_line(499)),
    S("expected-velocity", 501, HOLDS, "E[V_t] = -εM(1-α^t)/(1-α)", "as written", expected_velocity),
    S("e-theta3-sum", 503, HOLDS, "E[θ_3] = E[θ_0] + Σ_{t=1}^3 [-εM(1-α^t)/(1-α)]", "as written",
      lambda: theta3_line(503)),
    S("e-theta3-sum-factored", 505, HOLDS, "= E[θ_0] - εM/(1-α) Σ_{t=1}^3 (1-α^t)", "as written",
      lambda: theta3_line(505)),
    S("e-theta3-closed", 507, WRONG, "= E[θ_0] - εM/(1-α)[3 - (1-α³)/(1-α)]",
      "= E[θ_0] - εM/(1-α)[3 - α(1-α³)/(1-α)] = θ_0 - εM(3 + 2α + α²)", lambda: theta3_line(507),
      SGD + "test_sheet_erratum_expected_theta_3"),
    S("theta-double-sum", 529, WRONG, "θ_t = θ_0 - ε Σ_{j=1}^t Σ_{i=1}^{j-1} α^{j-i} g_i",
      "the inner sum runs to i = j", lambda: double_sum(False), SGD + "test_sheet_erratum_theta_double_sum"),
    S("expected-double-sum", 531, WRONG, "E[θ_t] = -ε Σ_{j=1}^t Σ_{i=1}^{j-1} α^{j-i} E[g_i]",
      "E[θ_t] = θ_0 - ε Σ_j Σ_{i=1}^{j} α^{j-i} E[g_i] (the inner sum to j, and θ_0)", lambda: double_sum(True),
      FINDINGS + "test_sheet_erratum_expected_double_sum"),
    S("expected-theta-sum", 533, CONVENTION, "= -εM Σ_{j=1}^t (1-α^j)/(1-α)",
      "E[θ_t] - θ_0 (= E[θ_t] when θ_0 = 0, as line 531 takes it)", expected_theta_sum),
    S("expected-theta-closed", 535, WRONG, "E[θ_t] = εM/(1-α)(t - α(1-α^t)/(1-α))",
      "E[θ_t] = θ_0 - εM/(1-α)(t - α(1-α^t)/(1-α))", expected_theta_closed,
      SGD + "test_sheet_erratum_expected_theta_sign"),
    S("momentum-v-closed", 605, HOLDS, "v_t = -ε Σ_{i=1}^t α^{t-i} g_i", "as written", closed_form),
    S("momentum-covariance", 607, WRONG, "Cov(v_t) = ... = ε²σ² Σ α^{2(t-i)} = ε²σ²(1-α²)/(1-α) I",
      "ε²σ²(1-α^{2t})/(1-α²) I (the line before, Σ_i α^{2(t-i)}σ², is right)", momentum_covariance,
      SGD + "test_sheet_erratum_momentum_covariance"),
]
S = Section("Adam (derivation)")
CLAIMS += [
    S("geometric-series", 615, HOLDS, "Σ_{k=m}^n ar^k = a(r^m - r^{n+1})/(1-r)", "as written (r ≠ 1)",
      geometric_series),
]
