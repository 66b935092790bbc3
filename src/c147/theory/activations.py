"""The sheet's activation lines (147-196, 571-575): each against torch's function and autograd in float64."""

from __future__ import annotations

from functools import cache

import torch
import torch.nn.functional as F
import torchvision

from c147.functional import maxout
from c147.theory.evidence import (
    CONVENTION,
    FINDINGS,
    HOLDS,
    OCR,
    WRONG,
    Evidence,
    Section,
    close,
    convention_if,
    evidence,
    gap,
    grad,
    holds_if,
    ocr_if,
    randn,
    wrong_if,
)

X = torch.linspace(-6, 6, 241, dtype=torch.float64)
ACT = "tests/functional/test_activation.py::"


@cache
def _activation_census() -> dict[str, int]:
    """Activation modules in torchvision's classic CNNs (built on the meta device: no weights)."""
    counts: dict[str, int] = {}
    with torch.device("meta"):
        for build in (torchvision.models.alexnet, torchvision.models.vgg16, torchvision.models.resnet18):
            for m in build().modules():
                if isinstance(m, (torch.nn.ReLU, torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.ELU, torch.nn.GELU)):
                    counts[type(m).__name__] = counts.get(type(m).__name__, 0) + 1
    return counts


def relu_usual() -> Evidence:
    counts = _activation_census()
    return evidence(holds_if(set(counts) == {"ReLU"}), "torchvision's AlexNet, VGG-16, ResNet-18: only ReLU", **counts)


def maxout_two() -> Evidence:
    x, w, b = randn(5, 3, seed=80), randn(2, 3, seed=81), randn(2, seed=82)
    z = x @ w.T + b
    ours = maxout(z, 2, dim=1).squeeze(1)
    return evidence(holds_if(close(ours, torch.maximum(z[:, 0], z[:, 1]))),
                    "c147's maxout of the two affine maps = their max", gap=gap(ours, torch.maximum(z[:, 0], z[:, 1])))


def linear_collapse() -> Evidence:
    """Three Linear layers without activations are one affine map W3W2W1 x + (W3W2b1 + W3b2 + b3); with a
    ReLU between them they are not."""
    torch.manual_seed(0)
    layers = [torch.nn.Linear(4, 6).double(), torch.nn.Linear(6, 5).double(), torch.nn.Linear(5, 3).double()]
    x = randn(8, 4, seed=83)
    (w1, b1), (w2, b2), (w3, b3) = [(m.weight.detach(), m.bias.detach()) for m in layers]
    w, b = w3 @ w2 @ w1, w3 @ w2 @ b1 + w3 @ b2 + b3
    with torch.no_grad():
        deep = layers[2](layers[1](layers[0](x)))
        with_relu = layers[2](torch.relu(layers[1](torch.relu(layers[0](x)))))
    one = x @ w.T + b
    return evidence(holds_if(close(deep, one, 6) and not close(with_relu, one, 6)),
                    "no activation: the 3-layer net equals one Linear; with ReLU it does not", gap=gap(deep, one),
                    gap_with_relu=gap(with_relu, one))


def sigmoid_form() -> Evidence:
    """1/(1+e^x) is σ(-x), whose derivative is -σ(1-σ); σ(x) = 1/(1+e^{-x})."""
    sheet = 1 / (1 + torch.exp(X))
    d_sheet = grad(lambda v: (1 / (1 + torch.exp(v))).sum(), X)
    s = torch.sigmoid(X)
    return evidence(
        wrong_if(close(sheet, s), close(1 / (1 + torch.exp(-X)), s) and close(d_sheet, -sheet * (1 - sheet))),
        "1/(1+e^x) = σ(-x); its slope is -σ(1-σ)", gap=gap(sheet, s)
    )


def sigmoid_linear_at_zero() -> Evidence:
    """Near 0, σ(x) ≈ ½ + x/4 with error ≤ |x|³/48; σ is smooth (finite derivative everywhere)."""
    x = torch.linspace(-0.5, 0.5, 101, dtype=torch.float64)
    err = (torch.sigmoid(x) - 0.5 - x / 4).abs()
    d = grad(lambda v: torch.sigmoid(v).sum(), X)
    ok = bool((err <= x.abs() ** 3 / 48 + 1e-16).all()) and bool(torch.isfinite(d).all())
    return evidence(holds_if(ok), "|σ(x) - ½ - x/4| ≤ |x|³/48 on [-½, ½]", max_error=err.max().item())


