"""The sheet's softmax classifier, its log-likelihood and gradients (lines 36-56, 125-133), against torch's
softmax / cross-entropy and autograd in float64 (the losses beside them: :mod:`losses`).

The sheet's notation: z_k = w_kᵀx + b_k, softmax_k(x) = e^{z_k} / Σ_j e^{z_j}, and (line 44) L = the
log-likelihood, here as the mean (1/m) Σ_n log softmax_{y⁽ⁿ⁾}(x⁽ⁿ⁾) over m samples; c_i (line 52) is the
number of samples of class i. Its gradients:

    ∂L/∂w_i = (1/m) Σ_n (1[y⁽ⁿ⁾ = i] - softmax_i(x⁽ⁿ⁾)) x⁽ⁿ⁾,   ∂L/∂b_i = (1/m) (c_i - Σ_n softmax_i(x⁽ⁿ⁾)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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

M, C, D = 6, 4, 3  # samples, classes, features
LABELS = torch.tensor([0, 2, 1, 2, 3, 2])


def softmax_model():
    """x (M, D), W (C, D), b (C,): the sheet's linear softmax classifier, seeded."""
    return randn(M, D, seed=50), randn(C, D, seed=51), randn(C, seed=52)


def mean_log_likelihood(x, w, b, y=LABELS):
    """L = (1/m) Σ_n log softmax_{y⁽ⁿ⁾}(x⁽ⁿ⁾), written from the definition."""
    z = x @ w.T + b
    return (z.gather(1, y[:, None]).squeeze(1) - torch.log(torch.exp(z).sum(1))).mean()


def _grads():
    x, w, b = softmax_model()
    w_, b_ = w.clone().requires_grad_(), b.clone().requires_grad_()
    mean_log_likelihood(x, w_, b_).backward()
    p, onehot = torch.softmax(x @ w.T + b, 1), F.one_hot(LABELS, C).double()
    return x, w, b, w_.grad, b_.grad, p, onehot


def softmax_definition() -> Evidence:
    x, w, b = softmax_model()
    z = x @ w.T + b
    ours = torch.exp(z) / torch.exp(z).sum(1, keepdim=True)
    return evidence(holds_if(close(ours, torch.softmax(z, 1), C) and close(ours.sum(1), torch.ones(M), C)),
                    "equals torch.softmax of Wx + b; rows sum to 1", gap=gap(ours, torch.softmax(z, 1)))


def softmax_probability() -> Evidence:
    """Read with the class index as the sample's label: Σ_n log softmax_{y⁽ⁿ⁾}(x⁽ⁿ⁾) is the log-likelihood
    (= -torch cross-entropy); literally (class i for sample i) it is another sum."""
    x, w, b = softmax_model()
    z = x @ w.T + b
    loglik = -F.cross_entropy(z, LABELS, reduction="sum")
    read = torch.log_softmax(z, 1).gather(1, LABELS[:, None]).sum()
    literal = torch.log_softmax(z[:C], 1).diagonal().sum()  # P(y⁽ⁱ⁾ = i): class i for sample i
    return evidence(convention_if(close(read, loglik, M), close(literal, loglik, M)),
                    "softmax_{y⁽ⁱ⁾}(x⁽ⁱ⁾) gives torch's log-likelihood; class i for sample i does not",
                    log_likelihood=loglik.item(), literal=literal.item())


def softmax_derivation() -> Evidence:
    """The sheet's third line subtracts LSE again: its gradient w.r.t. the logits is onehot - 2 softmax."""
    x, w, b = softmax_model()
    z = (x @ w.T + b).requires_grad_()
    lse = torch.logsumexp(z, 1)
    right = (z.gather(1, LABELS[:, None]).squeeze(1) - lse).sum()
    sheet = (torch.log_softmax(z, 1).gather(1, LABELS[:, None]).squeeze(1) - lse).sum()
    (g_sheet,) = torch.autograd.grad(sheet, z)
    p, onehot = torch.softmax(z.detach(), 1), F.one_hot(LABELS, C).double()
    loglik = -F.cross_entropy(z, LABELS, reduction="sum")
    return evidence(wrong_if(close(sheet, loglik, M), close(right, loglik, M) and close(g_sheet, onehot - 2 * p, C)),
                    "the third line is the log-likelihood minus Σ LSE; its gradient is onehot - 2·softmax",
                    sheet=sheet.item(), log_likelihood=loglik.item())


def log_likelihood() -> Evidence:
    x, w, b = softmax_model()
    probs = torch.softmax(x @ w.T + b, 1).gather(1, LABELS[:, None]).squeeze(1)
    return evidence(holds_if(close(M * mean_log_likelihood(x, w, b), torch.log(probs.prod()), M)),
                    "Σ log softmax_y = log Π P(y|x)", log_likelihood=(M * mean_log_likelihood(x, w, b)).item())


