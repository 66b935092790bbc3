"""The sheet's ensemble, bagging and dropout lines (256, 273-275, 387-427, 601), on seeded problems with closed
forms and torch.

Ensembles (Goodfellow et al. 7.11): K models with errors e_i, E[e_i²] = v, E[e_i e_j] = c, have the
averaged error E[(1/K Σ e_i)²] = v/K + (K-1)c/K: v/K when independent, v when perfectly correlated.
Dropout (7.12): for a softmax layer, the renormalized geometric mean of the predictions of all 2^N masked
sub-networks is exactly the network with its weights scaled by the keep probability.
"""

from __future__ import annotations

import itertools
import math

import torch

from c147.theory.evidence import (
    CONVENTION,
    HOLDS,
    OCR,
    WRONG,
    Evidence,
    Section,
    close,
    convention_if,
    evidence,
    gap,
    generator,
    holds_if,
    monte_carlo,
    randn,
)

DROPOUT = "tests/functional/test_dropout.py::"


def ensemble_squared_error(v: float, c: float, k: int) -> float:
    """The sheet's (1/K) v + ((K-1)/K) c: the expected squared error of the average of K models whose errors
    have E[||e_i||²] = v and E[e_i · e_j] = c (i ≠ j). With v the mean over the models and c the mean over
    their pairs, it equals the averaged error's E[||ē||²] exactly, for any errors (expand ||Σ e_i||²)."""
    return v / k + (k - 1) / k * c


def ensemble_error(correlation: float, n: int = 200_000, k: int = 5, v: float = 2.0):
    """Errors e_i = √c z₀ + √(v - c) z_i: E[e_i²] = v, E[e_i e_j] = c; the average's E[ē²] = v/K + (K-1)c/K.
    The contrast: no gain (v) for independent errors, the independent 1/K rule (v/K) otherwise."""
    g, c = generator(108), correlation * v
    z0, z = torch.randn(n, 1, generator=g, dtype=torch.float64), torch.randn(n, k, generator=g, dtype=torch.float64)
    mean_error = (math.sqrt(c) * z0 + math.sqrt(v - c) * z).mean(1)
    contrast = v if correlation == 0 else v / k
    return monte_carlo("E_mean_error_sq", mean_error**2, ensemble_squared_error(v, c, k), contrast)


def _ensemble(correlation: float, verdict_if_ok: str) -> Evidence:
    run = ensemble_error(correlation)
    return evidence(
        verdict_if_ok if run.ok else WRONG, f"correlation {correlation}: sampled E[ē²] = v/K + (K-1)c/K", run
    )


def majority_vote() -> Evidence:
    """5 classifiers each wrong with p = 0.3: independent errors, majority wrong with P(Bin(5, .3) ≥ 3) = 0.163;
    perfectly correlated: 0.3 (Monte Carlo, 200k trials)."""
    g, n, k, p = generator(109), 200_000, 5, 0.3
    wrong = (torch.rand(n, k, generator=g) < p).sum(1) >= 3
    exact = sum(math.comb(k, j) * p**j * (1 - p) ** (k - j) for j in range(3, k + 1))
    run = monte_carlo("majority_error", wrong.double(), exact, p)
    return evidence(holds_if(run.ok), "independent errors: majority vote errs 0.163 < 0.3", run)


def bootstrap(n_sets: int = 4000, size: int = 100) -> Evidence:
    """A bootstrap set (N draws with replacement) holds 1 - (1 - 1/N)^N ≈ 63.4% of the originals; contrast 1."""
    idx = torch.randint(0, size, (n_sets, size), generator=generator(110))
    distinct = torch.zeros(n_sets, size).scatter_(1, idx, 1.0).sum(1) / size
    run = monte_carlo("distinct_fraction", distinct, 1 - (1 - 1 / size) ** size, 1.0)
    return evidence(holds_if(run.ok), "each bootstrap set holds ≈ 63% distinct samples", run)


def _bootstrap(verdict: str) -> Evidence:
    e = bootstrap()
    return evidence(verdict if e.verdict == HOLDS else WRONG, e.summary, *e.monte_carlo)


def bagging_variance() -> Evidence:
    """Bagging 1-nearest-neighbour regression (K = 50 bootstraps) lowers the test error of a single 1-NN."""
    g = generator(111)
    x, xt = torch.rand(60, 1, generator=g, dtype=torch.float64), torch.linspace(0, 1, 400, dtype=torch.float64)[:, None]
    y = torch.sin(6 * x[:, 0]) + 0.5 * torch.randn(60, generator=g, dtype=torch.float64)
    truth = torch.sin(6 * xt[:, 0])

    def one_nn(xs, ys):
        return ys[(xt - xs.T).abs().argmin(1)]  # 1-D inputs: |x - x'| is the distance

    bags = [torch.randint(0, 60, (60,), generator=g) for _ in range(50)]
    bagged = torch.stack([one_nn(x[b], y[b]) for b in bags]).mean(0)
    single, bag = ((one_nn(x, y) - truth) ** 2).mean().item(), ((bagged - truth) ** 2).mean().item()
    return evidence(
        holds_if(bag < 0.7 * single), "bagged 1-NN test MSE below a single 1-NN's", single=single, bagged=bag
    )