def sigmoid_saturates() -> Evidence:
    d = grad(lambda v: torch.sigmoid(v).sum(), torch.tensor([-20.0, 0.0, 20.0], dtype=torch.float64))
    return evidence(holds_if(d[0] < 1e-8 and d[2] < 1e-8 and close(d[1], 0.25)), "σ'(±20) < 1e-8, σ'(0) = ¼",
                    slope_at_20=d[2].item())


def sigmoid_zigzag() -> Evidence:
    """Sigmoid outputs are all positive, so a next-layer unit's weight gradient δ_n h_n (per sample n) has one
    sign across all its weights: they all move the same way (zig-zag); with tanh inputs the signs mix."""
    z, w, t = randn(32, 10, seed=84), randn(10, seed=85), randn(32, seed=86)

    def one_signed(h):
        per_sample = [grad(lambda v, n=n: (h[n] @ v - t[n]) ** 2, w) for n in range(len(h))]
        return sum(int(g.sign().unique().numel() == 1) for g in per_sample)

    sig, tanh = one_signed(torch.sigmoid(z)), one_signed(torch.tanh(z))
    return evidence(holds_if(sig == 32 and tanh < 32), "after a sigmoid every per-sample weight gradient has one sign",
                    one_signed_sigmoid=sig, one_signed_tanh=tanh, samples=32)


def tanh_two_sigma() -> Evidence:
    two_sigma = 2 * torch.sigmoid(X) - 1
    slope = grad(lambda v: torch.tanh(v).sum(), X)
    ok = close(2 * torch.sigmoid(2 * X) - 1, torch.tanh(X), 4) and close(slope, 1 - torch.tanh(X) ** 2, 4)
    return evidence(wrong_if(close(two_sigma, torch.tanh(X), 4), ok), "tanh(x) = 2σ(2x) - 1; 2σ(x) - 1 = tanh(x/2)",
                    gap=gap(two_sigma, torch.tanh(X)))


def tanh_zero_centred() -> Evidence:
    d = grad(lambda v: torch.tanh(v).sum(), torch.tensor([-20.0, 20.0], dtype=torch.float64))
    ok = torch.tanh(torch.zeros(1, dtype=torch.float64)).item() == 0.0 and close(torch.tanh(-X), -torch.tanh(X))
    return evidence(
        ocr_if(ok and bool((d < 1e-8).all())), "'D' reads 0: tanh(0) = 0 (odd), saturates as σ", slope_at_20=d[1].item()
    )


def relu() -> Evidence:
    ours = torch.maximum(X, torch.zeros_like(X))
    return evidence(holds_if(close(ours, F.relu(X)) and close(torch.log1p(torch.exp(X)), F.softplus(X))),
                    "max(x, 0) = torch relu (softplus log(1+e^x) = torch softplus)", gap=gap(ours, F.relu(X)))


def relu_no_saturation() -> Evidence:
    x = torch.tensor([1e-3, 1.0, 1e3, 1e6], dtype=torch.float64)
    d = grad(lambda v: F.relu(v).sum(), x)
    return evidence(
        holds_if(bool((d == 1).all())), "slope exactly 1 for every x > 0 (up to 1e6)", min_slope=d.min().item()
    )


def relu_dead() -> Evidence:
    x = torch.tensor([-1e3, -1.0, -1e-3], dtype=torch.float64)
    d = grad(lambda v: F.relu(v).sum(), x)
    return evidence(holds_if(bool((F.relu(X) >= 0).all()) and bool((d == 0).all())),
                    "relu ≥ 0; slope exactly 0 for x < 0 (a unit stuck there does not learn)", max_slope=d.max().item())


def leaky_relu_slope() -> Evidence:
    sheet = torch.where(X > 0, X, 0.1 * X)
    return evidence(convention_if(close(sheet, F.leaky_relu(X, 0.1)), close(sheet, F.leaky_relu(X))),
                    "torch's leaky_relu with negative_slope = 0.1 (its default is 0.01)",
                    gap_default=gap(sheet, F.leaky_relu(X)))


def prelu_learned() -> Evidence:
    """PReLU's α is a parameter learned by backprop; a fixed α (a hyperparameter) is leaky ReLU."""
    prelu = torch.nn.PReLU(init=0.25).double()
    x = torch.tensor([-2.0, -1.0, 3.0], dtype=torch.float64)
    prelu(x).sum().backward()
    learned = any(p is prelu.weight for p in prelu.parameters()) and prelu.weight.grad.item() == -3.0
    return evidence(wrong_if(not prelu.weight.requires_grad, learned),
                    "torch.nn.PReLU's α is a Parameter with gradient Σ_{x<0} x = -3",
                    alpha_grad=prelu.weight.grad.item())


