"""The sheet's K-nearest-neighbour lines (15-25, 559-569): the classifier (:class:`c147.classic.KNNClassifier`,
checked against scikit-learn's KNeighborsClassifier), distances in high dimension, and choosing K.

Distances between independent rows x, x' ∈ Rⁿ with i.i.d. entries of variance v:

    E‖x - x'‖² = 2 n v,    Var‖x - x'‖² = n Var((x_k - x'_k)²)

so ‖x - x'‖ / √(2nv) → 1 with relative spread O(1/√n): in high dimension every pair is about equally far
apart (uniform entries on [0, 1]: E = n/6, Var = 7n/180).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import torch
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsClassifier
from torch import Tensor

from c147.classic import KNNClassifier, nearest_and_farthest, pairwise_sq_distances
from c147.theory.evidence import (
    CONVENTION,
    FINDINGS,
    HOLDS,
    WRONG,
    Evidence,
    Section,
    convention_if,
    evidence,
    generator,
    holds_if,
    monte_carlo,
    wrong_if,
)


def _predict(train_x: Tensor, train_y: Tensor, x: Tensor, k: int) -> Tensor:
    """The sheet's KNN, c147's: the mode of the labels of the k nearest training rows (ties to the smallest
    label, as scikit-learn)."""
    return KNNClassifier(k).fit(train_x, train_y).predict(x)


def _blobs(n: int, seed: int, flip: float = 0.1):
    """Two overlapping Gaussian classes in 2-D, with a fraction ``flip`` of labels flipped (noise)."""
    g = generator(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64) + 2.0 * y[:, None].double()
    noisy = torch.rand(n, generator=g) < flip
    return x, torch.where(noisy, 1 - y, y)


def error(pred: Tensor, y: Tensor) -> float:
    """The sheet's error: #wrong / #total."""
    return (pred != y).double().mean().item()


@cache
def _model_selection():
    """Train / test error for K = 1..n on noisy blobs, a one-label outlier, and 5-fold CV's choice of K."""
    (x, y), (xt, yt) = _blobs(200, 70), _blobs(2000, 71)
    ks = [1, 3, 5, 9, 15, 25, 41, 61, 101, 200]
    train = {k: error(_predict(x, y, x, k), y) for k in ks}
    test = {k: error(_predict(x, y, xt, k), yt) for k in ks}
    folds = KFold(5, shuffle=True, random_state=0).split(np.arange(len(y)))
    cv = {k: 0.0 for k in ks[:-1]}
    for tr, va in folds:
        for k in cv:
            cv[k] += error(_predict(x[tr], y[tr], x[va], k), y[va]) / 5
    chosen = min(cv, key=cv.get)
    x_out = torch.cat([x, torch.zeros(1, 2, dtype=x.dtype)])  # an outlier: a class-1 label at class 0's centre
    y_out = torch.cat([y, torch.ones(1, dtype=y.dtype)])
    near = 0.01 * torch.randn(50, 2, generator=generator(76), dtype=x.dtype)  # queries right next to it
    changed = {k: (_predict(x, y, near, k) != _predict(x_out, y_out, near, k)).double().mean().item()
               for k in (1, 15)}
    return ks, train, test, chosen, changed


def knn_cost() -> Evidence:
    """The model is the training set (n·d numbers); a query needs a distance to all n rows."""
    (x, _), (xt, _) = _blobs(200, 70), _blobs(50, 71)
    distances = pairwise_sq_distances(xt, x)
    return evidence(holds_if(distances.shape == (50, 200)),
                    "KNN stores all n·d numbers; each query computes n distances", stored=x.numel(),
                    distances_per_query=distances.shape[1])


