"""What the estimators of ``c147.classic`` share: input conversion between numpy and torch, and input checks.

The estimators are scikit-learn estimators (``sklearn.base.BaseEstimator`` with ``ClassifierMixin`` or
``RegressorMixin``): ``get_params`` / ``set_params`` / ``clone`` / ``repr`` / ``score`` come from sklearn, and
``sklearn.utils.estimator_checks`` passes (``tests/classic/test_sklearn_checks.py``). The math underneath is
hand-written in torch. What this module adds is the bridge:

- a ``torch.Tensor`` stays a tensor: it is checked here in torch (``as_tensor``), on its own device, and what
  comes back (predictions, scores, probabilities) is a tensor on that device;
- anything else (numpy arrays, lists, pandas frames) goes through sklearn's ``validate_data`` (its error
  messages, ``n_features_in_``, ``feature_names_in_``) and comes back as numpy.

Each check raises a ``ValueError`` or ``TypeError`` naming what was expected and what came.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from torch import Tensor

__all__ = ["NotFittedError", "TensorClassifierMixin", "TensorRegressorMixin", "as_labels", "as_tensor", "check_X",
           "check_X_y", "check_positive_int", "decode_labels", "encode_labels", "make_estimator", "output",
           "resolve_dtype", "to_numpy"]

# numpy's twin of each torch dtype the estimators compute in (bfloat16 has none: validated in float32, then cast)
_NUMPY_DTYPE = {torch.float64: np.float64, torch.float32: np.float32, torch.float16: np.float16}
_SHAPES = {1: "(n_samples,)", 2: "(n_samples, n_features)"}


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    """``dtype`` as a floating ``torch.dtype``; a name such as ``"float32"`` (what a config file holds) works too.

    Raises:
        TypeError: ``dtype`` is not a floating torch dtype nor the name of one.

    Example:
        >>> resolve_dtype("float32")
        torch.float32
    """
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None) if dtype.isidentifier() else None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"Expected a floating dtype (torch.float64, 'float32', ...), got {dtype!r}")
    return dtype


def as_tensor(X: Any, name: str = "X", ndim: int | tuple[int, ...] = 2, dtype: torch.dtype | None = None,
              device: torch.device | str | None = None) -> Tensor:
    """``X`` as a tensor of rank ``ndim`` (one rank or a tuple of allowed ones) with at least one row.

    ``dtype`` None keeps the (numeric) dtype; a floating ``dtype`` also refuses NaN and infinity.

    Raises:
        TypeError: ``X`` is not numeric (strings, booleans, complex numbers).
        ValueError: the wrong rank, no sample, or NaN / infinity.

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
    ranks = (ndim,) if isinstance(ndim, int) else ndim
    if t.ndim not in ranks:
        shapes = " or ".join(f"rank {r} {_SHAPES.get(r, '')}".strip() for r in ranks)
        raise ValueError(f"Expected {name} of {shapes}, got rank {t.ndim}, shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"Expected at least one sample in {name}, got shape {tuple(t.shape)}")
    if dtype is not None:
        t = t.to(dtype)
        if not torch.isfinite(t).all():
            raise ValueError(f"Expected finite values in {name}, got NaN or infinity")
    return t


def _n_features(estimator: Any, n: int, reset: bool) -> None:
    """Record (``reset``) or check ``n_features_in_``, as ``validate_data`` does for numpy inputs."""
    if reset:
        estimator.n_features_in_ = n
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_  # a tensor has no column names
    elif n != estimator.n_features_in_:
        raise ValueError(f"X has {n} features, but {type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input.")


def _from_numpy(a: np.ndarray, dtype: torch.dtype | None, device: torch.device | str | None) -> Tensor:
    a = np.ascontiguousarray(a)
    t = torch.from_numpy(a if a.flags.writeable else a.copy())  # torch refuses to share read-only memory
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)


def check_X(estimator: Any, X: Any, dtype: torch.dtype, reset: bool = False,
            device: torch.device | str | None = None) -> Tensor:
    """``X`` (n_samples, n_features) as a finite tensor in ``dtype``; ``reset`` records ``n_features_in_``
    (``fit``), otherwise ``X`` must have that many features. A tensor keeps its device (``device`` if given);
    any other input is checked by sklearn's ``validate_data`` and lands on ``device`` (CPU if None).

    Raises:
        TypeError, ValueError: as ``as_tensor`` (tensors) or ``sklearn.utils.validation.check_array``.

    Example:
        >>> from c147.classic import KNNClassifier
        >>> check_X(KNNClassifier(), [[1, 2]], torch.float64, reset=True)
        tensor([[1., 2.]], dtype=torch.float64)
    """
    if isinstance(X, Tensor):
        X = as_tensor(X, "X", 2, dtype, device if device is not None else X.device)
        _n_features(estimator, X.shape[1], reset)
        return X
    Xn = validate_data(estimator, X, reset=reset, dtype=_NUMPY_DTYPE.get(dtype, np.float32))
    return _from_numpy(Xn, dtype, device)


