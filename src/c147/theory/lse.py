"""The sheet's log-sum-exp bounds (lines 509-557), line by line, against torch.logsumexp in float64.

The sheet's definitions: ‖x‖_∞ = max_i |x_i| (line 509), LSE(x) = ln Σ_i e^{x_i} (line 511), P = ‖x‖_∞
(line 515). Its derivation bounds ln Σ e^{|x_i|}, i.e. LSE(|x|), and every step of that holds; the lines that
state the result for LSE(x) itself fail for negative x (the right bound there is max_i x_i ≤ LSE(x) ≤
max_i x_i + ln n), and the temperature step loses its t:

    ‖x‖_∞ ≤ (1/t) ln Σ_i e^{t|x_i|} ≤ ‖x‖_∞ + ln(n)/t        (t > 0)
"""

from __future__ import annotations

import math

import torch

from c147.theory.evidence import (
    CONVENTION,
    EPS,
    FINDINGS,
    HOLDS,
    WRONG,
    Evidence,
    Section,
    close,
    convention_if,
    evidence,
    holds_if,
    randn,
    wrong_if,
)

COUNTER = torch.tensor([-5.0, -6.0], dtype=torch.float64)  # every x_i < 0: LSE(x) < ‖x‖_∞
SLACK = 64 * EPS  # round-off allowance on inequalities between numbers of size ~10


def _samples():
    """40 vectors of mixed signs and sizes (n = 1..8), seeded, plus the counterexample."""
    xs = [randn(1 + k % 8, seed=60 + k, scale=0.5 + k % 5) for k in range(40)]
    return [*xs, COUNTER]


def _inf(x):
    return torch.linalg.vector_norm(x, float("inf")).item()


def _lse_abs(x, t=1.0):
    return torch.logsumexp(t * x.abs(), 0).item()


def inf_norm() -> Evidence:
    ok = all(_inf(x) == x.abs().max().item() for x in _samples())
    return evidence(holds_if(ok), "torch's ∞-norm is max|x_i|", vectors=len(_samples()))


def lse_definition() -> Evidence:
    ok = all(close(torch.log(torch.exp(x).sum()), torch.logsumexp(x, 0), len(x)) for x in _samples())
    return evidence(holds_if(ok), "ln Σ e^{x_i} equals torch.logsumexp", vectors=len(_samples()))


def lse_bounds_signed() -> Evidence:
    """‖x‖_∞ ≤ LSE(x) ≤ ‖x‖_∞ + ln n fails for x = (-5, -6); max x ≤ LSE(x) ≤ max x + ln n always holds."""
    sheet = all(_inf(x) - SLACK <= torch.logsumexp(x, 0).item() <= _inf(x) + math.log(len(x)) + SLACK
                for x in _samples())
    right = all(x.max().item() - SLACK <= torch.logsumexp(x, 0).item() <= x.max().item() + math.log(len(x)) + SLACK
                for x in _samples())
    return evidence(wrong_if(sheet, right), "x = (-5, -6): LSE = -4.69 < ‖x‖_∞ = 6; the max-form bounds hold",
                    lse_counter=torch.logsumexp(COUNTER, 0).item(), inf_norm_counter=_inf(COUNTER))


def _abs_chain(check) -> Evidence:
    ok = all(check(x, _inf(x), len(x)) for x in _samples())
    return evidence(holds_if(ok), "holds for every sampled x (sums of e^{|x_i|})", vectors=len(_samples()))


def exp_p_bound() -> Evidence:
    return _abs_chain(lambda x, p, n: math.exp(p) <= torch.exp(x.abs()).sum().item() * (1 + SLACK))


def n_exp_p_bound() -> Evidence:
    return _abs_chain(lambda x, p, n: torch.exp(x.abs()).sum().item() <= n * math.exp(p) * (1 + SLACK))


def log_bounds() -> Evidence:
    return _abs_chain(lambda x, p, n: p - SLACK <= _lse_abs(x) <= math.log(n) + p + SLACK)


def scaled_bounds() -> Evidence:
    """The bounds applied to tx (t > 0): ‖tx‖_∞ ≤ ln Σ e^{|tx_i|} ≤ ‖tx‖_∞ + ln n."""
    def bounded(x, p, n):
        ts = (0.1, 1.0, 3.0, 10.0)
        return all(t * p - SLACK * t <= _lse_abs(x, t) <= t * p + math.log(n) + SLACK * t for t in ts)

    return _abs_chain(bounded)


