"""c147.functional max_pool2d / avg_pool2d against torch.nn.functional's, and the sheet's pooling size."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from c147.functional.pooling import AvgPool2dFunction, MaxPool2dFunction, avg_pool2d, max_pool2d
from tests.twins import (
    DEVICES,
    DTYPES,
    assert_backward_is,
    assert_function_parity,
    assert_reduced_precision_parity,
    rand,
)


def ids(case):
    return "x".join(map(str, case[0])) + "".join(f"-{k}={v}" for k, v in case[1].items())


# (input shape, max_pool2d kwargs)
MAX_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),  # stride defaults to the kernel
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2)),  # AlexNet's overlapping pooling
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ((2, 3, 8, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),  # a window starting in the pad
    ((2, 3, 6, 6), dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),  # last window dropped (torch's rule)
    ((2, 3, 7, 9), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1))),
    ((2, 3, 9, 9), dict(kernel_size=3, stride=1, padding=1, dilation=2)),
    ((2, 3, 10, 9), dict(kernel_size=(2, 3), stride=2, dilation=(3, 2), ceil_mode=True)),
    ((2, 3, 5, 5), dict(kernel_size=2, stride=1, padding=1, dilation=3)),
    ((2, 3, 8, 8), dict(kernel_size=2, stride=[])),  # torch's empty-list stride is the default
    ((3, 8, 6), dict(kernel_size=2)),  # unbatched (C, H, W)
    ((1, 1, 5, 5), dict(kernel_size=5)),  # one window
    ((1, 2, 4, 4), dict(kernel_size=1, stride=2)),
    ((0, 3, 4, 4), dict(kernel_size=2)),  # an empty batch
]

# (input shape, avg_pool2d kwargs)
AVG_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((2, 3, 8, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),  # past the padding: not counted
    ((2, 3, 8, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((2, 3, 7, 7), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((2, 3, 7, 9), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0))),
    ((2, 3, 8, 8), dict(kernel_size=3, stride=2, padding=1, divisor_override=2)),
    ((2, 3, 8, 8), dict(kernel_size=2, divisor_override=-3, ceil_mode=True)),
    ((3, 8, 6), dict(kernel_size=2, padding=1)),  # unbatched (C, H, W)
    ((1, 1, 4, 4), dict(kernel_size=4)),
    ((0, 3, 4, 4), dict(kernel_size=2)),  # an empty batch
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kwargs", MAX_CASES, ids=[ids(c) for c in MAX_CASES])
def test_max_pool_parity(shape, kwargs, dtype, device):
    x = rand(*shape, dtype=dtype, device=device)
    out = assert_function_parity(max_pool2d, F.max_pool2d, [x], **kwargs)
    assert_backward_is(out, MaxPool2dFunction)
    ours = max_pool2d(x, **kwargs, return_indices=True)[1]
    assert torch.equal(ours, F.max_pool2d(x, **kwargs, return_indices=True)[1])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kwargs", AVG_CASES, ids=[ids(c) for c in AVG_CASES])
def test_avg_pool_parity(shape, kwargs, dtype, device):
    out = assert_function_parity(avg_pool2d, F.avg_pool2d, [rand(*shape, dtype=dtype, device=device)], **kwargs)
    assert_backward_is(out, AvgPool2dFunction)


@pytest.mark.parametrize("device", DEVICES)
def test_max_pool_ties_go_to_the_first_maximum(device):
    """A window full of equal values: torch's scan keeps the first, so does ours (value and gradient)."""
    x = torch.tensor([[[[1.0, 1.0, 0.0], [1.0, 1.0, 2.0], [2.0, 2.0, 2.0]]]], dtype=torch.float64, device=device)
    kwargs = dict(kernel_size=2, stride=1, padding=1, return_indices=True)
    (y, i), (r, j) = max_pool2d(x, **kwargs), F.max_pool2d(x, **kwargs)
    assert torch.equal(i, j) and torch.equal(y, r)
    assert i[0, 0, 1, 1].item() == 0  # the window {1, 1, 1, 1}: its first tap
    assert_function_parity(max_pool2d, F.max_pool2d, [x], kernel_size=2, stride=1, padding=1)