def check_X_y(estimator: Any, X: Any, y: Any, dtype: torch.dtype, labels: bool = True) -> tuple[Tensor, Any]:
    """``X`` as ``check_X(..., reset=True)`` and ``y`` beside it (sets ``n_features_in_``).

    ``labels`` True: ``y`` holds class labels (n_samples,), returned as they are (a tensor, or a numpy array that
    may hold strings) for ``encode_labels``; False: numeric targets (n_samples,) or (n_samples, n_targets) as a
    tensor in ``dtype`` on ``X``'s device.

    Raises:
        ValueError: a different number of samples in X and y, continuous labels, y of the wrong rank.
        TypeError: non-numeric inputs where numbers are needed.

    Example:
        >>> from c147.classic import KNNClassifier
        >>> X, y = check_X_y(KNNClassifier(), [[0.0], [1.0]], ["a", "b"], torch.float64)
        >>> X.dtype, y.tolist()
        (torch.float64, ['a', 'b'])
    """
    if isinstance(X, Tensor):
        X = check_X(estimator, X, dtype, reset=True)
        y = as_tensor(y, "y", 1 if labels else (1, 2), None if labels else dtype, X.device)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"Expected X and y with the same number of samples, got X: {X.shape[0]}, "
                             f"y: {y.shape[0]}")
        if labels:
            as_labels(y)  # refuses continuous labels
        return X, y
    Xn, yn = validate_data(estimator, X, y, dtype=_NUMPY_DTYPE.get(dtype, np.float32), multi_output=not labels,
                           y_numeric=not labels)
    if labels:
        check_classification_targets(yn)  # "Unknown label type: continuous" for regression targets
        return _from_numpy(Xn, dtype, None), yn
    return _from_numpy(Xn, dtype, None), _from_numpy(yn, dtype, None)


def as_labels(y: Tensor) -> Tensor:
    """Class labels as int64 (whole-number floats are accepted, others refused).

    Raises:
        ValueError: non-integer (continuous) labels.
    """
    if y.is_floating_point() and (not torch.isfinite(y).all() or (y != y.round()).any()):
        raise ValueError("Unknown label type: continuous. Expected integer class labels in y, got non-integer values")
    return y.to(torch.int64)


def encode_labels(y: Tensor | np.ndarray) -> tuple[Tensor | np.ndarray, Tensor]:
    """``classes_`` (sorted distinct labels: a tensor for a tensor ``y``, else a numpy array) and each sample's
    index into it (an int64 tensor on ``y``'s device, CPU for numpy).

    Example:
        >>> encode_labels(np.array(["b", "a", "b"]))
        (array(['a', 'b'], dtype='<U1'), tensor([1, 0, 1]))
    """
    if isinstance(y, Tensor):
        return torch.unique(as_labels(y), sorted=True, return_inverse=True)
    classes, index = np.unique(y, return_inverse=True)
    return classes, torch.from_numpy(index.astype(np.int64))


def decode_labels(classes: Tensor | np.ndarray, index: Tensor, like: Any) -> Tensor | np.ndarray:
    """``classes[index]`` in the kind of ``like`` (a tensor on its device, else numpy); string labels stay numpy.

    Example:
        >>> decode_labels(np.array([3, 7]), torch.tensor([1, 0]), torch.zeros(2))
        tensor([7, 3])
    """
    if isinstance(classes, Tensor):
        return output(classes[index.to(classes.device)], like)
    labels = classes[index.cpu().numpy()]
    if isinstance(like, Tensor) and labels.dtype.kind in "biuf":
        return torch.as_tensor(labels, device=like.device)
    return labels


def output(t: Tensor, like: Any) -> Tensor | np.ndarray:
    """``t`` as the caller gave its input: a tensor on the device of ``like`` if that is a tensor, else numpy."""
    return t.to(like.device) if isinstance(like, Tensor) else t.detach().cpu().numpy()


def to_numpy(a: Any) -> Any:
    """A tensor (on any device) as a numpy array; anything else unchanged (for sklearn's metrics)."""
    return a.detach().cpu().numpy() if isinstance(a, Tensor) else a


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools refused).

    Raises:
        TypeError: not an int.
        ValueError: below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"Expected {name} to be an int, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"Expected {name} >= {minimum}, got {value}")
    return int(value)


def make_estimator(estimator: Any) -> Any:
    """A fresh estimator: ``sklearn.base.clone`` of an estimator, or what a factory (a class, a lambda) returns.

    Raises:
        TypeError: neither an estimator nor a factory of one.

    Example:
        >>> from c147.classic import KNNClassifier
        >>> make_estimator(lambda: KNNClassifier(n_neighbors=2)), make_estimator(KNNClassifier(n_neighbors=3))
        (KNNClassifier(n_neighbors=2), KNNClassifier(n_neighbors=3))
    """
    if hasattr(estimator, "fit") and not isinstance(estimator, type):
        return clone(estimator)
    if callable(estimator):
        made = estimator()
        if not hasattr(made, "fit"):
            raise TypeError(f"Expected the factory to return an estimator (with fit), got {made!r}")
        return made
    raise TypeError(f"Expected an estimator or a factory returning one, got {estimator!r}")


class TensorClassifierMixin(ClassifierMixin):
    """sklearn's ``ClassifierMixin`` whose ``score`` also takes tensors (on any device): sklearn's
    ``accuracy_score`` on numpy copies of ``y`` and of the predictions."""

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``self.predict(X)`` against ``y`` (``sklearn.metrics.accuracy_score``)."""
        return float(accuracy_score(to_numpy(y), to_numpy(self.predict(X)), sample_weight=to_numpy(sample_weight)))


class TensorRegressorMixin(RegressorMixin):
    """sklearn's ``RegressorMixin`` whose ``score`` (R^2, ``sklearn.metrics.r2_score``) also takes tensors."""

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 of ``self.predict(X)`` against ``y``, averaged over targets."""
        return float(r2_score(to_numpy(y), to_numpy(self.predict(X)), sample_weight=to_numpy(sample_weight)))
