"""The sheet's initialization lines (200-224): the variance algebra behind Xavier and He, by seeded Monte Carlo
against the closed forms and torch.nn.init.

For independent w and h:  Var(wh) = E²(w)Var(h) + E²(h)Var(w) + Var(w)Var(h), so with zero means a unit
h_i = Σ_j w_ij h_{i-1,j} has Var(h_i) = Var(h_{i-1}) Σ_j Var(w_ij) = N_in Var(w) Var(h_{i-1}): the variance
is kept layer after layer when Var(w) = 1/N_in (Glorot's compromise for both passes: 2/(N_in + N_out)).
Through a ReLU, E[relu(z)²] = Var(z)/2, so He et al. (2015) take Var(w) = 2/N_in.
"""

from __future__ import annotations

import math
from functools import cache

import torch

from c147.theory.evidence import (
    FINDINGS,
    HOLDS,
    OCR,
    WRONG,
    Evidence,
    Section,
    evidence,
    generator,
    holds_if,
    monte_carlo,
    ocr_if,
    wrong_if,
)

INIT = "tests/nn/test_init.py::"


def _deep_tanh_grad(sigma: float | None, depth: int = 8, width: int = 64) -> tuple[float, float]:
    """(first-layer gradient norm, mean |tanh'| in the last layer) of a tanh net with N(0, σ²) weights
    (σ = None: Xavier normal, torch.nn.init.xavier_normal_ with tanh's gain)."""
    g = generator(90)
    x = torch.randn(128, width, generator=g, dtype=torch.float64)
    ws = []
    for _ in range(depth):
        w = torch.empty(width, width, dtype=torch.float64)
        if sigma is None:
            torch.nn.init.xavier_normal_(w, gain=torch.nn.init.calculate_gain("tanh"), generator=g)
        else:
            w.normal_(0, sigma, generator=g)
        ws.append(w.requires_grad_())
    h = x
    for w in ws:
        z = h @ w.T
        h = torch.tanh(z)
    h.pow(2).sum().backward()
    return ws[0].grad.norm().item(), (1 - torch.tanh(z.detach()) ** 2).mean().item()


@cache
def _tanh_nets():
    return {name: _deep_tanh_grad(s) for name, s in (("small", 0.01), ("xavier", None), ("large", 1.0))}


def too_small() -> Evidence:
    """σ = 0.01: activations and gradients vanish: the first layer barely learns (not 'fast learning')."""
    nets = _tanh_nets()
    ratio = nets["small"][0] / nets["xavier"][0]
    return evidence(wrong_if(ratio >= 1, ratio < 1e-8), "first-layer gradient at σ = 0.01 is < 1e-8 of Xavier's",
                    grad_ratio_small_over_xavier=ratio)


def too_large() -> Evidence:
    """σ = 1 (width 64): pre-activations explode, tanh saturates, its slope (the gradient factor) is small."""
    nets = _tanh_nets()
    return evidence(holds_if(nets["large"][1] < 0.5 * nets["xavier"][1]),
                    "mean tanh' in the last layer: σ = 1 vs Xavier", mean_slope_large=nets["large"][1],
                    mean_slope_xavier=nets["xavier"][1])


def variance_of_product(n: int = 400_000) -> Evidence:
    """Var(wh) for independent w ~ N(1, ¼), h ~ N(2, 1): 1·1 + 4·¼ + ¼·1 = 2.25 (contrast Var(w)Var(h) = ¼)."""
    g = generator(91)
    w = 1 + 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    h = 2 + torch.randn(n, generator=g, dtype=torch.float64)
    run = monte_carlo("var_wh", (w * h - 2.0) ** 2, 1 * 1 + 4 * 0.25 + 0.25 * 1, 0.25 * 1)
    return evidence(holds_if(run.ok), "sampled Var(wh) matches E²(w)Var(h) + E²(h)Var(w) + Var(w)Var(h)", run)


