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

import torch
from torch import Tensor

from c147.classic.base import (
    ClassifierMixin,
    Estimator,
    as_tensor,
    check_is_fitted,
    check_positive_int,
    check_X_y,
    make_estimator,
)


class Bagging(ClassifierMixin, Estimator):
    """K members, each fitted on a bootstrap resample of the training set, combined by averaging.

    Args:
        estimator_factory: called once per member for a fresh estimator (a class, a lambda), or an
            estimator to clone.
        n_estimators: the number of members K.
        max_samples: examples drawn per member: a fraction of N (float; 1.0 = N) or a count (int).
        random_state: seed of the bootstrap draws.

    Attributes:
        estimators_: the fitted members; samples_: each member's drawn training indices.
        classes_: the sorted distinct labels; the columns of ``predict_proba``.

    Example:
        >>> from c147.classic import KNNClassifier
        >>> X, y = torch.tensor([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]]), torch.tensor([0, 0, 0, 1, 1, 1])
        >>> bag = Bagging(lambda: KNNClassifier(k=1), n_estimators=5).fit(X, y)
        >>> bag.predict([[0.05], [1.3]]), len(bag.estimators_), bag.samples_[0].shape
        (tensor([0, 1]), 5, torch.Size([6]))
    """

    def __init__(self, estimator_factory: Callable[[], Estimator] | Estimator, n_estimators: int = 10,
                 max_samples: float | int = 1.0, random_state: int = 0):
        self.estimator_factory = estimator_factory
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

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

    def fit(self, X: Any, y: Any) -> Bagging:
        """Draw ``n_estimators`` bootstrap index sets (``samples_``) and fit one member on each (``estimators_``)."""
        check_positive_int(self.n_estimators, "n_estimators")
        X = as_tensor(X, "X", 2)
        X, y = check_X_y(X, y, X.dtype if X.is_floating_point() else torch.float64)
        n, n_draw = X.shape[0], self._n_draw(X.shape[0])
        self.classes_ = torch.unique(y, sorted=True)
        g = torch.Generator().manual_seed(self.random_state)
        self.samples_, self.estimators_ = [], []
        for _ in range(self.n_estimators):
            idx = torch.randint(n, (n_draw,), generator=g).to(X.device)  # with replacement
            self.samples_.append(idx)
            self.estimators_.append(make_estimator(self.estimator_factory).fit(X[idx], y[idx]))
        return self

    def _columns(self, labels: Tensor) -> Tensor:
        """Where each label sits in ``classes_`` (a member's resample may lack some classes)."""
        return torch.searchsorted(self.classes_, labels.to(self.classes_.device))

    def predict_proba(self, X: Any) -> Tensor:
        """The members' mean class probabilities (or vote fractions, for members without ``predict_proba``)."""
        check_is_fitted(self, "estimators_")
        total = None
        for est in self.estimators_:
            if hasattr(est, "predict_proba"):
                p = est.predict_proba(X)  # (n, C_member)
                cols = self._columns(est.classes_)
            else:
                pred = est.predict(X)
                p = torch.ones(len(pred), 1, dtype=torch.float64, device=pred.device)
                cols = self._columns(pred)[:, None]
            if total is None:
                total = torch.zeros(p.shape[0], len(self.classes_), dtype=torch.float64, device=p.device)
            total.scatter_add_(1, cols.expand(p.shape[0], -1).to(p.device), p.to(total.dtype))
        return total / len(self.estimators_)

    def predict(self, X: Any) -> Tensor:
        """The class with the largest averaged probability (vote share); the smallest label on a tie."""
        winner = self.predict_proba(X).argmax(1)  # the first maximum: the smallest label
        return self.classes_[winner.to(self.classes_.device)]
