"""The sheet's regularization lines (11, 62-70, 230-265, 599): the L2 and L1 penalties and updates, data
splits, early stopping, checked on small seeded problems with closed forms, torch.optim and scikit-learn
(Lasso, Ridge, KFold). Ensembles, bagging and dropout are in :mod:`c147.theory.ensembles`."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from sklearn.linear_model import Lasso, Ridge
from sklearn.model_selection import KFold

from c147.nn.regularize import activity_l1_penalty, inf_norm_penalty, l1_penalty, l2_penalty
from c147.theory.evidence import (
    CONVENTION,
    HOLDS,
    OCR,
    WRONG,
    Evidence,
    Section,
    close,
    convention_if,
    evidence,
    gap,
    generator,
    holds_if,
    ocr_if,
    randn,
    wrong_if,
)


def _regression(n: int, p: int, seed: int, informative: int = 5, noise: float = 1.0):
    """y = X w* + noise with only ``informative`` nonzero weights; a train, validation and test split."""
    g = generator(seed)
    w = torch.zeros(p, dtype=torch.float64)
    w[:informative] = torch.tensor([3.0, -2.0, 1.5, -1.0, 2.5][:informative], dtype=torch.float64)
    xs = [torch.randn(m, p, generator=g, dtype=torch.float64) for m in (n, 200, 2000)]
    return [(x, x @ w + noise * torch.randn(len(x), generator=g, dtype=torch.float64)) for x in xs]


def _mse(x, y, w):
    return ((x @ w - y) ** 2).mean().item()


@cache
def _ridge_path():
    """Ridge on n = 40, p = 30: train / validation / test MSE over λ (λ = 0: least squares)."""
    (x, y), (xv, yv), (xt, yt) = _regression(40, 30, 100)
    out = {}
    for lam in (0.0, 1.0, 3.0, 10.0, 30.0, 100.0):
        w = torch.linalg.solve(x.T @ x + lam * torch.eye(30, dtype=torch.float64), x.T @ y)
        out[lam] = (_mse(x, y, w), _mse(xv, yv, w), _mse(xt, yt, w))
    return out


def validation_selects() -> Evidence:
    """λ picked on the validation set is near-best on the test set; the training error is optimistic."""
    path = _ridge_path()
    chosen = min(path, key=lambda lam: path[lam][1])
    best_test = min(v[2] for v in path.values())
    ok = path[chosen][2] <= 1.1 * best_test and path[chosen][0] < path[chosen][2]
    return evidence(holds_if(ok), "validation picks λ; test error within 10% of the best; train error below test",
                    chosen_lambda=chosen, test_at_chosen=path[chosen][2], best_test=best_test,
                    train_at_chosen=path[chosen][0])


def k_fold() -> Evidence:
    """K-fold cross-validation: every sample is validated once and trained on K - 1 times (K uses)."""
    k, n = 5, 23
    val, train = np.zeros(n, int), np.zeros(n, int)
    for tr, va in KFold(k).split(np.arange(n)):
        val[va] += 1
        train[tr] += 1
    return evidence(holds_if(bool((val == 1).all() and (train == k - 1).all())),
                    "sklearn KFold(5): each sample 1x validation, 4x training", uses_per_sample=int((val + train)[0]))


@cache
def _early_stopping():
    """Gradient descent (step 1/L) on least squares with p = 55 features, n = 50 noisy samples (it can fit
    the noise exactly): training and validation error per step."""
    (x, y), (xv, yv), _ = _regression(50, 55, 101, noise=1.0)
    w, lr, val, train = torch.zeros(55, dtype=torch.float64), 1 / torch.linalg.matrix_norm(x, 2).item() ** 2, [], []
    for _ in range(3000):
        w = w - lr * x.T @ (x @ w - y)
        train.append(_mse(x, y, w))
        val.append(_mse(xv, yv, w))
    return train, val


def early_stopping() -> Evidence:
    train, val = _early_stopping()
    best = int(np.argmin(val))
    ok = best < len(val) // 10 and val[best] < 0.5 * val[-1] and train[-1] < 0.1 * train[best]
    return evidence(holds_if(ok), "validation error bottoms out early and rises while training error falls",
                    best_step=best, val_best=val[best], val_last=val[-1], train_best=train[best], train_last=train[-1])


def early_stopping_rule(patience: int = 50) -> Evidence:
    """Stop after ``patience`` steps without a new best; return the best: its error is the run's minimum."""
    train, val = _early_stopping()
    best, step = 0, 0
    for step, v in enumerate(val):
        if v < val[best]:
            best = step
        elif step - best >= patience:
            break
    return evidence(holds_if(val[best] == min(val[: step + 1]) and step < len(val) - 1 and val[best] < val[-1]),
                    "patience 50: stops early, returns the lowest-validation model", stopped_at=step, returned=best)


