"""c147.classic.knn against sklearn.neighbors.KNeighborsClassifier(algorithm="brute"), tie rules included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from c147.classic import (
    KNNClassifier,
    NotFittedError,
    distance_concentration,
    nearest_and_farthest,
    pairwise_sq_distances,
)
from c147.classic.knn import METHODS, _heap_select, nearest
from tests.twins import DEVICES, rand


def sklearn_knn(k: int, X_train, y_train, X_test) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's predictions, probabilities and neighbour indices with one OpenMP thread: with fewer queries than
    training points its brute search splits the training set among threads, and which of several equidistant
    neighbours it keeps then depends on the thread count (see KNNClassifier's docstring)."""
    sk = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(np.asarray(X_train), np.asarray(y_train))
    with threadpool_limits(limits=1, user_api="openmp"):
        return sk.predict(np.asarray(X_test)), sk.predict_proba(np.asarray(X_test)), sk.kneighbors(np.asarray(X_test))


# (n, m, d): a single row or column, a single feature, more features than points
SHAPES = [(1, 1, 1), (3, 5, 2), (7, 4, 16), (2, 3, 40)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n, m, d", SHAPES)
def test_three_ways_agree_exactly_on_whole_numbers(n, m, d, device):
    X = rand(n, d, seed=1, scale=5, device=device).round()
    Y = rand(m, d, seed=2, scale=5, device=device).round()
    ref = pairwise_sq_distances(X, Y, "two_loops")
    assert torch.equal(ref, ((X[:, None] - Y[None]) ** 2).sum(-1))  # the definition, as one expression
    for method in ("one_loop", "broadcast"):
        assert torch.equal(pairwise_sq_distances(X, Y, method), ref), method


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n, m, d", SHAPES)
def test_three_ways_agree_up_to_cancellation(n, m, d, dtype):
    X, Y = rand(n, d, seed=3, dtype=dtype), rand(m, d, seed=4, dtype=dtype) + 0.5
    ref = pairwise_sq_distances(X, Y, "two_loops")
    torch.testing.assert_close(pairwise_sq_distances(X, Y, "one_loop"), ref, rtol=0, atol=0)  # same sums, same order
    # ||x||^2 + ||y||^2 - 2 x.y cancels: its error is a few eps (||x||^2 + ||y||^2) (d terms each), not eps d_ij
    scale = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :]
    err = (pairwise_sq_distances(X, Y, "broadcast") - ref).abs()
    assert (err <= 4 * d * torch.finfo(dtype).eps * scale).all()


def test_broadcast_is_clamped_at_zero():
    X = torch.tensor([[1e8 + 1, 1e8 - 1]], dtype=torch.float64)  # ||x||^2 ~ 2e16: cancellation noise is ~ +-4
    assert (pairwise_sq_distances(X, X.clone()) >= 0).all()


@pytest.mark.parametrize("X, Y, method, match", [
    (torch.zeros(2, 3), torch.zeros(2, 4), "broadcast", r"the same d, got \(2, 3\) and \(2, 4\)"),
    (torch.zeros(3), torch.zeros(2, 3), "broadcast", r"the same d, got \(3,\)"),
    (torch.zeros(2, 3), torch.zeros(2, 3), "no_loops", "Expected method in"),
])
def test_pairwise_bad_input(X, Y, method, match):
    with pytest.raises(ValueError, match=match):
        pairwise_sq_distances(X, Y, method)


@pytest.mark.parametrize("k", [1, 3, 5, 10, 25])
def test_equals_sklearn_on_digits(digits, k):
    X_train, X_test, y_train, y_test = digits
    ours = KNNClassifier(n_neighbors=k).fit(X_train, y_train)
    pred, proba, (dist, ind) = sklearn_knn(k, X_train, y_train, X_test)
    assert torch.equal(ours.predict(X_test), torch.as_tensor(pred))
    assert torch.equal(ours.predict_proba(X_test), torch.as_tensor(proba))  # both count / k
    d, i = ours.kneighbors(X_test)
    # the same neighbours; in the same order up to equal distances (sklearn orders those by its heap)
    assert torch.equal(i.sort(1).values, torch.as_tensor(ind).sort(1).values)
    torch.testing.assert_close(d, torch.as_tensor(dist), rtol=1e-12, atol=0)  # sqrt of the same whole numbers
    assert ours.score(X_test, y_test) > 0.95


def test_digits_have_ties_that_the_heap_rule_settles(digits):
    """The parity above is not luck: at K = 25 distance ties cross the 25th place, and in some rows sklearn keeps
    a tied neighbour other than the earliest one (a stable sort would take the wrong one there)."""
    X_train, X_test, y_train, _ = digits
    k = 25
    sq = pairwise_sq_distances(X_test, X_train)
    first_k = torch.sort(sq, dim=1, stable=True).indices[:, :k].sort(1).values
    ours = nearest(sq, k).sort(1).values
    _, _, (_, ind) = sklearn_knn(k, X_train, y_train, X_test)
    assert torch.equal(ours, torch.as_tensor(ind).sort(1).values)
    assert (ours != first_k).any(1).sum() >= 5