def zero_mean_product(n: int = 400_000) -> Evidence:
    """Reading of line 204: Var(wh) = Var(w)Var(h) for zero-mean independent w, h (contrast Var(w) + Var(h))."""
    g = generator(92)
    w, h = (0.5 * torch.randn(n, generator=g, dtype=torch.float64),
            3 * torch.rand(n, generator=g, dtype=torch.float64) - 1.5)
    run = monte_carlo("var_wh", (w * h) ** 2, 0.25 * 0.75, 0.25 + 0.75)
    return evidence(ocr_if(run.ok), "sampled Var(wh) = Var(w)Var(h) for zero means", run)


def layer_variance(n: int = 200_000) -> Evidence:
    """h_i = Σ_j w_j h_{i-1,j} with Var(w_j) = s_j² (all different), Var(h) = v: Var(h_i) = v Σ_j s_j²."""
    g = generator(93)
    s = torch.linspace(0.1, 0.8, 8, dtype=torch.float64)
    w = s * torch.randn(n, 8, generator=g, dtype=torch.float64)
    h = 2.0 * torch.randn(n, 8, generator=g, dtype=torch.float64)
    run = monte_carlo("var_h_i", (w * h).sum(1) ** 2, 4.0 * (s**2).sum().item(), 4.0 * (s**2).mean().item())
    return evidence(holds_if(run.ok), "sampled Var(h_i) = Var(h_{i-1}) Σ_j Var(w_ij)", run)


def _deep_net_second_moment(var_w: float, relu: bool, depth: int = 5, width: int = 16, nets: int = 3000):
    """E over nets and an input x ~ N(0, I) of ‖z_L‖² / width, z_l = W_l h_{l-1}, i.i.d. N(0, var_w) weights."""
    g = generator(94 + int(relu))
    h = torch.randn(nets, width, 1, generator=g, dtype=torch.float64)
    for _ in range(depth):
        z = math.sqrt(var_w) * torch.randn(nets, width, width, generator=g, dtype=torch.float64) @ h
        h = torch.relu(z) if relu else z
    return (z**2).mean((1, 2))


def keeps_variance() -> Evidence:
    """A 5-layer linear net with Var(w) = 1/N_in keeps E[z²] = 1; contrast Var(w) = 2/N_in: 2⁵."""
    run = monte_carlo("E_z_L_sq", _deep_net_second_moment(1 / 16, relu=False), 1.0, 2.0**5)
    return evidence(holds_if(run.ok), "E[z_5²] stays 1 with Var(w) = 1/N_in", run)


def fan_in(n_in: int = 300, n_out: int = 200) -> Evidence:
    """torch.nn.init.kaiming_normal_(nonlinearity='linear') draws Var(w) = 1/N_in (contrast 1/(N_in N_out))."""
    w = torch.empty(n_out, n_in, dtype=torch.float64)
    torch.nn.init.kaiming_normal_(w, nonlinearity="linear", generator=generator(96))
    run = monte_carlo("var_w_times_n_in", n_in * w**2, 1.0, 1 / n_out)
    return evidence(holds_if(run.ok), "N_in · Var(w) = 1 for torch's fan-in init", run)


def xavier_both(n_in: int = 300, n_out: int = 200) -> Evidence:
    """U(0, 2/(n_in+n_out)) has mean 1/(n_in+n_out) and variance (2/(n_in+n_out))²/12; Glorot's compromise
    is Var(w) = 2/(n_in+n_out), mean 0 (torch.nn.init.xavier_normal_)."""
    w = torch.empty(n_out, n_in, dtype=torch.float64)
    torch.nn.init.xavier_normal_(w, generator=generator(97))
    a = 2 / (n_in + n_out)
    run = monte_carlo("var_w_over_target", w**2 / a, 1.0, a / 12)  # the sheet's uniform: variance a²/12
    return evidence(
        wrong_if(not run.separates, run.ok),
        "Xavier: Var(w) = 2/(n_in+n_out); the uniform on [0, 2/(n_in+n_out)] has variance (2/(n_in+n_out))²/12 "
        "and mean 1/(n_in+n_out)", run, sample_mean=w.mean().item(), sheet_mean=a / 2
    )