def omega_frobenius() -> Evidence:
    """½WᵀW is a matrix for a matrix W; read as ½tr(WᵀW) it is ½‖W‖_F² (= c147's l2_penalty with α = 1)."""
    w = randn(4, 3, seed=102)
    half_tr = 0.5 * torch.trace(w.T @ w)
    ours = l2_penalty([w], 1.0)
    frobenius = close(half_tr, 0.5 * torch.linalg.matrix_norm(w) ** 2, 12) and close(ours, half_tr, 12)
    return evidence(convention_if(frobenius, (0.5 * w.T @ w).shape == ()), "½tr(WᵀW) = ½‖W‖_F²",
                    half_trace=half_tr.item())


def _sgd_weight_decay(steps: int, zero_loss: bool = False):
    """torch.optim.SGD(weight_decay=α) on a seeded linear least squares, and the sheet's two update forms."""
    x, y, w0 = randn(20, 4, seed=103), randn(20, seed=104), randn(4, seed=105)
    lr, alpha = 0.05, 0.3
    w = torch.nn.Parameter(w0.clone())
    opt = torch.optim.SGD([w], lr=lr, weight_decay=alpha)
    manual, sheet_a, sheet_b = w0.clone(), w0.clone(), w0.clone()

    def grad_j(v):
        return torch.zeros_like(v) if zero_loss else x.T @ (x @ v - y) / 20

    for _ in range(steps):
        opt.zero_grad()
        w.grad = grad_j(w.detach())
        opt.step()
        manual = (1 - lr * alpha) * manual - lr * grad_j(manual)
        sheet_a = (1 - lr) * sheet_a - lr * grad_j(sheet_a)  # (I - εI)W - ε∇J
        sheet_b = (1 - alpha) * sheet_b - lr * grad_j(sheet_b)  # (1 - α)W - ε∇J
    return w.detach(), manual, sheet_a, sheet_b, w0, lr, alpha


def shrink_then_step() -> Evidence:
    w, manual, *_ = _sgd_weight_decay(5)
    return evidence(
        holds_if(close(w, manual, 20)), "SGD(weight_decay=α) = (1 - εα)W - ε∇J: shrink, then step", gap=gap(w, manual)
    )


def l2_update(form: str) -> Evidence:
    w, manual, sheet_a, sheet_b, *_ = _sgd_weight_decay(5)
    sheet = sheet_a if form == "a" else sheet_b
    return evidence(wrong_if(close(sheet, w, 20), close(manual, w, 20)), "torch's SGD(weight_decay) is (1 - εα)W - ε∇J",
                    gap_sheet=gap(sheet, w), gap_corrected=gap(manual, w))


def l2_shrinks() -> Evidence:
    w, manual, _, _, w0, lr, alpha = _sgd_weight_decay(10, zero_loss=True)
    return evidence(holds_if(close(w, (1 - lr * alpha) ** 10 * w0, 20)), "with ∇J = 0: W_t = (1 - εα)^t W_0",
                    norm_ratio=(w.norm() / w0.norm()).item())


def tradeoff() -> Evidence:
    """Ridge (λ > 0) has a higher training error than least squares (λ = 0) and, here, a lower test error."""
    path = _ridge_path()
    best = min((lam for lam in path if lam > 0), key=lambda lam: path[lam][2])
    ok = all(path[lam][0] >= path[0.0][0] for lam in path) and path[best][2] < path[0.0][2]
    return evidence(holds_if(ok), "λ > 0 raises training MSE and lowers test MSE", train_ls=path[0.0][0],
                    train_ridge=path[best][0], test_ls=path[0.0][2], test_ridge=path[best][2])


@cache
def _sparsity():
    (x, y), _, _ = _regression(100, 30, 106)
    lasso = Lasso(alpha=0.2, fit_intercept=False, tol=1e-10, max_iter=100_000).fit(x.numpy(), y.numpy()).coef_
    ridge = Ridge(alpha=20.0, fit_intercept=False).fit(x.numpy(), y.numpy()).coef_
    w, lr = torch.zeros(30, dtype=torch.float64), 1 / torch.linalg.matrix_norm(x, 2).item() ** 2 * 100
    for _ in range(3000):  # ISTA: a gradient step on the squared error, then soft-thresholding (the L1 prox)
        w = w - lr * x.T @ (x @ w - y) / 100
        w = torch.sign(w) * torch.clamp(w.abs() - lr * 0.2, min=0)
    return lasso, ridge, w.numpy()


def l1_sparse() -> Evidence:
    lasso, ridge, ista = _sparsity()
    zeros = int((lasso == 0).sum())
    ok = zeros >= 20 and int((ridge == 0).sum()) == 0 and np.abs(ista - lasso).max() < 1e-6
    return evidence(holds_if(ok), "L1 (sklearn Lasso = our ISTA): exact zeros; L2 (Ridge): none", lasso_zeros=zeros,
                    ridge_zeros=int((ridge == 0).sum()), ista_vs_lasso=float(np.abs(ista - lasso).max()))