# (training points (1-D), labels, query, k, expected label, expected neighbours)
TIES = [
    # vote tie 1:1 -> the smallest label, whatever the order or the distances
    ([[1.0], [2.0]], [7, 3], 0.0, 2, 3, [0, 1]),
    ([[-1.0], [0.5], [5.0], [6.0]], [9, 4, 4, 9], 0.0, 4, 4, [1, 0, 2, 3]),
    # distance tie at the k-th place between the first two points: the earlier one is kept
    ([[1.0], [-1.0], [0.5]], [5, 2, 0], 0.0, 2, 0, [2, 0]),
    # sklearn's heap evicts the *earlier* tied point 0 when point 2 arrives: neighbours {1, 2, 3}, label 1
    # (the earliest-index rule would take {0, 2, 3} and predict 0)
    ([[2.0], [2.0], [1.0], [1.0], [2.0]], [0, 1, 0, 1, 0], 0.0, 3, 1, [2, 3, 1]),
]


@pytest.mark.parametrize("X, y, query, k, label, neighbours", TIES)
def test_tie_rules(X, y, query, k, label, neighbours):
    knn = KNNClassifier(n_neighbors=k).fit(X, y)
    assert knn.predict([[query]]).tolist() == [label]
    assert knn.kneighbors([[query]], return_distance=False).tolist() == [neighbours]
    pred, proba, (_, ind) = sklearn_knn(k, X, y, [[query]])
    assert pred.tolist() == [label] and sorted(ind[0].tolist()) == sorted(neighbours)
    np.testing.assert_array_equal(knn.predict_proba([[query]]), proba)  # numpy in, numpy out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", torch.float64])
def test_devices_and_dtypes_agree(digits, device, dtype):
    """Digits pixels are small whole numbers: float32 distances are exact too, so every variant predicts the same."""
    X_train, X_test, y_train, _ = (t[:300].to(device) for t in digits)
    ref = KNNClassifier(n_neighbors=5).fit(X_train.cpu(), y_train.cpu()).predict(X_test.cpu())
    knn = KNNClassifier(n_neighbors=5, dtype=dtype).fit(X_train, y_train)
    pred = knn.predict(X_test)
    assert pred.device == X_train.device and knn.predict_proba(X_test).dtype == knn.X_.dtype
    assert torch.equal(pred.cpu(), ref)


@pytest.mark.parametrize("method", METHODS)
def test_methods_give_the_same_classifier(method):
    X, y = rand(30, 3, seed=5), (torch.arange(30) % 3)
    ref = KNNClassifier(n_neighbors=4).fit(X, y).predict(X[:7] + 0.1)
    assert torch.equal(KNNClassifier(n_neighbors=4, method=method).fit(X, y).predict(X[:7] + 0.1), ref)


X3, Y3 = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], [0, 1, 1]
TX3, TY3 = torch.tensor(X3), torch.tensor(Y3)  # tensors: checked in torch, our messages

# (constructor kwargs, fit X, fit y, exception, message); bad predict inputs below
BAD_FIT = [
    (dict(n_neighbors=4), X3, Y3, ValueError, r"n_neighbors <= n_samples .*, got n_neighbors = 4, n_samples = 3"),
    (dict(n_neighbors=0), X3, Y3, ValueError, r"Expected n_neighbors >= 1, got 0"),
    (dict(n_neighbors=2.0), X3, Y3, TypeError, r"Expected n_neighbors to be an int, got float"),
    (dict(method="loops"), X3, Y3, ValueError, r"Expected method in \('broadcast'"),
    (dict(dtype="int64"), X3, Y3, TypeError, r"Expected a floating dtype"),
    (dict(), TX3[:, 0], TY3, ValueError, r"Expected X of rank 2 \(n_samples, n_features\), got rank 1"),
    (dict(), [0.0, 1.0, 2.0], Y3, ValueError, r"Expected 2D array, got 1D array instead"),
    (dict(), torch.zeros(0, 2), torch.zeros(0), ValueError, r"at least one sample in X, got shape \(0, 2\)"),
    (dict(), TX3, torch.tensor([0, 1]), ValueError, r"the same number of samples, got X: 3, y: 2"),
    (dict(), X3, [0, 1], ValueError, r"inconsistent numbers of samples: \[3, 2\]"),
    (dict(), TX3, torch.tensor([[0], [1], [1]]), ValueError, r"Expected y of rank 1 \(n_samples,\), got rank 2"),
    (dict(), TX3, torch.tensor([0.0, 0.5, 1.0]), ValueError, r"Unknown label type: continuous"),
    (dict(), X3, [0.0, 0.5, 1.0], ValueError, r"Unknown label type: continuous"),
    (dict(), torch.tensor([[0.0, float("nan")], [1, 1], [2, 2]]), TY3, ValueError, r"finite values in X"),
    (dict(), [[0.0, float("nan")], [1, 1], [2, 2]], Y3, ValueError, r"Input X contains NaN"),
    (dict(), [["a", "b"]] * 3, Y3, ValueError, r"could not convert string to float"),
    (dict(), torch.ones(3, 2, dtype=torch.bool), TY3, TypeError, r"X to hold real numbers, got dtype torch.bool"),
]