def test_max_pool_non_finite_values():
    """-inf windows (padding and input alike) point at their first tap in the input, as torch; a NaN
    wins its window (the last NaN in the scan, as torch)."""
    x = torch.full((1, 1, 4, 5), -float("inf"), dtype=torch.float64)
    x[0, 0, 3, 3], x[0, 0, 0, 1], x[0, 0, 0, 2], x[0, 0, 1, 4] = 1.0, float("nan"), float("nan"), 5.0
    for kwargs in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=1, padding=1, dilation=2),
                   dict(kernel_size=(1, 4), ceil_mode=True)):
        (y, i), (r, j) = max_pool2d(x, **kwargs, return_indices=True), F.max_pool2d(x, **kwargs, return_indices=True)
        torch.testing.assert_close(y, r, equal_nan=True)
        assert torch.equal(i, j), kwargs


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=(2, 3), stride=1, dilation=(2, 1), padding=(1, 0))])
def test_max_pool_gradcheck(kwargs):
    x = torch.randperm(2 * 6 * 7, generator=torch.Generator().manual_seed(0)).double().reshape(2, 1, 6, 7)
    x.requires_grad_()  # distinct values: no tie sits at the finite-difference step's kink

    def f(x):
        return max_pool2d(x, **kwargs)

    assert gradcheck(f, [x])
    assert gradgradcheck(f, [x])


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                                    dict(kernel_size=(2, 3), stride=(1, 2), divisor_override=5)])
def test_avg_pool_gradcheck(kwargs):
    x = rand(2, 1, 6, 7).requires_grad_()

    def f(x):
        return avg_pool2d(x, **kwargs)

    assert gradcheck(f, [x])
    assert gradgradcheck(f, [x])


# half precision: compared with float64 on the same values (tests/twins.py). avg_pool2d is linear: the
# bound is relative to the pool of |x| (of |g| backward) with the 9 terms of a window plus two.
# max_pool2d selects (its output is exact) and its gradient sums the g of the <= 4 windows
# (kernel 3, stride 2) that chose a pixel: 4 roundings, norm-wise.
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("ours, twin, terms, multilinear", [(max_pool2d, F.max_pool2d, 4, False),
                                                            (avg_pool2d, F.avg_pool2d, 9 + 2, True)])
def test_half_precision(ours, twin, terms, multilinear, dtype):
    assert_reduced_precision_parity(ours, twin, [rand(2, 3, 8, 8, dtype=torch.float32)], dtype, terms=terms,
                                    multilinear=multilinear, kernel_size=3, stride=2, padding=1)


# (input shape, op, kwargs, message)
BAD = [
    ((8, 8), max_pool2d, dict(kernel_size=2), r"max_pool2d: expected input of shape \(N, C, H, W\) or \(C, H, W\), "
                                              r"got \(8, 8\)"),
    ((1, 1, 1, 8, 8), avg_pool2d, dict(kernel_size=2), r"avg_pool2d: expected input of shape .* got \(1, 1, 1, 8, 8\)"),
    ((1, 1, 8, 8), max_pool2d, dict(kernel_size=0), r"expected positive kernel_size, stride and dilation, "
                                                    r"got kernel_size=\(0, 0\)"),
    ((1, 1, 8, 8), max_pool2d, dict(kernel_size=2, stride=0), r"got kernel_size=\(2, 2\), stride=\(0, 0\)"),
    ((1, 1, 8, 8), max_pool2d, dict(kernel_size=2, dilation=(1, 0)), r"dilation=\(1, 0\)"),
    ((1, 1, 8, 8), avg_pool2d, dict(kernel_size=2, stride=-1), r"avg_pool2d: expected positive kernel_size"),
    ((1, 1, 8, 8), max_pool2d, dict(kernel_size=2, padding=2), r"expected padding between 0 and half the kernel "
                                                               r"size \(1, 1\), got padding=\(2, 2\)"),
    ((1, 1, 8, 8), max_pool2d, dict(kernel_size=3, padding=2, dilation=2), r"half the kernel size \(1, 1\)"),
    ((1, 1, 8, 8), avg_pool2d, dict(kernel_size=(4, 2), padding=(2, 2)), r"size \(2, 1\), got padding=\(2, 2\)"),
    ((1, 1, 8, 8), avg_pool2d, dict(kernel_size=3, padding=-1), r"got padding=\(-1, -1\)"),
    ((1, 1, 8, 8), max_pool2d, dict(kernel_size=(2, 2, 2)), r"expected kernel_size an int or a tuple of two ints"),
    ((1, 1, 4, 4), max_pool2d, dict(kernel_size=5), r"max_pool2d: expected an output size of at least \(1, 1\), "
                                                    r"got \(0, 0\) for input size \(4, 4\)"),
    ((1, 1, 4, 6), avg_pool2d, dict(kernel_size=(5, 2)), r"got \(0, 3\) for input size \(4, 6\)"),
    ((1, 1, 4, 4), max_pool2d, dict(kernel_size=2, dilation=4), r"got \(0, 0\) for input size \(4, 4\)"),
    ((1, 1, 8, 8), avg_pool2d, dict(kernel_size=2, divisor_override=0), r"expected a non-zero divisor_override, got 0"),
]