@cache
def concentration(n_pairs: int = 5000, dims: int = 1000) -> Evidence:
    """Uniform [0,1]^d: Var‖x - x'‖² / d = 7/180 (relative spread 1.18/√d); contrast: no concentration, d/36."""
    g = generator(72)
    sq = ((torch.rand(n_pairs, dims, generator=g, dtype=torch.float64)
          - torch.rand(n_pairs, dims, generator=g, dtype=torch.float64)) ** 2).sum(1)
    run = monte_carlo("var_sq_dist_over_d", (sq - dims / 6) ** 2 / dims, 7 / 180, dims / 36)
    ratios = {}
    for d in (2, dims):
        pts, q = (torch.rand(500, d, generator=g, dtype=torch.float64),
                  torch.rand(50, d, generator=g, dtype=torch.float64))
        near, far = nearest_and_farthest(q, pts)
        ratios[d] = (near / far).mean().item()
    ok = run.ok and ratios[2] < 0.1 and ratios[dims] > 0.6
    return evidence(holds_if(ok),
                    "d = 1000: nearest/farthest ≈ 0.9 (d = 2: 0.02); the spread of ‖x - x'‖² is √(7d/180) around d/6",
                    run, nearest_over_farthest_d2=ratios[2], nearest_over_farthest_d1000=ratios[dims])


def knn_twin() -> Evidence:
    (x, y), (xt, _) = _blobs(120, 73), _blobs(300, 74)
    y3 = (y + (x[:, 0] > 1).long()).clamp(max=2)  # three classes
    ours = _predict(x, y3, xt, 5)
    ref = KNeighborsClassifier(5).fit(x.numpy(), y3.numpy()).predict(xt.numpy())
    agree = (ours.numpy() == ref).mean()
    return evidence(holds_if(agree == 1.0), "our KNN equals sklearn's KNeighborsClassifier(5) on 300 queries",
                    agreement=float(agree))


def knn_mode() -> Evidence:
    """The mode of the K nearest labels is KNN; the mode of all n training labels is the majority class."""
    (x, y), (xt, _) = _blobs(120, 73), _blobs(300, 74)
    ref = KNeighborsClassifier(5).fit(x.numpy(), y.numpy()).predict(xt.numpy())
    all_labels = torch.full((300,), int(torch.bincount(y).argmax())).numpy()
    ours = _predict(x, y, xt, 5).numpy()
    return evidence(convention_if((ours == ref).all(), (all_labels == ref).all()),
                    "mode of the K nearest = sklearn; mode of all labels agrees on only a fraction",
                    agreement_all_labels=float((all_labels == ref).mean()))


def distance_2n_var(n_pairs: int = 20_000, dims: int = 50) -> Evidence:
    """Rows with i.i.d. N(0, s²) entries: E‖x₁ - x₂‖² = 2ns², but the sheet's √(Σ_k x_{1,k}²) is ‖x₁‖: E = ns²."""
    g, s = generator(75), 1.5
    x1 = s * torch.randn(n_pairs, dims, generator=g, dtype=torch.float64)
    x2 = s * torch.randn(n_pairs, dims, generator=g, dtype=torch.float64)
    pair = monte_carlo("sq_dist", ((x1 - x2) ** 2).sum(1), 2 * dims * s**2, dims * s**2)
    row = monte_carlo("sq_row_norm", (x1**2).sum(1), dims * s**2, 2 * dims * s**2)
    spread = (((x1 - x2) ** 2).sum(1).sqrt() / (2 * dims * s**2) ** 0.5).std().item()
    return evidence(wrong_if(not row.separates, pair.ok and row.ok),
                    "‖x₁ - x₂‖² averages 2n·var; the sheet's middle terms (one row's norm) average n·var", pair, row,
                    relative_spread_of_distance=spread)


def knn_error() -> Evidence:
    (x, y), (xt, yt) = _blobs(200, 70), _blobs(500, 71)
    pred = _predict(x, y, xt, 5)
    ref = 1 - KNeighborsClassifier(5).fit(x.numpy(), y.numpy()).score(xt.numpy(), yt.numpy())
    return evidence(
        holds_if(abs(error(pred, yt) - ref) < 1e-12), "#wrong/#total = 1 - sklearn's accuracy", error=error(pred, yt)
    )