def l1_penalty_form() -> Evidence:
    """Σ‖W_j‖ over the individual weights (‖W_j‖ = |W_j|) is c147's L1 penalty ‖W‖₁; over rows with the 2-norm it
    would be another penalty (group lasso)."""
    w = randn(4, 3, seed=108)
    ours = l1_penalty([w], 1.0)
    rows = torch.linalg.vector_norm(w, dim=1).sum()
    return evidence(convention_if(close(ours, w.abs().sum(), 12), close(ours, rows, 12)),
                    "Σ_j |W_j| = c147's l1_penalty; Σ over rows of ‖row‖₂ differs", l1=ours.item(),
                    group_lasso=rows.item())


def l1_norm() -> Evidence:
    w = randn(9, seed=107)
    return evidence(holds_if(close(w.abs().sum(), torch.linalg.vector_norm(w, 1), 9)), "Σ|w_j| = torch's 1-norm",
                    norm=w.abs().sum().item())


def _hidden_zeros(alpha: float) -> tuple[float, float]:
    """A one-hidden-layer ReLU net (20 -> 64 -> 1) fitted by 400 full-batch Adam steps to a seeded regression, with
    the activity penalty α (1/N) Σ_n ‖h_n‖₁ on its hidden layer: the share of exact zeros in h on the training
    inputs, and the training MSE."""
    torch.manual_seed(110)
    (x, y), _, _ = _regression(200, 20, 109)
    hidden, out = torch.nn.Linear(20, 64, dtype=torch.float64), torch.nn.Linear(64, 1, dtype=torch.float64)
    opt = torch.optim.Adam([*hidden.parameters(), *out.parameters()], lr=0.01)
    for _ in range(400):
        h = hidden(x).relu()
        loss = ((out(h).squeeze(1) - y) ** 2).mean() + activity_l1_penalty([h], alpha)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        h = hidden(x).relu()
        return (h == 0).double().mean().item(), ((out(h).squeeze(1) - y) ** 2).mean().item()


def sparse_representations() -> Evidence:
    """l.264 read as "sparse representations: the L1 penalty on the activations h instead of the weights w": it
    makes the hidden units exactly 0 on more inputs (a sparser representation) while still fitting; its
    hand-written gradient (α/N) sign(h) equals autograd's."""
    plain_zeros, plain_mse = _hidden_zeros(0.0)
    sparse_zeros, sparse_mse = _hidden_zeros(0.5)
    h = randn(8, 5, seed=111).requires_grad_()
    (ours,) = torch.autograd.grad(activity_l1_penalty([h], 0.3), h)
    (ref,) = torch.autograd.grad(0.3 * h.abs().sum(1).mean(), h)
    ok = sparse_zeros > plain_zeros + 0.2 and sparse_mse < 2.0 and close(ours, ref, 5)
    return evidence(ocr_if(ok), "activity L1 (α = 0.5): more exact zeros in the hidden layer, the fit kept; gradient "
                    "= autograd's", zeros_plain=plain_zeros, zeros_activity_l1=sparse_zeros, mse_plain=plain_mse,
                    mse_activity_l1=sparse_mse, gradient_gap=gap(ours, ref))


def max_row_penalty() -> Evidence:
    """l.628-632 read as the penalty q(W) = max_k Σ_j |W_kj| (the ∞-norm, each layer's largest absolute row sum;
    2/n a constant factor) and its subgradient: sign(W_k*j) on the maximizing row k* (the one row sum l.630
    writes out), 0 on the others (l.632's one row of partial derivatives). c147's inf_norm_penalty: the value is
    torch's matrix ∞-norm; the gradient equals autograd's where the maximum is unique; with tied rows (each
    given 1/n of its row's signs) it is still a subgradient: q(W + D) >= q(W) + <G, D> for 200 random D."""
    w = randn(5, 4, seed=112).requires_grad_()
    (g,) = torch.autograd.grad(inf_norm_penalty([w], 1.0), w)
    (ref,) = torch.autograd.grad(torch.linalg.matrix_norm(w, float("inf")), w)
    k = int(w.detach().abs().sum(1).argmax())
    one_row = bool((g[torch.arange(5) != k] == 0).all()) and close(g[k], w.detach()[k].sign(), 1)
    tied = torch.cat([w.detach()[:1], -w.detach()[:1].flip(1), w.detach()[2:]]).requires_grad_()  # rows 0, 1 tie
    (g_tied,) = torch.autograd.grad(inf_norm_penalty([tied], 1.0), tied)
    d = randn(200, 5, 4, seed=113)
    q = torch.linalg.matrix_norm(tied.detach() + d, float("inf"))
    q0 = torch.linalg.matrix_norm(tied.detach(), float("inf"))
    slack = (q - q0 - (g_tied * d).sum((1, 2))).min().item()
    ok = close(g, ref, 20) and one_row and slack >= -1e-12
    return evidence(ocr_if(ok), "∂ max_k Σ_j |W_kj|: sign(W) on the maximizing row, 0 elsewhere (= autograd); ties "
                    "split: still a subgradient", gradient_gap=gap(g, ref), max_row=k, subgradient_slack=slack)


