"""c147.functional.batch_norm against torch.nn.functional.batch_norm."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from c147.functional.batch_norm import BatchNormFunction, batch_norm
from tests.twins import DEVICES, DTYPES, assert_backward_is, assert_function_parity, assert_reduced_precision, rand, tol


def stats(C: int, dtype=torch.float64, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Running statistics away from (0, 1), so that using them (or not) shows."""
    return rand(C, dtype=dtype, device=device, seed=10), rand(C, dtype=dtype, device=device, seed=11).exp()


# (input shape, kwargs); C = shape[1]
CASES = [
    ((8, 3), dict(training=True)),
    ((8, 3), dict(training=False)),
    ((4, 5, 7), dict(training=True, momentum=0.3)),
    ((4, 5, 7), dict(training=False, eps=1e-3)),
    ((2, 3), dict(training=True, eps=1e-3)),  # two values per channel: the unbiased variance is m / (m - 1) = 2x
    ((1, 4, 5), dict(training=True)),  # batch of one, several values per channel
    ((3, 4, 5, 6), dict(training=True)),
    ((3, 4, 5, 6), dict(training=False)),
    ((2, 3, 2, 3, 4), dict(training=True, momentum=0.5)),
]
# with and without running statistics; evaluation needs them (the error is tested below)
RUNNING_CASES = [(s, k, r) for s, k in CASES for r in ((True, False) if k["training"] else (True,))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("shape, kwargs, running", RUNNING_CASES)
def test_parity(shape, kwargs, running, affine, dtype, device):
    C = shape[1]
    x = rand(*shape, dtype=dtype, device=device) * 3 + 1
    params = [rand(C, dtype=dtype, device=device, seed=1), rand(C, dtype=dtype, device=device, seed=2)]
    params = {"both": params, "weight": params[:1], "none": []}[affine]
    ours_stats = stats(C, dtype, device) if running else (None, None)
    twin_stats = stats(C, dtype, device) if running else (None, None)
    out = assert_function_parity(
        lambda x, *p: batch_norm(x, *ours_stats, *p, **kwargs),
        lambda x, *p: F.batch_norm(x, *twin_stats, *p, **kwargs),
        [x, *params],
    )
    assert_backward_is(out, BatchNormFunction)
    if running:
        for a, b in zip(ours_stats, twin_stats, strict=True):
            torch.testing.assert_close(a, b, **tol(dtype))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 4), (2, 3, 2, 3)])
def test_gradcheck_and_gradgradcheck(shape, training):
    C = shape[1]
    x = rand(*shape).mul(2).add(0.5).requires_grad_(True)
    w = rand(C, seed=1).requires_grad_(True)
    b = rand(C, seed=2).requires_grad_(True)

    def f(x, w, b):
        return batch_norm(x, *stats(C), w, b, training=training)

    def f_plain(x):
        return batch_norm(x, *(stats(C) if not training else (None, None)), training=training)

    assert gradcheck(f, (x, w, b))
    assert gradgradcheck(f, (x, w, b))
    assert gradcheck(f_plain, (x,))
    assert gradgradcheck(f_plain, (x,))


@pytest.mark.parametrize("training", [True, False])
def test_double_backward_matches_torch(training):
    """The gradient of a gradient norm (as in a gradient penalty) equals torch's."""
    grads = []
    for fn in (batch_norm, F.batch_norm):
        x = rand(5, 3, 4).requires_grad_(True)
        w = rand(3, seed=1).requires_grad_(True)
        y = fn(x, *stats(3), w, None, training)
        (gx,) = torch.autograd.grad((y * rand(5, 3, 4, seed=3)).sum(), x, create_graph=True)
        grads.append(torch.autograd.grad(gx.square().sum(), (x, w), materialize_grads=True))  # eval: dx is x-free
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, **tol(torch.float64))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("param_dtype", ["same", torch.float32])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_like_torch(dtype, param_dtype, training):
    """torch's CPU batch_norm takes a half/bfloat16 input with parameters and statistics in the
    same type or in float32 and rounds the output to the input's type; ours computes in float32."""
    pdt = dtype if param_dtype == "same" else param_dtype
    x = rand(8, 4, 5, 5, dtype=torch.float32).mul(2).add(1).to(dtype)
    g = rand(8, 4, 5, 5, dtype=torch.float32, seed=5).to(dtype)
    w0, b0 = rand(4, dtype=torch.float32, seed=1).to(pdt), rand(4, dtype=torch.float32, seed=2).to(pdt)
    results = []
    for fn in (batch_norm, F.batch_norm, batch_norm):
        half = len(results) < 2
        xs = (x if half else x.double()).clone().requires_grad_(True)
        w, b = ((t if half else t.double()).clone().requires_grad_(True) for t in (w0, b0))
        rm, rv = (t.float().to(pdt) if half else t for t in stats(4))
        y = fn(xs, rm, rv, w, b, training)
        y.backward(g if half else g.double())
        results.append((y, xs.grad, w.grad, b.grad, rm, rv))
    # compared with float64 on the same values (tests/twins.py), norm-wise: ours sums the 8 * 5 * 5 = 200
    # elements of a channel in float32 (mean, variance, and in the backward mean(g), mean(g x_hat)), then
    # rounds a few times in the half dtype (x_hat, the output or gradient, 1 / sigma and the batch mean
    # when the parameters are half, the running statistics' update)
    names = ("output", "grad of input", "grad of weight", "grad of bias", "running_mean", "running_var")
    for name, a, b, e in zip(names, *results, strict=True):
        assert a.dtype == b.dtype, name
        assert_reduced_precision(a, b, e, terms=6, accumulated=4 * 200, name=name)


