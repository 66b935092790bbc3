"""c147.classic.least_squares against torch.linalg.lstsq, sklearn's LinearRegression and Ridge, the normal equations.

All problems here are well conditioned (Gaussian X, cond(X) < 10), so the float64 twins agree to the shared tight
tolerance: a backward-stable solver's error is about cond(X) eps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, Ridge, RidgeClassifier
from sklearn.metrics import r2_score

from c147.classic import LeastSquares, LeastSquaresClassifier, NotFittedError, least_squares_solve
from tests.twins import DEVICES, rand, tol

TIGHT = tol(torch.float64)


def problem(m=40, n=5, targets=None, seed=0, device="cpu"):
    X = rand(m, n, seed=seed, device=device) + 2.0  # off-centre, so that the intercept matters
    theta = rand(n, *(() if targets is None else (targets,)), seed=seed + 1, device=device)
    y = X @ theta + 3.0 + 0.1 * rand(m, *(() if targets is None else (targets,)), seed=seed + 2, device=device)
    return X, y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("m, n, targets", [(40, 5, None), (6, 6, None), (30, 3, 2), (1, 1, None)])
def test_solve_equals_torch_lstsq(m, n, targets, device):
    X, y = problem(m, n, targets, device=device)
    theirs = torch.linalg.lstsq(X.cpu(), y.cpu().reshape(m, -1), driver="gelsd").solution  # the twin (CPU drivers)
    ours = least_squares_solve(X, y)
    assert ours.device == X.device and ours.shape == (n, *y.shape[1:])
    torch.testing.assert_close(ours.cpu().reshape(n, -1), theirs, **TIGHT)


@pytest.mark.parametrize("ridge", [0.0, 0.5, 30.0])
def test_solve_satisfies_the_normal_equations(ridge):
    """The sheet's (X^T X + ridge I) theta = X^T y, solved here without forming X^T X."""
    X, y = problem(25, 4)
    theta = least_squares_solve(X, y, ridge)
    torch.testing.assert_close(X.T @ X @ theta + ridge * theta, X.T @ y, **TIGHT)
    torch.testing.assert_close(theta, torch.linalg.solve(X.T @ X + ridge * torch.eye(4, dtype=X.dtype), X.T @ y),
                               **TIGHT)


@pytest.mark.parametrize("targets", [None, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("ridge", [0.0, 0.1, 10.0])
def test_equals_sklearn(ridge, fit_intercept, targets):
    X, y = problem(50, 6, targets, seed=4)
    ours = LeastSquares(ridge=ridge, fit_intercept=fit_intercept).fit(X, y)
    twin = LinearRegression(fit_intercept=fit_intercept) if ridge == 0 else Ridge(ridge, fit_intercept=fit_intercept)
    twin.fit(X.numpy(), y.numpy())
    assert ours.coef_.shape == twin.coef_.shape and ours.intercept_.shape == np.shape(twin.intercept_)
    torch.testing.assert_close(ours.coef_, torch.as_tensor(twin.coef_), **TIGHT)
    torch.testing.assert_close(ours.intercept_, torch.as_tensor(twin.intercept_, dtype=torch.float64), **TIGHT)
    torch.testing.assert_close(ours.predict(X), torch.as_tensor(twin.predict(X.numpy())), **TIGHT)
    assert ours.score(X, y) == pytest.approx(twin.score(X.numpy(), y.numpy()), rel=1e-12)


def test_intercept_is_not_penalized():
    """As sklearn's Ridge: shifting y by a constant shifts only the intercept, even under a strong penalty."""
    X, y = problem(30, 3)
    a, b = LeastSquares(ridge=100.0).fit(X, y), LeastSquares(ridge=100.0).fit(X, y + 50)
    torch.testing.assert_close(a.coef_, b.coef_, **TIGHT)
    assert b.intercept_ - a.intercept_ == pytest.approx(50, rel=1e-12)


def test_ols_intercept_equals_a_column_of_ones():
    X, y = problem(20, 3)
    ones = torch.cat([X, torch.ones(20, 1, dtype=X.dtype)], 1)
    theta = torch.linalg.lstsq(ones, y[:, None], driver="gelsd").solution[:, 0]
    ols = LeastSquares().fit(X, y)
    torch.testing.assert_close(torch.cat([ols.coef_, ols.intercept_[None]]), theta, **TIGHT)


@pytest.mark.parametrize("y, pred", [
    ([1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.2, 3.7]),
    ([2.0, 2.0, 2.0], [2.0, 2.0, 2.0]),  # constant y predicted exactly: 1
    ([2.0, 2.0, 2.0], [2.0, 2.5, 2.0]),  # constant y, missed: 0
    ([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]], [[1.0, 5.0], [2.5, 5.0], [3.0, 5.0]]),  # averaged over targets
])
def test_score_is_sklearn_r2(y, pred):
    class Fixed(LeastSquares):
        def predict(self, X):
            return torch.tensor(pred, dtype=torch.float64)

    assert Fixed().score(torch.zeros(len(y), 1), y) == pytest.approx(r2_score(y, pred), rel=1e-12, abs=0)


@pytest.mark.parametrize("X, match", [
    (torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [0.0, 0.0]]).double(), r"columns of X are linearly dependent"),
    (rand(3, 5, seed=1), r"fewer samples \(n_samples = 3\) than features \(5\)"),
])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_singular_without_ridge_is_refused(X, match, fit_intercept):
    y = torch.arange(len(X), dtype=torch.float64)
    with pytest.raises(ValueError, match=r"X\^T X is singular: .*; use ridge > 0") as info:
        LeastSquares(fit_intercept=fit_intercept).fit(X, y)
    assert info.match(match)
    ridge = LeastSquares(ridge=0.5, fit_intercept=fit_intercept).fit(X, y)  # the suggestion works, as sklearn's Ridge
    twin = Ridge(0.5, fit_intercept=fit_intercept).fit(X.numpy(), y.numpy())
    torch.testing.assert_close(ridge.coef_, torch.as_tensor(twin.coef_), **TIGHT)


