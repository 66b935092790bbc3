"""c147.nn Conv2d, MaxPool2d, AvgPool2d, LocalResponseNorm: what the module table (module_db.py,
test_modules.py) does not cover, and the sheet's worked CNN examples (sizes and parameter counts)
checked on real layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn as torch_nn

from c147.functional.conv import Conv2dFunction
from c147.functional.lrn import LocalResponseNormFunction
from c147.functional.pooling import AvgPool2dFunction, MaxPool2dFunction
from c147.nn.conv import Conv2d
from c147.nn.lrn import LocalResponseNorm
from c147.nn.pooling import AvgPool2d, MaxPool2d
from tests.twins import assert_backward_is, rand


@pytest.mark.parametrize("module, function", [(Conv2d(3, 2, 3), Conv2dFunction), (MaxPool2d(2), MaxPool2dFunction),
                                              (AvgPool2d(2), AvgPool2dFunction),
                                              (LocalResponseNorm(3), LocalResponseNormFunction)])
def test_backward_is_ours(module, function):
    assert_backward_is(module(rand(2, 3, 6, 6, dtype=torch.float32).requires_grad_()), function)


def test_max_pool_return_indices_module():
    x = rand(2, 3, 7, 7)
    (y, i), (r, j) = MaxPool2d(3, 2, 1, return_indices=True)(x), torch_nn.MaxPool2d(3, 2, 1, return_indices=True)(x)
    torch.testing.assert_close(y, r)
    assert torch.equal(i, j)


BAD = [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=0), r"Conv2d: expected groups a positive integer, "
                                                                   r"got 0"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), r"expected in_channels and out_channels divisible "
                                                                   r"by groups = 2, got 3 and 4"),
    (dict(in_channels=4, out_channels=3, kernel_size=3, groups=2), r"divisible by groups = 2, got 4 and 3"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding="full"), r"expected padding 'same', 'valid', an int "
                                                                         r"or a tuple, got 'full'"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding="same", stride=2),
     r"padding='same' is not supported for strided convolutions, got stride=\(2, 2\)"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, padding_mode="mirror"), r"expected padding_mode one of "
                                                                                r"\('zeros', .*\), got 'mirror'"),
    (dict(in_channels=3, out_channels=4, kernel_size=(3, 3, 3)), r"Conv2d: expected kernel_size an int or a tuple of "
                                                                 r"two ints, got \(3, 3, 3\)"),
]


@pytest.mark.parametrize("kwargs, message", BAD)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Conv2d(**kwargs)


def test_bad_input_names_expected_and_got():
    with pytest.raises(ValueError, match=r"expected input with weight.size\(1\) \* groups = 3 channels, got 1"):
        Conv2d(3, 4, 3)(torch.randn(2, 1, 8, 8))


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def sheet_params(fw: int, fh: int, n_filters: int) -> int:
    """The sheet's "trainable params: ((filter width x filter height x 3) + 1) x # of filters"."""
    return (fw * fh * 3 + 1) * n_filters


@pytest.mark.parametrize("cls", [Conv2d, torch_nn.Conv2d])
def test_sheet_lenet_c1_and_s2_are_right(cls):
    """Sheet: C1 = six 5x5 filters on 32x32x1 -> 28x28x6 with (5 x 5 + 1) x 6 = 156 parameters;
    S2 = 2x2 pooling at stride 2 -> 14x14x6 with 0 parameters. Both correct."""
    c1, s2 = cls(1, 6, 5), MaxPool2d(2, 2)
    h = c1(torch.randn(1, 1, 32, 32))
    assert h.shape == (1, 6, 28, 28) and n_params(c1) == 156
    assert s2(h).shape == (1, 6, 14, 14) and n_params(s2) == 0


@pytest.mark.parametrize("cls", [Conv2d, torch_nn.Conv2d])
def test_sheet_erratum_lenet_c3_size_and_parameters(cls):
    """Sheet: "C3 contains sixteen 3x3 conv filters. Size of feature maps at C3? (7x7x16).
    Number of parameters in C3? 0". A 3x3 convolution (stride 1, pad 0) of S2's 14x14x6 gives
    12x12x16 (14 - 3 + 1 = 12; 7 is a second halving, i.e. a pool, not a conv), and every filter
    holds 3 x 3 x 6 weights and a bias: (3 x 3 x 6 + 1) x 16 = 880 parameters, not 0. (The
    paper's C3 uses 5x5 filters: 10x10x16.)"""
    c3 = cls(6, 16, 3)
    assert c3(torch.randn(1, 6, 14, 14)).shape == (1, 16, 12, 12) != (1, 16, 7, 7)
    assert n_params(c3) == (3 * 3 * 6 + 1) * 16 == 880 != 0


def test_sheet_erratum_parameter_formula_hardcodes_three_channels():
    """Sheet: "trainable params: ((filter width x filter height x 3) + 1) x # of filters". The 3 is
    the RGB input's depth; in general it is C_in: (F_w F_h C_in + 1) n_f. For C3 (6 input
    channels) the sheet's formula gives 448, the layer has 880."""
    c3 = Conv2d(6, 16, 3)
    assert sheet_params(3, 3, 16) == 448 != n_params(c3) == 880
    assert sheet_params(3, 3, 5) == n_params(Conv2d(3, 5, 3)) == 140  # right for RGB input only


def test_sheet_erratum_six_4x4x3_filters_have_294_parameters():
    """Sheet: "6 filters are (4 x 4 x 3), so params: (4 x 4 x 3 + 1) x 6 = 196". The expression
    is right but the arithmetic is not: 49 x 6 = 294."""
    layer = Conv2d(3, 6, 4)
    assert n_params(layer) == n_params(torch_nn.Conv2d(3, 6, 4)) == (4 * 4 * 3 + 1) * 6 == 294 != 196


def test_sheet_5x5x3_filter_and_the_five_filter_rgb_layer_are_right():
    """Sheet: one 5x5x3 filter "75 + 1 = 76 params"; the exam's conv-pool layer (five 3x3 filters,
    stride 1, pad 1, on 256x256x3, then ReLU and 2x2/2 max pooling) has 28 x 5 = 140. Both right."""
    assert n_params(Conv2d(3, 1, 5)) == 76
    layer = torch_nn.Sequential(Conv2d(3, 5, 3, padding=1), torch_nn.ReLU(), MaxPool2d(2, 2))
    assert n_params(layer) == 140
    assert layer(torch.randn(1, 3, 256, 256)).shape == (1, 5, 128, 128)


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 3, 8, 8), (3, 8, 8)])
def test_conv2d_output_allows_in_place_ops(shape):
    from c147.nn.activation import ReLU
    from c147.nn.conv import Conv2d

    conv = Conv2d(3, 4, 3)
    x = torch.randn(shape, requires_grad=True)
    out = ReLU(inplace=True)(conv(x))
    out.sum().backward()
    twin = torch.nn.Conv2d(3, 4, 3)
    twin.load_state_dict(conv.state_dict())
    x2 = x.detach().clone().requires_grad_()
    torch.relu(twin(x2)).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
