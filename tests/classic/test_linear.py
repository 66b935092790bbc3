"""c147.classic.linear: the softmax classifier and the SVM, their solvers, histories and accuracy on the digits."""

from __future__ import annotations

import pytest
import torch

from c147.classic import LinearSVM, NotFittedError, SoftmaxClassifier, compare_solvers, plot_solver_comparison
from c147.classic.losses import softmax_loss_grad
from tests.twins import DEVICES, rand, tol

MODELS = [SoftmaxClassifier, LinearSVM, lambda **kw: LinearSVM(loss="binary", **kw)]


@pytest.mark.slow
@pytest.mark.parametrize("make", [SoftmaxClassifier, LinearSVM], ids=["softmax", "svm"])
def test_digits_test_accuracy_at_least_095(digits_std, make):
    X_train, X_test, y_train, y_test = digits_std
    clf = make().fit(X_train, y_train)  # the defaults: 20 epochs of minibatches of 64
    assert clf.score(X_test, y_test) >= 0.95


def test_binary_svm_on_two_digits(digits_std):
    X_train, X_test, y_train, y_test = digits_std
    train, test = (y_train == 3) | (y_train == 8), (y_test == 3) | (y_test == 8)
    svm = LinearSVM(loss="binary").fit(X_train[train], y_train[train])
    assert svm.classes_.tolist() == [3, 8] and svm.W_.shape == (64,)
    assert svm.score(X_test[test], y_test[test]) >= 0.95


class Recorder(SoftmaxClassifier):
    """Records the batch size of every step (training steps and the per-epoch loss evaluations alike)."""

    def _loss_grad(self, W, b, X, y):
        self.sizes.append(X.shape[0])
        return super()._loss_grad(W, b, X, y)


@pytest.mark.parametrize("solver, steps", [("batch", [10]), ("minibatch", [4, 4, 2]), ("sgd", [1] * 10)])
def test_solver_step_sizes(solver, steps):
    """batch: all m examples per step; minibatch: batch_size; sgd: one example. Each epoch ends with a full-set loss."""
    clf = Recorder(solver=solver, batch_size=4, epochs=2)
    clf.sizes = []
    clf.fit(rand(10, 3), torch.arange(10) % 3)
    assert clf.sizes == [10] + (steps + [10]) * 2


