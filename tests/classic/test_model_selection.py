"""c147.classic.model_selection against sklearn.model_selection (KFold, cross_val_score) and choosing K."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.model_selection as skms
import torch
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from c147.classic import (
    KFold,
    KNNClassifier,
    KSelection,
    cross_val_score,
    plot_accuracy_vs_k,
    select_k,
    train_test_split,
)


@pytest.mark.parametrize("n, n_splits", [(2, 2), (10, 2), (10, 3), (7, 5), (5, 5), (1797, 5), (13, 10)])
def test_kfold_equals_sklearn(n, n_splits):
    ours = list(KFold(n_splits).split(torch.zeros(n, 1)))
    theirs = list(skms.KFold(n_splits).split(np.zeros((n, 1))))
    assert len(ours) == len(theirs) == KFold(n_splits).get_n_splits()
    for (tr, va), (str_, sva) in zip(ours, theirs, strict=True):
        assert tr.tolist() == str_.tolist() and va.tolist() == sva.tolist()


@pytest.mark.parametrize("n, n_splits", [(10, 3), (101, 5)])
def test_kfold_shuffled_is_a_seeded_partition(n, n_splits):
    def folds(seed):
        return [va.tolist() for _, va in KFold(n_splits, shuffle=True, random_state=seed).split(torch.zeros(n))]

    vals = folds(0)
    assert sorted(sum(vals, [])) == list(range(n))  # every sample validated exactly once
    assert [len(v) for v in vals] == [len(v) for v in folds(None)]  # sizes as without shuffling
    assert folds(0) == vals and folds(1) != vals
    assert vals != [va.tolist() for _, va in KFold(n_splits).split(torch.zeros(n))]
    for tr, va in KFold(n_splits, shuffle=True, random_state=0).split(torch.zeros(n)):
        assert set(tr.tolist()).isdisjoint(va.tolist()) and len(tr) + len(va) == n


@pytest.mark.parametrize("kwargs, n, exc, match", [
    (dict(n_splits=1), 5, ValueError, r"Expected n_splits >= 2, got 1"),
    (dict(n_splits=2.0), 5, TypeError, r"Expected n_splits to be an int, got float"),
    (dict(n_splits=3, random_state=0), 5, ValueError, r"random_state has no effect since shuffle is False"),
    (dict(n_splits=3, shuffle=1), 5, TypeError, r"Expected shuffle to be True or False, got 1"),
    (dict(n_splits=6), 5, ValueError, r"n_splits=6 greater than the number of samples: n_samples=5"),
])
def test_kfold_bad_input(kwargs, n, exc, match):
    with pytest.raises(exc, match=match):
        list(KFold(**kwargs).split(torch.zeros(n, 1)))


def test_cross_val_score_equals_sklearn(digits):
    X, _, y, _ = digits
    ours = cross_val_score(KNNClassifier(n_neighbors=3), X, y, cv=5)
    with threadpool_limits(limits=1, user_api="openmp"):  # sklearn's equidistant-neighbour choice, see test_knn.py
        theirs = skms.cross_val_score(KNeighborsClassifier(3, algorithm="brute"), X.numpy(), y.numpy(),
                                      cv=skms.KFold(5))
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, torch.as_tensor(theirs), rtol=0, atol=0)  # both correct / fold size


def test_cross_val_score_takes_an_estimator_a_class_or_a_factory(digits):
    X, y = digits[0][:200], digits[2][:200]
    knn = KNNClassifier(n_neighbors=3)
    ref = cross_val_score(knn, X, y, cv=KFold(4))
    assert not hasattr(knn, "X_")  # cloned per fold, never fitted itself
    assert torch.equal(cross_val_score(lambda: KNNClassifier(n_neighbors=3), X, y, cv=4), ref)
    assert torch.equal(cross_val_score(KNNClassifier, X, y, cv=4), cross_val_score(KNNClassifier(), X, y, cv=4))


@pytest.mark.parametrize("estimator, X, y, exc, match", [
    (KNNClassifier(), torch.zeros(6, 2), torch.zeros(5), ValueError, r"same number of samples, got X: 6, y: \(5,\)"),
    (KNNClassifier(), torch.zeros(6), torch.zeros(6), ValueError, r"Expected X of rank 2"),
    ("knn", torch.zeros(6, 2), torch.zeros(6), TypeError, r"an estimator or a factory returning one, got 'knn'"),
    (lambda: 3, torch.zeros(6, 2), torch.zeros(6), TypeError, r"factory to return an estimator \(with fit\), got 3"),
])
def test_cross_val_score_bad_input(estimator, X, y, exc, match):
    with pytest.raises(exc, match=match):
        cross_val_score(estimator, X, y, cv=2)


@pytest.mark.slow
def test_select_k_picks_a_k_with_the_best_validation_accuracy(digits, tmp_path):
    X, y = digits[0][:600], digits[2][:600]
    ks = [1, 3, 5, 10, 25]
    result = select_k(X, y, ks, n_splits=5)
    assert result.ks == ks and result.scores.shape == (5, 5)
    for k, mean, std, row in zip(ks, result.mean, result.std, result.scores, strict=True):
        torch.testing.assert_close(row, cross_val_score(KNNClassifier(k), X, y, cv=5), rtol=0, atol=0)
        torch.testing.assert_close(mean, row.mean(), rtol=0, atol=0)
        torch.testing.assert_close(std, torch.as_tensor(np.std(row.numpy())), rtol=1e-12, atol=1e-15)  # ddof 0
    best = ks.index(result.best_k)
    assert result.mean[best] == result.mean.max()
    assert result.mean[best] > result.mean[ks.index(25)]  # the choice matters here: K = 25 is worse
    path = plot_accuracy_vs_k(result, tmp_path / "plots" / "k.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_select_k_breaks_ties_toward_the_smallest_k():
    X = torch.tensor([[0.0], [0.1], [0.2], [0.3], [5.0], [5.1], [5.2], [5.3]])  # two far clusters: all K <= 3 perfect
    result = select_k(X, [0, 0, 0, 0, 1, 1, 1, 1], ks=[3, 2, 1], n_splits=4)
    assert result.mean.tolist() == [1.0, 1.0, 1.0] and result.best_k == 1


@pytest.mark.parametrize("ks, match", [([], "at least one K"), ([0, 1], r"Expected k >= 1, got 0")])
def test_select_k_bad_input(ks, match):
    with pytest.raises(ValueError, match=match):
        select_k(torch.zeros(4, 1), [0, 0, 1, 1], ks, n_splits=2)


def test_train_test_split_is_a_seeded_partition():
    X, y = torch.arange(20.0)[:, None], torch.arange(20)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=3)
    assert (len(X_train), len(X_test)) == (15, 5)
    assert torch.equal(X_train[:, 0].long(), y_train) and torch.equal(X_test[:, 0].long(), y_test)  # rows kept whole
    assert sorted(y_train.tolist() + y_test.tolist()) == list(range(20))
    assert torch.equal(train_test_split(X, y, 0.25, 3)[3], y_test)
    assert not torch.equal(train_test_split(X, y, 0.25, 0)[3], y_test)


@pytest.mark.parametrize("X, y, test_size, match", [
    (torch.zeros(4, 1), torch.zeros(3), 0.25, r"same number of samples, got X: 4, y: 3"),
    (torch.zeros(4, 1), torch.zeros(4), 1.0, r"Expected 0 < test_size < 1, got 1.0"),
    (torch.zeros(1, 1), torch.zeros(1), 0.5, r"leaves an empty train or test set"),
])
def test_train_test_split_bad_input(X, y, test_size, match):
    with pytest.raises(ValueError, match=match):
        train_test_split(X, y, test_size)


def test_kselection_plot_marks_the_best_k(tmp_path):
    result = KSelection([1, 2], torch.tensor([[1.0, 0.5], [0.5, 0.5]]), torch.tensor([0.75, 0.5]),
                        torch.tensor([0.25, 0.0]), 1)
    assert plot_accuracy_vs_k(result, tmp_path / "k.png").stat().st_size > 1000