def _temperature_cases():
    return [(x, t) for x in _samples() for t in (0.1, 0.5, 2.0, 10.0)]


def scaled_step() -> Evidence:
    """t‖x‖_∞ ≤ ln Σ e^{|tx_i|} ≤ ‖x‖_∞ + ln n: the upper bound needs t‖x‖_∞ (x = (1, 0), t = 10 breaks it)."""
    x, t = torch.tensor([1.0, 0.0], dtype=torch.float64), 10.0
    sheet_counter = _lse_abs(x, t) <= _inf(x) + math.log(2)
    right = all(_lse_abs(x, t) <= t * _inf(x) + math.log(len(x)) + SLACK * t for x, t in _temperature_cases())
    return evidence(wrong_if(sheet_counter, right), "x = (1, 0), t = 10: ln(e^10 + 1) = 10.00005 > 1 + ln 2",
                    lhs=_lse_abs(x, t), sheet_upper=_inf(x) + math.log(2))


def temperature() -> Evidence:
    """(1/t) ln Σ e^{|x_i|} loses the t in the exponent: x = (1, 0), t = 10 gives 0.13 < ‖x‖_∞ = 1."""
    x, t = torch.tensor([1.0, 0.0], dtype=torch.float64), 10.0
    sheet_counter = _inf(x) <= _lse_abs(x) / t
    right = all(
        _inf(x) - SLACK <= _lse_abs(x, t) / t <= _inf(x) + math.log(len(x)) / t + SLACK for x, t in _temperature_cases()
    )
    signed = all(
        x.max().item() - SLACK <= torch.logsumexp(t * x, 0).item() / t <= x.max().item() + math.log(len(x)) / t + SLACK
        for x, t in _temperature_cases()
    )
    return evidence(wrong_if(sheet_counter, right and signed),
                    "x = (1, 0), t = 10: (1/t) ln Σ e^{|x_i|} = 0.131 < 1; with e^{t|x_i|} the bounds hold",
                    sheet_middle=_lse_abs(x) / t, corrected_middle=_lse_abs(x, t) / t)


def strict_lower() -> Evidence:
    """Σ e^{|x_i|} > e^P is strict only for n ≥ 2 (n = 1: equality)."""
    multi = all(torch.exp(x.abs()).sum().item() > math.exp(_inf(x)) for x in _samples() if len(x) >= 2)
    single = torch.tensor([2.0], dtype=torch.float64)
    return evidence(convention_if(multi, torch.exp(single).sum().item() > math.exp(2.0)),
                    "strict for every sampled x with n ≥ 2; equality for n = 1", n1_sum=math.exp(2.0))


def strict_lower_signed() -> Evidence:
    """LSE(x) > ‖x‖_∞ fails for x = (-5, -6); LSE(|x|) > ‖x‖_∞ holds for n ≥ 2."""
    sheet = torch.logsumexp(COUNTER, 0).item() > _inf(COUNTER)
    right = all(_lse_abs(x) > _inf(x) for x in _samples() if len(x) >= 2)
    return evidence(
        wrong_if(sheet, right), "x = (-5, -6): LSE(x) = -4.69 < 6", lse_counter=torch.logsumexp(COUNTER, 0).item()
    )


def equality_case() -> Evidence:
    """ln Σ e^{|x_i|} = P + ln n exactly when every |x_i| is equal."""
    equal = torch.tensor([3.0, -3.0, 3.0, -3.0], dtype=torch.float64)
    ok = close(_lse_abs(equal), 3.0 + math.log(4), 4)
    strict = all(
        _lse_abs(x) < _inf(x) + math.log(len(x)) for x in _samples() if len(x) >= 2 and x.abs().unique().numel() > 1
    )
    return evidence(holds_if(ok and strict), "(3, -3, 3, -3): equality; unequal |x_i|: strict", lhs=_lse_abs(equal),
                    rhs=3.0 + math.log(4))