@pytest.mark.parametrize("kwargs, X, y, exc, match", BAD_FIT)
def test_bad_fit_input(kwargs, X, y, exc, match):
    with pytest.raises(exc, match=match):
        KNNClassifier(**kwargs).fit(X, y).predict(X)


@pytest.mark.parametrize("call, exc, match", [
    (lambda knn: KNNClassifier().predict(X3), NotFittedError, r"KNNClassifier instance is not fitted yet"),
    (lambda knn: knn.predict([[0.0, 0.0, 0.0]]), ValueError, r"X has 3 features, but KNNClassifier is expecting 2"),
    (lambda knn: knn.kneighbors(X3, n_neighbors=5), ValueError, r"got n_neighbors = 5, n_samples = 3"),
    (lambda knn: knn.score(X3, [0, 1]), ValueError, r"inconsistent numbers of samples: \[2, 3\]"),
])
def test_bad_predict_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call(KNNClassifier(n_neighbors=1).fit(X3, Y3))


def test_distance_concentration_shrinks_with_dimension():
    """The sheet's "doesn't work if dimensionality is high": the farthest point is 10x+ farther than the nearest in
    2-D, barely farther in 1000-D."""
    dims = [2, 10, 100, 1000]
    ratios = [r for _, r in distance_concentration(dims, n_points=200, seed=0)]
    assert [d for d, _ in distance_concentration(dims, n_points=10)] == dims
    assert all(a > b for a, b in zip(ratios, ratios[1:], strict=False)), ratios
    assert ratios[0] > 10 and ratios[-1] < 0.3


def test_distance_concentration_is_one_point_against_the_others():
    """(max - min) / min of the distances from the first of n + 1 uniform points to the n others."""
    pts = torch.rand(51, 20, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    dist = (pts[1:] - pts[0]).norm(dim=1)
    assert distance_concentration([20], n_points=50, seed=3) == [(20, ((dist.max() - dist.min()) / dist.min()).item())]


def test_nearest_and_farthest_are_each_querys_extreme_distances():
    """Against the two-loop squared distances, exact for whole-number features."""
    g = torch.Generator().manual_seed(0)
    queries, points = (torch.randint(-5, 6, shape, generator=g).double() for shape in ((7, 4), (30, 4)))
    sq = pairwise_sq_distances(queries, points, "two_loops")
    near, far = nearest_and_farthest(queries, points)
    torch.testing.assert_close(near, sq.min(1).values.sqrt(), rtol=1e-15, atol=0)
    torch.testing.assert_close(far, sq.max(1).values.sqrt(), rtol=1e-15, atol=0)
    assert [t.shape for t in nearest_and_farthest(queries[:0], points)] == [(0,), (0,)]


@pytest.mark.parametrize("queries, points", [(torch.zeros(2, 3), torch.zeros(4, 2)),  # another d
                                             (torch.zeros(3), torch.zeros(4, 3)),  # not (q, d)
                                             (torch.zeros(2, 3), torch.zeros(0, 3))])  # no points
def test_nearest_and_farthest_bad_shapes(queries, points):
    with pytest.raises(ValueError, match=r"Expected queries \(q, d\) and points \(n, d\) with the same d and n >= 1"):
        nearest_and_farthest(queries, points)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_nearest_equals_a_full_heap_replay(k):
    """``nearest`` replays sklearn's heap only where a nearer point follows the earliest tied ones; on rows full of
    ties (distances 0..9 over 40 points) its choice equals replaying the heap on every row."""
    sq = torch.randint(0, 10, (300, 40), generator=torch.Generator().manual_seed(k)).double()
    ours = nearest(sq, k).sort(1).values
    replay = torch.tensor([sorted(_heap_select(row, k)) for row in sq.tolist()])
    assert torch.equal(ours, replay)
    earliest = torch.sort(sq, dim=1, stable=True).indices[:, :k].sort(1).values
    # a heap of 1 or 2 always keeps the earliest tied points (of 2 equal entries the later sits at the root)
    assert (ours != earliest).any() == (k >= 3)
