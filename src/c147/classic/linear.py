"""Linear classifiers trained by gradient descent: softmax regression and the SVM (multiclass or binary hinge).

Scores s = x^T W + b, one column of W (D, C) per class; ``predict`` is argmax_c s_c. Training
minimizes the mean loss plus the sheet's L2 penalty (reg/2) ||W||^2 (``c147.classic.losses``, hand-
derived gradients) by the sheet's descent step with weight decay ("L2 Regularization"):

    W <- (1 - lr reg) W - lr grad_W J  =  W - lr (grad_W J + reg W)

on each step's examples. ``solver`` says how many (the sheet's "Gradient Descent" variants):

    batch:      all m training examples per step, one step per epoch
    minibatch:  ``batch_size`` examples per step, m / batch_size steps per epoch (reshuffled each epoch)
    sgd:        one example per step, m steps per epoch

The sheet's comparison: SGD's gradients are noisier (a one-sample estimate) and it takes more steps, each
much cheaper, so it often gets lower in clock time; ``plot_solver_comparison`` shows it on a dataset.

``history_`` records the full training loss after each epoch (and before the first) against the
training time spent so far (loss evaluation not counted): ``compare_solvers`` puts the three on one
time axis. The sheet's "don't use a numerical gradient: too slow" holds: the gradients are analytic,
and ``c147.classic.grad_check`` only checks them.

When to stop (sklearn's ``SGDClassifier`` rule): after each epoch, the full training loss is compared with the
best so far; ``n_iter_no_change`` epochs in a row without an improvement of ``tol`` is a stall. With
``learning_rate="constant"`` a stall ends training; with ``"adaptive"`` (the default) it divides the step by 5
and training goes on, ending at the stall of a step below lr / 100: the smaller steps average out the
minibatch noise, so the result lands near the minimum instead of wherever the noise left it. ``epochs`` caps
it all. The defaults (minibatch 64; softmax lr 1.0, reg 5e-4; SVM lr 0.2, reg 1e-3; tol 1e-3) reach scikit-
learn's ``LogisticRegression()`` / ``LinearSVC()`` test accuracy within 0.01 on the digits scaled to [0, 1]
in about 50 epochs (``tests/classic/test_sklearn_interop.py``). sklearn's C = 1 is reg = 1 / n_samples in
this mean-loss form (8e-4 for the digits' 1257 training samples).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from c147._io import atomic_write
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
from c147.classic.losses import binary_hinge_loss_grad, multiclass_hinge_loss_grad, softmax_loss_grad

SOLVERS = ("batch", "minibatch", "sgd")


class _LinearClassifier(TensorClassifierMixin, BaseEstimator):
    """Shared training loop; a subclass gives ``_loss_grad`` (and ``_targets`` for a different label coding)."""

    binary = False

    def _check_params(self) -> None:
        if self.learning_rate not in ("constant", "adaptive"):
            raise ValueError(f"Expected learning_rate in ('constant', 'adaptive'), got {self.learning_rate!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"Expected solver in {SOLVERS}, got {self.solver!r}")
        for name, low in (("lr", 0.0), ("reg", None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value == low:
                raise ValueError(f"Expected {name} {'> 0' if low is not None else '>= 0'}, got {value!r}")
        check_positive_int(self.epochs, "epochs", 0)
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.n_iter_no_change, "n_iter_no_change")
        if self.tol is not None and (isinstance(self.tol, bool) or not isinstance(self.tol, int | float)):
            raise ValueError(f"Expected tol to be a float or None, got {self.tol!r}")

    def _targets(self, y_index: Tensor) -> Tensor:
        return y_index

    def _batches(self, m: int, g: torch.Generator, device: torch.device) -> list[Tensor]:
        if self.solver == "batch":
            return [torch.arange(m, device=device)]
        perm = torch.randperm(m, generator=g).to(device)
        return list(perm.split(self.batch_size if self.solver == "minibatch" else 1))

    def fit(self, X: Any, y: Any) -> _LinearClassifier:
        """Train from a seeded start (W ~ 0.001 N(0, 1), b = 0) for at most ``epochs`` epochs; fills ``history_``.

        Stops early, as sklearn's ``SGDClassifier``, once the full training loss has not fallen below the best
        so far minus ``tol`` for ``n_iter_no_change`` epochs in a row (``tol=None``: all ``epochs``).

        Raises:
            ValueError: bad hyper-parameters or inputs; ``loss="binary"`` with other than two classes.
            TypeError: non-numeric inputs, a non-floating ``dtype``.
        """
        self._check_params()
        X, y = check_X_y(self, X, y, resolve_dtype(self.dtype))
        self.classes_, y_index = encode_labels(y)
        if self.binary and len(self.classes_) != 2:
            raise ValueError(f"Expected exactly 2 classes for loss='binary', got {len(self.classes_)} class(es)")
        t = self._targets(y_index.to(X.device))
        g = torch.Generator().manual_seed(self.random_state)
        shape = (X.shape[1],) if self.binary else (X.shape[1], len(self.classes_))
        W = (0.001 * torch.randn(shape, generator=g, dtype=X.dtype)).to(X.device)
        b = X.new_zeros(shape[1:])
        loss = self._loss_grad(W, b, X, t)[0].item()
        self.history_ = {"epoch": [0], "loss": [loss], "time": [0.0]}
        elapsed, best, stale, lr = 0.0, loss, 0, self.lr
        self.n_iter_ = 0
        for epoch in range(1, self.epochs + 1):
            start = time.perf_counter()
            for idx in self._batches(X.shape[0], g, X.device):
                _, dW, db = self._loss_grad(W, b, X[idx], t[idx])  # dW includes reg W
                W -= lr * dW  # W <- W - lr (grad_W J + reg W)
                b -= lr * db
            if X.is_cuda:
                torch.cuda.synchronize(X.device)
            elapsed += time.perf_counter() - start
            loss = self._loss_grad(W, b, X, t)[0].item()
            self.history_["epoch"].append(epoch)
            self.history_["loss"].append(loss)
            self.history_["time"].append(elapsed)
            self.n_iter_ = epoch
            if self.tol is not None:  # sklearn's rule: no improvement by tol over the best loss, n_iter_no_change times
                stale = stale + 1 if loss > best - self.tol else 0
                best = min(best, loss)
                if stale >= self.n_iter_no_change:
                    # a constant step stops here; an adaptive one (sklearn's "adaptive") shrinks 5x and goes on,
                    # so the last epochs average out the minibatch noise, until it is 1/100 of lr
                    if self.learning_rate == "constant" or lr / 5 < self.lr / 100:
                        break
                    lr, stale = lr / 5, 0
        self.W_, self.b_ = W, b
        return self

    def _scores(self, X: Any) -> Tensor:
        check_is_fitted(self, "W_")
        X = check_X(self, X, self.W_.dtype, device=self.W_.device)
        return X @ self.W_ + self.b_

    def decision_function(self, X: Any) -> Tensor | np.ndarray:
        """The scores X W + b (n, C); for two classes, as sklearn, one column (n,): positive means ``classes_[1]``
        (the binary hinge's score, or the difference of the two classes' scores)."""
        s = self._scores(X)
        if s.ndim == 2 and s.shape[1] == 2:
            s = s[:, 1] - s[:, 0]
        return output(s, X)

    def predict(self, X: Any) -> Tensor | np.ndarray:
        """The class with the highest score (the first such class on a tie; for the binary hinge score > 0)."""
        s = self._scores(X)
        return decode_labels(self.classes_, (s > 0).long() if s.ndim == 1 else s.argmax(1), X)


_ARGS = """
    Args:{extra}
        reg: L2 strength, the penalty (reg/2) ||W||^2.
        lr: learning rate (step size), the first one with ``learning_rate="adaptive"``.
        epochs: the most passes over the training set.
        tol: the least improvement of the training loss that counts (None: no stopping rule, all ``epochs``).
        n_iter_no_change: epochs without that improvement that make a stall.
        learning_rate: ``"adaptive"`` (a stall divides the step by 5; a stall below lr / 100 stops) or
            ``"constant"`` (the first stall stops).
        batch_size: examples per step for ``solver="minibatch"``.
        solver: ``"batch"`` (all m examples per step), ``"minibatch"`` or ``"sgd"`` (one example per step).
        random_state: seed of the initial W and of the shuffling.
        dtype: the dtype of the computation (float64 by default; a name such as ``"float32"`` or a torch dtype).

    Raises:
        ValueError, TypeError: at ``fit``, bad hyper-parameters or inputs, naming what was expected.

    Attributes:
        n_iter_: the epochs run; n_features_in_: the number of features seen by ``fit``.
        W_, b_: the weights (D, C) and biases (C,) (the binary hinge: (D,) and a scalar).
        classes_: the sorted distinct labels (the columns of the scores; a tensor if ``fit`` got tensors).
        history_: ``{{"epoch": [0, 1, ...], "loss": [...], "time": [...]}}``: the full training loss (with
            the penalty) before training and after each epoch, against the seconds of training so far.
