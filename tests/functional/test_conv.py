"""c147.functional.conv2d against torch.nn.functional.conv2d, and the sheet's output-size formula."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from c147.functional.conv import Conv2dFunction, conv2d
from tests.twins import (
    DEVICES,
    DTYPES,
    assert_backward_is,
    assert_function_parity,
    assert_reduced_precision_parity,
    rand,
    tol,
)

# (input shape, weight shape, bias, conv2d kwargs)
CASES = [
    ((2, 3, 8, 8), (4, 3, 3, 3), True, dict()),
    ((2, 3, 8, 8), (4, 3, 3, 3), False, dict()),  # no bias
    ((2, 3, 9, 9), (4, 3, 3, 3), True, dict(stride=2, padding=1)),
    ((2, 3, 8, 8), (4, 3, 3, 3), True, dict(stride=2)),  # (8 - 3) / 2 is not whole: the last row is unused
    ((2, 3, 7, 9), (5, 3, 3, 2), True, dict(stride=(2, 1), padding=(1, 2))),  # non-square kernel and input
    ((2, 3, 7, 9), (4, 3, 3, 3), True, dict(stride=[1, 2], padding=(0, 1))),  # a list as the stride
    ((2, 3, 8, 8), (4, 3, 3, 3), True, dict(padding="same")),
    ((2, 3, 7, 8), (4, 3, 4, 2), True, dict(padding="same")),  # even kernel: asymmetric padding
    ((2, 3, 8, 8), (4, 3, 2, 3), True, dict(padding="same", dilation=(3, 2))),
    ((2, 3, 8, 8), (4, 3, 3, 3), True, dict(padding="valid")),
    ((2, 3, 9, 9), (4, 3, 3, 3), True, dict(dilation=2)),
    ((2, 3, 10, 9), (4, 3, 3, 2), True, dict(dilation=(2, 3), padding=1, stride=2)),
    ((2, 4, 6, 6), (6, 2, 3, 3), True, dict(groups=2, padding=1)),
    ((2, 6, 6, 7), (6, 2, 3, 3), False, dict(groups=3, stride=2)),
    ((2, 4, 6, 6), (4, 1, 3, 3), True, dict(groups=4, padding=1)),  # depthwise
    ((2, 4, 6, 6), (8, 1, 3, 3), True, dict(groups=4)),  # depthwise, channel multiplier 2
    ((1, 3, 8, 8), (4, 3, 3, 3), True, dict(padding=1)),  # batch of 1
    ((3, 8, 8), (4, 3, 3, 3), True, dict(padding=1)),  # unbatched (C, H, W)
    ((3, 7, 6), (4, 3, 2, 3), False, dict(padding="same", groups=1)),  # unbatched, asymmetric same
    ((2, 3, 5, 5), (4, 3, 1, 1), True, dict()),  # 1x1 convolution
    ((2, 3, 5, 4), (4, 3, 5, 4), True, dict()),  # kernel as large as the input: one output pixel
    ((2, 3, 7, 7), (4, 3, 2, 2), True, dict(stride=3)),  # stride above the kernel: pixels skipped
    ((2, 3, 4, 4), (4, 3, 3, 3), True, dict(padding=3)),  # padding wider than the input's border
    ((0, 3, 5, 5), (4, 3, 3, 3), True, dict()),  # an empty batch
]


def make(shape, wshape, bias, dtype=torch.float64, device="cpu"):
    x = rand(*shape, dtype=dtype, device=device)
    w = rand(*wshape, dtype=dtype, device=device, seed=1)
    return [x, w] + ([rand(wshape[0], dtype=dtype, device=device, seed=2)] if bias else [])


def ids(case):
    shape, wshape, bias, kwargs = case
    return "x".join(map(str, shape)) + "-w" + "x".join(map(str, wshape)) + ("" if bias else "-nobias") + "".join(
        f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note on its copy
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, wshape, bias, kwargs", CASES, ids=[ids(c) for c in CASES])
def test_parity(shape, wshape, bias, kwargs, dtype, device):
    inputs = make(shape, wshape, bias, dtype, device)
    out = assert_function_parity(conv2d, F.conv2d, inputs, **kwargs)
    assert_backward_is(out, Conv2dFunction)
    assert out.is_contiguous()


def test_non_contiguous_input():
    x = rand(2, 8, 8, 3).permute(0, 3, 1, 2)  # channels-last strides
    assert_function_parity(conv2d, F.conv2d, [x, rand(4, 3, 3, 3, seed=1), rand(4, seed=2)], stride=2, padding=1)


# small shapes: gradgradcheck differentiates our backward (im2col is redone as a function of x)
GRADCHECK = [
    ((2, 2, 5, 5), (3, 2, 3, 3), True, dict(padding=1)),
    ((1, 4, 5, 6), (4, 2, 2, 3), True, dict(groups=2, stride=(2, 1), dilation=(1, 2))),
    ((2, 3, 5, 5), (3, 1, 3, 2), False, dict(groups=3, padding="same")),
    ((2, 5, 5), (3, 2, 3, 3), True, dict(stride=2, padding=(1, 0))),
]


@pytest.mark.parametrize("shape, wshape, bias, kwargs", GRADCHECK, ids=[ids(c) for c in GRADCHECK])
def test_gradcheck(shape, wshape, bias, kwargs):
    inputs = [t.requires_grad_() for t in make(shape, wshape, bias)]

    def f(*args):
        return conv2d(*args, **kwargs)

    assert gradcheck(f, inputs)
    assert gradgradcheck(f, inputs)


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True)])
def test_only_requested_gradients(needs):
    inputs = [t.requires_grad_(n) for t, n in zip(make((2, 3, 6, 6), (4, 3, 3, 3), True), needs, strict=True)]
    conv2d(*inputs, padding=1).sum().backward()
    assert [t.grad is not None for t in inputs] == list(needs)


def test_only_x_and_w_are_saved_and_columns_only_of_one_chunk(monkeypatch):
    """Only x and W are saved tensors; the forward's columns (X_g, kH kW times x's size) are kept for dW only when
    the batch was one chunk of at most :data:`_BATCH_BLOCK` elements, and dropped by the backward; a larger batch's
    are redone chunk by chunk."""
    from c147.functional import conv

    x, w = rand(2, 3, 6, 6).requires_grad_(), rand(4, 3, 3, 3, seed=1).requires_grad_()
    y = conv2d(x, w)
    saved = y.grad_fn.saved_tensors
    assert len(saved) == 2 and saved[0] is x and saved[1] is w
    assert y.grad_fn.columns.held == (0, 2)  # one chunk: both samples' columns
    y.sum().backward()
    assert y.grad_fn.columns is None
    assert not hasattr(conv2d(x.detach(), w.detach().requires_grad_(False)).grad_fn, "columns")
    monkeypatch.setattr(conv, "_COLS_BLOCK", 3 * 9 * 16)  # one sample's columns
    monkeypatch.setattr(conv, "_BATCH_BLOCK", 3 * 9 * 16)
    assert not hasattr(conv2d(x, w).grad_fn, "columns")


# the fast forms (chunked im2col, depthwise taps) against the textbook one (one im2col, one GEMM), in
# float64 and with chunks of a few samples so that the last chunk is a partial one
FORMS = [
    ((5, 4, 7, 6), (6, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 1, 0, 1), dilation=(1, 2), groups=2)),
    ((5, 3, 6, 6), (4, 3, 3, 3), False, dict(stride=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1), groups=1)),
    # stride 1 and C/G >= 8: dX as the correlation with the flipped filters, here padded by -1 (a crop) on top
    ((3, 16, 6, 7), (4, 8, 3, 2), True, dict(stride=(1, 1), padding=(3, 3, 0, 1), dilation=(1, 2), groups=2)),
    ((5, 4, 7, 8), (4, 1, 3, 3), True, dict(stride=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1), groups=4)),
    ((5, 3, 9, 8), (6, 1, 2, 3), False, dict(stride=(2, 3), padding=(0, 1, 1, 2), dilation=(2, 1), groups=3)),
    # depthwise with channel multiplier 2, and taps that meet only padding
    ((5, 2, 2, 2), (4, 1, 3, 3), True, dict(stride=(3, 3), padding=(1, 1, 1, 1), dilation=(1, 1), groups=2)),
    # depthwise with channel multiplier 2 at stride 1: under torch.compile dX gathers with 2-channel flipped filters
    ((3, 3, 6, 7), (6, 1, 3, 2), False, dict(stride=(1, 1), padding=(1, 2, 0, 1), dilation=(1, 2), groups=3)),
]


# LeNet-5's C3 (6 -> 16, 5x5) on a few samples, and a crop: padding beyond the kernel's reach
INDEXED = [
    ((3, 6, 14, 14), (16, 6, 5, 5), True, dict(stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1)),
    ((2, 4, 5, 6), (6, 2, 2, 3), True, dict(stride=(2, 1), padding=(3, 3, 2, 2), dilation=(1, 2), groups=2)),
]


@pytest.mark.parametrize("samples", [1, 2, None])  # per im2col chunk (None: the whole batch, the forward's columns
# kept for dW)
@pytest.mark.parametrize("shape, wshape, bias, kwargs", FORMS, ids=[ids(c) for c in FORMS])
def test_fast_forms_match_the_reference(shape, wshape, bias, kwargs, samples, monkeypatch):
    from c147.functional import conv

    if samples is not None:
        monkeypatch.setattr(conv, "_COLS_BLOCK", samples * math.prod(shape[1:]) * wshape[2] * wshape[3])
        monkeypatch.setattr(conv, "_BATCH_BLOCK", 0)  # no batch is one chunk
    monkeypatch.setattr(conv, "_TAPS_BLOCK", 1)  # 1 sample
    inputs = [t.requires_grad_() for t in make(shape, wshape, bias)]
    args = (*inputs[:2], inputs[2] if bias else None, *kwargs.values())
    out = Conv2dFunction.apply(*args)
    ref = conv._reference_forward(*args)
    torch.testing.assert_close(out, ref, **tol(torch.float64))
    g = rand(*out.shape, seed=3)
    ours = torch.autograd.grad(out, inputs, g)
    theirs = conv._reference_backward(inputs[0], inputs[1], g, *kwargs.values(), (True, True, bias))
    for o, t in zip(ours, theirs, strict=False):
        torch.testing.assert_close(o, t, **tol(torch.float64))


@pytest.mark.parametrize("shape, wshape, bias, kwargs", FORMS[:3] + INDEXED, ids=[ids(c) for c in FORMS[:3] + INDEXED])
def test_indexed_grad_input_matches_the_reference(shape, wshape, bias, kwargs):
    """dL/dX as one GEMM with the batch innermost and one index_add_ of its rows onto the padded input's pixels."""
    from c147.functional import conv

    x, w, *_ = make(shape, wshape, bias)
    g = rand(*conv._reference_forward(x, w, None, *kwargs.values()).shape, seed=3)
    ours = conv._indexed_grad_input(w, g, x.shape[2:], *kwargs.values())
    theirs = conv._reference_backward(x, w, g, *kwargs.values(), (True, False, False))[0]
    torch.testing.assert_close(ours, theirs, **tol(torch.float64))


