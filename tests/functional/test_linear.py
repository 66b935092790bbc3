"""c147.functional.linear against torch.nn.functional.linear."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from c147.functional.linear import LinearFunction, linear

# (input shape, out_features, bias)
from tests.twins import (
    DEVICES,
    DTYPES,
    assert_backward_is,
    assert_function_parity,
    assert_reduced_precision_parity,
    rand,
)

CASES = [
    ((8, 5), 3, True),
    ((8, 5), 3, False),
    ((5,), 4, True),  # a single unbatched sample
    ((2, 3, 5), 4, True),  # extra leading dims: dW and db sum over all of them
    ((2, 1, 3, 6), 1, False),
    ((0, 5), 3, True),  # an empty batch: zero gradients for W and b
    ((4, 1), 7, True),
]


def make(shape, out_features, bias, dtype=torch.float64, device="cpu"):
    x = rand(*shape, dtype=dtype, device=device)
    w = rand(out_features, shape[-1], dtype=dtype, device=device, seed=1)
    b = rand(out_features, dtype=dtype, device=device, seed=2) if bias else None
    return [x, w] + ([b] if bias else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, out_features, bias", CASES)
def test_parity(shape, out_features, bias, dtype, device):
    out = assert_function_parity(linear, F.linear, make(shape, out_features, bias, dtype, device))
    assert_backward_is(out, LinearFunction)
    assert out.shape == (*shape[:-1], out_features)


def test_non_contiguous_input():
    x = rand(5, 8).t()  # (8, 5), strided
    w, b = rand(3, 5, seed=1), rand(3, seed=2)
    assert_function_parity(linear, F.linear, [x, w, b])


@pytest.mark.parametrize("shape, out_features, bias", [c for c in CASES if c[0][0] != 0])
def test_gradcheck(shape, out_features, bias):
    inputs = [t.requires_grad_() for t in make(shape, out_features, bias)]
    assert gradcheck(linear, inputs)
    assert gradgradcheck(linear, inputs)


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True)])
def test_only_requested_gradients(needs):
    inputs = [t.requires_grad_(n) for t, n in zip(make((4, 3), 2, True), needs, strict=True)]
    linear(*inputs).sum().backward()
    assert [t.grad is not None for t in inputs] == list(needs)


# half precision: compared with float64 on the same values (tests/twins.py); linear is bilinear, the
# longest sum is the forward's 16 in_features (the weight gradient sums 2 * 6 = 12 rows)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision(dtype):
    assert_reduced_precision_parity(linear, F.linear, make((2, 6, 16), 8, True, torch.float32), dtype,
                                    terms=16 + 2, multilinear=True)


BAD = [
    (dict(input=(), weight=(3, 4)), r"linear: expected input of shape \(\*, 4\), got \(\)"),
    (dict(input=(2, 5), weight=(3, 4)), r"linear: expected input of shape \(\*, 4\), got \(2, 5\)"),
    (dict(input=(2, 4), weight=(4,)), r"expected weight of shape \(out_features, in_features\), got \(4,\)"),
    (dict(input=(2, 4), weight=(3, 4, 1)), r"expected weight of shape \(out_features, in_features\), got \(3, 4, 1\)"),
    (dict(input=(2, 4), weight=(3, 4), bias=(4,)), r"linear: expected bias of shape \(3,\), got \(4,\)"),
    (dict(input=(2, 4), weight=(3, 4), bias=()), r"linear: expected bias of shape \(3,\), got \(\)"),
    (dict(input=(2, 4), weight=(3, 4), bias=(1, 3)), r"linear: expected bias of shape \(3,\), got \(1, 3\)"),
]


@pytest.mark.parametrize("shapes, message", BAD)
def test_bad_inputs(shapes, message):
    args = {k: torch.randn(v) for k, v in shapes.items()}
    with pytest.raises(ValueError, match=message):
        linear(**args)


def test_bad_dtypes():
    with pytest.raises(ValueError, match=r"linear: expected input, weight and bias of one dtype"):
        linear(torch.randn(2, 4), torch.randn(3, 4, dtype=torch.float64))