"""


class SoftmaxClassifier(_LinearClassifier):
    __doc__ = """Softmax (multinomial logistic) regression: P(y = c | x) = softmax_c(x^T W + b).
    """ + _ARGS.format(extra="") + """
    Example:
        >>> X, y = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [2.0, 0.0]]), torch.tensor([0, 1, 0, 1])
        >>> clf = SoftmaxClassifier(lr=0.5, epochs=50, solver="batch").fit(X, y)
        >>> clf.predict(X).tolist(), clf.history_["loss"][-1] < clf.history_["loss"][0]
        ([0, 1, 0, 1], True)
    """

    def __init__(self, reg: float = 5e-4, lr: float = 1.0, epochs: int = 100, batch_size: int = 64,
                 solver: str = "minibatch", random_state: int = 0, tol: float | None = 1e-3,
                 n_iter_no_change: int = 5, learning_rate: str = "adaptive",
                 dtype: torch.dtype | str = "float64"):
        self.reg, self.lr, self.epochs, self.batch_size = reg, lr, epochs, batch_size
        self.solver, self.random_state, self.dtype = solver, random_state, dtype
        self.tol, self.n_iter_no_change, self.learning_rate = tol, n_iter_no_change, learning_rate

    def _loss_grad(self, W: Tensor, b: Tensor, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return softmax_loss_grad(W, b, X, y, self.reg)

    def predict_proba(self, X: Any) -> Tensor | np.ndarray:
        """softmax(X W + b): (n, C) class probabilities, classes as ``classes_``."""
        return output(torch.softmax(self._scores(X), dim=1), X)

    def predict_log_proba(self, X: Any) -> Tensor | np.ndarray:
        """log softmax(X W + b): (n, C), computed without the rounding of log(predict_proba)."""
        return output(torch.log_softmax(self._scores(X), dim=1), X)


class LinearSVM(_LinearClassifier):
    __doc__ = """A linear SVM trained on the hinge loss; no ``predict_proba`` (``Bagging`` takes its votes).

    ``loss="multiclass"``: the Weston-Watkins multiclass hinge with margin ``delta`` (CS231n's SVM), any
    number of classes. ``loss="binary"``: max(0, 1 - y (w^T x + b)) with ``classes_[0]`` as -1 and
    ``classes_[1]`` as +1; exactly two classes, one weight vector ``W_`` (D,), a scalar ``b_``.
    """ + _ARGS.format(extra="""
        loss: ``"multiclass"`` or ``"binary"``.
        delta: the multiclass margin.""") + """
    Example:
        >>> X, y = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [2.0, 0.0]]), torch.tensor([3, 7, 3, 7])
        >>> svm = LinearSVM(loss="binary", lr=0.5, epochs=20, solver="batch").fit(X, y)
        >>> svm.predict(X).tolist(), tuple(svm.W_.shape)
        ([3, 7, 3, 7], (2,))
    """

    def __init__(self, loss: str = "multiclass", reg: float = 1e-3, lr: float = 0.2, epochs: int = 100,
                 batch_size: int = 64, solver: str = "minibatch", random_state: int = 0, delta: float = 1.0,
                 tol: float | None = 1e-3, n_iter_no_change: int = 5, learning_rate: str = "adaptive",
                 dtype: torch.dtype | str = "float64"):
        self.loss, self.reg, self.lr, self.epochs, self.batch_size = loss, reg, lr, epochs, batch_size
        self.solver, self.random_state, self.delta, self.dtype = solver, random_state, delta, dtype
        self.tol, self.n_iter_no_change, self.learning_rate = tol, n_iter_no_change, learning_rate

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = self.loss != "binary"  # the +-1 hinge has one weight vector
        return tags

    def _check_params(self) -> None:
        if self.loss not in ("multiclass", "binary"):
            raise ValueError(f"Expected loss in ('multiclass', 'binary'), got {self.loss!r}")
        super()._check_params()

    @property
    def binary(self) -> bool:
        return self.loss == "binary"

    def _targets(self, y_index: Tensor) -> Tensor:
        return 2 * y_index - 1 if self.binary else y_index  # binary: classes_[0] -> -1, classes_[1] -> +1

    def _loss_grad(self, W: Tensor, b: Tensor, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self.binary:
            return binary_hinge_loss_grad(W, b, X, y.to(X.dtype), self.reg)
        return multiclass_hinge_loss_grad(W, b, X, y, self.reg, self.delta)


def compare_solvers(X: Any, y: Any, model: str = "softmax", solvers: tuple[str, ...] = SOLVERS,
                    lr: float | dict[str, float] = 0.1, epochs: int = 10, **kwargs: Any) -> dict[str, dict[str, list]]:
    """Train the same seeded classifier with each solver; per solver its ``history_`` (epoch, loss, time).

    ``model``: ``"softmax"`` or ``"svm"`` (``LinearSVM``; ``kwargs`` go to the constructor, e.g. ``loss``,
    ``reg``, ``batch_size``; ``tol`` is None unless given); ``lr``: one learning rate, or one per solver
    (SGD's single-example steps are noisier and usually want a smaller one).

    Example:
        >>> X, y = torch.randn(40, 3, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 2
        >>> curves = compare_solvers(X, y, epochs=2, lr={"batch": 0.5, "minibatch": 0.1, "sgd": 0.01})
        >>> sorted(curves), len(curves["sgd"]["loss"])
        (['batch', 'minibatch', 'sgd'], 3)
    """
    classes = {"softmax": SoftmaxClassifier, "svm": LinearSVM}
    kwargs.setdefault("tol", None)  # every solver runs all the epochs: curves of the same length
    if model not in classes:
        raise ValueError(f"Expected model in {tuple(classes)}, got {model!r}")
    curves = {}
    for solver in solvers:
        rate = lr[solver] if isinstance(lr, dict) else lr
        est = classes[model](lr=rate, epochs=epochs, solver=solver, **kwargs).fit(X, y)
        curves[solver] = est.history_
    return curves


def plot_solver_comparison(curves: dict[str, dict[str, list]], path: str | Path) -> Path:
    """Training loss against wall time (left) and against epochs (right) per solver; a PNG at ``path``.

    Example:
        >>> import tempfile
        >>> curves = {"batch": {"epoch": [0, 1], "loss": [2.3, 1.0], "time": [0.0, 0.01]}}
        >>> with tempfile.TemporaryDirectory() as d:
        ...     plot_solver_comparison(curves, f"{d}/solvers.png").stat().st_size > 0
        True
    """
    from matplotlib.figure import Figure  # Agg through Figure.savefig: no pyplot, no display

    fig = Figure(figsize=(10, 4))
    by_time, by_epoch = fig.subplots(1, 2)
    for solver, h in curves.items():
        by_time.plot(h["time"], h["loss"], marker=".", label=solver)
        by_epoch.plot(h["epoch"], h["loss"], marker=".", label=solver)
    by_time.set(xlabel="training time (s)", ylabel="training loss", yscale="log", title="loss vs time")
    by_epoch.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss vs epochs")
    by_time.legend()
    path = Path(path)
    with atomic_write(path, "wb") as f:  # whole or not at all
        fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
    return path