def xavier_uniform_bound(n_in: int = 300, n_out: int = 200) -> Evidence:
    """±√6/(n_in+n_out) gives Var = 2/(n_in+n_out)²; the bound is √(6/(n_in+n_out)) (torch.nn.init)."""
    w = torch.empty(n_out, n_in, dtype=torch.float64)
    torch.nn.init.xavier_uniform_(w, generator=generator(98))
    bound = w.abs().max().item()
    right, sheet = math.sqrt(6 / (n_in + n_out)), math.sqrt(6) / (n_in + n_out)
    return evidence(wrong_if(bound <= sheet, sheet < bound <= right),
                    "torch's xavier_uniform_ fills ±√(6/(n_in+n_out))", max_abs_weight=bound, sheet_bound=sheet,
                    bound=right)


def he_relu() -> Evidence:
    """5 ReLU layers of width N: He's Var(w) = 2/N_in keeps E[z²] = 2 at every depth; the sheet's Xavier-form
    bound ±√6/(n_in+n_out) (Var 1/(2N²)) predicts N v (N v / 2)⁴ ≈ 2e-9 (even the right Xavier variance
    1/N halves E[z²] per layer)."""
    n = 16
    sheet_var = (math.sqrt(6) / (2 * n)) ** 2 / 3
    sheet_prediction = n * sheet_var * (n * sheet_var / 2) ** 4
    run = monte_carlo("E_z_L_sq", _deep_net_second_moment(2 / n, relu=True), 2.0, sheet_prediction)
    return evidence(wrong_if(not run.separates, run.ok), "He keeps E[z_5²] = 2; the sheet's bound collapses it", run,
                    xavier_prediction=1.0 * 0.5**4)


S = Section("Initialization")
CLAIMS = [
    S("init-too-small", 200, WRONG, "if too small, σ ≈ 0.01, decay → 0, fast learning",
      "activations and gradients vanish layer after layer: learning stalls", too_small,
      INIT + "test_sheet_erratum_small_init_does_not_learn_fast"),
    S("init-too-large", 201, HOLDS, "if too large, σ ≈ 1, explode, tanh gradients are small", "as written", too_large),
    S("xavier-variance", 204, OCR, "Var(h_i) = Var(h_o) = Var(f_in L) = Var(L)Var(in)",
      "reading: Var(h_i) = Var(h_{i-1}) needs Var(Σ_j w_j h_j) = N_in Var(w)Var(h), from Var(wh) = Var(w)Var(h) "
      "for zero-mean independent w, h", zero_mean_product),
    S("same-variance", 206, HOLDS, "Variance of units across all layers must be the same",
      "as written (Glorot's criterion); with Var(w) = 1/N_in a deep linear net keeps it", keeps_variance),
    S("variance-product", 208, HOLDS, "Var(wh) = E²(w)Var(h) + E²(h)Var(w) + Var(w)Var(h)",
      "as written (w, h independent)", variance_of_product),
    S("layer-variance", 212, HOLDS, "E[w] = E[h] = 0: Var(h_i) = Var(h_{i-1}) Σ_j Var(w_ij)", "as written",
      layer_variance),
    S("fan-in", 214, HOLDS, "Var(w) × N_in = 1, Var(w) = 1/N_in", "as written (N_in: the fan-in)", fan_in),
    S("xavier-both", 218, WRONG, "Both: 𝒰(0, 2/(n_in + n_out))",
      "Var(w) = 2/(n_in + n_out) with mean 0, e.g. 𝒩(0, 2/(n_in + n_out)) (xavier_normal_); a uniform on "
      "[0, 2/(n_in + n_out)] has mean 1/(n_in + n_out) and a far smaller variance", xavier_both,
      FINDINGS + "test_sheet_erratum_xavier_both_is_variance_2_over_fan_sum"),
    S("xavier-uniform", 222, WRONG, "Uniform: (-√6/(n_in + n_out), √6/(n_in + n_out))",
      "U(-a, a) with a = √(6/(n_in + n_out))", xavier_uniform_bound, INIT + "test_sheet_erratum_xavier_uniform_bound"),
    S("he-relu", 224, WRONG, "2015 ... if ReLU: the bound ±√6/(n_in + n_out)",
      "He et al. (2015), for ReLU: Var(w) = 2/N_in, e.g. U(±√(6/N_in)) (kaiming_uniform_)", he_relu,
      FINDINGS + "test_sheet_erratum_he_init_for_relu"),
]