S = Section("Log-sum-exp")
CLAIMS = [
    S("inf-norm", 509, HOLDS, "‖x‖_∞ = max_i |x_i|", "as written", inf_norm),
    S("lse", 511, HOLDS, "LSE(x) = ln Σ e^{x_i}", "as written", lse_definition),
    S("lse-bounds", 513, WRONG, "‖x‖_∞ ≤ LSE(x) ≤ ‖x‖_∞ + ln(n)",
      "max_i x_i ≤ LSE(x) ≤ max_i x_i + ln n (with ‖x‖_∞ it fails for negative x; the derivation below bounds "
      "LSE(|x|))", lse_bounds_signed, "tests/functional/test_softmax.py::test_sheet_erratum_lse_bounds"),
    S("lse-p", 515, HOLDS, "P = max_i{|x_1|, ..., |x_n|}", "as written (P = ‖x‖_∞)", inf_norm),
    S("exp-p-bound", 517, HOLDS, "e^P ≤ e^{|x_1|} + ... + e^{|x_n|}", "as written", exp_p_bound),
    S("exp-p-bound-sum", 519, HOLDS, "e^P ≤ Σ e^{|x_i|}", "as written", exp_p_bound),
    S("n-exp-p-bound", 521, HOLDS, "Σ e^{|x_i|} ≤ n e^P", "as written", n_exp_p_bound),
    S("log-bounds", 523, HOLDS, "ln(e^P) ≤ ln Σ e^{|x_i|} ≤ ln(n e^P)", "as written", log_bounds),
    S("log-bounds-p", 525, HOLDS, "P ≤ ln Σ e^{|x_i|} ≤ ln(n) + P", "as written", log_bounds),
    S("abs-bounds", 537, HOLDS, "‖x‖_∞ ≤ ln Σ e^{|x_i|} ≤ ‖x‖_∞ + ln(n)", "as written", log_bounds),
    S("scaled-bounds", 539, HOLDS, "‖tx‖_∞ ≤ ln Σ e^{|tx_i|} ≤ ‖tx‖_∞ + ln(n)", "as written (t > 0)", scaled_bounds),
    S("scaled-step", 541, WRONG, "t‖x‖_∞ ≤ ln Σ e^{|tx_i|} ≤ ‖x‖_∞ + ln(n)",
      "t‖x‖_∞ ≤ ln Σ e^{t|x_i|} ≤ t‖x‖_∞ + ln(n)", scaled_step, FINDINGS + "test_sheet_erratum_lse_temperature_steps"),
    S("temperature", 543, WRONG, "‖x‖_∞ ≤ (1/t) ln Σ e^{|x_i|} ≤ ‖x‖_∞ + ln(n)/t",
      "‖x‖_∞ ≤ (1/t) ln Σ e^{t|x_i|} ≤ ‖x‖_∞ + ln(n)/t; for signed x: max x ≤ (1/t) ln Σ e^{t x_i} ≤ max x + ln(n)/t",
      temperature, FINDINGS + "test_sheet_erratum_lse_temperature_steps"),
    S("lse-bounds-again", 545, WRONG, "‖x‖_∞ ≤ LSE(x) ≤ ‖x‖_∞ + ln(n)",
      "as line 513: true for LSE(|x|), which the chain above proves; for LSE(x) use max_i x_i", lse_bounds_signed,
      "tests/functional/test_softmax.py::test_sheet_erratum_lse_bounds"),
    S("abs-lower", 547, HOLDS, "ln Σ e^{|x_i|} ≥ ‖x‖_∞", "as written", log_bounds),
    S("strict-lower", 549, CONVENTION, "Σ e^{|x_i|} > e^P", "strict for n ≥ 2 (n = 1: equality)", strict_lower),
    S("strict-lower-log", 551, CONVENTION, "ln Σ e^{|x_i|} > P", "strict for n ≥ 2 (n = 1: equality)", strict_lower),
    S("strict-lower-signed", 553, WRONG, "LSE(x) > ‖x‖_∞",
      "ln Σ e^{|x_i|} > ‖x‖_∞ (n ≥ 2); LSE(x) itself can be below ‖x‖_∞ (x = (-5, -6))", strict_lower_signed,
      FINDINGS + "test_sheet_erratum_lse_strict_lower_bound_needs_abs"),
    S("equality-case", 555, HOLDS, "ln Σ e^{|x_i|} = P + ln(n) when every |x_i| is equal (line 557)",
      "as written: equality exactly when all |x_i| are equal", equality_case),
    S("equality-sum", 557, HOLDS, "Σ e^{|x_i|} = n e^P: every |x_i| equal", "as written", equality_case),
]
