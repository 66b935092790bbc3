"""The sheet's losses beside its softmax classifier (lines 137-159, 226, 396, 429, 624-626): hinge, MSE,
binary and label-smoothed cross-entropy, the saturation argument, class weights, against torch's losses,
autograd and scikit-learn in float64. The sheet's L (line 44) is the log-likelihood; where a line's L is
another quantity, the claim says which."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from c147.functional.loss import class_weights
from c147.theory.evidence import (
    CONVENTION,
    FINDINGS,
    HOLDS,
    WRONG,
    Evidence,
    Section,
    close,
    convention_if,
    evidence,
    gap,
    grad,
    holds_if,
    randn,
    wrong_if,
)
from c147.theory.likelihood import LABELS, C, M, mean_log_likelihood, softmax_model

LOSS = "tests/functional/test_loss.py::"


def hinge_gradient() -> Evidence:
    """L = (1/K)Σ max(0, 1 - y(wᵀx + b)): ∇_w = (1/K)Σ 1{y(wᵀx + b) < 1}(-y x)."""
    k = 12
    x, w, b = randn(k, 3, seed=53), randn(3, seed=54), 0.2
    y = torch.where(randn(k, seed=55) > 0, 1.0, -1.0).double()
    g = grad(lambda v: torch.relu(1 - y * (x @ v + b)).mean(), w)
    z = x @ w + b
    right = ((y * z < 1).double() * -y) @ x / k
    sheet = ((y * z * (z <= 1).double()) * -y) @ x / k  # ε_i = 1, one j
    return evidence(wrong_if(close(g, sheet, k), close(g, right, k)), "autograd of the mean hinge loss",
                    gap_corrected=gap(g, right), gap_sheet=gap(g, sheet))


def mse_half_sum() -> Evidence:
    o, y = torch.sigmoid(randn(10, seed=56)), randn(10, seed=57)
    half_sum = 0.5 * ((y - o) ** 2).sum()
    torch_mse = F.mse_loss(o, y)
    return evidence(convention_if(close(half_sum, 10 / 2 * torch_mse, 10), close(half_sum, torch_mse, 10)),
                    "½Σ = (N/2)·torch's mean MSE", half_sum=half_sum.item(), torch_mse=torch_mse.item())


def binary_cross_entropy() -> Evidence:
    o, y = torch.sigmoid(randn(10, seed=58)), (randn(10, seed=59) > 0).double()
    sheet = -(y * torch.log(o) + (1 - y) * torch.log(1 - o)).sum()
    ref = F.binary_cross_entropy(o, y, reduction="sum")
    return evidence(holds_if(close(sheet, ref, 10)), "equals torch's binary_cross_entropy (sum)", gap=gap(sheet, ref))


def saturation() -> Evidence:
    """|z| = 20: MSE after a sigmoid has gradient ≈ 0 whether right or wrong; cross-entropy's is σ(z) - y."""
    z = torch.tensor([20.0, 20.0, -20.0], dtype=torch.float64)
    y = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)  # wrong, right, wrong
    g_mse = grad(lambda v: 0.5 * ((y - torch.sigmoid(v)) ** 2).sum(), z)
    g_ce = grad(lambda v: F.binary_cross_entropy_with_logits(v, y, reduction="sum"), z)
    ok = bool((g_mse.abs() < 1e-8).all()) and g_ce[0] > 0.999 and g_ce[2] < -0.999
    return evidence(holds_if(ok), "MSE∘σ: gradient < 1e-8 even when wrong; CE: ±1 when wrong",
                    max_mse_grad=g_mse.abs().max().item(), ce_grad_wrong=g_ce[0].item())


def cross_entropy_h() -> Evidence:
    """H(y, p) = -Σ y log p is torch's cross-entropy: the loss, i.e. minus line 44's log-likelihood L."""
    x, w, b = softmax_model()
    z = x @ w.T + b
    y = F.one_hot(LABELS, C).double()
    h = -(y * torch.log_softmax(z, 1)).sum(1).mean()
    ref = F.cross_entropy(z, y)
    return evidence(convention_if(close(h, ref, C), close(h, mean_log_likelihood(x, w, b), C)),
                    "H = torch's cross-entropy = -L for line 44's L", H=h.item(),
                    log_likelihood=mean_log_likelihood(x, w, b).item())


def label_smoothing() -> Evidence:
    """Σ_c y_c log p_c with smoothed y is the log-likelihood; torch's label-smoothed cross-entropy is its negative."""
    x, w, b = softmax_model()
    z, eps = x @ w.T + b, 0.1
    y = (1 - eps) * F.one_hot(LABELS, C).double() + eps / C
    sheet = (y * torch.log_softmax(z, 1)).sum(1).mean()
    ref = F.cross_entropy(z, LABELS, label_smoothing=eps)
    return evidence(convention_if(close(-sheet, ref, C), close(sheet, ref, C)),
                    "-L(c) equals torch's cross_entropy(label_smoothing=0.1)", sheet=sheet.item(), torch=ref.item())


