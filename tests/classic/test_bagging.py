"""c147.classic.bagging: bootstrap draws, the two ways of combining members, and the variance it removes."""

from __future__ import annotations

import pytest
import torch

from c147.classic import Bagging, KNNClassifier, LinearSVM, NotFittedError, SoftmaxClassifier
from tests.twins import DEVICES


def xor_task(n: int, seed: int, flip: float = 0.25):
    """Points in [-2, 2]^2 labelled by the sign of x0 x1 (XOR quadrants); the noisy labels flip a quarter of them."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4 - 2
    y = (X[:, 0] * X[:, 1] > 0).long()
    flipped = torch.rand(n, generator=g) < flip
    return X, y, torch.where(flipped, 1 - y, y)


def test_bagging_beats_the_mean_member_on_noisy_labels():
    """1-NN memorizes the label noise; members on different resamples memorize different noise, and the vote
    averages it out. Measured: bagged 0.854, mean member 0.740 (against the true labels)."""
    X, _, y_noisy = xor_task(200, seed=0)
    X_test, y_test, _ = xor_task(500, seed=100)
    bag = Bagging(lambda: KNNClassifier(n_neighbors=1), n_estimators=25, max_samples=0.3, random_state=0)
    bag.fit(X, y_noisy)
    members = torch.tensor([m.score(X_test, y_test) for m in bag.estimators_])
    assert bag.score(X_test, y_test) > members.mean() + 0.05
    assert bag.score(X_test, y_test) > KNNClassifier(n_neighbors=1).fit(X, y_noisy).score(X_test, y_test) + 0.05


@pytest.mark.slow
def test_full_size_bootstraps_give_back_1nn():
    """Why the test above subsamples: a point is in a size-N bootstrap with probability 1 - (1 - 1/N)^N ~ 0.632 > 1/2,
    so most members' nearest point is the full set's nearest, and the vote returns plain 1-NN's prediction."""
    X, _, y_noisy = xor_task(200, seed=0)
    X_test = xor_task(500, seed=100)[0]
    bag = Bagging(lambda: KNNClassifier(n_neighbors=1), n_estimators=25, random_state=0).fit(X, y_noisy)
    agree = (bag.predict(X_test) == KNNClassifier(n_neighbors=1).fit(X, y_noisy).predict(X_test)).double().mean()
    assert agree > 0.95


@pytest.mark.parametrize("max_samples, size", [(1.0, 50), (0.3, 15), (7, 7)])
def test_bootstrap_draws(max_samples, size):
    X, y = torch.randn(50, 2, generator=torch.Generator().manual_seed(0)), torch.arange(50) % 2
    bag = Bagging(lambda: KNNClassifier(n_neighbors=1), n_estimators=20, max_samples=max_samples, random_state=3)
    bag.fit(X, y)
    assert len(bag.samples_) == len(bag.estimators_) == 20
    assert all(s.shape == (size,) and s.min() >= 0 and s.max() < 50 for s in bag.samples_)
    for idx, member in zip(bag.samples_, bag.estimators_, strict=True):
        assert torch.equal(member.X_, X[idx].double())  # each member saw its own resample
    assert any(len(s.unique()) < len(s) for s in bag.samples_)  # with replacement: repeats
    if size == 50:  # on average 1 - (1 - 1/N)^N ~ 63.4% distinct; 20 draws of 50 keep the mean near it
        assert 0.55 < torch.tensor([len(s.unique()) / 50 for s in bag.samples_]).mean() < 0.72
    again = Bagging(KNNClassifier(n_neighbors=1), n_estimators=20, max_samples=max_samples, random_state=3).fit(X, y)
    assert all(torch.equal(a, b) for a, b in zip(bag.samples_, again.samples_, strict=True))
    other = Bagging(KNNClassifier(n_neighbors=1), n_estimators=20, max_samples=max_samples, random_state=4).fit(X, y)
    assert not all(torch.equal(a, b) for a, b in zip(bag.samples_, other.samples_, strict=True))


def test_averages_probabilities_when_members_have_them():
    X, y = torch.randn(40, 3, generator=torch.Generator().manual_seed(1)), torch.arange(40) % 3
    bag = Bagging(SoftmaxClassifier(epochs=2), n_estimators=4).fit(X, y)
    mean = torch.stack([m.predict_proba(X) for m in bag.estimators_]).mean(0)
    torch.testing.assert_close(bag.predict_proba(X), mean, rtol=1e-12, atol=1e-15)  # the same sum, reordered
    assert torch.equal(bag.predict(X), mean.argmax(1))