def k_not_by_training_error() -> Evidence:
    ks, train, test, chosen, _ = _model_selection()
    best = min(test, key=test.get)
    return evidence(holds_if(train[1] == 0.0 and test[1] > test[best] + 0.05),
                    "K = 1 has zero training error but not the lowest test error", train_error_k1=train[1],
                    test_error_k1=test[1], best_test_k=best, best_test_error=test[best])


def small_k_overfits() -> Evidence:
    ks, train, test, chosen, changed = _model_selection()
    return evidence(holds_if(test[1] - train[1] > 0.15 and changed[1] > changed[15]),
                    "K = 1: train error 0, test 0.26; an outlier label flips K = 1's predictions next to it, not "
                    "K = 15's",
                    train_error_k1=train[1], test_error_k1=test[1], outlier_moves_k1=changed[1],
                    outlier_moves_k15=changed[15])


def large_k_underfits() -> Evidence:
    ks, train, test, chosen, changed = _model_selection()
    best = min(test, key=test.get)
    return evidence(holds_if(train[200] > train[best] + 0.1 and test[200] > test[best] + 0.1 and changed[15] == 0.0),
                    "K = n predicts the majority class: high train and test error; K = 15 ignores one outlier",
                    train_error_kn=train[200], test_error_kn=test[200], outlier_moves_k15=changed[15])


def cross_validation_k() -> Evidence:
    ks, train, test, chosen, _ = _model_selection()
    best = min(test, key=test.get)
    return evidence(holds_if(test[chosen] <= test[best] + 0.03 and test[chosen] < test[1] - 0.05),
                    "5-fold CV's K is within 0.03 of the best test error", cv_k=chosen, cv_k_test_error=test[chosen],
                    best_test_error=test[best])


S = Section("ML basics")
CLAIMS = [
    S("knn-cost", 15, HOLDS, "K-nearest → too much memory, testing is expensive",
      "as written: the model stores all n training rows; each query costs n distances", knn_cost),
    S("knn-high-d", 16, HOLDS, "distance measurements in high-D space do not reflect similarity",
      "as written: distances concentrate (relative spread ≈ 1.18/√d for uniform data)", concentration),
    S("knn-algorithm", 18, HOLDS, "calculate distances between x⁽ⁱ⁾ and x⁽ʲ⁾; take the K nearest", "as written",
      knn_twin),
    S("knn-mode", 20, CONVENTION, "classify via mode of {y⁽¹⁾, y⁽²⁾, ..., y⁽ⁿ⁾}",
      "y⁽¹⁾..y⁽ⁿ⁾ are the labels of the K nearest (n = K); the mode of all n training labels is the majority class",
      knn_mode),
    S("knn-cons", 24, HOLDS,
      "slow / scales with the training data, fails in high dimension, near neighbors are far away",
      "as written (distance concentration)", concentration),
    S("knn-distance", 25, WRONG, "L2 dist between rows: √(x_{1,1}² + ... + x_{1,n}²) = √(2n var(x_i))",
      "for independent rows with i.i.d. entries E‖x_i - x_j‖² = 2n var (‖x_i - x_j‖ ≈ √(2n var), spread O(1/√n)); "
      "√(Σ_k x_{1,k}²) is one row's norm, E = n(var + mean²)", distance_2n_var,
      FINDINGS + "test_sheet_erratum_l2_distance_2n_var_is_for_a_pair_of_rows"),
]
S = Section("K-nearest neighbors")
CLAIMS += [
    S("knn-error", 561, HOLDS, "error = #wrong / #total", "as written", knn_error),
    S("knn-k-choice", 563, HOLDS, "don't choose K by the training error",
      "as written: K = 1 has zero training error and a worse test error", k_not_by_training_error),
    S("knn-small-k", 565, HOLDS, "small K → overfitting", "as written", small_k_overfits),
    S("knn-large-k", 567, HOLDS, "large K → underfitting, reduces effect of outliers", "as written", large_k_underfits),
    S("knn-cross-validation", 569, HOLDS, "use cross validation to choose K", "as written", cross_validation_k),
]
