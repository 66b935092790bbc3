"""c147 adaptive_avg_pool2d / AdaptiveAvgPool2d against torch's, and against the window definition."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from c147.functional.adaptive_pool import AdaptiveAvgPool2dFunction, adaptive_avg_pool2d
from c147.nn.adaptive_pool import AdaptiveAvgPool2d
from tests.twins import (
    DEVICES,
    DTYPES,
    assert_backward_is,
    assert_function_parity,
    assert_module_parity,
    assert_reduced_precision_parity,
    rand,
)

# (input shape, output_size)
CASES = [
    ((2, 3, 8, 8), 4),  # divisible: plain 2x2 average pooling
    ((2, 3, 5, 7), (3, 2)),  # windows of different sizes that overlap
    ((2, 3, 13, 13), 6),  # AlexNet's 13x13 -> 6x6 at 224x224
    ((2, 3, 6, 6), 6),  # identity
    ((2, 3, 3, 2), 6),  # H_out > H: rows repeat (AlexNet's classifier on small images)
    ((2, 3, 7, 9), 1),  # global average pooling (GoogLeNet)
    ((2, 3, 40, 36), (20, 9)),  # a large plane: the separable path
    ((2, 3, 30, 30), 7),
    ((2, 3, 5, 7), (None, 3)),  # None keeps that side
    ((2, 3, 5, 7), (4, None)),
    ((2, 3, 5, 7), (None, None)),
    ((2, 3, 5, 7), [2, 3]),
    ((2, 3, 5, 7), torch.Size([3, 4])),
    ((3, 5, 7), (2, 3)),  # unbatched (C, H, W)
    ((0, 3, 5, 5), 2),  # an empty batch
]


def ids(case):
    return "x".join(map(str, case[0])) + f"-{case[1]}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, output_size", CASES, ids=[ids(c) for c in CASES])
def test_parity(shape, output_size, dtype, device):
    x = rand(*shape, dtype=dtype, device=device)
    out = assert_function_parity(adaptive_avg_pool2d, F.adaptive_avg_pool2d, [x], output_size=output_size)
    assert_backward_is(out, AdaptiveAvgPool2dFunction)


@pytest.mark.parametrize("shape, output_size", [((2, 0, 5, 5), 2), ((2, 3, 5, 5), (0, 3)), ((3, 4, 4), (2, 0))])
def test_empty_outputs(shape, output_size):
    """No channels or an empty output size: torch's forward gives an empty tensor (its backward refuses
    these), ours too, and our gradient is the input's zeros."""
    x = rand(*shape).requires_grad_()
    out = adaptive_avg_pool2d(x, output_size)
    torch.testing.assert_close(out, F.adaptive_avg_pool2d(x.detach(), output_size), rtol=0, atol=0)
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("shape, output_size", [((2, 3, 13, 13), 6), ((3, 5, 5), 2), ((1, 2, 40, 40), 20)])
def test_output_can_be_changed_in_place(shape, output_size):
    """As torch's: an in-place ReLU after the pooling is allowed (the output is no view made inside
    the Function) and the gradient flows through it."""
    x, y = rand(*shape).requires_grad_(), rand(*shape).requires_grad_()
    out = adaptive_avg_pool2d(x, output_size).relu_()
    ref = F.adaptive_avg_pool2d(y, output_size).relu_()
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(x.grad, y.grad)


def test_matches_the_window_definition():
    """Y[i, j] = mean of X[floor(i H / Ho) : ceil((i + 1) H / Ho), floor(j W / Wo) : ceil((j + 1) W / Wo)]."""
    x = rand(1, 2, 5, 7)
    ho, wo = 3, 4
    out = adaptive_avg_pool2d(x, (ho, wo))
    for i in range(ho):
        for j in range(wo):
            rows = slice(math.floor(i * 5 / ho), math.ceil((i + 1) * 5 / ho))
            cols = slice(math.floor(j * 7 / wo), math.ceil((j + 1) * 7 / wo))
            torch.testing.assert_close(out[0, :, i, j], x[0, :, rows, cols].mean((-2, -1)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "shape, output_size",
    [((2, 3, 5, 7), (3, 2)), ((2, 2, 3, 2), 4), ((3, 6, 6), (None, 4)), ((1, 1, 24, 20), (12, 7))],  # last: separable
)
def test_gradcheck_and_gradgradcheck(shape, output_size):
    x = rand(*shape).requires_grad_()
    assert gradcheck(lambda t: adaptive_avg_pool2d(t, output_size), (x,))
    assert gradgradcheck(lambda t: adaptive_avg_pool2d(t, output_size), (x,))


# half precision: compared with float64 on the same values (tests/twins.py); adaptive average pooling is
# linear (A_h X A_w^T), its largest window of 13 x 11 -> 6 x 4 is 4 x 4 = 16 terms (the backward spreads
# each g over the same windows)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_parity(dtype):
    out = assert_reduced_precision_parity(adaptive_avg_pool2d, F.adaptive_avg_pool2d,
                                          [rand(2, 3, 13, 11, dtype=torch.float32)], dtype, terms=16 + 2,
                                          multilinear=True, output_size=(6, 4))
    assert out.shape == (2, 3, 6, 4)


@pytest.mark.parametrize(
    "input, output_size, message",
    [
        (rand(5, 5), 2, r"expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(5, 5\)"),
        (rand(1, 2, 3, 4, 5), 2, r"got \(1, 2, 3, 4, 5\)"),
        (rand(2, 3, 0, 5), 2, r"expected non-empty H and W, got input of shape \(2, 3, 0, 5\)"),
        (torch.ones(1, 2, 4, 4, dtype=torch.int64), 2, "expected a floating point input, got torch.int64"),
        (rand(1, 2, 4, 4), (2, 3, 4), r"expected output_size an int or a pair \(H, W\), got \(2, 3, 4\)"),
        (rand(1, 2, 4, 4), "3", "expected output_size an int or a pair"),
        (rand(1, 2, 4, 4), None, "expected output_size an int or a pair"),  # torch: (None, None), not None
        (rand(1, 2, 4, 4), -1, r"expected output_size of ints >= 0 \(or None\), got -1"),
        (rand(1, 2, 4, 4), (2.0, 3), r"expected output_size of ints >= 0 \(or None\), got \(2.0, 3\)"),
        (rand(1, 2, 4, 4), (True, 3), "expected output_size of ints >= 0"),
    ],
)
def test_bad_inputs(input, output_size, message):
    with pytest.raises(ValueError, match=message):
        adaptive_avg_pool2d(input, output_size)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output_size", [6, (3, None), (2, 5)])
def test_module_parity(output_size, dtype, device):
    ours, twin = AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size)
    assert_module_parity(ours, twin, rand(2, 3, 9, 7, dtype=dtype, device=device), steps=2)
    assert_backward_is(ours(rand(2, 3, 9, 7, dtype=dtype, device=device).requires_grad_()), AdaptiveAvgPool2dFunction)


@pytest.mark.parametrize("output_size", [6, (6, 6), (3, None), (None, None), [2, 5]])
def test_module_repr_and_state_dict(output_size):
    ours, twin = AdaptiveAvgPool2d(output_size), torch.nn.AdaptiveAvgPool2d(output_size)
    assert repr(ours) == repr(twin)
    assert ours.state_dict() == {} and twin.state_dict() == {}
    twin.load_state_dict(ours.state_dict())
    ours.load_state_dict(twin.state_dict())
