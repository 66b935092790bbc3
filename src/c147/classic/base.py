"""What every estimator of ``c147.classic`` shares: input checks, parameters, cloning, accuracy.

The estimators follow scikit-learn's contract (``fit(X, y)`` returns the estimator, ``predict(X)``,
``score(X, y)``; hyper-parameters are the ``__init__`` arguments, fitted state ends in ``_``) on
torch tensors. Inputs may be tensors or array-likes (``torch.as_tensor``); features are computed in
``dtype`` (float64 unless told otherwise) on the device of the ``X`` given to ``fit``, and later
inputs are moved there.

Each check raises a ``ValueError`` or ``TypeError`` naming what was expected and what came, as
scikit-learn's ``check_array`` / ``check_X_y`` / ``check_is_fitted`` do.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor


class NotFittedError(ValueError, AttributeError):
    """``predict`` (or any method that needs ``fit``) called before ``fit``; as ``sklearn.exceptions.NotFittedError``.

    Example:
        >>> issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
        True
    """


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """``dtype`` as a floating ``torch.dtype``; a name such as ``"float32"`` (what a config file holds) works too.

    Example:
        >>> resolve_dtype("float32")
        torch.float32
    """
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None) if dtype.isidentifier() else None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"Expected a floating dtype (torch.float64, 'float32', ...), got {dtype!r}")
    return dtype


def as_tensor(X: Any, name: str = "X", ndim: int = 2, dtype: torch.dtype | None = None,
              device: torch.device | str | None = None) -> Tensor:
    """``X`` as a tensor of rank ``ndim`` with at least one row, converted with ``torch.as_tensor``.

    ``dtype`` None keeps the (numeric) dtype; a floating ``dtype`` also refuses NaN and infinity.

    Example:
        >>> as_tensor([[1, 2], [3, 4]], dtype=torch.float64)
        tensor([[1., 2.],
                [3., 4.]], dtype=torch.float64)
    """
    try:
        t = torch.as_tensor(X, device=device)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"Expected {name} to be a tensor or a numeric array-like, got {type(X).__name__}: {e}") from e
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"Expected {name} to hold real numbers, got dtype {t.dtype}")
    if t.ndim != ndim:
        raise ValueError(f"Expected {name} of rank {ndim} {_SHAPES[ndim]}, got rank {t.ndim}, shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"Expected at least one sample in {name}, got shape {tuple(t.shape)}")
    if dtype is not None:
        t = t.to(dtype)
        if not torch.isfinite(t).all():
            raise ValueError(f"Expected finite values in {name}, got NaN or infinity")
    return t


_SHAPES = {1: "(n_samples,)", 2: "(n_samples, n_features)"}


def check_X_y(X: Any, y: Any, dtype: torch.dtype, device: torch.device | str | None = None,
              labels: bool = True) -> tuple[Tensor, Tensor]:
    """``X`` (n_samples, n_features) in ``dtype`` and ``y`` (n_samples,) on ``X``'s device (``device`` if given).

    ``labels`` True: ``y`` holds class labels and comes back as int64 (float labels must be whole numbers).

    Example:
        >>> X, y = check_X_y([[0.0], [1.0]], [0, 1], torch.float64)
        >>> X.dtype, y.dtype
        (torch.float64, torch.int64)
    """
    X = as_tensor(X, "X", 2, dtype, device)
    y = as_tensor(y, "y", 1, None if labels else dtype, X.device)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"Expected X and y with the same number of samples, got X: {X.shape[0]}, y: {y.shape[0]}")
    if labels:
        y = as_labels(y)
    return X, y


def as_labels(y: Tensor) -> Tensor:
    """Class labels as int64 (whole-number floats are accepted, others refused)."""
    if y.is_floating_point():
        if not torch.isfinite(y).all() or (y != y.round()).any():
            raise ValueError("Expected integer class labels in y, got non-integer values")
    return y.to(torch.int64)


def check_is_fitted(estimator: Any, attribute: str) -> None:
    """Raise ``NotFittedError`` unless ``estimator`` has the fitted ``attribute``."""
    if getattr(estimator, attribute, None) is None:
        raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted yet: "
                             f"call 'fit' with appropriate arguments before using this estimator.")


def check_n_features(X: Tensor, expected: int) -> None:
    """``X`` has the number of features the estimator was fitted with."""
    if X.shape[1] != expected:
        raise ValueError(f"Expected X with {expected} features (as in fit), got {X.shape[1]}")


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Expected {name} to be an int, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"Expected {name} >= {minimum}, got {value}")
    return value


class Estimator:
    """Hyper-parameters read from the ``__init__`` signature (``get_params``, ``repr``, ``clone``), as in sklearn.

    Example:
        >>> from c147.classic import KNNClassifier
        >>> KNNClassifier(k=3)
        KNNClassifier(k=3)
    """

    def get_params(self) -> dict[str, Any]:
        """The ``__init__`` arguments and their current values."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        defaults = {n: p.default for n, p in inspect.signature(type(self).__init__).parameters.items()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if v is not defaults[k]
                   and not (type(v) is type(defaults[k]) and v == defaults[k])]
        return f"{type(self).__name__}({', '.join(changed)})"


def clone(estimator: Estimator) -> Estimator:
    """A new, unfitted estimator with the same hyper-parameters (as ``sklearn.base.clone``).

    Example:
        >>> from c147.classic import KNNClassifier
        >>> clone(KNNClassifier(k=5)).k
        5
    """
    if not hasattr(estimator, "get_params"):
        raise TypeError(f"Expected an estimator with get_params (a c147.classic estimator), got {estimator!r}")
    return type(estimator)(**estimator.get_params())


def make_estimator(estimator: Any) -> Estimator:
    """A fresh estimator: a clone of an estimator, or what a factory (a class, a lambda) returns.

    Example:
        >>> from c147.classic import KNNClassifier
        >>> make_estimator(lambda: KNNClassifier(k=2)), make_estimator(KNNClassifier(k=3))
        (KNNClassifier(k=2), KNNClassifier(k=3))
    """
    if hasattr(estimator, "fit") and not isinstance(estimator, type):
        return clone(estimator)
    if callable(estimator):
        made = estimator()
        if not hasattr(made, "fit"):
            raise TypeError(f"Expected the factory to return an estimator (with fit), got {made!r}")
        return made
    raise TypeError(f"Expected an estimator or a factory returning one, got {estimator!r}")


class ClassifierMixin:
    """``score(X, y)``: the mean accuracy of ``predict(X)`` against ``y``."""

    def score(self, X: Any, y: Any) -> float:
        """Mean accuracy of ``self.predict(X)`` against the labels ``y``."""
        pred = self.predict(X)
        y = as_labels(as_tensor(y, "y", 1, None, pred.device))
        if y.shape[0] != pred.shape[0]:
            raise ValueError(f"Expected X and y with the same number of samples, got X: {pred.shape[0]}, "
                             f"y: {y.shape[0]}")
        return (pred == y).double().mean().item()
