"""Bagging (bootstrap aggregating, Breiman 1996): train K models on K bootstrap resamples, average them.

The sheet ("Bagging"): construct K datasets by drawing N samples with replacement from the original
dataset, train a model on each; ("Ensemble Methods") average the results at test time: with errors e_i,
the average's expected squared error is 1/K E[e_i^2] + (K-1)/K E[e_i e_j], so only the part of the
errors the models do not share shrinks (by 1/K when independent).

A bootstrap set holds about 1 - (1 - 1/N)^N ~ 63% of the distinct examples, so the models differ. For
1-NN that is not enough: the query's nearest training point is in a member's set with probability 0.63
> 1/2, so the vote mostly returns plain 1-NN; ``max_samples < 1`` (fewer draws) decorrelates the
members. The combination: the mean of the members' class probabilities when they
have ``predict_proba``, else the fraction of member votes per class; the prediction is the class with
the largest, the smallest label on a tie. Twin in spirit: ``sklearn.ensemble.BaggingClassifier``
(which draws its bootstraps with numpy, so the members differ from ours).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from c147.classic.base import (
    TensorClassifierMixin,
    check_positive_int,
    check_X,
    check_X_y,
    decode_labels,
    encode_labels,
    make_estimator,
    output,
)


class Bagging(TensorClassifierMixin, BaseEstimator):
    """K members, each fitted on a bootstrap resample of the training set, combined by averaging.

    Args:
        estimator_factory: an estimator to clone per member (sklearn's ``estimator``), or a factory called once
            per member (a class, a lambda); None: ``KNNClassifier(n_neighbors=1)``.
        n_estimators: the number of members K.
        max_samples: examples drawn per member: a fraction of N (float; 1.0 = N) or a count (int).
        random_state: seed of the bootstrap draws.

    Attributes:
        estimators_: the fitted members (trained on class indices 0..C-1, in ``X``'s dtype);
        samples_: each member's drawn training indices.
        classes_: the sorted distinct labels; the columns of ``predict_proba``.
        n_features_in_: the number of features seen by ``fit``.

    Raises:
        ValueError, TypeError: at ``fit``, bad hyper-parameters or inputs, naming what was expected.

    Example:
        >>> from c147.classic import KNNClassifier
        >>> X, y = torch.tensor([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]]), torch.tensor([0, 0, 0, 1, 1, 1])
        >>> bag = Bagging(lambda: KNNClassifier(n_neighbors=1), n_estimators=5).fit(X, y)
        >>> bag.predict(torch.tensor([[0.05], [1.3]])), len(bag.estimators_), bag.samples_[0].shape
        (tensor([0, 1]), 5, torch.Size([6]))
    """

    def __init__(self, estimator_factory: Callable[[], Any] | BaseEstimator | None = None, n_estimators: int = 10,
                 max_samples: float | int = 1.0, random_state: int = 0):
        self.estimator_factory = estimator_factory
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True  # the members see class indices; any number of classes
        return tags

    def _n_draw(self, n: int) -> int:
        m = self.max_samples
        if isinstance(m, bool) or not isinstance(m, int | float):
            raise TypeError(f"Expected max_samples to be a float fraction or an int count, got {m!r}")
        if isinstance(m, int):
            if not 1 <= m <= n:
                raise ValueError(f"Expected 1 <= max_samples <= n_samples = {n}, got {m}")
            return m
        if not 0 < m <= 1:
            raise ValueError(f"Expected 0 < max_samples <= 1.0 as a fraction, got {m}")
        return max(1, round(m * n))

    def _member(self) -> Any:
        if self.estimator_factory is None:
            from c147.classic.knn import KNNClassifier  # the sheet's example member; knn does not import bagging

            return KNNClassifier(n_neighbors=1)
        return make_estimator(self.estimator_factory)

    def fit(self, X: Any, y: Any) -> Bagging:
        """Draw ``n_estimators`` bootstrap index sets (``samples_``) and fit one member on each (``estimators_``).

        Raises:
            ValueError, TypeError: bad ``n_estimators`` / ``max_samples``, bad inputs, or a member's own refusal.
        """
        check_positive_int(self.n_estimators, "n_estimators")
        floating = isinstance(X, Tensor) and X.is_floating_point()
        X, y = check_X_y(self, X, y, X.dtype if floating else torch.float64)
        self._dtype = X.dtype  # later inputs are converted to it
        n, n_draw = X.shape[0], self._n_draw(X.shape[0])
        self.classes_, y_index = encode_labels(y)
        y_index = y_index.to(X.device)
        g = torch.Generator().manual_seed(self.random_state)
        self.samples_, self.estimators_ = [], []
        for _ in range(self.n_estimators):
            idx = torch.randint(n, (n_draw,), generator=g).to(X.device)  # with replacement
            self.samples_.append(idx)
            self.estimators_.append(self._member().fit(X[idx], y_index[idx]))
        return self

    def _proba(self, X: Any) -> Tensor:
        check_is_fitted(self, "estimators_")
        X = check_X(self, X, self._dtype, device=self.samples_[0].device)
        total = X.new_zeros(X.shape[0], len(self.classes_), dtype=torch.float64)
        for est in self.estimators_:
            # a member's classes_ are indices into ours (its resample may lack some classes)
            if hasattr(est, "predict_proba"):
                p = torch.as_tensor(est.predict_proba(X), device=X.device)  # (n, C_member)
                cols = torch.as_tensor(est.classes_, device=X.device).expand(p.shape[0], -1)
            else:
                cols = torch.as_tensor(est.predict(X), device=X.device)[:, None]
                p = torch.ones(len(cols), 1, dtype=torch.float64, device=X.device)
            total.scatter_add_(1, cols, p.to(total.dtype))
        return total / len(self.estimators_)

    def predict_proba(self, X: Any) -> Tensor | np.ndarray:
        """The members' mean class probabilities (or vote fractions, for members without ``predict_proba``)."""
        return output(self._proba(X), X)

    def predict(self, X: Any) -> Tensor | np.ndarray:
        """The class with the largest averaged probability (vote share); the smallest label on a tie."""
        winner = self._proba(X).argmax(1)  # the first maximum: the smallest label (and fit checked)
        return decode_labels(self.classes_, winner, X)