@pytest.mark.parametrize("shape, op, kwargs, message", BAD)
def test_bad_inputs(shape, op, kwargs, message):
    with pytest.raises(ValueError, match=message):
        op(torch.randn(shape), **kwargs)


def sheet_pool_size(w: int, f: int, stride: int) -> float:
    """The sheet's "use pooling: ((w - w + 1) / stride, ...)", i.e. (W - F + 1) / S."""
    return (w - f + 1) / stride


@pytest.mark.parametrize("w, f, stride", [(28, 2, 2), (10, 2, 2), (55, 3, 2), (32, 2, 2)])
def test_sheet_erratum_pooling_output_size(w, f, stride):
    """The sheet's pooling size (W - F + 1) / S puts the + 1 inside the division: for LeNet's S2
    (28 -> 2x2 pool, stride 2) it gives 13.5, while the sheet itself answers 14; AlexNet's first
    pool (55, 3x3, stride 2) gives 26.5 for 27. The size is floor((W - F) / S) + 1."""
    x = torch.randn(1, 1, w, w)
    true = (w - f) // stride + 1
    assert max_pool2d(x, f, stride).shape[-1] == F.max_pool2d(x, f, stride).shape[-1] == true
    assert avg_pool2d(x, f, stride).shape[-1] == true
    assert sheet_pool_size(w, f, stride) != true


@pytest.mark.parametrize("shape, kwargs", [((3, 2, 9, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
                                           ((2, 3, 8, 8), dict(kernel_size=2)),
                                           ((2, 2, 10, 9), dict(kernel_size=(2, 3), stride=2, dilation=(3, 2)))])
def test_max_pool_fast_forms_match_the_reference(shape, kwargs):
    """The taps-first form (amax over the window's taps, the first maximum by rank) and the branchless one
    (torch.compile's and the accelerators': the rank trick over the last dim, the last NaN by a second amax) give the
    reference's values and indices, ties, windows of -inf (some starting in the padding) and NaNs included (the
    taps-first form hands windows with a NaN to the reference)."""
    from c147.functional.pooling import _branchless_max_pool, _geometry, _max_pool, _reference_max_pool

    x = rand(*shape).round()  # many ties
    x[:, :, :3, :3] = -float("inf")
    geometry = _geometry("max_pool2d", x, kwargs.pop("kernel_size"), kwargs.pop("stride", None),
                         kwargs.pop("padding", 0), kwargs.pop("dilation", 1), kwargs.pop("ceil_mode", False))
    r, j = _reference_max_pool(x, *geometry)
    for form in (_max_pool, _branchless_max_pool):
        y, i = form(x, *geometry)
        assert torch.equal(y, r) and torch.equal(i, j), form.__name__
    x[0, 0, -4:, -4:] = torch.tensor([[math.nan, 1, math.nan, 2]] * 4)  # several NaNs in a window: the last wins
    y, i = _branchless_max_pool(x, *geometry)
    r, j = _reference_max_pool(x, *geometry)
    assert torch.equal(y.isnan(), r.isnan()) and torch.equal(y.nan_to_num(), r.nan_to_num()) and torch.equal(i, j)


@pytest.mark.slow  # torch.compile (aot_eager): a second or two a case
@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1)])
def test_max_pool_under_torch_compile(kwargs):
    """Under torch.compile (aot_eager: the graphs inductor gets) the branchless form runs: no graph break, and
    F.max_pool2d's values, indices and gradient (ties included) in float64."""
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).round()
    x.requires_grad_()
    fn = torch.compile(lambda t: max_pool2d(t, **kwargs, return_indices=True), backend="aot_eager", fullgraph=True)
    (out, i), (ref, j) = fn(x), F.max_pool2d(x, **kwargs, return_indices=True)
    torch.testing.assert_close(out, ref)
    assert torch.equal(i, j)
    g = torch.randn(ref.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0])


@pytest.mark.slow  # torch.compile (aot_eager): a second or two a case
@pytest.mark.parametrize("kernel, ceil_mode", [(2, False), (3, False), (2, True)])
def test_avg_pool_under_torch_compile(kernel, ceil_mode):
    """Under torch.compile (aot_eager: the graphs inductor gets) windows that tile the input take the expand
    backward (rows and columns past the last window get 0); ceil_mode's partial window the general one. Values
    and gradients of F.avg_pool2d in float64, no graph break."""
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    fn = torch.compile(lambda t: avg_pool2d(t, kernel, ceil_mode=ceil_mode), backend="aot_eager", fullgraph=True)
    out, ref = fn(x), F.avg_pool2d(x, kernel, ceil_mode=ceil_mode)
    torch.testing.assert_close(out, ref)
    g = torch.randn(ref.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(torch.autograd.grad(out, x, g)[0], torch.autograd.grad(ref, x, g)[0])