def test_counts_votes_when_members_have_no_probabilities():
    X, _, _ = xor_task(60, seed=2)
    y = (X[:, 0] > 0).long() + 5  # labels 5 and 6: votes are mapped onto classes_
    bag = Bagging(LinearSVM(loss="binary", epochs=3), n_estimators=5).fit(X, y)
    votes = bag.classes_[torch.stack([m.predict(X) for m in bag.estimators_])]  # (5, n); members vote indices
    share = torch.stack([(votes == c).double().mean(0) for c in (5, 6)], 1)
    torch.testing.assert_close(bag.predict_proba(X), share, rtol=0, atol=0)
    assert torch.equal(bag.predict(X), torch.tensor([5, 6])[share.argmax(1)])


def test_members_missing_a_class_are_aligned():
    """A small resample can miss a class: each member's columns land under the ensemble's classes_."""
    X, y = torch.tensor([[0.0], [1.0], [2.0], [10.0]]), torch.tensor([0, 0, 0, 7])
    bag = Bagging(lambda: KNNClassifier(n_neighbors=1), n_estimators=8, max_samples=2, random_state=0).fit(X, y)
    # members are fitted on class indices: 7 is index 1
    assert any(1 not in m.classes_.tolist() for m in bag.estimators_) and bag.classes_.tolist() == [0, 7]
    proba = bag.predict_proba(torch.tensor([[10.0], [0.0]]))
    has_7 = sum(1 in m.classes_.tolist() for m in bag.estimators_)  # they put 10 in class 7
    only_7 = sum(m.classes_.tolist() == [1] for m in bag.estimators_)  # they put 0 in class 7 too
    assert proba[:, 1].tolist() == [has_7 / 8, only_7 / 8] and 0 < has_7 < 8
    torch.testing.assert_close(proba.sum(1), torch.ones(2, dtype=torch.float64))


def test_vote_ties_go_to_the_smallest_label():
    X, y = torch.tensor([[0.0], [1.0]]), torch.tensor([4, 2])
    bag = Bagging(lambda: KNNClassifier(n_neighbors=2), n_estimators=3, random_state=0).fit(X, y)
    bag.estimators_ = [KNNClassifier(n_neighbors=2).fit(X, torch.tensor([1, 0]))] * 3  # a 1:1 vote (indices of 4, 2)
    assert bag.predict(torch.tensor([[0.0]])).tolist() == [2]


@pytest.mark.parametrize("device", DEVICES)
def test_device(device):
    X, _, y = xor_task(40, seed=3)
    bag = Bagging(KNNClassifier(n_neighbors=1), n_estimators=3).fit(X.to(device), y.to(device))
    assert bag.predict(X.to(device)).device == X.to(device).device
    ref = Bagging(KNNClassifier(n_neighbors=1), n_estimators=3).fit(X, y).predict(X)
    assert torch.equal(bag.predict(X.to(device)).cpu(), ref)


X2, Y2 = [[0.0], [1.0], [2.0]], [0, 1, 1]

# (kwargs, exception, message)
BAD = [
    (dict(n_estimators=0), ValueError, r"Expected n_estimators >= 1, got 0"),
    (dict(max_samples=0.0), ValueError, r"Expected 0 < max_samples <= 1.0 as a fraction, got 0.0"),
    (dict(max_samples=1.5), ValueError, r"Expected 0 < max_samples <= 1.0 as a fraction, got 1.5"),
    (dict(max_samples=4), ValueError, r"Expected 1 <= max_samples <= n_samples = 3, got 4"),
    (dict(max_samples="all"), TypeError, r"max_samples to be a float fraction or an int count, got 'all'"),
    (dict(estimator_factory="knn"), TypeError, r"an estimator or a factory returning one, got 'knn'"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD)
def test_bad_input(kwargs, exc, match):
    kwargs = dict(estimator_factory=KNNClassifier(n_neighbors=1)) | kwargs
    with pytest.raises(exc, match=match):
        Bagging(**kwargs).fit(X2, Y2)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="Bagging instance is not fitted yet"):
        Bagging(KNNClassifier()).predict(X2)