S = Section("ML basics")
CLAIMS = [
    S("validation", 65, HOLDS, "Validation: select optimal hyperparameters; test set: how well it generalizes",
      "as written (lines 62-67: train fits, validation selects, test scores once)", validation_selects),
    S("k-fold", 69, HOLDS, "each fold is used K times for training/validation",
      "as written: K uses in all, once for validation and K - 1 times for training", k_fold),
    S("early-stopping", 70, HOLDS, "Early stopping prevents overfitting", "as written", early_stopping),
]
S = Section("Regularization")
CLAIMS += [
    S("l2-update-first", 11, WRONG, "W ← (I - εI)W - ε∇_W J", "W ← (1 - εα)W - ε∇_W J (the form drops α)",
      lambda: l2_update("a"), "tests/nn/test_regularize.py::test_sheet_erratum_l2_update_rule"),
    S("omega-frobenius", 230, CONVENTION, "Ω(Θ) = ½WᵀW = ½‖W‖_F²",
      "with WᵀW read as tr(WᵀW) (for a matrix W, WᵀW is a matrix)", omega_frobenius),
    S("shrink-before-update", 232, HOLDS, "shrink weights before gradient update",
      "as written: W ← (1 - εα)W, then -ε∇J", shrink_then_step),
    S("l2-update-second", 238, WRONG, "W = (1 - α)W - ε∇_w J", "W ← (1 - εα)W - ε∇_w J (the form drops ε)",
      lambda: l2_update("b"), "tests/nn/test_regularize.py::test_sheet_erratum_l2_update_rule"),
    S("l2-shrinks", 240, HOLDS, "causes weights to shrink", "as written: ‖W_t‖ = (1 - εα)^t ‖W_0‖ with ∇J = 0",
      l2_shrinks),
    S("regularization-tradeoff", 246, HOLDS, "sacrifices higher train loss for lower test loss", "as written",
      tradeoff),
    S("early-stopping-rule", 250, HOLDS, "return model with lowest validation error, train until unchanged",
      "as written (c147's callbacks=early_stopping: patience epochs without a new best, then the best weights)",
      early_stopping_rule,
      "tests/lit/test_early_stopping.py::test_stops_where_lightnings_early_stopping_does_and_restores_the_best_weights"),
    S("l1-penalty", 260, CONVENTION, "Ω(Θ) = Σ‖W_j‖",
      "with W_j the individual weights (‖W_j‖ = |W_j|): the L1 penalty ‖W‖₁; with rows and 2-norms it is the "
      "group-lasso penalty", l1_penalty_form),
    S("l1-sparse", 262, HOLDS, "L1: good for feature selection, the gradient makes some weights exactly 0",
      "as written for the minimizer (proximal steps reach exact zeros; plain subgradient steps only hover)", l1_sparse),
    S("l1-norm", 265, HOLDS, "‖w‖₁ = Σ_j |w_j|", "as written", l1_norm),
    S("sparse-representations", 264, OCR, "Instead of sparse representations: ‖w⁽ⁱ⁾‖₁ = Σ|w⁽ⁱ⁾_j|",
      "sparse representations put the L1 penalty on the activations instead of the weights, α Σ_n ‖h_n‖₁: hidden "
      "units become exactly 0 on more inputs (c147's regularizer=activity_l1)", sparse_representations,
      "tests/nn/test_regularize.py::test_activity_penalty_makes_the_hidden_units_sparser"),
]
S = Section("Miscellaneous")
CLAIMS += [
    S("max-row-penalty", 628, OCR, "(2/n) Σ_i ∂/∂W max_{1≤k≤p} Σ_j |W_kij| = (2/n) Σ_i (|W_j1| + ... + |W_jp|); "
      "∂q/∂W⁽ⁱ⁾ = [∂q/∂W⁽ⁱ⁾_11, ..., ∂q/∂W⁽ⁱ⁾_1p]",
      "read as q = max_k Σ_j |W_kj| (each layer's ∞-norm, 2/n a constant): ∂q/∂W_kj = sign(W_kj) on the maximizing "
      "row k, 0 on the others; the sheet's row and column indices disagree (c147's regularizer=inf_norm)",
      max_row_penalty),
    S("l1-sparser", 599, HOLDS, "L1 weights become more sparse than L2 weights", "as written", l1_sparse),
]
