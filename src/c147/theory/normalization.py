"""The sheet's batch-norm lines (279-283, 439-441, 577-593), against torch.nn.BatchNorm1d and c147's
batch_norm in float64."""

from __future__ import annotations

import torch

from c147.functional import batch_norm
from c147.theory.evidence import HOLDS, Evidence, Section, close, evidence, gap, holds_if, randn

BN = "tests/functional/test_batch_norm.py::"


def _x(seed: int = 120):
    return 3.0 + 2.0 * randn(16, 5, seed=seed)


def unit_statistics() -> Evidence:
    """x̂ has batch mean 0 and (biased) variance σ²/(σ² + ε) ≈ 1 per unit."""
    x, eps = _x(), 1e-5
    xhat = batch_norm(x, None, None, training=True, eps=eps)
    var = x.var(0, unbiased=False)
    ok = close(xhat.mean(0), torch.zeros(5), 16 * 10) and close(xhat.var(0, unbiased=False), var / (var + eps), 16 * 10)
    return evidence(
        holds_if(ok), "each unit: batch mean 0, variance σ²/(σ²+ε)", max_abs_mean=xhat.mean(0).abs().max().item()
    )


def formula() -> Evidence:
    x, eps = _x(), 1e-5
    mu, var = x.mean(0), ((x - x.mean(0)) ** 2).mean(0)
    sheet = (x - mu) / torch.sqrt(var + eps)
    ref = torch.nn.functional.batch_norm(x, None, None, training=True, eps=eps)
    return evidence(holds_if(close(sheet, ref, 16)), "the sheet's 1/m formulas equal torch's training batch_norm",
                    gap=gap(sheet, ref))


def _module(train_batches: int = 3):
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm1d(5).double()
    with torch.no_grad():
        bn.weight.copy_(randn(5, seed=121))
        bn.bias.copy_(randn(5, seed=122))
    batches = [_x(123 + k) for k in range(train_batches)]
    outs = [bn(b) for b in batches]
    return bn, batches, outs


def train_vs_test() -> Evidence:
    """Training: batch statistics, then γ, β; running averages updated. Test: the running averages."""
    bn, batches, outs = _module()
    last = batches[-1]
    mu, var = last.mean(0), last.var(0, unbiased=False)
    train_ok = close(outs[-1], bn.weight * (last - mu) / torch.sqrt(var + bn.eps) + bn.bias, 16)
    bn.eval()
    x = _x(130)
    test = bn.weight * (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) + bn.bias
    return evidence(holds_if(train_ok and close(bn(x), test, 16)), "train: batch stats; eval: running stats",
                    gap_eval=gap(bn(x), test))


def running_averages() -> Evidence:
    """running ← (1 - 0.1) running + 0.1 batch statistic (the variance unbiased), from mean 0, var 1."""
    bn, batches, _ = _module()
    mean, var = torch.zeros(5, dtype=torch.float64), torch.ones(5, dtype=torch.float64)
    for b in batches:
        mean, var = 0.9 * mean + 0.1 * b.mean(0), 0.9 * var + 0.1 * b.var(0, unbiased=True)
    return evidence(holds_if(close(bn.running_mean, mean, 16) and close(bn.running_var, var, 16)),
                    "torch's running averages are EWMAs of the batch statistics", gap=gap(bn.running_var, var))


def noise() -> Evidence:
    """In training one sample's output depends on its batch-mates; in eval it does not."""
    bn, _, _ = _module()
    bn.train()
    x, others_a, others_b = _x(131)[:1], _x(132), _x(133)
    a, b = bn(torch.cat([x, others_a]))[0], bn(torch.cat([x, others_b]))[0]
    bn.eval()
    ea, eb = bn(torch.cat([x, others_a]))[0], bn(torch.cat([x, others_b]))[0]
    return evidence(holds_if(gap(a, b) > 1e-3 and close(ea, eb)), "same x, other batch: a different training output",
                    train_gap=gap(a, b), eval_gap=gap(ea, eb))


def learnable() -> Evidence:
    bn, batches, outs = _module()
    outs[-1].pow(2).sum().backward()
    names = sorted(n for n, p in bn.named_parameters() if p.requires_grad and p.grad is not None)
    return evidence(holds_if(names == ["bias", "weight"]), "γ (weight) and β (bias): 2C parameters with gradients",
                    parameters=sum(p.numel() for p in bn.parameters()))


def affine_at_test() -> Evidence:
    """In eval, BN is y = a x + c per channel: a = γ/√(running_var + ε), c = β - a running_mean."""
    bn, _, _ = _module()
    bn.eval()
    a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    c = bn.bias - a * bn.running_mean
    x = _x(134)
    return evidence(
        holds_if(close(bn(x), a * x + c, 16)), "eval BN is an affine map per channel", gap=gap(bn(x), a * x + c)
    )


S = Section("Batchnorm")
CLAIMS = [
    S("bn-unit-statistics", 281, HOLDS, "makes each layer have unit statistics", "as written (before γ, β)",
      unit_statistics),
    S("bn-formula", 283, HOLDS,
      "x̂_i = (x_i - μ_i)/√(σ_i² + ε), μ_i = (1/m)Σ_j x_i⁽ʲ⁾, σ_i² = (1/m)Σ_j (x_i⁽ʲ⁾ - μ_i)²",
      "as written (the training statistics; the running variance uses m/(m-1))", formula,
      BN + "test_sheet_batchnorm_formula_is_correct"),
    S("bn-train-vs-test", 441, HOLDS,
      "training: mini-batch mean & variance, γ, β, running averages; testing: the running averages", "as written",
      train_vs_test),
    S("bn-noise", 579, HOLDS, "adds noise/regularization: statistics of the minibatch, not the dataset", "as written",
      noise),
    S("bn-learnable", 587, HOLDS, "batch norm has learnable parameters", "as written", learnable),
    S("bn-linear-at-test", 589, HOLDS, "linear transformation at test time", "as written (affine per channel)",
      affine_at_test),
    S("bn-noise-estimate", 591, HOLDS, "introduces noise because mean and std are estimated with a mini-batch",
      "as written", noise),
    S("bn-running-averages", 593, HOLDS, "use running averages at test time", "as written", running_averages),
]
