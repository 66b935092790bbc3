"""scikit-learn's own estimator checks (``parametrize_with_checks``) on every c147.classic estimator.

The checks fit on numpy inputs only (small blobs, iris-like sets, pandas frames, lists, sparse matrices that
must be refused), so they test the numpy side of the numpy/torch bridge in ``c147.classic.base``.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from c147.classic import (
    Bagging,
    KNNClassifier,
    LeastSquares,
    LeastSquaresClassifier,
    LinearSVM,
    SoftmaxClassifier,
)

ESTIMATORS = [
    KNNClassifier(),
    SoftmaxClassifier(),
    LinearSVM(),
    LeastSquares(),
    LeastSquaresClassifier(),
    Bagging(KNNClassifier(n_neighbors=1), n_estimators=3),  # 3 members: the checks fit it many times
]


# Every check passes: no expected_failed_checks. (sklearn skips two groups itself: the pandas checks when
# pandas is not installed, the array-API checks unless SCIPY_ARRAY_API=1.)
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
