"""K-nearest neighbours, twin of ``sklearn.neighbors.KNeighborsClassifier(n_neighbors=k, algorithm="brute")``.

The sheet ("ML basics"): calculate the distance between x^(i) and every training x^(j), take the K
nearest indices, classify via the mode of their labels. Its cons, also here: testing is expensive
(every query against every training point: ``pairwise_sq_distances``) and "distance measurements in
high-D space do not reflect similarity" (``distance_concentration``).

Squared Euclidean distances three ways (CS231n's exercise), equal up to rounding:

    two_loops:  d_ij = sum_k (x_ik - y_jk)^2
    one_loop:   d_i. = sum_k (x_i - Y)_k^2            (one row of queries against all of Y)
    broadcast:  d_ij = ||x_i||^2 + ||y_j||^2 - 2 x_i . y_j   (a matrix product; clamped at 0)

The broadcast form cancels: its rounding error is about eps (||x||^2 + ||y||^2), not eps d_ij.
With whole-number features (the digits) every term is an exact float64 integer, so all three agree
exactly and distance ties are real.
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
    check_positive_int,
    check_X,
    check_X_y,
    decode_labels,
    encode_labels,
    output,
    resolve_dtype,
)

METHODS = ("broadcast", "one_loop", "two_loops")


def pairwise_sq_distances(X: Tensor, Y: Tensor, method: str = "broadcast") -> Tensor:
    """Squared Euclidean distances between the rows of ``X`` (n, d) and of ``Y`` (m, d): an (n, m) tensor.

    Example:
        >>> X, Y = torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.tensor([[3.0, 4.0]])
        >>> pairwise_sq_distances(X, Y)
        tensor([[25.],
                [13.]])
        >>> torch.equal(pairwise_sq_distances(X, Y, "two_loops"), pairwise_sq_distances(X, Y, "one_loop"))
        True
    """
    if method not in METHODS:
        raise ValueError(f"Expected method in {METHODS}, got {method!r}")
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1]:
        raise ValueError(f"Expected X (n, d) and Y (m, d) with the same d, got {tuple(X.shape)} and {tuple(Y.shape)}")
    if method == "broadcast":
        # ||x||^2 + ||y||^2 - 2 x.y, clamped: cancellation can leave a tiny negative for near-equal rows
        sq = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2 * X @ Y.T  # (n, m)
        return sq.clamp_min_(0)
    out = X.new_empty(X.shape[0], Y.shape[0])
    for i in range(X.shape[0]):
        if method == "one_loop":
            out[i] = ((Y - X[i]) ** 2).sum(1)  # (m,)
        else:
            for j in range(Y.shape[0]):
                out[i, j] = ((X[i] - Y[j]) ** 2).sum()
    return out


def _heap_select(row: list[float], k: int) -> list[int]:
    """The k indices a bounded max-heap keeps when ``row`` is pushed in index order (sklearn's ``heap_push``).

    A value is refused when it is >= the heap's maximum (so, of equal values, the earlier one is kept);
    an accepted value replaces the maximum and sifts down, swapping with the larger child (the left one
    on equal children) while that child is larger.
    """
    vals, idx = [float("inf")] * k, [-1] * k
    for j, v in enumerate(row):
        if v >= vals[0]:
            continue
        c = 0
        while True:
            left = 2 * c + 1
            if left >= k:
                break
            child = left if left + 1 >= k or vals[left] >= vals[left + 1] else left + 1
            if v >= vals[child]:
                break
            vals[c], idx[c] = vals[child], idx[child]
            c = child
        vals[c], idx[c] = v, j
    return idx


def nearest(sq: Tensor, k: int) -> Tensor:
    """Indices (n, k) of the k nearest training points per query row of squared distances ``sq`` (n, m),
    nearest first (equal distances in training order), with scikit-learn's choice among distance ties at
    the k-th place (see ``KNNClassifier``).

    Example:
        >>> nearest(torch.tensor([[2.0, 1.0, 1.0, 0.0]]), 2)
        tensor([[3, 1]])
    """
    kk = min(k + 1, sq.shape[1])
    vals, chosen = torch.topk(sq, kk, dim=1, largest=False)  # (n, kk) ascending; equal values in any order
    chosen = chosen[:, :k]
    if kk > k:
        rows = (vals[:, k] == vals[:, k - 1]).nonzero().flatten()  # the k-th distance is shared past the k-th place
        if len(rows):
            chosen = chosen.clone()
            chosen[rows] = _tied_rows(sq[rows], vals[rows, k - 1:k], k)
    chosen = chosen.sort(1).values  # training order, then (stably) by distance
    return chosen.gather(1, torch.sort(sq.gather(1, chosen), dim=1, stable=True).indices)


def _tied_rows(sq: Tensor, kth: Tensor, k: int) -> Tensor:
    """What sklearn's heap keeps on rows whose k-th smallest distance ``kth`` (r, 1) is shared beyond the k-th place.

    Scanning in training order, a point at the k-th distance d_k enters the heap iff fewer than k points
    at distance <= d_k came before it, so the heap first holds the earliest k points at distance <= d_k.
    Those stay unless a strictly nearer point comes after all of them: it then evicts whichever tied point
    sits at the heap's root, which only a replay of the heap tells.
    """
    within = sq <= kth  # (r, m)
    picked = (within & (within.cumsum(1) <= k)).nonzero()[:, 1].view(-1, k)  # the earliest k, in training order
    positions = torch.arange(sq.shape[1], device=sq.device)
    last_nearer = torch.where(sq < kth, positions, -1).max(1).values  # (r,)
    for r in (last_nearer > picked[:, -1]).nonzero().flatten().tolist():
        picked[r] = torch.tensor(_heap_select(sq[r].tolist(), k), device=sq.device)
    return picked


def _check_k(k: int, n_train: int) -> int:
    check_positive_int(k, "n_neighbors")
    if k > n_train:  # "n_samples = 1" is one of the phrasings sklearn's check_fit2d_1sample accepts
        raise ValueError(f"Expected n_neighbors <= n_samples (the training samples), got n_neighbors = {k}, "
                         f"n_samples = {n_train}")
    return k


class KNNClassifier(TensorClassifierMixin, BaseEstimator):
    """Classify a query by the majority label of its ``n_neighbors`` nearest training points (squared Euclidean
    distance); a scikit-learn classifier (numpy in, numpy out; a tensor in, a tensor out on its device).

    Ties, exactly as scikit-learn 1.9 (``KNeighborsClassifier(algorithm="brute")``, one thread):

    * Vote ties: the smallest label wins (sklearn: ``scipy.stats.mode`` in ``predict``, ``np.argmax``
      over the sorted ``classes_``; here ``torch.argmax`` over the sorted ``classes_``, which returns the
      first maximum).
    * Distance ties at the k-th place (more points at the k-th smallest distance than places left): all
      points strictly nearer are in; among the tied ones, sklearn keeps the ones a bounded max-heap
      keeps when the training points are pushed in index order (``sklearn.utils._heap.heap_push``): an
      equal distance never enters a full heap, and an entering nearer point evicts whichever tied point
      sits at the heap's root. So the tied points kept are the earliest ones unless a strictly nearer
      point comes later in the training order than the k-th point at distance <= d_k; only such rows
      replay the heap (``_heap_select``). A heap of k <= 2 always keeps the earliest.

    sklearn's own choice also depends on its threads: unless the queries outnumber the training points (or
    4 x 256 x threads), its ``ArgKmin`` splits the training set among OpenMP threads and merges their heaps,
    so the tied neighbour it keeps can change with the machine; one thread (``threadpoolctl.threadpool_limits
    (1, "openmp")``) gives the rule above. Equality needs equal distances: exact for whole-number features
    (every term an exact float64 integer), up to rounding otherwise.

    Args:
        n_neighbors: neighbours per vote (sklearn's name; the sheet's K).
        method: how ``pairwise_sq_distances`` computes the distances.
        dtype: the dtype of the computation (float64 by default; a name such as ``"float32"`` works).

    Attributes:
        X_: the training set (n_train, d), in ``dtype`` on the device of the ``X`` given to ``fit`` (CPU for numpy).
        classes_: the sorted distinct labels (a tensor if ``fit`` got tensors, else numpy); ``predict_proba``'s
            columns.
        n_features_in_: the number of features seen by ``fit``.

    Raises:
        ValueError, TypeError: bad hyper-parameters (at ``fit``) or inputs, naming what was expected.

    Example:
        >>> X, y = [[0.0], [1.0], [2.0], [10.0]], [0, 0, 1, 1]
        >>> knn = KNNClassifier(n_neighbors=3).fit(X, y)
        >>> knn.predict([[0.5], [9.0]])
        array([0, 1])
        >>> knn.predict_proba(torch.tensor([[9.0]]))
        tensor([[0.3333, 0.6667]], dtype=torch.float64)
    """

    def __init__(self, n_neighbors: int = 5, method: str = "broadcast", dtype: torch.dtype | str = "float64"):
        self.n_neighbors = n_neighbors
        self.method = method
        self.dtype = dtype

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True  # a vote over any number of classes
        tags.input_tags.allow_nan = False  # a distance to NaN is no distance
        return tags

    def fit(self, X: Any, y: Any) -> KNNClassifier:
        """Remember the training set (the whole of KNN's training).

        Raises:
            ValueError: an unknown ``method``, ``n_neighbors`` above the number of samples, bad ``X`` / ``y``.
            TypeError: a non-int ``n_neighbors``, a non-floating ``dtype``, non-numeric ``X``.
        """
        if self.method not in METHODS:
            raise ValueError(f"Expected method in {METHODS}, got {self.method!r}")
        X, y = check_X_y(self, X, y, resolve_dtype(self.dtype))
        _check_k(self.n_neighbors, X.shape[0])
        self.classes_, y_index = encode_labels(y)
        self._y = y_index.to(X.device)
        self.X_ = X
        return self

    def _sq_distances(self, X: Any) -> Tensor:
        check_is_fitted(self, "X_")
        X = check_X(self, X, self.X_.dtype, device=self.X_.device)
        return pairwise_sq_distances(X, self.X_, self.method)

    def kneighbors(self, X: Any, n_neighbors: int | None = None,
                   return_distance: bool = True) -> Tensor | tuple[Tensor, Tensor]:
        """Euclidean distances and indices (n_queries, n_neighbors) of the nearest training points, nearest
        first (as ``KNeighborsClassifier.kneighbors``; equal distances in training order); tensors or numpy
        as ``X``."""
        sq = self._sq_distances(X)  # (n, n_train)
        ind = nearest(sq, _check_k(self.n_neighbors if n_neighbors is None else n_neighbors, sq.shape[1]))
        if return_distance:
            return output(sq.gather(1, ind).sqrt(), X), output(ind, X)
        return output(ind, X)

    def _counts(self, X: Any) -> Tensor:
        sq = self._sq_distances(X)
        ind = nearest(sq, _check_k(self.n_neighbors, sq.shape[1]))  # (n, k)
        votes = self._y[ind]  # (n, k) class indices
        counts = torch.zeros(ind.shape[0], len(self.classes_), dtype=self.X_.dtype, device=ind.device)
        return counts.scatter_add_(1, votes, torch.ones_like(votes, dtype=counts.dtype))  # (n, C)

    def predict_proba(self, X: Any) -> Tensor | np.ndarray:
        """The fraction of the k neighbours in each class (n_queries, n_classes), classes as ``classes_``."""
        return output(self._counts(X) / self.n_neighbors, X)

    def predict(self, X: Any) -> Tensor | np.ndarray:
        """The majority label of the k nearest neighbours (smallest label on a vote tie)."""
        winner = self._counts(X).argmax(1)  # the first maximum: the smallest label
        return decode_labels(self.classes_, winner, X)


def distance_concentration(dims: list[int], n_points: int = 500, seed: int = 0) -> list[tuple[int, float]]:
    """(dim, (max - min) / min) of the Euclidean distances from one random point to ``n_points`` others,
    all uniform in the unit cube [0, 1]^dim: the relative contrast that shrinks as the dimension grows
    (the sheet's "doesn't work if dimensionality is high": the nearest neighbour is hardly nearer than
    the farthest).

    Example:
        >>> [(d, round(r, 2)) for d, r in distance_concentration([2, 1000], n_points=100)]
        [(2, 13.15), (1000, 0.12)]
    """
    g = torch.Generator().manual_seed(seed)
    out = []
    for d in dims:
        pts = torch.rand(n_points + 1, d, generator=g, dtype=torch.float64)
        near, far = nearest_and_farthest(pts[:1], pts[1:])  # the first point asks, the others answer
        out.append((d, ((far - near) / near).item()))
    return out


def nearest_and_farthest(queries: Tensor, points: Tensor) -> tuple[Tensor, Tensor]:
    """The Euclidean distance from each row of ``queries`` (q, d) to its nearest and to its farthest row of
    ``points`` (n, d): two (q,) tensors. Their ratio is what concentrates in high dimension (nearest /
    farthest -> 1; :func:`distance_concentration`).

    The distances are norms of the differences, query by query, not ``pairwise_sq_distances``'s
    ||x||^2 + ||y||^2 - 2 x.y: the nearest distance is the smallest, where that form's cancellation weighs most.

    Example:
        >>> near, far = nearest_and_farthest(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
        >>> near, far
        (tensor([1.]), tensor([5.]))
    """
    if queries.ndim != 2 or points.ndim != 2 or queries.shape[1] != points.shape[1] or not len(points):
        raise ValueError(f"Expected queries (q, d) and points (n, d) with the same d and n >= 1, got "
                         f"{tuple(queries.shape)} and {tuple(points.shape)}")
    dist = torch.stack([(points - q).norm(dim=1) for q in queries]) if len(queries) else points.new_empty(0, 1)
    return dist.min(1).values, dist.max(1).values