@pytest.mark.parametrize("device", DEVICES)
def test_sheet_batchnorm_formula_is_correct(device):
    """Checked, correct: the sheet's mu and *biased* sigma^2 = 1/m sum (x - mu)^2 are the training
    statistics; the running variance (not on the sheet) uses the unbiased m / (m - 1) estimate."""
    x = rand(6, 3, 4, device=device) * 2 + 1
    m = 6 * 4
    mu = x.sum((0, 2)) / m
    sigma2 = ((x - mu[:, None]) ** 2).sum((0, 2)) / m
    sheet = (x - mu[:, None]) / torch.sqrt(sigma2[:, None] + 1e-5)
    rm, rv = torch.zeros(3, dtype=x.dtype, device=device), torch.ones(3, dtype=x.dtype, device=device)
    ours = batch_norm(x, rm, rv, training=True, momentum=1.0)
    torch.testing.assert_close(ours, sheet, **tol(x.dtype))
    torch.testing.assert_close(F.batch_norm(x, None, None, training=True), sheet, **tol(x.dtype))
    torch.testing.assert_close(rm, mu, **tol(x.dtype))
    torch.testing.assert_close(rv, sigma2 * m / (m - 1), **tol(x.dtype))
    # the unbiased variance in the normalization would not be torch's
    unbiased = (x - mu[:, None]) / torch.sqrt(sigma2[:, None] * m / (m - 1) + 1e-5)
    assert not torch.allclose(unbiased, ours)


def test_running_stats_are_not_differentiable_and_eval_uses_a_copy():
    x = rand(4, 3).requires_grad_(True)
    rm, rv = stats(3)
    y = batch_norm(x, rm, rv, training=False)
    batch_norm(x.detach(), rm, rv, training=True)  # updates the buffers in place before backward
    y.sum().backward()  # still fine: the evaluation saved its own copy of the statistics
    assert x.grad is not None


BAD = [
    (dict(input=rand(5)), r"batch_norm: expected input of shape \(N, C, \*\), got \(5,\)"),
    (dict(running_mean=rand(4)), r"expected running_mean of shape \(3,\) for an input with 3 channels, got \(4,\)"),
    (dict(running_var=rand(2, 3)), r"expected running_var of shape \(3,\) for an input with 3 channels, got \(2, 3\)"),
    (dict(weight=rand(4)), r"expected weight of shape \(3,\) for an input with 3 channels, got \(4,\)"),
    (dict(bias=rand(1)), r"expected bias of shape \(3,\) for an input with 3 channels, got \(1,\)"),
    (dict(running_var=None), "running_mean and running_var must either both be None or neither be None"),
    (dict(running_mean=None, running_var=None, training=False), "must be defined in evaluation mode"),
    (dict(input=rand(1, 3), training=True), r"Expected more than 1 value per channel when training, got input size "
                                            r"\[1, 3\]"),
    (dict(input=rand(1, 3, 1, 1), training=True), r"got input size \[1, 3, 1, 1\]"),
    (dict(eps=0.0, training=True), "batch_norm eps must be positive during training, but got 0.0"),
    (dict(eps=-1.0), "batch_norm eps must be non-negative, but got -1.0"),
    (dict(weight=rand(3, dtype=torch.float32)), "expected weight of dtype torch.float64 .*, got torch.float32"),
]


@pytest.mark.parametrize("kwargs, msg", BAD)
def test_bad_inputs(kwargs, msg):
    rm, rv = stats(3)
    args = dict(input=rand(4, 3), running_mean=rm, running_var=rv, weight=None, bias=None, training=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=msg):
        batch_norm(**args)


@pytest.mark.parametrize("shape, training", [((6, 3, 5, 4), True), ((6, 3, 5, 4), False), ((7, 3), True),
                                             ((4, 3, 5, 4), "channels_last")])
def test_fast_backward_matches_the_reference(shape, training):
    """The backward with the fused sums (no graph) equals the textbook one (with ``create_graph``, the
    differentiable form), in float64; and the one-temporary statistics equal the two-pass ones."""
    from c147.functional.batch_norm import _fast_stats, _stats

    x = rand(*shape) + 3.0  # a mean away from 0
    if training == "channels_last":
        x, training = x.to(memory_format=torch.channels_last), True
    w, b, g = rand(shape[1], seed=1), rand(shape[1], seed=2), rand(*shape, seed=3)
    grads = []
    for create_graph in (False, True):
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        y = batch_norm(leaves[0], *stats(shape[1]), leaves[1], leaves[2], training)
        grads.append(torch.autograd.grad(y, leaves, g, create_graph=create_graph))
    for fast, reference in zip(*grads, strict=True):
        torch.testing.assert_close(fast, reference, **tol(torch.float64))
    dims, m, view = [0, *range(2, x.dim())], x.numel() // shape[1], (1, shape[1]) + (1,) * (x.dim() - 2)
    for fast, reference in zip(_fast_stats(x, dims, m, view, 1e-5)[:3], _stats(x, dims, m, view, 1e-5), strict=True):
        torch.testing.assert_close(fast, reference, **tol(torch.float64))