def min_nll() -> Evidence:
    """With L the likelihood Π P(y|x): -log L is torch's summed cross-entropy; with line 44's L (a negative
    log-likelihood value) -log L is not even defined."""
    x, w, b = softmax_model()
    z = x @ w.T + b
    likelihood = torch.softmax(z, 1).gather(1, LABELS[:, None]).prod()
    ce = F.cross_entropy(z, LABELS, reduction="sum")
    with_line_44 = -torch.log(M * mean_log_likelihood(x, w, b))  # log of a negative number: nan
    return evidence(convention_if(close(-torch.log(likelihood), ce, M), close(with_line_44, ce, M)),
                    "-log Π P(y|x) = Σ CE", neg_log_likelihood=(-torch.log(likelihood)).item(), ce=ce.item())


def class_ratio() -> Evidence:
    y = torch.tensor([0] * 100 + [1] * 10)
    ours = class_weights(torch.bincount(y).double(), counts=True)
    ref = torch.from_numpy(compute_class_weight("balanced", classes=np.arange(2), y=y.numpy()))
    ratio = (ours[1] / ours[0]).item()
    return evidence(holds_if(close(ours, ref, 2) and abs(ratio - 10) < 1e-6),
                    "balanced weights (ours = sklearn's) are in the ratio 1 : 10", ratio=ratio)


def class_weight() -> Evidence:
    counts = torch.tensor([90.0, 10.0], dtype=torch.float64)
    sheet, right = counts * 100 / 2, class_weights(counts, counts=True)
    ref = torch.from_numpy(compute_class_weight("balanced", classes=np.arange(2), y=np.array([0] * 90 + [1] * 10)))
    return evidence(wrong_if(close(sheet, ref), close(right, ref, 2)), "sklearn's balanced weight is total/(C n_c)",
                    sheet_0=sheet[0].item(), sheet_1=sheet[1].item(), balanced_0=ref[0].item(), balanced_1=ref[1].item()
                )


S = Section("Hinge Loss")
CLAIMS = [
    S("hinge-gradient", 138, WRONG, "∇_w L = (1/K)Σ_iΣ_j ε_i y⁽ⁱ⁾(wᵀx⁽ⁱ⁾+b) 1{wᵀx⁽ⁱ⁾+b ≤ 1} ⊙ (-y⁽ⁱ⁾x⁽ⁱ⁾)",
      "∇_w (1/K)Σ max(0, 1 - y⁽ⁱ⁾(wᵀx⁽ⁱ⁾+b)) = (1/K)Σ_i 1{y⁽ⁱ⁾(wᵀx⁽ⁱ⁾+b) < 1}(-y⁽ⁱ⁾x⁽ⁱ⁾)", hinge_gradient,
      FINDINGS + "test_sheet_erratum_hinge_gradient"),
]
S = Section("Output Activation")
CLAIMS += [
    S("mse-half-sum", 155, CONVENTION, "MSE = ½Σ(y⁽ⁱ⁾ - O(z⁽ⁱ⁾))²",
      "a convention: torch's MSE is the mean without ½ (the sheet's is N/2 times it)", mse_half_sum,
      LOSS + "test_mse_sheet_convention_half_sum"),
    S("binary-cross-entropy", 157, HOLDS, "CE = -Σ[y log O + (1-y) log(1-O)] → softmax",
      "as written (softmax + cross-entropy for several classes)", binary_cross_entropy),
    S("saturation", 159, HOLDS, "If z is large, the gradient ≈ 0, therefore no learning",
      "about MSE on a sigmoid output (the line after MSE, before 'usually softmax'): (σ(z)-y)σ'(z) ≈ 0 even when "
      "wrong; with cross-entropy the gradient σ(z) - y stays ±1 for a confident wrong prediction", saturation,
      LOSS + "test_sheet_large_z_no_learning_holds_for_mse_not_cross_entropy"),
]
S = Section("Losses")
CLAIMS += [
    S("cross-entropy-h", 226, CONVENTION, "H(y, p) = -Σ_i y_i log(p_i) = L",
      "H is the cross-entropy loss (torch's); with line 44's L (the log-likelihood) H = -L", cross_entropy_h),
]
S = Section("Dataset Augmentation")
CLAIMS += [
    S("label-smoothing", 396, CONVENTION, "label smoothing: L(c) = Σ_c y_c log(p_c)",
      "L is the log-likelihood to maximize (line 44's convention) with smoothed y = (1-ε)onehot + ε/C; the loss "
      "(torch's cross_entropy(label_smoothing=ε)) is -L", label_smoothing),
]
S = Section("SGD vs batch gradient descent")
CLAIMS += [
    S("min-nll", 429, CONVENTION, "minimizing -log L → max L, min CE loss",
      "with L the likelihood Π P(y|x) (not line 44's log-likelihood): -log L is the summed cross-entropy", min_nll),
]
S = Section("Class weights")
CLAIMS += [
    S("class-ratio", 624, HOLDS, "ratio of class samples is 10, pick α = 1, β = 10",
      "as written: balanced weights are inversely proportional to class size", class_ratio),
    S("class-weight", 626, WRONG, "weight_i / #samples = total / #classes",
      "weight_c = total / (#classes · n_c) (sklearn's 'balanced')", class_weight,
      LOSS + "test_sheet_erratum_class_weight"),
]