def dropout_geometric_mean(n: int = 10) -> Evidence:
    """All 2^N masks of a softmax layer's N inputs (keep ½): the renormalized geometric mean of their
    predictions equals softmax(½Wx + b), the weight-scaled network (exactly)."""
    w, b, x = randn(3, n, seed=112), randn(3, seed=113), randn(n, seed=114)
    masks = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)  # (2^N, N)
    log_p = torch.log_softmax((masks * x) @ w.T + b, 1)
    geo = torch.softmax(log_p.mean(0), 0)
    scaled = torch.softmax(0.5 * w @ x + b, 0)
    return evidence(holds_if(close(geo, scaled, 2**n) and masks.unique(dim=0).shape[0] == 2**n),
                    f"{2**n} sub-networks: geometric-mean ensemble = weight scaling", gap=gap(geo, scaled),
                    sub_networks=2**n)


def dropout_mask(n: int = 400_000, p: float = 0.5) -> Evidence:
    """A bare Bernoulli mask gives E[x m] = (1-p)x: right when the test-time weights are scaled by 1-p (the
    paper); torch's dropout scales by 1/(1-p) in training instead (E = x)."""
    g = generator(115)
    mask = (torch.rand(n, generator=g, dtype=torch.float64) >= p).double()
    bare = monte_carlo("bare_mask_mean", mask, 1 - p, 1.0)  # x = 1; contrast: the unscaled test-time output x
    inverted = monte_carlo(
        "torch_dropout_mean", torch.nn.functional.dropout(torch.ones(n, dtype=torch.float64), p), 1.0, 1 - p
    )
    return evidence(convention_if(bare.ok and inverted.ok, not bare.separates),
                    "bare mask: E = (1-p)x = the paper's test-time scaling; torch: E = x", bare, inverted)


def sub_networks(n: int = 6) -> Evidence:
    """N hidden units: 2^N masks, and (generic weights) 2^N different functions."""
    w1, w2, x = randn(n, 4, seed=116), randn(2, n, seed=117), randn(5, 4, seed=118)
    masks = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)
    outs = torch.stack([(torch.relu(x @ w1.T) * m) @ w2.T for m in masks]).flatten(1)
    distinct = torch.unique(outs.round(decimals=9), dim=0).shape[0]
    return evidence(holds_if(distinct == 2**n), f"{2**n} masks, {distinct} distinct sub-network outputs", masks=2**n,
                    distinct=distinct)


S = Section("Regularization")
CLAIMS = [
    S("dropout-bagging", 256, HOLDS, "Dropout approximates bagging",
      "as written: weight scaling is the geometric-mean ensemble of all 2^N sub-networks", dropout_geometric_mean),
    S("ensemble-average", 273, HOLDS, "ensemble methods - avg multiple models", "as written",
      lambda: _ensemble(0.0, HOLDS)),
    S("bagging-fragment", 275, OCR, "bagging: K datasets/models small batch size",
      "a fragment; bagging (line 405): K bootstrap sets, each of the full size N", lambda: _bootstrap(OCR)),
]
S = Section("Ensemble Methods")
CLAIMS += [
    S("ensemble-independent", 387, HOLDS, "K independent models: avg error decreases by 1/K",
      "as written: E[ē²] = E[e²]/K for independent zero-mean errors", lambda: _ensemble(0.0, HOLDS)),
    S("ensemble-correlated", 389, HOLDS, "(1/K)E[e_i²] + ((K-1)/K)E[e_i e_j]", "as written",
      lambda: _ensemble(0.5, HOLDS)),
    S("ensemble-perfect", 389, OCR, "= E(e_i²) + r_ij; perfect correlation",
      "reading: with perfect correlation (E[e_i e_j] = E[e_i²]) the ensemble error is E[e_i²]: no gain",
      lambda: _ensemble(1.0, OCR)),
    S("bagging-regularizes", 404, HOLDS, "bagging: method for regularization", "as written (variance reduction)",
      bagging_variance),
    S("bootstrap", 405, HOLDS, "K datasets of N samples drawn with replacement", "as written",
      lambda: _bootstrap(HOLDS)),
]
S = Section("Dropout")
CLAIMS += [
    S("dropout-approximates-bagging", 421, HOLDS, "approximates bagging procedure", "as written (line 256)",
      dropout_geometric_mean),
    S("dropout-mask", 422, CONVENTION, "applies a mask of Bernoulli r.v.'s",
      "with the paper's test-time scaling of the weights by 1 - p (an omission, not an error); torch instead scales "
      "by 1/(1 - p) in training", dropout_mask,
      DROPOUT + "test_sheet_dropout_mask_needs_test_time_scaling_as_in_the_paper"),
    S("dropout-sub-networks", 423, HOLDS, "each mask is like a different model", "as written", sub_networks),
    S("dropout-2n", 424, HOLDS, "N hidden units → 2^N model configurations", "as written", sub_networks),
]
S = Section("Miscellaneous")
CLAIMS += [
    S("ensemble-independent-errors", 601, HOLDS, "independent errors → lower correlation, better accuracy",
      "as written (majority vote of K = 5)", majority_vote),
]