def elu_max() -> Evidence:
    alpha = 1.0
    sheet = torch.maximum(alpha * (torch.exp(X) - 1), X)
    return evidence(
        wrong_if(close(sheet, F.elu(X, alpha)), close(torch.where(X > 0, X, alpha * torch.expm1(X)), F.elu(X, alpha))),
        "max(α(eˣ-1), x) at x = 2 is 6.39, ELU(2) = 2", sheet_at_2=(torch.exp(torch.tensor(2.0)) - 1).item()
    )


def vanishing() -> Evidence:
    x = torch.tensor([-10.0, 10.0], dtype=torch.float64)
    slopes = {f.__name__: grad(lambda v, f=f: f(v).sum(), x) for f in (torch.relu, torch.sigmoid, torch.tanh)}
    ok = slopes["relu"][0] == 0 and all(s.abs().max() < 1e-4 for k, s in slopes.items() if k != "relu")
    return evidence(ocr_if(bool(ok)), "'O' reads σ: relu'(-10) = 0; σ' and tanh' < 1e-4 at ±10",
                    sigmoid_slope_10=slopes["sigmoid"][1].item(), tanh_slope_10=slopes["tanh"][1].item())


S = Section("Neural Networks")
CLAIMS = [
    S("relu-usual", 147, HOLDS, "Activation is usually ReLU", "as written", relu_usual),
    S("maxout", 149, HOLDS, "Maxout = max(w₁ᵀx + b₁, w₂ᵀx + b₂)", "as written", maxout_two),
    S("linear-collapse", 164, HOLDS, "without an activation everything is linear: Z = Wᵀx + b", "as written",
      linear_collapse),
    S("sigmoid", 168, WRONG, "Sigmoid: 1/(1+eˣ) = σ, dσ/dx = σ(1-σ)",
      "σ(x) = 1/(1+e^{-x}); 1/(1+eˣ) is σ(-x), whose derivative is -σ(1-σ)", sigmoid_form,
      ACT + "test_sheet_erratum_sigmoid_sign"),
    S("sigmoid-linear", 170, HOLDS, "around x = 0, linear, differentiable everywhere", "as written",
      sigmoid_linear_at_zero),
    S("sigmoid-saturates", 172, HOLDS, "saturates at extremes, 0 gradient, no learning", "as written",
      sigmoid_saturates),
    S("sigmoid-zigzag", 174, HOLDS, "could zigzag", "as written: positive outputs give one-signed weight updates",
      sigmoid_zigzag),
    S("tanh", 176, WRONG, "tanh(x) = 2σ - 1, d tanh/dx = 1 - tanh²(x)",
      "tanh(x) = 2σ(2x) - 1 (2σ(x) - 1 = tanh(x/2)); the derivative 1 - tanh² is right", tanh_two_sigma,
      ACT + "test_sheet_erratum_tanh_is_2_sigma_of_2x_minus_1"),
    S("tanh-zero", 178, OCR, "similar props to sigmoid, passes through D",
      "'D' is 0: tanh passes through 0 (zero-centred) and saturates like σ", tanh_zero_centred),
    S("relu", 180, HOLDS, "ReLU: max(x, 0)", "as written", relu, ACT + "test_sheet_relu_and_softplus_are_right"),
    S("relu-no-saturation", 182, HOLDS, "linear if active, no saturation at large values (converges faster)",
      "as written; 'converges faster' is empirical (Krizhevsky et al. 2012), not checked", relu_no_saturation),
    S("relu-dead", 184, HOLDS, "non-neg, no learning if activation is 0", "as written", relu_dead),
    S("softplus", 186, HOLDS, "Softplus: log(1 + eˣ)", "as written", relu,
      ACT + "test_sheet_relu_and_softplus_are_right"),
    S("leaky-relu", 190, CONVENTION, "Leaky ReLU: x⁺(x > 0) + 0.1x⁻(x < 0)",
      "a valid slope; torch's default negative_slope is 0.01", leaky_relu_slope,
      ACT + "test_sheet_note_leaky_relu_slope"),
    S("prelu", 192, WRONG, "learning if x < 0; if α is hyperparam, PReLU",
      "PReLU learns α by backprop (a parameter); with α a fixed hyperparameter it is leaky ReLU", prelu_learned,
      FINDINGS + "test_sheet_erratum_prelu_learns_alpha"),
    S("elu", 194, WRONG, "ELU: max(α(eˣ - 1), x)", "x if x > 0 else α(eˣ - 1)", elu_max,
      ACT + "test_sheet_erratum_elu_max_form"),
    S("vanishing-activations", 575, OCR, "zero gradient somewhere is a problem: ReLU, O, tanh",
      "'O' is σ: ReLU (0 for x < 0), σ and tanh (→ 0 at both ends)", vanishing),
]