def grad_with_constant() -> Evidence:
    """∇ of (1/m)Σ[log softmax - c_i]: c_i (a count, line 52) is a constant and drops out."""
    x, w, b = softmax_model()
    counts = torch.bincount(LABELS, minlength=C).double()
    w_, w2 = w.clone().requires_grad_(), w.clone().requires_grad_()
    (g_sheet,) = torch.autograd.grad(mean_log_likelihood(x, w_, b) - counts[LABELS].mean(), w_)
    (g_l,) = torch.autograd.grad(mean_log_likelihood(x, w2, b), w2)
    return evidence(holds_if(close(g_sheet, g_l, M)), "the constant c_i leaves ∇L unchanged", gap=gap(g_sheet, g_l))


def grad_w_log_softmax() -> Evidence:
    """∇_{w_i} log softmax_i(x) = (1 - softmax_i) x; the sheet's softmax_i (times x) is ∇_{w_i} log Σ_k e^{z_k}."""
    x, w, b = softmax_model()
    xi, i = x[0], 1
    w_ = w.clone().requires_grad_()
    (g,) = torch.autograd.grad(torch.log_softmax(w_ @ xi + b, 0)[i], w_)
    p = torch.softmax(w @ xi + b, 0)[i]
    return evidence(wrong_if(close(g[i], p * xi, C) or close(g[i], p), close(g[i], (1 - p) * xi, C)),
                    "autograd: (1 - softmax_i) x", gap_corrected=gap(g[i], (1 - p) * xi), gap_sheet=gap(g[i], p * xi))


def grad_b() -> Evidence:
    """∂L/∂b_i = (1/m)(c_i - Σ_n softmax_i(x⁽ⁿ⁾)) for the log-likelihood L. The sheet's sum over classes j of
    one sample is 1; read as a sum over samples it is -∂L/∂b_i, the gradient of the cross-entropy -L."""
    x, w, b, gw, gb, p, onehot = _grads()
    counts = onehot.sum(0)
    literal = torch.stack([(p[i].sum() - counts[i]) / M for i in range(C)])
    over_samples = (p.sum(0) - counts) / M
    ce_grad = grad(lambda v: F.cross_entropy(x @ w.T + v, LABELS), b)
    ok = close(gb, (counts - p.sum(0)) / M, M) and close(over_samples, ce_grad, M)
    return evidence(wrong_if(close(literal, gb, M) or close(over_samples, gb, M), ok),
                    "∂L/∂b = (c - Σ_n softmax)/m; the sheet's sign is the cross-entropy's, its sum over classes is 1",
                    gap_literal=gap(literal, gb), gap_over_samples=gap(over_samples, gb),
                    gap_minus=gap(-over_samples, gb))


def sheet_objective() -> Evidence:
    """Line 125: Σ_j (log softmax_j - z_j) = -C·LSE(z): not the log-likelihood; its gradient differs."""
    x, w, b = softmax_model()
    w_ = w.clone().requires_grad_()
    z = x @ w_.T + b
    sheet = (torch.log_softmax(z, 1) - z).sum(1).mean()
    (g_sheet,) = torch.autograd.grad(sheet, w_)
    x, w, b, gw, gb, p, onehot = _grads()
    same = close(sheet, -C * torch.logsumexp(x @ w.T + b, 1).mean(), C * M)
    return evidence(wrong_if(close(g_sheet, gw, M), same and close(gw, (onehot - p).T @ x / M, M)),
                    "the sheet's objective is -C·LSE, its gradient is not ∇L", gap=gap(g_sheet, gw))


def grad_linearity() -> Evidence:
    x, w, b = softmax_model()
    terms = [lambda v, n=n: torch.log_softmax(x[n] @ v.T + b, 0)[LABELS[n]] / M for n in range(M)]
    total = grad(lambda v: sum(t(v) for t in terms), w)
    summed = sum(grad(t, w) for t in terms)
    return evidence(holds_if(close(total, summed, M)), "∇ of the sum = sum of the ∇s", gap=gap(total, summed))


def grad_w_log_softmax_j() -> Evidence:
    """∇_{w_i} log softmax_j = (1[i=j] - softmax_i) x; the sheet's Σ_k ∇_{w_k} e^{z_k} / Σ_k e^{z_k} is x."""
    x, w, b = softmax_model()
    xi, i, j = x[0], 1, 2
    g = grad(lambda v: torch.log_softmax(v @ xi + b, 0)[j], w)[i]
    p = torch.softmax(w @ xi + b, 0)
    return evidence(wrong_if(close(g, xi, C), close(g, -p[i] * xi, C)), "autograd: -softmax_i x for i ≠ j",
                    gap_sheet=gap(g, xi), gap_corrected=gap(g, -p[i] * xi))


