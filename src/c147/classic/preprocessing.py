"""Feature standardization, twin of ``sklearn.preprocessing.StandardScaler``.

Each feature is shifted to mean 0 and scaled to variance 1 with the training set's statistics
(the population standard deviation, ddof = 0): x' = (x - mean) / std. A constant feature (std 0,
e.g. a digits pixel that is always blank) is only shifted (scale 1), as scikit-learn does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from c147.classic.base import check_X, output, resolve_dtype


class StandardScaler(TransformerMixin, BaseEstimator):
    """x' = (x - mean_) / scale_ with the statistics of the data given to ``fit``.

    Args:
        dtype: the dtype of the computation (float64 by default; a name such as ``"float32"`` works).

    Attributes:
        mean_, scale_: the per-feature mean and standard deviation (1 where that is 0), tensors.
        n_features_in_: the number of features seen by ``fit``.

    Raises:
        ValueError, TypeError: bad inputs (as ``c147.classic.base.check_X``), a different number of features.

    Example:
        >>> scaler = StandardScaler().fit([[0.0, 5.0], [2.0, 5.0]])
        >>> scaler.transform(torch.tensor([[1.0, 6.0]]))
        tensor([[0., 1.]], dtype=torch.float64)
    """

    def __init__(self, dtype: torch.dtype | str = torch.float64):
        self.dtype = dtype

    def fit(self, X: Any, y: Any = None) -> StandardScaler:
        """Learn the per-feature mean and standard deviation (``y`` is ignored)."""
        X = check_X(self, X, resolve_dtype(self.dtype), reset=True)
        self.mean_ = X.mean(0)
        std = X.std(0, correction=0)
        self.scale_ = torch.where(std > 0, std, torch.ones_like(std))
        return self

    def transform(self, X: Any) -> Tensor | np.ndarray:
        """Standardize ``X`` with the fitted statistics."""
        check_is_fitted(self, "mean_")
        Xt = check_X(self, X, self.mean_.dtype, device=self.mean_.device)
        return output((Xt - self.mean_) / self.scale_, X)
