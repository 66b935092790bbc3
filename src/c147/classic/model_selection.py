"""Validation: K-fold cross-validation and choosing KNN's K with it; twin ``sklearn.model_selection``.

The sheet ("Validation"): the validation set selects the hyper-parameters; the test set is used once,
after cross-validation, in which each fold is used for validation once and for training K - 1 times.
``select_k`` is that procedure for KNN's K (CS231n's "choose k by 5-fold cross-validation"): the
best K has the highest mean validation accuracy, the smallest such K on a tie.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from sklearn.base import BaseEstimator
from torch import Tensor

from c147._io import atomic_write
from c147.classic.base import as_tensor, check_positive_int, make_estimator
from c147.classic.knn import KNNClassifier


class KFold:
    """Split n samples into ``n_splits`` consecutive folds (shuffled first if ``shuffle``), as sklearn's ``KFold``.

    The first n % n_splits folds have n // n_splits + 1 samples, the others n // n_splits; each fold
    is the validation set once. Without shuffling the splits equal sklearn's; with it the permutation
    comes from a torch generator seeded with ``random_state`` (reproducible, but not numpy's).

    Example:
        >>> [val.tolist() for _, val in KFold(3).split(torch.zeros(7, 2))]
        [[0, 1, 2], [3, 4], [5, 6]]
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = False, random_state: int | None = None):
        check_positive_int(n_splits, "n_splits", 2)
        if not isinstance(shuffle, bool):
            raise TypeError(f"Expected shuffle to be True or False, got {shuffle!r}")
        if not shuffle and random_state is not None:
            raise ValueError("Setting a random_state has no effect since shuffle is False: "
                             "leave random_state at None, or set shuffle=True")
        self.n_splits, self.shuffle, self.random_state = n_splits, shuffle, random_state

    def get_n_splits(self) -> int:
        """The number of folds."""
        return self.n_splits

    def split(self, X: Any) -> Iterator[tuple[Tensor, Tensor]]:
        """(train indices, validation indices) per fold, each sorted, on the device of ``X`` if a tensor."""
        n = len(X)
        if self.n_splits > n:
            raise ValueError(f"Cannot have number of splits n_splits={self.n_splits} greater than the number of "
                             f"samples: n_samples={n}")
        device = X.device if isinstance(X, Tensor) else None
        order = torch.arange(n, device=device)
        if self.shuffle:
            g = torch.Generator().manual_seed(0 if self.random_state is None else self.random_state)
            order = order[torch.randperm(n, generator=g).to(order.device)]
        start = 0
        for fold in range(self.n_splits):
            size = n // self.n_splits + (fold < n % self.n_splits)
            val = torch.zeros(n, dtype=torch.bool, device=order.device)
            val[order[start:start + size]] = True
            start += size
            yield (~val).nonzero().flatten(), val.nonzero().flatten()


def train_test_split(X: Any, y: Any, test_size: float = 0.25, random_state: int = 0) -> tuple[Tensor, ...]:
    """A seeded random split: ``X_train, X_test, y_train, y_test`` with ceil(test_size n) test samples.

    Example:
        >>> X_train, X_test, y_train, y_test = train_test_split(torch.arange(8.0)[:, None], torch.arange(8))
        >>> X_train.shape, X_test.shape
        (torch.Size([6, 1]), torch.Size([2, 1]))
    """
    X, y = torch.as_tensor(X), torch.as_tensor(y, device=torch.as_tensor(X).device)
    if len(X) != len(y):
        raise ValueError(f"Expected X and y with the same number of samples, got X: {len(X)}, y: {len(y)}")
    if not 0 < test_size < 1:
        raise ValueError(f"Expected 0 < test_size < 1, got {test_size}")
    n_test = math.ceil(test_size * len(X))
    if not 0 < n_test < len(X):
        raise ValueError(f"test_size={test_size} of {len(X)} samples leaves an empty train or test set")
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(random_state)).to(X.device)
    train, test = perm[n_test:], perm[:n_test]
    return X[train], X[test], y[train], y[test]


