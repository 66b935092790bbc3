"""The sheet's convolution sizing and counting lines (370, 617-694), from :mod:`c147.theory.shapes` and checked
against torch's convolution and pooling (shapes on the meta device, receptive fields by autograd)."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from c147.theory.evidence import (
    CONVENTION,
    HOLDS,
    OCR,
    WRONG,
    Evidence,
    Section,
    convention_if,
    evidence,
    generator,
    holds_if,
    monte_carlo,
    ocr_if,
    wrong_if,
)
from c147.theory.shapes import conv_output_size, conv_params, linear_params, pool_output_size, window_count

CONV, POOL, CONV_POOL, SHAPES = (
    "tests/functional/test_conv.py::",
    "tests/functional/test_pooling.py::",
    "tests/nn/test_conv_pool.py::",
    "tests/theory/test_shapes.py::",
)


def _torch_size(w: int, f: int, s: int = 1, p: int = 0) -> int:
    with torch.device("meta"):
        return F.conv2d(torch.empty(1, 1, w, w), torch.empty(1, 1, f, f), stride=s, padding=p).shape[-1]


def output_size() -> Evidence:
    """(W - F + 2P)/S + 1 over a grid (D = 1): floored it is torch's size every time; unfloored it is not even
    an integer where S does not divide W - F + 2P (8, 3, 0, 2: 3.5)."""
    grid = [(w, f, s, p) for w, f, s, p in itertools.product(range(5, 15), range(1, 6), range(1, 4), range(3))]
    sheet = {case: (case[0] - case[1] + 2 * case[3]) / case[2] + 1 for case in grid}
    torch_sizes = {case: _torch_size(case[0], case[1], case[2], case[3]) for case in grid}
    floored = all(int(sheet[c] // 1) == torch_sizes[c] == window_count(c[0], c[1], c[2], c[3]) for c in grid)
    literal = all(sheet[c] == torch_sizes[c] for c in grid)
    inexact = sum(sheet[c] != torch_sizes[c] for c in grid)
    return evidence(convention_if(floored, literal),
                    f"floor((W-F+2P)/S) + 1 = torch on all {len(grid)} cases; unfloored, {inexact} are fractions",
                    cases=len(grid), fractional=inexact, sheet_8_3_s2=(8 - 3) / 2 + 1)


def _params(c_in: int, n_filters: int, f: int, sheet_value: int, verdict: str) -> Evidence:
    value, torch_value = (conv_params(c_in, n_filters, f),
                          sum(p.numel() for p in torch.nn.Conv2d(c_in, n_filters, f, device="meta").parameters()))
    ok = value == torch_value
    judged = holds_if(ok and value == sheet_value) if verdict == HOLDS else wrong_if(value == sheet_value, ok)
    return evidence(judged, f"{n_filters} {f}x{f}x{c_in} filters: {value} parameters (torch.nn.Conv2d: {torch_value})",
                    parameters=value, sheet=sheet_value)


def valid_convolution() -> Evidence:
    with torch.device("meta"):
        y = F.conv2d(torch.empty(1, 3, 32, 32), torch.empty(6, 3, 5, 5), padding="valid")
    return evidence(holds_if(y.shape[-1] == 32 - 5 + 1 == conv_output_size(32, 5)),
                    "padding 'valid': only fully overlapping positions, W - F + 1 = 28", size=y.shape[-1])


def feature_maps() -> Evidence:
    """(w - w_f + 1, h - h_f + 1, n_f) for a non-square input and filter."""
    with torch.device("meta"):
        y = F.conv2d(torch.empty(1, 3, 20, 30), torch.empty(7, 3, 5, 4))
    return evidence(ocr_if(tuple(y.shape[1:]) == (7, 20 - 5 + 1, 30 - 4 + 1)),
                    "the subscripts are lost: (w - w_f + 1, h - h_f + 1, n_f) = torch's shape",
                    shape=str(tuple(y.shape)))


def _dependencies(layers: int, k: int = 3, channels: int = 1, n: int = 16) -> int:
    """How many inputs one central output of ``layers`` stacked k x k convs depends on (autograd)."""
    x = torch.zeros(1, channels, n, n, dtype=torch.float64, requires_grad=True)
    g = generator(170)
    h = x
    for i in range(layers):
        h = F.conv2d(h, torch.rand(1, channels if i == 0 else 1, k, k, generator=g, dtype=torch.float64) + 0.1)
    h[0, 0, h.shape[-1] // 2, h.shape[-1] // 2].backward()
    return int((x.grad != 0).sum())


def sparse_connectivity() -> Evidence:
    n = _dependencies(1, 5, 3)
    return evidence(holds_if(n == 5 * 5 * 3), "one output of a 5x5 conv on 3 channels depends on 75 inputs", inputs=n)


def receptive_field() -> Evidence:
    sizes = [_dependencies(layers) for layers in (1, 2, 3)]
    return evidence(holds_if(sizes == [9, 25, 49]),
                    "1, 2, 3 stacked 3x3 convs see 3x3, 5x5, 7x7: more layers for a larger field", inputs=str(sizes))


def fc_neurons() -> Evidence:
    literal, read = (227 * 32 * 3 + 1) * 6, linear_params(227 * 227 * 3, 6)
    return evidence(
        ocr_if(read == (227 * 227 * 3 + 1) * 6 and read > 900_000, literal > 1_000_000),
        "read 227x227x3: a fully connected layer of 6 units has 927,528 weights (vs 294 for six 4x4x3 filters)",
        literal=literal, fully_connected=read
    )


def padding_size() -> Evidence:
    ok = all(_torch_size(w, f, 1, p) == w - f + 1 + 2 * p for w in range(5, 15) for f in range(1, 6) for p in range(3))
    return evidence(ocr_if(ok), "w - w_f + 1 + 2 pad = torch's size at stride 1", cases=150)


def stride_size() -> Evidence:
    sheet, size = (7 - 3 + 1) / 2, _torch_size(7, 3, 2)
    return evidence(wrong_if(sheet == size, (7 - 3) // 2 + 1 == size), "7, 3x3, stride 2: 3 windows, the sheet 2.5",
                    sheet=sheet, size=size)


def pooling_size() -> Evidence:
    with torch.device("meta"):
        size = F.max_pool2d(torch.empty(1, 1, 28, 28), 2, 2).shape[-1]
    sheet = (28 - 2 + 1) / 2
    return evidence(wrong_if(sheet == size, size == pool_output_size(28, 2, 2) == (28 - 2) // 2 + 1 == 14),
                    "LeNet's S2: 14, the sheet's form 13.5", sheet=sheet, size=size)


def pooling_invariance(n: int = 20_000) -> Evidence:
    """Shift a random image one pixel: a 2x2 max-pool output stays the same with probability 1/3 (the max of 6
    pixels falls in the 2 shared), a raw pixel with probability 0 (contrast)."""
    x = torch.rand(1, 1, 2, 2 * n + 1, generator=generator(171), dtype=torch.float64)
    same = (F.max_pool2d(x[..., :-1], 2) == F.max_pool2d(x[..., 1:], 2)).double()
    run = monte_carlo("unchanged_fraction", same, 1 / 3, 0.0)
    return evidence(holds_if(run.ok), "a third of the pooled outputs survive a one-pixel shift", run)


def stride_two() -> Evidence:
    size = _torch_size(32, 5, 2)
    return evidence(ocr_if(size == 14 and _torch_size(32, 5, 1) == 32 - 5 + 1),
                    "32, 5x5: 28 at stride 1, 14 at stride 2", stride_1=_torch_size(32, 5, 1), stride_2=size)


def sparse_cost(n: int = 64, k: int = 3) -> Evidence:
    """A 1-D conv of n inputs with a k-tap filter as a matrix: (n-k+1)k nonzeros (O(nk)), a dense layer n²."""
    w = torch.rand(1, 1, k, dtype=torch.float64) + 0.1
    jac = torch.autograd.functional.jacobian(
        lambda v: F.conv1d(v[None, None], w)[0, 0], torch.zeros(n, dtype=torch.float64)
    )
    nonzeros = int((jac != 0).sum())
    return evidence(holds_if(nonzeros == (n - k + 1) * k), f"{nonzeros} nonzeros vs {n * n} for a dense layer",
                    nonzeros=nonzeros, dense=n * n)


def lenet_c1_c2(what: str) -> Evidence:
    c1, s2 = conv_output_size(32, 5), pool_output_size(28, 2, 2)
    facts = {
        "c1-size": c1 == 28,
        "c1-params": conv_params(1, 6, 5) == 156,
        "s2-size": s2 == 14,
        "s2-params": sum(p.numel() for p in torch.nn.MaxPool2d(2).parameters()) == 0,
        "neurons": 28 * 28 * 6 == 4704,
        "connections": 28 * 28 * 6 * (5 * 5 * 1 + 1) == 122_304,
    }
    return evidence(holds_if(facts[what]), "LeNet C1: 28x28x6, 156 parameters, 122,304 connections; S2: 14x14x6, 0",
                    c1=c1, s2=s2, c1_params=conv_params(1, 6, 5))


def lenet_c3(what: str) -> Evidence:
    size, params = conv_output_size(14, 3), conv_params(6, 16, 3)
    sheet_ok = size == 7 if what == "size" else params == 0
    return evidence(wrong_if(sheet_ok, size == 12 and params == 880), "sixteen 3x3 filters on 14x14x6: 12x12x16, 880",
                    size=size, parameters=params)


def param_formula() -> Evidence:
    """((F_w F_h · 3) + 1) · n_f hard-codes 3 input channels: LeNet C1 (1 channel) has 156, the formula 456."""
    sheet, right = (5 * 5 * 3 + 1) * 6, conv_params(1, 6, 5)
    return evidence(
        wrong_if(sheet == right, right == (5 * 5 * 1 + 1) * 6), "C_in in place of 3", sheet=sheet, right=right
    )


S = Section("CNN")
CLAIMS = [
    S("cnn-output-size", 370, CONVENTION, "((W - W_f + 2·pad)/Stride + 1, (h - h_f + 2·pad)/Stride + 1)",
      "floor((W - W_f + 2·pad)/Stride) + 1, the usual (torch's) rounding; exact when the stride divides "
      "(dilation is not on the sheet; the '(W - W_ft + h - h_ft) padding +' prefix is garbled)", output_size,
      CONV + "test_sheet_output_size_is_floored_when_stride_does_not_divide"),
    S("five-3x3-filters", 621, HOLDS, "(3 x 3 x 3 + 1) x 5 = 140", "as written", lambda: _params(3, 5, 3, 140, HOLDS),
      CONV_POOL + "test_sheet_5x5x3_filter_and_the_five_filter_rgb_layer_are_right"),
    S("valid-convolution", 636, HOLDS, "a VALID convolution: A and B fully overlapping", "as written",
      valid_convolution),
    S("feature-maps", 638, OCR, "(w - w + 1, h - h + 1, n_f)", "(w - w_f + 1, h - h_f + 1, n_f)", feature_maps),
    S("sparse-connectivity", 643, HOLDS, "each neuron only connected to 5 x 5 x 3", "as written", sparse_connectivity),
    S("receptive-field", 645, HOLDS, "sparse interaction means there should be more layers",
      "as written: each 3x3 layer widens the field by 2", receptive_field),
    S("six-4x4x3", 647, WRONG, "(4 x 4 x 3 + 1) x 6 = 196", "(4 x 4 x 3 + 1) x 6 = 294",
      lambda: _params(3, 6, 4, 196, WRONG), CONV_POOL + "test_sheet_erratum_six_4x4x3_filters_have_294_parameters"),
    S("fc-neurons", 648, OCR, "(227 x 32 x 3 + 1) x 6 neurons ≈ millions",
      "read (227 x 227 x 3 + 1) x 6 = 927,528 ≈ a million weights for 6 fully connected units", fc_neurons),
    S("padding-size", 650, OCR, "use padding: (w - w + 1 + 2pad, h - h + 1 + 2pad)", "(w - w_f + 1 + 2pad, ...)",
      padding_size),
    S("stride-size", 654, WRONG, "use stride: ((w - w + 1 + 2pad)/stride, ...)", "floor((w - w_f + 2pad)/stride) + 1",
      stride_size, CONV + "test_sheet_erratum_stride_output_size"),
    S("pooling-size", 656, WRONG, "use pooling: ((w - w + 1)/stride, ...) → no additional params",
      "floor((w - w_f)/stride) + 1 (no parameters: right)", pooling_size,
      POOL + "test_sheet_erratum_pooling_output_size"),
    S("pooling-invariance", 657, HOLDS, "small spatial invariance", "as written", pooling_invariance),
    S("stride-two-size", 662, OCR, "filter w = 5, s = 2 ... → (w - w + 1, h - h + 1, n_f)",
      "w - w_f + 1 = 28 is the stride-1 size; at the line's stride 2 it is 14", stride_two),
    S("one-5x5x3", 663, HOLDS, "(5 x 5 x 3) + b = 75 + 1 = 76 params", "as written",
      lambda: _params(3, 1, 5, 76, HOLDS), SHAPES + "test_sheet_one_5x5x3_filter_has_76_parameters"),
    S("sparse-cost", 672, HOLDS, "O(nk) instead of O(n²)", "as written", sparse_cost),
    S("lenet-c1-size", 675, HOLDS, "C1: 32 - 5 + 1 = 28 → (28 x 28 x 6)", "as written", lambda: lenet_c1_c2("c1-size"),
      CONV_POOL + "test_sheet_lenet_c1_and_s2_are_right"),
    S("lenet-c1-params", 676, HOLDS, "(5 x 5 + 1) x 6 = 156 params", "as written", lambda: lenet_c1_c2("c1-params"),
      CONV_POOL + "test_sheet_lenet_c1_and_s2_are_right"),
    S("lenet-s2-size", 680, HOLDS, "S2: (14 x 14 x 6)", "as written", lambda: lenet_c1_c2("s2-size"),
      CONV_POOL + "test_sheet_lenet_c1_and_s2_are_right"),
    S("lenet-s2-params", 682, HOLDS, "S2 parameters: 0", "as written", lambda: lenet_c1_c2("s2-params"),
      CONV_POOL + "test_sheet_lenet_c1_and_s2_are_right"),
    S("lenet-c3-size", 686, WRONG, "C3 (sixteen 3x3 filters): (7 x 7 x 16)", "12 x 12 x 16", lambda: lenet_c3("size"),
      CONV_POOL + "test_sheet_erratum_lenet_c3_size_and_parameters"),
    S("lenet-c3-params", 688, WRONG, "parameters in C3: 0", "(3 x 3 x 6 + 1) x 16 = 880", lambda: lenet_c3("params"),
      CONV_POOL + "test_sheet_erratum_lenet_c3_size_and_parameters"),
    S("param-formula", 692, WRONG, "trainable params: ((F_w x F_h x 3) + 1) x #filters",
      "((F_w x F_h x C_in) + 1) x #filters: the 3 holds for RGB input only", param_formula,
      CONV_POOL + "test_sheet_erratum_parameter_formula_hardcodes_three_channels"),
    S("pooling-params", 694, HOLDS, "pooling has 0 parameters", "as written", lambda: lenet_c1_c2("s2-params")),
]
S = Section("LeNet-5")
CLAIMS += [
    S("lenet-connections", 714, HOLDS, "neuron (5 x 5 x 1) } 122,304", "as written (connections of C1)",
      lambda: lenet_c1_c2("connections"), SHAPES + "test_sheet_lenet_c1_connections"),
    S("lenet-neurons", 715, HOLDS, "# of neurons (28 x 28 x 6)", "as written", lambda: lenet_c1_c2("neurons"),
      SHAPES + "test_sheet_lenet_c1_connections"),
]
