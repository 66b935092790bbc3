"""Linear least squares and ridge regression; twins ``torch.linalg.lstsq``, ``sklearn.linear_model.LinearRegression``
and ``Ridge``.

The sheet ("Derivatives & Traces"): setting d/dtheta of 1/2 sum_i (y^(i) - theta^T x^(i))^2 to zero gives
the normal equations X^T X theta = X^T y, theta = (X^T X)^{-1} X^T y; with an L2 penalty (ridge / 2) ||theta||^2
they become (X^T X + ridge I) theta = X^T y.

Never form the inverse (nor X^T X, which squares the condition number): with the thin QR X = Q R (Q^T Q = I,
R upper triangular), X^T X = R^T R and X^T y = R^T Q^T y, so for an invertible R

    R theta = Q^T y            (one triangular solve)

Ridge is the same least-squares problem on the augmented system: ||X theta - y||^2 + ridge ||theta||^2 =
|| [X; sqrt(ridge) I] theta - [y; 0] ||^2, whose normal equations are (X^T X + ridge I) theta = X^T y.

The intercept, as scikit-learn, is not penalized: center X and y on their means, solve for theta without
an intercept, then intercept = mean(y) - mean(X) theta (for ridge = 0 the same as a column of ones).

As a classifier (``LeastSquaresClassifier``): regress the one-hot labels, predict the class whose output is
largest (twin ``sklearn.linear_model.RidgeClassifier``, which regresses 2 onehot - 1: the same fit, doubled and
shifted, so the same predictions).

Without ridge, X^T X is singular when X's columns are dependent (a duplicated column; fewer samples than
features); then R has a (numerically) zero diagonal entry and ``fit`` refuses, suggesting ridge > 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from c147.classic.base import (
    TensorClassifierMixin,
    TensorRegressorMixin,
    check_X,
    check_X_y,
    decode_labels,
    encode_labels,
    output,
    resolve_dtype,
)

SINGULAR = "X^T X is singular"


def least_squares_solve(X: Tensor, Y: Tensor, ridge: float = 0.0) -> Tensor:
    """theta minimizing ||X theta - Y||^2 + ridge ||theta||^2 by QR and a triangular solve: (n,) or (n, t).

    Example:
        >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
        >>> y = torch.tensor([1.0, 4.0, 3.0], dtype=torch.float64)
        >>> theta = least_squares_solve(X, y)
        >>> torch.allclose(theta, torch.tensor([1.0, 2.0], dtype=torch.float64))
        True
        >>> torch.allclose(theta, torch.linalg.lstsq(X, y[:, None]).solution[:, 0])  # the twin
        True
    """
    m, n = X.shape
    if ridge < 0:
        raise ValueError(f"Expected ridge >= 0, got {ridge}")
    if ridge > 0:  # [X; sqrt(ridge) I] theta ~ [Y; 0]
        X = torch.cat([X, ridge**0.5 * torch.eye(n, dtype=X.dtype, device=X.device)])
        Y = torch.cat([Y, Y.new_zeros((n, *Y.shape[1:]))])
    elif m < n:
        raise ValueError(f"{SINGULAR}: fewer samples (n_samples = {m}) than features ({n}); use ridge > 0")
    Q, R = torch.linalg.qr(X)  # reduced: Q (m, n), R (n, n)
    diag = R.diagonal().abs()
    if diag.min() <= max(X.shape) * torch.finfo(X.dtype).eps * diag.max():  # as numpy's matrix_rank tolerance
        raise ValueError(f"{SINGULAR}: the columns of X are linearly dependent (rank < {n} features; "
                         f"a duplicated or constant column?); use ridge > 0")
    QtY = Q.T @ (Y if Y.ndim == 2 else Y[:, None])  # (n, t)
    theta = torch.linalg.solve_triangular(R, QtY, upper=True)  # R theta = Q^T y
    return theta if Y.ndim == 2 else theta[:, 0]


class LeastSquares(TensorRegressorMixin, BaseEstimator):
    """Ordinary least squares (``ridge=0``) or ridge regression, fitted by QR; ``score`` is R^2 (sklearn's).

    ``coef_`` is (n_features,) for a 1-D y and (n_targets, n_features) for a 2-D one, ``intercept_``
    a scalar or (n_targets,) (a scalar 0 without ``fit_intercept``), as scikit-learn's; the intercept
    is not penalized. numpy in, numpy out; a tensor in, a tensor out on its device.

    Args:
        ridge: the L2 strength (sklearn's Ridge ``alpha``); 0 is plain least squares.
        fit_intercept: fit an intercept (on centered data) or force it to 0.
        dtype: the dtype of the computation (float64 by default; a name such as ``"float32"`` or a torch dtype).

    Attributes:
        coef_, intercept_: theta and the intercept (shapes above), tensors.
        n_features_in_: the number of features seen by ``fit``.

    Raises:
        ValueError: at ``fit``, a negative ``ridge``, singular X^T X without ridge, bad inputs.

    Example:
        >>> X = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> ols = LeastSquares().fit(X, 2 * X[:, 0] + 1)
        >>> ols.coef_, ols.intercept_, ols.score(X, 2 * X[:, 0] + 1)
        (tensor([2.], dtype=torch.float64), tensor(1., dtype=torch.float64), 1.0)
    """

    def __init__(self, ridge: float = 0.0, fit_intercept: bool = True, dtype: torch.dtype | str = "float64"):
        self.ridge = ridge
        self.fit_intercept = fit_intercept
        self.dtype = dtype

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y (n_samples, n_targets): one solve for all targets
        return tags

    def fit(self, X: Any, y: Any) -> LeastSquares:
        """Solve for ``coef_`` and ``intercept_``.

        Raises:
            ValueError: a negative or non-numeric ``ridge``; singular X^T X with ``ridge=0``; bad ``X`` / ``y``.
        """
        if isinstance(self.ridge, bool) or not isinstance(self.ridge, int | float) or self.ridge < 0:
            raise ValueError(f"Expected ridge >= 0, got {self.ridge!r}")
        X, Y = check_X_y(self, X, y, resolve_dtype(self.dtype), labels=False)
        one_d = Y.ndim == 1
        Y = Y.reshape(len(Y), -1)  # (m, t)
        if self.fit_intercept:
            x_mean, y_mean = X.mean(0), Y.mean(0)
            theta = least_squares_solve(X - x_mean, Y - y_mean, self.ridge)  # (n, t)
            intercept = y_mean - x_mean @ theta  # (t,)
        else:
            theta = least_squares_solve(X, Y, self.ridge)
            intercept = X.new_zeros(())  # a scalar 0, as sklearn's 0.0
        self.coef_ = theta[:, 0] if one_d else theta.T
        self.intercept_ = intercept[0] if one_d and intercept.ndim else intercept
        return self

    def _predict(self, X: Any) -> Tensor:
        check_is_fitted(self, "coef_")
        X = check_X(self, X, self.coef_.dtype, device=self.coef_.device)
        return X @ (self.coef_ if self.coef_.ndim == 1 else self.coef_.T) + self.intercept_

    def predict(self, X: Any) -> Tensor | np.ndarray:
        """X coef^T + intercept: (n,) or (n, n_targets)."""
        return output(self._predict(X), X)


class LeastSquaresClassifier(TensorClassifierMixin, BaseEstimator):
    """Least squares as a classifier: fit ``LeastSquares`` to the one-hot labels (n, C), predict the largest output.

    Args:
        ridge: the L2 strength; > 0 is needed when X^T X is singular (e.g. the digits' always-blank pixels).
        fit_intercept: fit an (unpenalized) intercept per class.
        dtype: the dtype of the computation (float64 by default; a name such as ``"float32"`` or a torch dtype).

    Attributes:
        classes_: the sorted distinct labels; regressor_: the ``LeastSquares`` fitted to the one-hot labels.
        n_features_in_: the number of features seen by ``fit``.

    Raises:
        ValueError: at ``fit``, as ``LeastSquares``; continuous labels.

    Example:
        >>> X, y = torch.tensor([[0.0], [1.0], [4.0], [5.0]]), torch.tensor([2, 2, 9, 9])
        >>> LeastSquaresClassifier().fit(X, y).predict(torch.tensor([[0.5], [4.5]]))
        tensor([2, 9])
    """

    def __init__(self, ridge: float = 0.0, fit_intercept: bool = True, dtype: torch.dtype | str = "float64"):
        self.ridge = ridge
        self.fit_intercept = fit_intercept
        self.dtype = dtype

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True  # one regressed one-hot column per class
        return tags

    def fit(self, X: Any, y: Any) -> LeastSquaresClassifier:
        """Regress the one-hot encoding of ``y`` (columns in the order of ``classes_``).

        Raises:
            ValueError: as ``LeastSquares.fit``; continuous labels.
        """
        X, y = check_X_y(self, X, y, resolve_dtype(self.dtype))
        self.classes_, y_index = encode_labels(y)
        onehot = torch.nn.functional.one_hot(y_index.to(X.device), len(self.classes_)).to(X.dtype)  # (m, C)
        self.regressor_ = LeastSquares(self.ridge, self.fit_intercept, X.dtype).fit(X, onehot)
        return self

    def _scores(self, X: Any) -> Tensor:
        check_is_fitted(self, "regressor_")
        X = check_X(self, X, self.regressor_.coef_.dtype, device=self.regressor_.coef_.device)  # our feature names
        return self.regressor_._predict(X)

    def decision_function(self, X: Any) -> Tensor | np.ndarray:
        """The regressed one-hot scores (n, C); for two classes, as sklearn, their difference (n,): positive means
        ``classes_[1]``."""
        s = self._scores(X)
        return output(s[:, 1] - s[:, 0] if s.shape[1] == 2 else s, X)

    def predict(self, X: Any) -> Tensor | np.ndarray:
        """The class with the largest score (the first such class on a tie)."""
        winner = self._scores(X).argmax(1)  # checks that fit ran before classes_ is read
        return decode_labels(self.classes_, winner, X)