@pytest.mark.parametrize("stride", [1, 2])
def test_a_batch_of_16_takes_the_indexed_grad_input(stride, monkeypatch):
    """A batch of 16 (one chunk, C/G < 8) gets dL/dX from :func:`_indexed_grad_input`, and F.conv2d's gradients."""
    from c147.functional import conv

    calls = []
    indexed = conv._indexed_grad_input
    monkeypatch.setattr(conv, "_indexed_grad_input", lambda *args: calls.append(1) or indexed(*args))
    x, w, b = (t.requires_grad_() for t in make((16, 6, 8, 8), (4, 3, 3, 3), True))
    out = assert_function_parity(conv2d, F.conv2d, [x, w, b], stride=stride, padding=1, groups=2)
    assert_backward_is(out, Conv2dFunction)
    assert calls == [1]


# the depthwise forms torch.compile gets (one window expression each, no chunks), against the reference
DEPTHWISE = [c for c in FORMS if c[1][1] == 1 and c[3]["groups"] > 1]


@pytest.mark.parametrize("shape, wshape, bias, kwargs", DEPTHWISE, ids=[ids(c) for c in DEPTHWISE])
def test_compiled_depthwise_forms_match_the_reference(shape, wshape, bias, kwargs):
    from c147.functional import conv

    x, w, *b = make(shape, wshape, bias)
    args = (x, w, b[0] if bias else None, *kwargs.values())
    out = conv._window_forward(*args)
    torch.testing.assert_close(out, conv._reference_forward(*args), **tol(torch.float64))
    g = rand(*out.shape, seed=3)
    ours = conv._window_backward(x, w, g, *kwargs.values(), (True, True, bias))
    theirs = conv._reference_backward(x, w, g, *kwargs.values(), (True, True, bias))
    assert (ours[2] is None) == (not bias)
    for o, t in zip(ours, theirs, strict=True):
        torch.testing.assert_close(o, t, **tol(torch.float64))


