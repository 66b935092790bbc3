"""The linear classifiers' losses and their hand-derived gradients (no autograd): softmax and hinge.

Shapes: X (m, D) a batch of m examples, W (D, C) one column per class, b (C,), scores
s = X W + b (m, C), y (m,) class indices. The penalty is the sheet's L2 term (reg / 2) ||W||_F^2
with gradient reg W ("L2 Regularization": grad of (alpha/2) W^T W = alpha W); the bias is not
penalized. Each loss is the mean over the batch.

Softmax (the sheet's "Softmax"; the negative log-likelihood of softmax_i(x) = e^{s_i} / sum_j e^{s_j}):

    L = -1/m sum_n log softmax_{y_n}(x_n) + reg/2 ||W||^2
    dL/ds = (softmax(s) - onehot(y)) / m        (per example: probabilities minus the one-hot label)
    dW = X^T dL/ds + reg W,   db = sum_n dL/ds_n

(the sheet's dL/db_i with sum_j softmax_j - c_i is wrong, erratum 10 of docs/ERRATA.md).

Multiclass hinge (Weston-Watkins, CS231n's SVM), margin delta:

    L = 1/m sum_n sum_{j != y_n} max(0, s_nj - s_{n,y_n} + delta) + reg/2 ||W||^2
    dL/ds_nj = 1/m 1{s_nj - s_{n,y_n} + delta > 0}  (j != y_n),   dL/ds_{n,y_n} = -sum_{j != y_n} dL/ds_nj

Binary hinge, labels y in {-1, +1}, w (D,), scalar b:

    L = 1/K sum_i max(0, 1 - y_i (w^T x_i + b)) + reg/2 ||w||^2
    dL/dw = 1/K sum_i 1{y_i (w^T x_i + b) < 1} (-y_i x_i) + reg w,   dL/db = 1/K sum_i 1{...} (-y_i)

The sheet's "Hinge Loss" line writes the indicator without the label, 1{w^T x + b <= 1}, and multiplies
by an extra eps_i y_i (w^T x_i + b): both wrong (``tests/classic/test_losses.py::test_sheet_erratum_...``).

At a kink (a margin exactly at its hinge) the gradient taken is 0, the subgradient torch.relu takes.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(W: Tensor, b: Tensor, X: Tensor, y: Tensor) -> None:
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or W.shape[0] != X.shape[1] or b.shape != W.shape[1:]:
        raise ValueError(f"Expected X (m, D), y (m,), W (D, C) or (D,), b (C,) or (), got X {tuple(X.shape)}, "
                         f"y {tuple(y.shape)}, W {tuple(W.shape)}, b {tuple(b.shape)}")


def softmax_loss_grad(W: Tensor, b: Tensor, X: Tensor, y: Tensor, reg: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """Mean softmax cross-entropy plus (reg/2) ||W||^2, and its gradients ``(loss, dW, db)``.

    Example:
        >>> X, y = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([0, 1])
        >>> W, b = torch.zeros(2, 3), torch.zeros(3)
        >>> loss, dW, db = softmax_loss_grad(W, b, X, y)
        >>> round(loss.item(), 4) == round(torch.log(torch.tensor(3.0)).item(), 4)  # uniform over 3 classes
        True
        >>> db
        tensor([-0.1667, -0.1667,  0.3333])
    """
    _check(W, b, X, y)
    m = X.shape[0]
    s = X @ W + b  # (m, C)
    s = s - s.amax(1, keepdim=True)  # shift: softmax is unchanged, exp cannot overflow
    log_p = s - s.exp().sum(1, keepdim=True).log()  # (m, C) log softmax
    loss = -log_p.gather(1, y[:, None]).sum() / m + 0.5 * reg * (W * W).sum()
    # dL/ds = (softmax(s) - onehot(y)) / m
    ds = log_p.exp()
    ds[torch.arange(m, device=X.device), y] -= 1
    ds /= m
    return loss, X.T @ ds + reg * W, ds.sum(0)


def multiclass_hinge_loss_grad(W: Tensor, b: Tensor, X: Tensor, y: Tensor, reg: float = 0.0,
                               delta: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """Mean Weston-Watkins multiclass hinge loss plus (reg/2) ||W||^2, and its gradients ``(loss, dW, db)``.

    Example:
        >>> X, y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
        >>> W, b = torch.tensor([[1.0, 0.5, 2.0], [0.0, 0.0, 0.0]]), torch.zeros(3)
        >>> loss, dW, db = multiclass_hinge_loss_grad(W, b, X, y)  # margins: 0.5 (class 1), 2.0 (class 2)
        >>> loss.item(), db.tolist()
        (2.5, [-2.0, 1.0, 1.0])
    """
    _check(W, b, X, y)
    m = X.shape[0]
    rows = torch.arange(m, device=X.device)
    s = X @ W + b  # (m, C)
    margins = torch.relu(s - s[rows, y][:, None] + delta)  # (m, C)
    margins[rows, y] = 0
    loss = margins.sum() / m + 0.5 * reg * (W * W).sum()
    # dL/ds_nj = 1{margin_nj > 0} / m for j != y_n; the true class gets minus their sum
    ds = (margins > 0).to(X.dtype)
    ds[rows, y] = -ds.sum(1)
    ds /= m
    return loss, X.T @ ds + reg * W, ds.sum(0)


def binary_hinge_loss_grad(w: Tensor, b: Tensor, X: Tensor, y_pm1: Tensor, reg: float = 0.0
                           ) -> tuple[Tensor, Tensor, Tensor]:
    """Mean binary hinge loss max(0, 1 - y (w^T x + b)) plus (reg/2) ||w||^2 for y in {-1, +1}: ``(loss, dw, db)``.

    Example:
        >>> X, y = torch.tensor([[2.0], [0.5], [-1.0]]), torch.tensor([1.0, 1.0, -1.0])
        >>> loss, dw, db = binary_hinge_loss_grad(torch.tensor([1.0]), torch.tensor(0.0), X, y)
        >>> [round(3 * v.item(), 6) for v in (loss, dw, db)]  # only x = 0.5 (margin 0.5 < 1): 1/3 (0.5, -0.5, -1)
        [0.5, -0.5, -1.0]
    """
    b = torch.as_tensor(b, dtype=X.dtype, device=X.device)
    _check(w[:, None], b[None], X, y_pm1)
    if not ((y_pm1 == 1) | (y_pm1 == -1)).all():
        raise ValueError("Expected binary labels y_pm1 in {-1, +1}")
    K = X.shape[0]
    margin = y_pm1 * (X @ w + b)  # (K,) y_i (w^T x_i + b)
    loss = torch.relu(1 - margin).sum() / K + 0.5 * reg * (w * w).sum()
    # dL/dw = 1/K sum_i 1{margin_i < 1} (-y_i x_i) + reg w
    coef = -(margin < 1).to(X.dtype) * y_pm1 / K  # (K,)
    return loss, X.T @ coef + reg * w, coef.sum()
