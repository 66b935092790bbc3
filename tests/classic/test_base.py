"""What all c147.classic estimators share: input checks on both sides of the numpy/torch bridge, sklearn's
not-fitted error, parameters and cloning; the scaler."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError as SkNotFittedError
from sklearn.preprocessing import StandardScaler as SkStandardScaler

from c147.classic import (
    Bagging,
    KNNClassifier,
    LeastSquares,
    LeastSquaresClassifier,
    LinearSVM,
    NotFittedError,
    SoftmaxClassifier,
    StandardScaler,
    clone,
)
from c147.classic.base import as_tensor, resolve_dtype
from tests.twins import DEVICES, rand, tol

ESTIMATORS = {
    "knn": lambda: KNNClassifier(n_neighbors=1),
    "softmax": lambda: SoftmaxClassifier(epochs=1),
    "svm": lambda: LinearSVM(epochs=1),
    "least_squares": lambda: LeastSquares(),
    "least_squares_classifier": lambda: LeastSquaresClassifier(),
    "bagging": lambda: Bagging(KNNClassifier(n_neighbors=1), n_estimators=2),
}
X3, Y3 = [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], [0, 1, 1]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_predict_before_fit(name):
    est = ESTIMATORS[name]()
    with pytest.raises(NotFittedError, match=f"This {type(est).__name__} instance is not fitted yet. Call 'fit'"):
        est.predict(X3)
    assert NotFittedError is SkNotFittedError  # sklearn's own, a ValueError and an AttributeError


T3 = torch.tensor(X3)
# (X, y, exception, message): tensors are checked in torch (our messages), every estimator says the same
BAD_TENSOR = [
    (T3[:, 0], torch.tensor(Y3), ValueError,
     r"Expected X of rank 2 \(n_samples, n_features\), got rank 1, shape \(3,\)"),
    (torch.zeros(0, 2), torch.zeros(0), ValueError, r"Expected at least one sample in X, got shape \(0, 2\)"),
    (T3, torch.tensor(Y3[:2]), ValueError, r"Expected X and y with the same number of samples, got X: 3, y: 2"),
    (torch.tensor([[0.0, float("inf")], [1.0, 0.0], [2.0, 2.0]]), torch.tensor(Y3), ValueError,
     r"Expected finite values in X"),
    (torch.ones(3, 2, dtype=torch.bool), torch.tensor(Y3), TypeError, r"Expected X to hold real numbers, got dtype"),
]
# the same mistakes in numpy or lists go through sklearn's validate_data: its messages
BAD_NUMPY = [
    ([0.0, 1.0, 2.0], Y3, ValueError, r"Expected 2D array, got 1D array instead"),
    (np.zeros((0, 2)), [], ValueError, r"Found array with 0 sample\(s\) \(shape=\(0, 2\)\)"),
    (X3, Y3[:2], ValueError, r"inconsistent numbers of samples: \[3, 2\]"),
    ([[0.0, float("inf")], [1.0, 0.0], [2.0, 2.0]], Y3, ValueError, r"Input X contains infinity"),
    ("abc", Y3, ValueError, r"could not convert string to float: 'abc'"),
]


@pytest.mark.parametrize("X, y, exc, match", BAD_TENSOR + BAD_NUMPY)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_bad_input_is_named(name, X, y, exc, match):
    with pytest.raises(exc, match=match):
        ESTIMATORS[name]().fit(X, y)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_numpy_in_numpy_out_tensor_in_tensor_out(name):
    as_list = ESTIMATORS[name]().fit(X3, Y3).predict(X3)
    as_numpy = ESTIMATORS[name]().fit(np.array(X3), np.array(Y3)).predict(np.array(X3))
    as_tensor_ = ESTIMATORS[name]().fit(torch.tensor(X3), torch.tensor(Y3)).predict(torch.tensor(X3))
    assert isinstance(as_list, np.ndarray) and isinstance(as_numpy, np.ndarray) and isinstance(as_tensor_, torch.Tensor)
    np.testing.assert_array_equal(as_list, as_numpy)
    np.testing.assert_array_equal(as_numpy, as_tensor_.numpy())
    # fitted on numpy, asked with a tensor: a tensor back (and the other way round)
    assert isinstance(ESTIMATORS[name]().fit(np.array(X3), np.array(Y3)).predict(torch.tensor(X3)), torch.Tensor)
    assert isinstance(ESTIMATORS[name]().fit(torch.tensor(X3), torch.tensor(Y3)).predict(np.array(X3)), np.ndarray)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_clone_copies_parameters_not_state(name):
    est = ESTIMATORS[name]().fit(X3, Y3)
    copy = clone(est)
    assert type(copy) is type(est) and repr(copy) == repr(est)
    assert copy.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(copy))  # nothing fitted


def test_repr_and_set_params_are_sklearns():
    assert repr(KNNClassifier()) == "KNNClassifier()"
    assert repr(LinearSVM(loss="binary", lr=0.5)) == "LinearSVM(loss='binary', lr=0.5)"
    assert SoftmaxClassifier(reg=0.1).get_params()["reg"] == 0.1
    bag = Bagging(KNNClassifier(n_neighbors=1)).set_params(estimator_factory__n_neighbors=3)  # nested, as sklearn
    assert bag.estimator_factory.n_neighbors == 3
    with pytest.raises(ValueError, match="Invalid parameter 'k' for estimator KNNClassifier"):
        KNNClassifier().set_params(k=3)


@pytest.mark.parametrize("dtype, expected", [
    (torch.float32, torch.float32), ("float64", torch.float64), ("bfloat16", torch.bfloat16),
    ("int64", TypeError), (torch.int32, TypeError), ("not a dtype", TypeError), (None, TypeError),
])
def test_resolve_dtype(dtype, expected):
    if expected is TypeError:
        with pytest.raises(TypeError, match=r"Expected a floating dtype \(torch.float64, 'float32', ...\), got"):
            resolve_dtype(dtype)
    else:
        assert resolve_dtype(dtype) is expected


def test_as_tensor_keeps_device_and_casts():
    t = as_tensor(np.arange(6).reshape(3, 2), dtype=torch.float64)
    assert t.dtype == torch.float64 and t.device.type == "cpu"
    with pytest.raises(TypeError, match=r"Expected y to hold real numbers, got dtype torch.complex64"):
        as_tensor(torch.zeros(3, dtype=torch.complex64), "y", 1)


@pytest.mark.parametrize("device", DEVICES)
def test_standard_scaler_equals_sklearn(digits, device):
    X_train, X_test = digits[0].to(device), digits[1].to(device)
    ours = StandardScaler().fit(X_train)
    twin = SkStandardScaler().fit(X_train.cpu().numpy())
    torch.testing.assert_close(ours.mean_.cpu(), torch.as_tensor(twin.mean_), **tol(torch.float64))
    torch.testing.assert_close(ours.scale_.cpu(), torch.as_tensor(twin.scale_), **tol(torch.float64))  # 1 if std 0
    torch.testing.assert_close(ours.transform(X_test).cpu(), torch.as_tensor(twin.transform(X_test.cpu().numpy())),
                               **tol(torch.float64))
    assert (ours.scale_ == 1).any()  # the digits have blank pixels: the constant-feature rule is exercised


def test_standard_scaler_checks():
    with pytest.raises(NotFittedError):
        StandardScaler().transform(X3)
    with pytest.raises(ValueError, match=r"X has 3 features, but StandardScaler is expecting 2 features as input"):
        StandardScaler().fit(X3).transform(rand(2, 3))
    np.testing.assert_allclose(StandardScaler().fit_transform(X3), StandardScaler().fit(X3).transform(X3))