@pytest.mark.parametrize("samples", [1, 2, None])  # per chunk (None: the whole batch of 5)
# stride 1: dX by the flipped-filter gather (C/G 8) or the padded taps' sum (C/G 3); dilated stride 2: col2im
@pytest.mark.parametrize("cg, stride", [(8, 1), (3, 1), (3, 2)])
@pytest.mark.parametrize("padding", [(1, 1, 0, 1), (3, 3, 0, 1)])  # the second crops: col2im there for C/G 8
def test_compiled_forms_match_the_reference(padding, cg, stride, samples, monkeypatch):
    """Under torch.compile: the forward and dW a chunk of samples at a time, dL/dX (stride 1) as the flipped-filter
    correlation or the sum of the padded taps, else col2im per chunk."""
    from c147.functional import conv

    if samples is not None:  # eager chunks of one sample, at most 5 (3) compiled chunks: 1 (2) samples each
        monkeypatch.setattr(conv, "_COLS_BLOCK", 1)
        monkeypatch.setattr(conv, "_COMPILED_CHUNKS", -(-5 // samples))
    x, w, b = make((5, 2 * cg, 6, 7), (8, cg, 3, 2), True)
    conf = ((stride, stride), padding, (1, 2), 2)
    out = conv._compiled_forward(x, w, b, *conf)
    assert len(conv._compiled_chunks(x, w, out.shape[2:])) == (1 if samples is None else -(-5 // samples))
    torch.testing.assert_close(out, conv._reference_forward(x, w, b, *conf), **tol(torch.float64))
    g = rand(*out.shape, seed=3)
    ours = conv._compiled_backward(x, w, g, *conf, (True, True, True))
    theirs = conv._reference_backward(x, w, g, *conf, (True, True, True))
    for o, t in zip(ours, theirs, strict=True):
        torch.testing.assert_close(o, t, **tol(torch.float64))


# strided convolutions whose dX torch.compile gets as one stride-1 correlation per sub-pixel phase
SUBPIXEL = [
    ((2, 4, 9, 9), (6, 2, 3, 3), dict(stride=(2, 2), padding=(1, 1, 1, 1), groups=2)),  # 9 + 2: odd, phases 6 / 5
    ((2, 3, 8, 7), (4, 3, 3, 2), dict(stride=(2, 3), padding=(0, 0, 0, 0), groups=1)),  # the last row, 2 columns unmet
    ((2, 2, 7, 7), (4, 2, 2, 2), dict(stride=(3, 3), padding=(0, 1, 0, 1), groups=1)),  # stride above the kernel
    ((2, 3, 8, 8), (3, 1, 3, 3), dict(stride=(2, 2), padding=(1, 1, 1, 1), groups=3)),  # depthwise: window form
    ((2, 2, 9, 8), (4, 1, 5, 3), dict(stride=(2, 2), padding=(2, 2, 1, 1), groups=2)),  # channel multiplier 2
]


@pytest.mark.parametrize("shape, wshape, kwargs", SUBPIXEL, ids=[ids((a, b, True, c)) for a, b, c in SUBPIXEL])
def test_subpixel_grad_input_matches_the_reference(shape, wshape, kwargs):
    """dX = for each phase (r, q): the correlation of dY with the flipped sub-filters W[:, :, r::S, q::S],
    interleaved and cropped, equal to col2im's."""
    from c147.functional import conv

    x, w = make(shape, wshape, False)
    conf = (kwargs["stride"], kwargs["padding"], (1, 1), kwargs["groups"])
    g = rand(*conv._reference_forward(x, w, None, *conf).shape, seed=3)
    ours = conv._gathered_grad_input(w, g, x.shape[2:], *conf)
    theirs = conv._reference_backward(x, w, g, *conf, (True, False, False))[0]
    torch.testing.assert_close(ours, theirs, **tol(torch.float64))


@pytest.mark.slow  # torch.compile (aot_eager): a second or two a case
# dX: the sub-pixel split, its depthwise form, the depthwise gather, the padded taps' sum
@pytest.mark.parametrize("groups, stride", [(1, 2), (4, 2), (4, 1), (1, 1)])
def test_compiled_conv_is_one_graph_and_matches_torch(groups, stride):
    """Under torch.compile (aot_eager: the graphs inductor gets) the forms above run: no graph break, and the
    outputs and gradients of F.conv2d in float64."""
    x, w, b = (t.requires_grad_() for t in make((3, 4, 7, 7), (8, 4 // groups, 3, 3), True))
    fn = torch.compile(lambda x, w, b: conv2d(x, w, b, stride=stride, padding=1, groups=groups),
                       backend="aot_eager", fullgraph=True)
    out = fn(x, w, b)
    ref = F.conv2d(x, w, b, stride=stride, padding=1, groups=groups)
    torch.testing.assert_close(out, ref, **tol(torch.float64))
    g = rand(*out.shape, seed=3)
    for o, t in zip(torch.autograd.grad(out, (x, w, b), g), torch.autograd.grad(ref, (x, w, b), g), strict=True):
        torch.testing.assert_close(o, t, **tol(torch.float64))


# half precision: compared with float64 on the same values, not with torch's float16 result, which
# depends on the CPU (on an AVX-512 AMD EPYC torch's float16 input gradient is 3x further from float64
# than ours). conv2d is bilinear: the bound is the longest sum's gamma_K times sum |x w| (tests/twins.py).
# Longest sum here: the weight gradient's N * H_out * W_out = 2 * 7 * 7 terms.
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision(dtype):
    inputs = make((2, 4, 7, 7), (6, 2, 3, 3), True, torch.float32)
    assert_reduced_precision_parity(conv2d, F.conv2d, inputs, dtype, terms=2 * 7 * 7 + 2, multilinear=True,
                                    padding=1, groups=2)


def test_half_precision_check_can_fail():
    """The bound above is tight enough to catch a wrong result: a kernel flipped upside down."""
    def flipped(x, w, b, **kw):
        return conv2d(x, w.flip(2), b, **kw)

    with pytest.raises(AssertionError, match="too far from float64"):
        assert_reduced_precision_parity(flipped, F.conv2d, make((2, 4, 7, 7), (6, 2, 3, 3), True, torch.float32),
                                        torch.float16, terms=2 * 7 * 7 + 2, multilinear=True, padding=1, groups=2)


# (input shape, weight shape, bias shape, kwargs, message)
BAD = [
    ((8, 8), (4, 3, 3, 3), None, dict(), r"expected input of shape \(N, C, H, W\) or \(C, H, W\), got \(8, 8\)"),
    ((1, 2, 3, 8, 8), (4, 3, 3, 3), None, dict(), r"expected input of shape .* got \(1, 2, 3, 8, 8\)"),
    ((2, 3, 8, 8), (4, 3, 3), None, dict(), r"expected weight of shape \(C_out, C_in / groups, kH, kW\), got \(4, 3"),
    ((2, 3, 8, 8), (4, 2, 3, 3), None, dict(), r"expected input with weight.size\(1\) \* groups = 2 channels, got 3"),
    ((2, 4, 8, 8), (4, 4, 3, 3), None, dict(groups=2), r"groups = 8 channels, got 4 channels"),
    ((2, 4, 8, 8), (3, 2, 3, 3), None, dict(groups=2), r"expected out channels .* divisible by groups = 2, got 3"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(groups=0), r"expected groups a positive integer, got 0"),
    ((2, 3, 8, 8), (4, 3, 3, 3), (3,), dict(), r"expected bias of shape \(4,\), got \(3,\)"),
    ((2, 3, 8, 8), (4, 3, 3, 3), (1, 4), dict(), r"expected bias of shape \(4,\), got \(1, 4\)"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(stride=0), r"expected positive stride and dilation, got stride=0"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(stride=(1, -1)), r"expected positive stride and dilation"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(dilation=0), r"expected positive stride and dilation, .*dilation=0"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(padding=-1), r"expected non-negative padding, got -1"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(padding=(1, 2, 3)), r"expected padding an int or a tuple of two ints"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(stride=1.5), r"expected stride an int or a tuple of two ints, got 1.5"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(padding="full"), r"expected padding 'valid', 'same', .* got 'full'"),
    ((2, 3, 8, 8), (4, 3, 3, 3), None, dict(padding="same", stride=2),
     r"padding='same' is not supported for strided convolutions, got stride=\(2, 2\)"),
    ((2, 3, 4, 4), (4, 3, 5, 5), None, dict(), r"expected a \(dilated\) kernel no larger than the padded input "
                                               r"\(4, 4\), got kernel \(5, 5\)"),
    ((2, 3, 6, 6), (4, 3, 3, 3), None, dict(dilation=3), r"padded input \(6, 6\), got kernel \(7, 7\)"),
]


@pytest.mark.parametrize("shape, wshape, bshape, kwargs, message", BAD)
def test_bad_inputs(shape, wshape, bshape, kwargs, message):
    bias = None if bshape is None else torch.randn(bshape)
    with pytest.raises(ValueError, match=message):
        conv2d(torch.randn(shape), torch.randn(wshape), bias, **kwargs)


def sheet_output_size(w: int, f: int, pad: int, stride: int) -> float:
    """The sheet's CNN line: (W - W_f + 2 pad) / stride + 1, no floor and no dilation."""
    return (w - f + 2 * pad) / stride + 1


def true_output_size(w: int, f: int, pad: int, stride: int, dilation: int = 1) -> int:
    return math.floor((w - dilation * (f - 1) - 1 + 2 * pad) / stride) + 1


@pytest.mark.parametrize("w, f, pad, stride", [(8, 3, 0, 2), (7, 2, 0, 2), (32, 5, 1, 3), (227, 11, 5, 4)])
def test_sheet_output_size_is_floored_when_stride_does_not_divide(w, f, pad, stride):
    """The sheet's (W - W_f + 2 pad) / stride + 1 is a fraction when stride does not divide W - W_f + 2 pad
    (8, 3, pad 0, stride 2: 3.5); the size is its floor, floor((W - W_f + 2 pad) / stride) + 1, the usual
    convention (torch's; pooling's ceil_mode rounds up instead). Read with that floor the formula holds;
    dilation, which changes it, is not on the sheet."""
    x, weight = torch.randn(1, 1, w, w), torch.randn(1, 1, f, f)
    size = true_output_size(w, f, pad, stride)
    assert conv2d(x, weight, stride=stride, padding=pad).shape[-1] == F.conv2d(x, weight, stride=stride,
                                                                               padding=pad).shape[-1] == size
    assert sheet_output_size(w, f, pad, stride) != size  # a fraction ...
    assert math.floor(sheet_output_size(w, f, pad, stride)) == size  # ... whose floor is the size


def test_sheet_output_size_holds_when_exact():
    """Where stride divides (W - W_f + 2 pad) and D = 1, the sheet's formula is right: AlexNet's
    first layer, 227 -> (227 - 11) / 4 + 1 = 55."""
    assert sheet_output_size(227, 11, 0, 4) == 55 == conv2d(torch.randn(1, 227, 227), torch.randn(1, 1, 11, 11),
                                                            stride=4).shape[-1]


def test_sheet_erratum_stride_output_size():
    """The sheet's "use stride: ((w - w + 1 + 2 pad) / stride, ...)" puts the + 1 inside the division:
    a 3x3 filter at stride 2 on a 7x7 input fits 3 times, the formula says (7 - 3 + 1) / 2 = 2.5."""
    x, weight = torch.randn(1, 1, 7, 7), torch.randn(1, 1, 3, 3)
    assert conv2d(x, weight, stride=2).shape[-1] == F.conv2d(x, weight, stride=2).shape[-1] == 3
    assert (7 - 3 + 1 + 2 * 0) / 2 != 3
