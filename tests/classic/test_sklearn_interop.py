"""c147.classic inside scikit-learn: Pipeline, GridSearchCV, cross_val_score, BaggingClassifier; and the
default hyper-parameters against scikit-learn's own models.

The data: sklearn's digits scaled to [0, 1] (X / 16), split 70/30 stratified with
``train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)`` (1257 / 540 samples). Every reference
number is computed here, by scikit-learn, not written down.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.ensemble import BaggingClassifier
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

from c147.classic import Bagging, KNNClassifier, LeastSquaresClassifier, LinearSVM, SoftmaxClassifier


@pytest.fixture(scope="module")
def split() -> tuple[np.ndarray, ...]:
    """X_train, X_test, y_train, y_test: digits / 16, 70/30 stratified, random_state=0."""
    X, y = load_digits(return_X_y=True)
    return tuple(train_test_split(X / 16, y, test_size=0.3, stratify=y, random_state=0))


@pytest.mark.parametrize("ours, twin", [(SoftmaxClassifier, LogisticRegression), (LinearSVM, LinearSVC)],
                         ids=["softmax-vs-LogisticRegression", "svm-vs-LinearSVC"])
def test_defaults_reach_sklearn(split, ours, twin):
    """Default arguments on both sides: ours within 0.01 test accuracy of sklearn's (about 0.97)."""
    X_train, X_test, y_train, y_test = split
    ref = twin().fit(X_train, y_train).score(X_test, y_test)
    model = ours().fit(X_train, y_train)
    acc = model.score(X_test, y_test)
    assert acc >= ref - 0.01, (acc, ref)
    assert model.n_iter_ < model.epochs  # the stopping rule on the training loss ended it


def test_pipeline_and_cross_val_score(split):
    X_train, X_test, y_train, y_test = split
    for scaler in (StandardScaler(), MinMaxScaler()):
        pipe = make_pipeline(scaler, SoftmaxClassifier()).fit(X_train, y_train)
        assert pipe.score(X_test, y_test) > 0.95
    # least squares on one-hot labels predicts as RidgeClassifier (2 onehot - 1): the same fold scores
    ours = cross_val_score(LeastSquaresClassifier(ridge=1.0), X_train, y_train, cv=5)
    ref = cross_val_score(RidgeClassifier(alpha=1.0), X_train, y_train, cv=5)
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    assert ours.mean() > 0.9


def test_grid_search_picks_n_neighbors(split):
    X_train, X_test, y_train, y_test = split
    grid = {"n_neighbors": [1, 3, 5]}
    ours = GridSearchCV(KNNClassifier(), grid).fit(X_train, y_train)
    ref = GridSearchCV(KNeighborsClassifier(algorithm="brute"), grid).fit(X_train, y_train)
    assert ours.best_params_ == ref.best_params_
    # the same predictions except, at most, a distance tie broken otherwise (one sample in a fold: 1/252)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], atol=0.005)
    assert ours.score(X_test, y_test) > 0.97


def test_bagging_equals_sklearn_on_the_same_draws(split):
    """sklearn's BaggingClassifier around our 1-NN; our Bagging given the same bootstrap draws (its
    ``estimators_samples_``) combines the members into the same predictions and probabilities."""
    X_train, X_test, y_train, _ = split
    sk = BaggingClassifier(KNNClassifier(n_neighbors=1), n_estimators=10, max_samples=0.5, random_state=0)
    sk.fit(X_train, y_train)
    bag = Bagging(KNNClassifier(n_neighbors=1), n_estimators=10, max_samples=0.5).fit(X_train, y_train)
    y_index = np.searchsorted(bag.classes_, y_train)  # our members learn class indices
    bag.samples_ = [torch.as_tensor(idx) for idx in sk.estimators_samples_]
    bag.estimators_ = [KNNClassifier(n_neighbors=1).fit(X_train[idx], y_index[idx]) for idx in sk.estimators_samples_]
    np.testing.assert_array_equal(bag.predict(X_test), sk.predict(X_test))
    np.testing.assert_allclose(bag.predict_proba(X_test), sk.predict_proba(X_test), atol=1e-12)


def test_bagging_accuracy_matches_sklearn_over_seeds(split):
    """Own draws (torch's generator vs numpy's): the mean test accuracy over 5 seeds within 0.01.

    Margin: one seed's accuracy varies by about 0.005 (std) on these 540 test samples, so a mean of 5 by about
    0.002 and the difference of two such means by about 0.003; 0.01 is about three of those.
    """
    X_train, X_test, y_train, y_test = split
    kw = dict(n_estimators=10, max_samples=0.3)
    ours = [Bagging(KNNClassifier(n_neighbors=1), random_state=s, **kw).fit(X_train, y_train).score(X_test, y_test)
            for s in range(5)]
    ref = [BaggingClassifier(KNNClassifier(n_neighbors=1), random_state=s, **kw).fit(X_train, y_train)
           .score(X_test, y_test) for s in range(5)]
    assert abs(np.mean(ours) - np.mean(ref)) < 0.01, (ours, ref)
    assert np.mean(ours) > 0.9


def test_torch_in_torch_out_inside_sklearn_tools(split):
    """A tensor in gives a tensor out, also through sklearn's clone; numpy in gives numpy out."""
    X_train, X_test, y_train, _ = split
    knn = KNNClassifier(n_neighbors=3).fit(torch.as_tensor(X_train), torch.as_tensor(y_train))
    pred = knn.predict(torch.as_tensor(X_test))
    assert isinstance(pred, torch.Tensor) and pred.device == torch.device("cpu")
    np.testing.assert_array_equal(pred.numpy(), KNNClassifier(n_neighbors=3).fit(X_train, y_train).predict(X_test))