def test_batch_step_is_the_sheets_update():
    """One batch epoch is one step W <- W - lr (grad_W J + reg W) from the seeded start."""
    X, y = rand(20, 4, seed=1), torch.arange(20) % 3
    clf = SoftmaxClassifier(solver="batch", epochs=1, lr=0.3, reg=0.2, random_state=5).fit(X, y)
    W0 = 0.001 * torch.randn(4, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    b0 = torch.zeros(3, dtype=torch.float64)
    _, dW, db = softmax_loss_grad(W0, b0, X, y, 0.2)
    torch.testing.assert_close(clf.W_, W0 - 0.3 * dW, **tol(torch.float64))
    torch.testing.assert_close(clf.b_, b0 - 0.3 * db, **tol(torch.float64))


@pytest.mark.slow
@pytest.mark.parametrize("make", MODELS, ids=["softmax", "svm", "binary_svm"])
@pytest.mark.parametrize("solver, lr", [("batch", 1.0), ("minibatch", 0.3), ("sgd", 0.05)])
def test_seeded_history_and_convergence(make, solver, lr):
    X, y = rand(60, 5, seed=2), (rand(60, 5, seed=2)[:, 0] > 0).long()  # linearly separable on feature 0

    def fit(seed):
        return make(solver=solver, lr=lr, epochs=10, batch_size=8, random_state=seed).fit(X, y)

    a, b = fit(1), fit(1)
    assert torch.equal(a.W_, b.W_) and a.history_["loss"] == b.history_["loss"]  # same seed, same run
    assert not torch.equal(a.W_, fit(2).W_)  # the start (and the shuffling) follow the seed
    h = a.history_
    assert h["epoch"] == list(range(11)) and len(h["loss"]) == len(h["time"]) == 11
    assert h["time"][0] == 0 and all(t1 >= t0 for t0, t1 in zip(h["time"], h["time"][1:], strict=False))
    assert h["loss"][-1] < h["loss"][0]
    assert a.score(X, y) >= 0.9


def test_predict_proba_is_softmax_of_scores():
    X, y = rand(30, 4, seed=3), torch.arange(30) % 3
    clf = SoftmaxClassifier(epochs=3).fit(X, y + 10)
    proba = clf.predict_proba(X)
    torch.testing.assert_close(proba.sum(1), torch.ones(30, dtype=torch.float64), **tol(torch.float64))
    assert torch.equal(clf.predict(X), clf.classes_[proba.argmax(1)]) and clf.classes_.tolist() == [10, 11, 12]
    assert not hasattr(LinearSVM(), "predict_proba")  # votes only: Bagging counts them


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", torch.float64])
def test_devices_and_dtypes(digits_std, device, dtype):
    X_train, X_test, y_train, y_test = (t.to(device) for t in digits_std)
    clf = SoftmaxClassifier(dtype=dtype).fit(X_train, y_train)
    assert clf.W_.device == X_train.device and clf.W_.dtype == getattr(torch, str(dtype).split(".")[-1])
    assert clf.predict(X_test).device == X_train.device and clf.score(X_test, y_test) >= 0.95


def test_compare_solvers_curves_and_plot(digits_std, tmp_path):
    X_train, _, y_train, _ = digits_std
    X, y = X_train[:300], y_train[:300]
    curves = compare_solvers(X, y, model="svm", epochs=3, lr={"batch": 0.1, "minibatch": 0.01, "sgd": 0.001})
    assert list(curves) == ["batch", "minibatch", "sgd"]
    for h in curves.values():
        assert len(h["loss"]) == 4 and h["loss"][-1] < h["loss"][0]
    # per epoch, SGD takes m steps and the batch solver one: more progress per epoch, more time per epoch
    assert curves["sgd"]["loss"][1] < curves["batch"]["loss"][1]
    path = plot_solver_comparison(curves, tmp_path / "solvers.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


X4, Y4 = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [2.0, 1.0]], [0, 1, 2, 1]

# (constructor, kwargs, X, y, exception, message)
BAD = [
    (SoftmaxClassifier, dict(solver="adam"), X4, Y4, ValueError, r"Expected solver in \('batch', 'minibatch', 'sgd'\)"),
    (SoftmaxClassifier, dict(lr=0.0), X4, Y4, ValueError, r"Expected lr > 0, got 0.0"),
    (SoftmaxClassifier, dict(lr="big"), X4, Y4, ValueError, r"Expected lr > 0, got 'big'"),
    (LinearSVM, dict(reg=-1.0), X4, Y4, ValueError, r"Expected reg >= 0, got -1.0"),
    (LinearSVM, dict(epochs=-1), X4, Y4, ValueError, r"Expected epochs >= 0, got -1"),
    (LinearSVM, dict(batch_size=0), X4, Y4, ValueError, r"Expected batch_size >= 1, got 0"),
    (LinearSVM, dict(loss="squared_hinge"), X4, Y4, ValueError, r"Expected loss in \('multiclass', 'binary'\)"),
    (LinearSVM, dict(loss="binary"), X4, Y4, ValueError, r"exactly 2 classes for loss='binary', got 3"),
    (SoftmaxClassifier, dict(dtype="half_precision"), X4, Y4, TypeError, r"Expected a floating dtype"),
    (SoftmaxClassifier, dict(), torch.tensor(X4), torch.tensor(Y4[:3]), ValueError,
     r"same number of samples, got X: 4, y: 3"),
    (LinearSVM, dict(), torch.tensor([1.0, 2.0]), torch.tensor([0, 1]), ValueError, r"Expected X of rank 2"),
    (LinearSVM, dict(), [1.0, 2.0], [0, 1], ValueError, r"Expected 2D array, got 1D array instead"),
]


@pytest.mark.parametrize("make, kwargs, X, y, exc, match", BAD)
def test_bad_input(make, kwargs, X, y, exc, match):
    with pytest.raises(exc, match=match):
        make(**kwargs).fit(X, y)


@pytest.mark.parametrize("make", MODELS, ids=["softmax", "svm", "binary_svm"])
def test_predict_checks(make):
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        make().predict(X4)
    clf = make(epochs=1).fit(X4, [0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"X has 3 features, but \w+ is expecting 2 features as input"):
        clf.decision_function([[0.0, 1.0, 2.0]])