def grad_w() -> Evidence:
    """∂L/∂w_i is a vector (1/m)Σ_n(1[y=i] - softmax_i) x⁽ⁿ⁾; the sheet's (1/m)[Σ_j softmax_j - z] is a scalar."""
    x, w, b, gw, gb, p, onehot = _grads()
    counts = onehot.sum(0)
    sheet = (p[2].sum() - counts[2]) / M  # class 2: three samples
    right = (onehot - p).T @ x / M
    return evidence(wrong_if(close(gw[2], sheet), close(gw, right, M)), "autograd matches (1/m)Σ(onehot - p)x",
                    gap_corrected=gap(gw, right), sheet_value=sheet.item())


LOSS = "tests/functional/test_loss.py::"
S = Section("Softmax")
CLAIMS = [
    S("softmax", 38, HOLDS, "softmax_i(x) = e^{w_iᵀx+b_i} / Σ_j e^{w_jᵀx+b_j}, P(x in class i)", "as written",
      softmax_definition),
    S("softmax-probability", 40, CONVENTION, "P(y⁽ⁱ⁾ = i | x⁽ⁱ⁾, θ) = softmax_i(x⁽ⁱ⁾)",
      "the class index is the sample's label: P(y⁽ⁿ⁾ = k | x⁽ⁿ⁾) = softmax_k(x⁽ⁿ⁾) (i names both on the sheet)",
      softmax_probability),
    S("softmax-derivation", 42, WRONG,
      "argmax Σ log[e^{z_i}/Σ_j e^{z_j}] = argmax Σ [log(e^{z_i}/Σ) - log Σ] = ... - c_i",
      "log softmax_y = z_y - log Σ_j e^{z_j}: the third line subtracts log Σ a second time (a θ-dependent term that "
      "moves the argmax)", softmax_derivation, LOSS + "test_sheet_erratum_softmax_log_likelihood_derivation"),
    S("log-likelihood", 44, HOLDS, "L = log likelihood", "as written: L = Σ_n log softmax_{y⁽ⁿ⁾}(x⁽ⁿ⁾)",
      log_likelihood),
    S("grad-with-constant", 46, HOLDS, "∇_Θ L = ∇_Θ((1/m)Σ[log softmax_i(x⁽ⁱ⁾) - c_i])",
      "as written: c_i (a count) is constant, so this is ∇ of the mean log-likelihood", grad_with_constant),
    S("grad-w-log-softmax", 54, WRONG,
      "∇_{w_i} log(e^{z_i}/Σ_j e^{z_j}) = Σ_k ∇_{w_k}e^{z_k} / Σ_k e^{z_k} = e^{z_i}/Σ_k e^{z_k}",
      "∇_{w_i} log softmax_i(x) = (1 - softmax_i(x)) x (softmax_i(x) x is the gradient of log Σ_k e^{z_k} alone)",
      grad_w_log_softmax, FINDINGS + "test_sheet_erratum_log_softmax_weight_gradient"),
    S("grad-b", 56, WRONG, "∂L/∂b_i = (1/m)[Σ_j softmax_j(x⁽ⁱ⁾) - c_i]",
      "with L the log-likelihood (line 44): ∂L/∂b_i = (1/m)[c_i - Σ_n softmax_i(x⁽ⁿ⁾)]; the sheet sums one sample's "
      "classes (= 1), and even summed over samples its sign is that of the cross-entropy -L", grad_b,
      LOSS + "test_sheet_erratum_softmax_cross_entropy_gradient"),
    S("sheet-objective", 125, WRONG, "∇_{w_i}L = ∇_{w_i}((1/m)Σ_j(log softmax_j(x⁽ⁱ⁾) - (w_jᵀx⁽ⁱ⁾ + b_j)))",
      "the bracket is -log Σ_k e^{z_k} per class, not the log-likelihood; ∇_{w_i}L = (1/m)Σ_n(1[y⁽ⁿ⁾=i] - "
      "softmax_i(x⁽ⁿ⁾))x⁽ⁿ⁾", sheet_objective, FINDINGS + "test_sheet_erratum_weight_gradient_objective"),
    S("grad-linearity", 127, HOLDS, "= (1/m)Σ_j ∇_{w_i}(...)", "as written: the gradient of a sum is the sum",
      grad_linearity),
    S("grad-w-log-softmax-j", 131, WRONG, "∇_{w_i} log softmax_j(x) = Σ_k ∇_{w_k}e^{z_k} / Σ_k e^{z_k}",
      "∇_{w_i} log softmax_j(x) = (1[i = j] - softmax_i(x)) x", grad_w_log_softmax_j,
      FINDINGS + "test_sheet_erratum_log_softmax_weight_gradient"),
    S("grad-w", 133, WRONG, "∂L/∂w_i = (1/m)[Σ_j softmax_j(x⁽ⁱ⁾) - z⁽ⁱ⁾]",
      "∂L/∂w_i = (1/m)Σ_n(1[y⁽ⁿ⁾ = i] - softmax_i(x⁽ⁿ⁾)) x⁽ⁿ⁾: a vector, not a scalar", grad_w,
      FINDINGS + "test_sheet_erratum_weight_gradient_is_a_vector"),
]