def cross_val_score(estimator: BaseEstimator | Callable[[], BaseEstimator], X: Any, y: Any,
                    cv: int | KFold = 5) -> Tensor:
    """The validation score of a fresh estimator per fold (float64, shape (n_splits,)), as sklearn's.

    ``estimator``: an estimator (cloned per fold) or a factory called per fold; ``cv``: a number of
    folds (``KFold(cv)``) or a splitter with ``split(X)``.

    Example:
        >>> from c147.classic import KNNClassifier
        >>> X, y = torch.tensor([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]]), torch.tensor([0, 0, 0, 1, 1, 1])
        >>> cross_val_score(KNNClassifier(n_neighbors=1), X, y, cv=KFold(3, shuffle=True, random_state=0))
        tensor([1., 1., 1.], dtype=torch.float64)
    """
    X = as_tensor(X, "X", 2)
    y = torch.as_tensor(y, device=X.device)
    if y.ndim == 0 or len(y) != len(X):
        raise ValueError(f"Expected X and y with the same number of samples, got X: {len(X)}, y: {tuple(y.shape)}")
    splitter = KFold(cv) if isinstance(cv, int) else cv
    scores = [make_estimator(estimator).fit(X[tr], y[tr]).score(X[va], y[va]) for tr, va in splitter.split(X)]
    return torch.tensor(scores, dtype=torch.float64)


@dataclass
class KSelection:
    """What ``select_k`` measured: per-fold accuracies (len(ks), n_splits), their mean and std per K, the best K."""

    ks: list[int]
    scores: Tensor
    mean: Tensor
    std: Tensor
    best_k: int


def select_k(X: Any, y: Any, ks: Sequence[int] = (1, 3, 5, 8, 10, 12, 15, 20, 50, 100), n_splits: int = 5,
             shuffle: bool = False, random_state: int | None = None, method: str = "broadcast") -> KSelection:
    """Choose KNN's K by ``n_splits``-fold cross-validation: the highest mean validation accuracy wins,
    the smallest K among equal means (equal up to 1e-12, the rounding of a mean of fold accuracies).

    ``std`` is the population standard deviation over the folds (ddof = 0, numpy's default).

    Example:
        >>> X = torch.tensor([[0.0], [0.1], [0.2], [0.3], [0.4], [1.0], [1.1], [1.2], [1.3], [1.4]])
        >>> y = [0, 0, 1, 0, 0, 1, 1, 0, 1, 1]  # two noisy labels: voting over 3 neighbours outvotes them
        >>> result = select_k(X, y, ks=[1, 3], n_splits=5, shuffle=True, random_state=0)
        >>> result.mean.tolist(), result.best_k
        ([0.7, 0.8], 3)
    """
    ks = [check_positive_int(k, "k") for k in ks]
    if not ks:
        raise ValueError("Expected at least one K in ks, got none")
    cv = KFold(n_splits, shuffle, random_state)
    scores = torch.stack([cross_val_score(KNNClassifier(n_neighbors=k, method=method), X, y, cv) for k in ks])
    mean, std = scores.mean(1), scores.std(1, correction=0)
    best_k = min(k for k, m in zip(ks, mean.tolist(), strict=True) if m >= mean.max().item() - 1e-12)
    return KSelection(ks, scores, mean, std, best_k)


def plot_accuracy_vs_k(result: KSelection, path: str | Path) -> Path:
    """Per-fold validation accuracy against K (dots), the mean with a +-std bar, the best K marked; a PNG at ``path``.

    Example:
        >>> import tempfile
        >>> result = KSelection([1, 3], torch.tensor([[0.9, 1.0], [0.8, 0.9]]), torch.tensor([0.95, 0.85]),
        ...                     torch.tensor([0.05, 0.05]), 1)
        >>> with tempfile.TemporaryDirectory() as d:
        ...     plot_accuracy_vs_k(result, f"{d}/k.png").stat().st_size > 0
        True
    """
    from matplotlib.figure import Figure  # Agg through Figure.savefig: no pyplot, no display

    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    scores = result.scores.cpu()
    for k, row in zip(result.ks, scores, strict=True):
        ax.scatter([k] * len(row), row, s=12, color="0.6")
    ax.errorbar(result.ks, result.mean.cpu(), yerr=result.std.cpu(), marker="o", capsize=3, label="mean +- std")
    ax.axvline(result.best_k, ls="--", color="C3", label=f"best K = {result.best_k}")
    ax.set(xlabel="K", ylabel="validation accuracy", title="Cross-validation of KNN's K")
    ax.legend()
    path = Path(path)
    with atomic_write(path, "wb") as f:  # whole or not at all
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    return path
