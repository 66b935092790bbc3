"""The sheet's classic machine learning ("ML basics" to "Gradient Descent"): KNN, softmax and SVM linear
classifiers, least squares, cross-validation, bagging and gradient checking, as scikit-learn estimators
(``sklearn.base.BaseEstimator``: ``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone`` work) whose
math is hand-written in torch, CPU or CUDA, float64 by default. numpy in, numpy out; a tensor in, a tensor
out on its device.

Twins (compared in ``tests/classic``): ``KNNClassifier`` / ``sklearn.neighbors.KNeighborsClassifier``
(brute force, the same predictions, tie rules included), ``KFold`` and ``cross_val_score`` / sklearn's,
``LeastSquares`` / ``torch.linalg.lstsq``, ``sklearn.linear_model.LinearRegression`` and ``Ridge``,
``LeastSquaresClassifier`` / ``RidgeClassifier``,
``StandardScaler`` / sklearn's; the hand-derived loss gradients / torch autograd and ``grad_check``.

Example:
    >>> import torch
    >>> from c147.classic import KNNClassifier
    >>> KNNClassifier(n_neighbors=1).fit([[0.0], [1.0]], [0, 1]).predict([[0.2], [0.9]])
    array([0, 1])
    >>> knn = KNNClassifier(n_neighbors=1).fit(torch.tensor([[0.0], [1.0]]), torch.tensor([0, 1]))
    >>> knn.predict(torch.tensor([[0.2]]))
    tensor([0])
"""

from c147.classic.bagging import Bagging
from c147.classic.base import NotFittedError, clone
from c147.classic.grad_check import grad_check, numerical_gradient, rel_error
from c147.classic.knn import KNNClassifier, distance_concentration, nearest_and_farthest, pairwise_sq_distances
from c147.classic.least_squares import LeastSquares, LeastSquaresClassifier, least_squares_solve
from c147.classic.linear import LinearSVM, SoftmaxClassifier, compare_solvers, plot_solver_comparison
from c147.classic.losses import binary_hinge_loss_grad, multiclass_hinge_loss_grad, softmax_loss_grad
from c147.classic.model_selection import (
    KFold,
    KSelection,
    cross_val_score,
    plot_accuracy_vs_k,
    select_k,
    train_test_split,
)
from c147.classic.preprocessing import StandardScaler

__all__ = [
    "Bagging", "KFold", "KNNClassifier", "KSelection", "LeastSquares", "LeastSquaresClassifier", "LinearSVM",
    "NotFittedError",
    "SoftmaxClassifier", "StandardScaler", "binary_hinge_loss_grad", "clone", "compare_solvers", "cross_val_score",
    "distance_concentration", "grad_check", "least_squares_solve", "multiclass_hinge_loss_grad",
    "nearest_and_farthest", "numerical_gradient", "pairwise_sq_distances", "plot_accuracy_vs_k",
    "plot_solver_comparison", "rel_error", "select_k", "softmax_loss_grad", "train_test_split",
]
