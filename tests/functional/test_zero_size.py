"""Zero-size inputs, as PyTorch's OpInfo sample inputs have them, for every hand-written op.

An empty last batch happens (a dataset not divisible by the batch size, a filtered batch): each op
gives torch's shape, values and gradients. Empty reductions are torch's: a mean over nothing is NaN,
a sum 0, a log-sum-exp -inf, and batch norm keeps its running statistics.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import c147.functional as C
from c147.functional.maxout import maxout
from c147.nn import BatchNorm1d, BatchNorm2d
from tests.twins import leaves


def r(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def labels(n: int, c: int = 3) -> torch.Tensor:
    return torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(1))


def u(*shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


def bn(ours: bool, training: bool):
    """batch_norm with running statistics of its own, which the test compares too."""
    stats = (torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    fn = C.batch_norm if ours else F.batch_norm

    def call(x, w, b):
        return fn(x, *stats, w, b, training)

    call.stats = stats
    return call


def ref_maxout(x, pieces, dim=1):
    return x.unflatten(dim, (x.shape[dim] // pieces, pieces)).amax(dim + 1)


# name: (ours, twin, inputs, kwargs)
CASES = {
    "softmax over an empty dim": (C.softmax, F.softmax, [r(2, 0)], dict(dim=1)),
    "softmax of an empty batch": (C.softmax, F.softmax, [r(0, 3)], dict(dim=1)),
    "softmax of an empty vector": (C.softmax, F.softmax, [r(0)], dict(dim=0)),
    "log_softmax over an empty dim": (C.log_softmax, F.log_softmax, [r(2, 0)], dict(dim=1)),
    "log_softmax of an empty batch": (C.log_softmax, F.log_softmax, [r(0, 3)], dict(dim=1)),
    "logsumexp over an empty dim (-inf)": (C.logsumexp, torch.logsumexp, [r(2, 0)], dict(dim=1)),
    "logsumexp of an empty vector (-inf)": (C.logsumexp, torch.logsumexp, [r(0)], dict(dim=0)),
    "logsumexp of an empty batch": (C.logsumexp, torch.logsumexp, [r(0, 3)], dict(dim=1)),
    "linear with zero in_features (the bias)": (C.linear, F.linear, [r(2, 0), r(3, 0), r(3)], {}),
    "linear with zero out_features": (C.linear, F.linear, [r(2, 4), r(0, 4), r(0)], {}),
    "linear of an empty batch": (C.linear, F.linear, [r(0, 4), r(3, 4), r(3)], {}),
    "linear of an empty 3-D batch": (C.linear, F.linear, [r(2, 0, 4), r(3, 4)], {}),
    "conv2d of an empty batch": (C.conv2d, F.conv2d, [r(0, 3, 5, 5), r(4, 3, 3, 3), r(4)], dict(padding=1)),
    "max_pool2d of an empty batch": (C.max_pool2d, F.max_pool2d, [r(0, 3, 4, 4)], dict(kernel_size=2)),
    "avg_pool2d of an empty batch": (C.avg_pool2d, F.avg_pool2d, [r(0, 3, 4, 4)], dict(kernel_size=2)),
    "adaptive_avg_pool2d of an empty batch": (C.adaptive_avg_pool2d, F.adaptive_avg_pool2d, [r(0, 3, 5, 4)],
                                              dict(output_size=2)),
    "local_response_norm of an empty batch": (C.local_response_norm, F.local_response_norm, [r(0, 3, 4, 4)],
                                              dict(size=2)),
    "dropout of an empty batch": (C.dropout, F.dropout, [r(0, 3)], dict(p=0.5, training=True)),
    "sigmoid of an empty batch": (C.sigmoid, torch.sigmoid, [r(0, 3)], {}),
    "tanh of an empty batch": (C.tanh, torch.tanh, [r(0, 3)], {}),
    "relu of an empty batch": (C.relu, F.relu, [r(0, 3)], {}),
    "leaky_relu of an empty batch": (C.leaky_relu, F.leaky_relu, [r(0, 3)], {}),
    "elu of an empty batch": (C.elu, F.elu, [r(0, 3)], {}),
    "softplus of an empty batch": (C.softplus, F.softplus, [r(0, 3)], {}),
    "prelu of an empty batch": (C.prelu, F.prelu, [r(0, 3), r(3)], {}),
    "maxout of an empty batch": (maxout, ref_maxout, [r(0, 4)], dict(pieces=2)),
    "cross_entropy mean of an empty batch (NaN)": (C.cross_entropy, F.cross_entropy, [r(0, 3), labels(0)], {}),
    "cross_entropy sum of an empty batch (0)": (C.cross_entropy, F.cross_entropy, [r(0, 3), labels(0)],
                                                dict(reduction="sum")),
    "cross_entropy none of an empty batch": (C.cross_entropy, F.cross_entropy, [r(0, 3), labels(0)],
                                             dict(reduction="none")),
    "nll_loss mean of an empty batch (NaN)": (C.nll_loss, F.nll_loss, [r(0, 3), labels(0)], {}),
    "mse_loss mean of nothing (NaN)": (C.mse_loss, F.mse_loss, [r(0), r(0, seed=1)], {}),
    "mse_loss sum of nothing (0)": (C.mse_loss, F.mse_loss, [r(0), r(0, seed=1)], dict(reduction="sum")),
    "binary_cross_entropy of nothing": (C.binary_cross_entropy, F.binary_cross_entropy, [u(0), u(0)], {}),
    "bce_with_logits of nothing": (C.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits,
                                   [r(0), u(0)], {}),
    "multi_margin_loss of a 0-dim score": (C.multi_margin_loss, F.multi_margin_loss, [r(), torch.tensor(0)], {}),
    "multi_margin_loss none of a 0-dim score": (C.multi_margin_loss, F.multi_margin_loss, [r(), torch.tensor(0)],
                                                dict(reduction="none")),
    "multi_margin_loss none of an empty batch": (C.multi_margin_loss, F.multi_margin_loss, [r(0, 3), labels(0)],
                                                 dict(reduction="none")),
    # OpInfo's samples: an empty vector (no channel dim) with running statistics of size 0, no weight or bias
    "batch_norm of an empty vector, training": (C.batch_norm, F.batch_norm, [r(0), r(0), u(0)], dict(training=True)),
    "batch_norm of an empty vector, evaluation": (C.batch_norm, F.batch_norm, [r(0), r(0), u(0)],
                                                  dict(training=False)),
    # torch takes weight[0] and bias[0]: their gradients are zeros of their own size
    "batch_norm of an empty vector, affine": (C.batch_norm, F.batch_norm, [r(0), r(0), u(0), r(3), r(2, seed=1)],
                                              dict(training=True)),
}


def run(fn, inputs, kwargs):
    out = fn(*inputs, **kwargs)
    if out.requires_grad:
        g = torch.ones_like(out)
        out.backward(g)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_zero_size_like_torch(name):
    ours, twin, inputs, kwargs = CASES[name]
    xs, ys = leaves(inputs)
    out, ref = run(ours, xs, kwargs), run(twin, ys, kwargs)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    torch.testing.assert_close(out, ref, equal_nan=True, rtol=0, atol=0)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y.grad is None:
            assert x.grad is None or not x.grad.any(), f"input {i}"
        else:
            assert x.grad is not None and x.grad.shape == y.grad.shape, f"input {i}"
            torch.testing.assert_close(x.grad, y.grad, equal_nan=True, rtol=0, atol=0, msg=f"grad of input {i}")


@pytest.mark.parametrize("reduction, expected", [("mean", float("nan")), ("sum", 0.0)])
def test_multi_margin_loss_of_an_empty_batch(reduction, expected):
    """torch 2.14's CPU kernel returns an uninitialised number (seen: 4.6e-310) for the mean or sum over
    an empty batch; ours is NaN for the mean and 0 for the sum, as torch's cross_entropy, nll_loss and
    mse_loss give."""
    x = r(0, 3).requires_grad_()
    out = C.multi_margin_loss(x, labels(0), reduction=reduction)
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), equal_nan=True)
    out.backward()
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4), (0, 3, 4, 4), (2, 3, 0), (2, 3, 0, 4)])
def test_batch_norm_of_an_empty_input_keeps_the_running_statistics(shape, training):
    results = []
    for ours in (True, False):
        fn = bn(ours, training)
        x, w, b = r(*shape).requires_grad_(), r(3, seed=1).requires_grad_(), r(3, seed=2).requires_grad_()
        y = fn(x, w, b)
        y.sum().backward()
        results.append((y, x.grad, w.grad, b.grad, *fn.stats))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(results[0][-2], torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("ours, twin, shape", [(BatchNorm1d, torch.nn.BatchNorm1d, (0, 3)),
                                               (BatchNorm2d, torch.nn.BatchNorm2d, (0, 3, 4, 4))])
def test_batch_norm_modules_on_an_empty_batch(ours, twin, shape):
    a, b = ours(3).double(), twin(3).double()
    x = r(*shape)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    for (name, p), q in zip(a.named_buffers(), b.buffers(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


def bn_both(x, *args, **kwargs):
    """(ours, torch's) batch_norm of ``x``, or the (type, message) each raised."""
    out = []
    for fn in (C.batch_norm, F.batch_norm):
        try:
            out.append(fn(x, *args, **kwargs))
        except (ValueError, IndexError, RuntimeError) as error:
            out.append((type(error), str(error)))
    return out


EMPTY_VECTOR = {
    # torch reads no running statistics for (0,): any size, only one of them, or none even in evaluation
    "no running statistics, training": ((None, None), dict(training=True)),
    "no running statistics, evaluation": ((None, None), dict(training=False)),
    "running statistics of another size": ((torch.zeros(3), torch.ones(3)), dict(training=False)),
    "only running_mean": ((torch.zeros(0), None), dict(training=True)),
    "float32 weight and bias of size 1": ((None, None, torch.ones(1), torch.zeros(1)), dict(training=False)),
    "half": ((None, None), dict(training=True, dtype=torch.float16)),
    # the errors torch raises for (0,): eps, and weight[0] of an empty weight
    "eps 0 in training": ((None, None), dict(training=True, eps=0.0)),
    "negative eps in evaluation": ((None, None), dict(training=False, eps=-1.0)),
    "empty weight": ((None, None, torch.ones(0)), dict(training=True)),
    "empty bias": ((None, None, None, torch.ones(0)), dict(training=False)),
}


@pytest.mark.parametrize("name", list(EMPTY_VECTOR))
def test_batch_norm_of_an_empty_vector_like_torch(name):
    """torch's zero-size shortcut for shape (0,): the same output (empty, the input's dtype) and the same
    error where torch raises one; the running statistics are left as they were."""
    args, kwargs = EMPTY_VECTOR[name]
    x = torch.randn(0, dtype=kwargs.pop("dtype", torch.float32))
    before = [None if t is None else t.clone() for t in args[:2]]
    ours, theirs = bn_both(x, *args, **kwargs)
    if isinstance(theirs, tuple):
        assert ours == theirs
        return
    assert ours.shape == theirs.shape == (0,) and ours.dtype == theirs.dtype == x.dtype
    for a, b in zip(args[:2], before, strict=True):
        assert a is None or torch.equal(a, b)