def test_centering_makes_square_x_singular():
    """n samples, n features and an intercept: the centered X has rank n - 1."""
    with pytest.raises(ValueError, match="linearly dependent"):
        LeastSquares().fit(rand(4, 4, seed=2), rand(4, seed=3))
    LeastSquares(fit_intercept=False).fit(rand(4, 4, seed=2), rand(4, seed=3))  # without centering: invertible


@pytest.mark.parametrize("device", DEVICES)
def test_device_and_float32(device):
    X, y = problem(40, 4, device=device)
    ours = LeastSquares(dtype="float32").fit(X, y)
    ref = LeastSquares().fit(X.cpu(), y.cpu())
    assert ours.coef_.device == X.device and ours.coef_.dtype == torch.float32
    torch.testing.assert_close(ours.coef_.cpu(), ref.coef_.float(), **tol(torch.float32))


# (kwargs, X, y, exception, message)
BAD = [
    (dict(ridge=-1.0), [[1.0], [2.0]], [1.0, 2.0], ValueError, r"Expected ridge >= 0, got -1.0"),
    (dict(ridge="none"), [[1.0], [2.0]], [1.0, 2.0], ValueError, r"Expected ridge >= 0, got 'none'"),
    (dict(), torch.tensor([[1.0], [2.0]]), torch.tensor([1.0]), ValueError, r"same number of samples, got X: 2, y: 1"),
    (dict(), torch.tensor([[1.0], [2.0]]), torch.zeros(2, 1, 1), ValueError,
     r"Expected y of rank 1 .* or rank 2 .*, got rank 3"),
    (dict(), torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0]), ValueError, r"Expected X of rank 2"),
    (dict(), [1.0, 2.0], [1.0, 2.0], ValueError, r"Expected 2D array, got 1D array instead"),
    (dict(), torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, float("inf")]), ValueError, r"finite values in y"),
    (dict(), [[1.0], [2.0]], [1.0, float("inf")], ValueError, r"Input y contains infinity"),
]


@pytest.mark.parametrize("kwargs, X, y, exc, match", BAD)
def test_bad_input(kwargs, X, y, exc, match):
    with pytest.raises(exc, match=match):
        LeastSquares(**kwargs).fit(X, y)


def test_predict_checks():
    with pytest.raises(NotFittedError, match="LeastSquares instance is not fitted yet"):
        LeastSquares().predict([[1.0]])
    with pytest.raises(ValueError, match=r"X has 2 features, but LeastSquares is expecting 5 features as input"):
        LeastSquares().fit(*problem()).predict([[1.0, 2.0]])


@pytest.mark.parametrize("ridge", [1.0, 30.0])
def test_classifier_equals_sklearn_ridge_classifier(digits, ridge):
    """RidgeClassifier regresses 2 onehot - 1: the solution is linear in the targets, so its scores are 2 ours - 1."""
    X_train, X_test, y_train, y_test = digits
    ours = LeastSquaresClassifier(ridge=ridge).fit(X_train, y_train)
    twin = RidgeClassifier(alpha=ridge).fit(X_train.numpy(), y_train.numpy())
    # sklearn solves the normal equations, cond(X_c^T X_c + ridge I) <= 2.4e5 here: scores of order 1 to within
    # cond * eps ~ 5e-11 (measured 1.4e-13)
    torch.testing.assert_close(2 * ours.decision_function(X_test) - 1,
                               torch.as_tensor(twin.decision_function(X_test.numpy())), rtol=0, atol=1e-10)
    assert torch.equal(ours.predict(X_test), torch.as_tensor(twin.predict(X_test.numpy())))
    assert ours.score(X_test, y_test) > 0.9


def test_classifier_on_two_classes_and_singular_digits(digits):
    X = torch.tensor([[0.0], [1.0], [4.0], [5.0]])
    twin = RidgeClassifier(alpha=0.0).fit(X.numpy(), [3, 3, 8, 8])
    assert LeastSquaresClassifier().fit(X, [3, 3, 8, 8]).predict(X).tolist() == twin.predict(X.numpy()).tolist()
    with pytest.raises(ValueError, match=r"X\^T X is singular: the columns of X are linearly dependent"):
        LeastSquaresClassifier().fit(digits[0], digits[2])  # pixels that are blank in every training image
