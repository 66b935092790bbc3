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
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from c147.classic.base import (
    ClassifierMixin,
    Estimator,
    as_tensor,
    check_is_fitted,
    check_n_features,
    check_positive_int,
    check_X_y,
    resolve_dtype,
)
from c147.classic.losses import binary_hinge_loss_grad, multiclass_hinge_loss_grad, softmax_loss_grad

SOLVERS = ("batch", "minibatch", "sgd")


class _LinearClassifier(ClassifierMixin, Estimator):
    """Shared training loop; a subclass gives ``_loss_grad`` (and ``_targets`` for a different label coding)."""

    binary = False

    def _check_params(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"Expected solver in {SOLVERS}, got {self.solver!r}")
        for name, low in (("lr", 0.0), ("reg", None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value == low:
                raise ValueError(f"Expected {name} {'> 0' if low is not None else '>= 0'}, got {value!r}")
        check_positive_int(self.epochs, "epochs", 0)
        check_positive_int(self.batch_size, "batch_size")

    def _targets(self, y_index: Tensor) -> Tensor:
        return y_index

    def _batches(self, m: int, g: torch.Generator, device: torch.device) -> list[Tensor]:
        if self.solver == "batch":
            return [torch.arange(m, device=device)]
        perm = torch.randperm(m, generator=g).to(device)
        return list(perm.split(self.batch_size if self.solver == "minibatch" else 1))

    def fit(self, X: Any, y: Any) -> _LinearClassifier:
        """Train from a seeded start (W ~ 0.001 N(0, 1), b = 0) for ``epochs`` epochs; fills ``history_``."""
        self._check_params()
        X, y = check_X_y(X, y, resolve_dtype(self.dtype))
        self.classes_, y_index = torch.unique(y, sorted=True, return_inverse=True)
        if self.binary and len(self.classes_) != 2:
            raise ValueError(f"Expected exactly 2 classes for loss='binary', got {len(self.classes_)}")
        t = self._targets(y_index)
        g = torch.Generator().manual_seed(self.random_state)
        shape = (X.shape[1],) if self.binary else (X.shape[1], len(self.classes_))
        W = (0.001 * torch.randn(shape, generator=g, dtype=X.dtype)).to(X.device)
        b = X.new_zeros(shape[1:])
        self.history_ = {"epoch": [0], "loss": [self._loss_grad(W, b, X, t)[0].item()], "time": [0.0]}
        elapsed = 0.0
        for epoch in range(1, self.epochs + 1):
            start = time.perf_counter()
            for idx in self._batches(X.shape[0], g, X.device):
                _, dW, db = self._loss_grad(W, b, X[idx], t[idx])  # dW includes reg W
                W -= self.lr * dW  # W <- W - lr (grad_W J + reg W)
                b -= self.lr * db
            if X.is_cuda:
                torch.cuda.synchronize(X.device)
            elapsed += time.perf_counter() - start
            self.history_["epoch"].append(epoch)
            self.history_["loss"].append(self._loss_grad(W, b, X, t)[0].item())
            self.history_["time"].append(elapsed)
        self.W_, self.b_ = W, b
        return self

    def decision_function(self, X: Any) -> Tensor:
        """The scores X W + b: (n, C), or (n,) for the binary hinge (positive means ``classes_[1]``)."""
        check_is_fitted(self, "W_")
        X = as_tensor(X, "X", 2, self.W_.dtype, self.W_.device)
        check_n_features(X, self.W_.shape[0])
        return X @ self.W_ + self.b_

    def predict(self, X: Any) -> Tensor:
        """The class with the highest score (the first such class on a tie; for the binary hinge score > 0)."""
        s = self.decision_function(X)
        return self.classes_[(s > 0).long() if s.ndim == 1 else s.argmax(1)]


_ARGS = """
    Args:{extra}
        reg: L2 strength, the penalty (reg/2) ||W||^2.
        lr: learning rate (step size).
        epochs: passes over the training set.
        batch_size: examples per step for ``solver="minibatch"``.
        solver: ``"batch"`` (all m examples per step), ``"minibatch"`` or ``"sgd"`` (one example per step).
        random_state: seed of the initial W and of the shuffling.
        dtype: the dtype of the computation (float64 by default; a name such as ``"float32"`` works).

    Attributes:
        W_, b_: the weights (D, C) and biases (C,) (the binary hinge: (D,) and a scalar).
        classes_: the sorted distinct labels (the columns of the scores).
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

    def __init__(self, reg: float = 1e-3, lr: float = 0.1, epochs: int = 20, batch_size: int = 64,
                 solver: str = "minibatch", random_state: int = 0, dtype: torch.dtype | str = torch.float64):
        self.reg, self.lr, self.epochs, self.batch_size = reg, lr, epochs, batch_size
        self.solver, self.random_state, self.dtype = solver, random_state, dtype

    def _loss_grad(self, W: Tensor, b: Tensor, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return softmax_loss_grad(W, b, X, y, self.reg)

    def predict_proba(self, X: Any) -> Tensor:
        """softmax(X W + b): (n, C) class probabilities, classes as ``classes_``."""
        return torch.softmax(self.decision_function(X), dim=1)


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

    def __init__(self, loss: str = "multiclass", reg: float = 1e-3, lr: float = 0.01, epochs: int = 20,
                 batch_size: int = 64, solver: str = "minibatch", random_state: int = 0, delta: float = 1.0,
                 dtype: torch.dtype | str = torch.float64):
        self.loss, self.reg, self.lr, self.epochs, self.batch_size = loss, reg, lr, epochs, batch_size
        self.solver, self.random_state, self.delta, self.dtype = solver, random_state, delta, dtype

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
    ``reg``, ``batch_size``); ``lr``: one learning rate, or one per solver (SGD's single-example steps
    are noisier and usually want a smaller one).

    Example:
        >>> X, y = torch.randn(40, 3, generator=torch.Generator().manual_seed(0)), torch.arange(40) % 2
        >>> curves = compare_solvers(X, y, epochs=2, lr={"batch": 0.5, "minibatch": 0.1, "sgd": 0.01})
        >>> sorted(curves), len(curves["sgd"]["loss"])
        (['batch', 'minibatch', 'sgd'], 3)
    """
    classes = {"softmax": SoftmaxClassifier, "svm": LinearSVM}
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path
