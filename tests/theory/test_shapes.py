"""The sheet's size / parameter / MAC formulas against real modules, and the layer table built from them."""

from __future__ import annotations

import pytest
import torch
import torchvision
from rich.console import Console
from torch.utils.flop_counter import FlopCounterMode

import c147.nn
from c147.models import lenet5, mlp
from c147.theory import (
    LayerRow,
    Summary,
    conv_macs,
    conv_output_size,
    conv_params,
    format_table,
    linear_macs,
    linear_params,
    pool_output_size,
    summarize,
)


def real_macs(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass by torch's own counter (it reports 2 FLOPs per multiply-add)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


# ---- convolution: output size, parameters, MACs ------------------------------------------------

CONV_CASES = [  # size (H, W), kernel, stride, padding, dilation, groups, in, out, bias
    dict(size=(32, 32), kernel=5, stride=1, padding=0, dilation=1, groups=1, cin=1, cout=6, bias=True),
    dict(size=(227, 227), kernel=11, stride=4, padding=0, dilation=1, groups=1, cin=3, cout=8, bias=True),
    dict(size=(224, 224), kernel=11, stride=4, padding=2, dilation=1, groups=1, cin=3, cout=4, bias=True),
    dict(size=(8, 8), kernel=3, stride=2, padding=0, dilation=1, groups=1, cin=2, cout=3, bias=True),  # 2.5 -> 3
    dict(size=(9, 7), kernel=(3, 2), stride=(2, 1), padding=(1, 0), dilation=1, groups=1, cin=2, cout=2, bias=False),
    dict(size=(11, 9), kernel=(3, 2), stride=2, padding=1, dilation=2, groups=2, cin=4, cout=6, bias=True),
    dict(size=(10, 10), kernel=3, stride=1, padding=1, dilation=(2, 3), groups=4, cin=4, cout=8, bias=True),
    dict(size=(7, 7), kernel=7, stride=3, padding=0, dilation=1, groups=1, cin=3, cout=5, bias=True),  # exactly fits
    dict(size=(5, 6), kernel=1, stride=3, padding=2, dilation=1, groups=3, cin=6, cout=3, bias=False),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c['size']}-k{c['kernel']}-s{c['stride']}-"
                         f"p{c['padding']}-d{c['dilation']}-g{c['groups']}")
@pytest.mark.parametrize("cls", [torch.nn.Conv2d, c147.nn.Conv2d], ids=["torch", "c147"])
def test_conv_formulas_match_the_module(case, cls):
    conv = cls(case["cin"], case["cout"], case["kernel"], case["stride"], case["padding"], case["dilation"],
               case["groups"], case["bias"])
    x = torch.zeros(1, case["cin"], *case["size"])
    y = conv(x)
    out = conv_output_size(case["size"], case["kernel"], case["stride"], case["padding"], case["dilation"])
    assert (case["cout"], *out) == tuple(y.shape[1:])
    assert conv_params(case["cin"], case["cout"], case["kernel"], case["groups"], case["bias"]) == sum(
        p.numel() for p in conv.parameters())
    assert conv_macs(case["cin"], case["cout"], case["kernel"], out, case["groups"]) == real_macs(conv, x)


@pytest.mark.parametrize("case", CONV_CASES[:4])
def test_conv_output_size_per_dimension_is_the_pair_formula(case):
    h, w = case["size"]
    assert conv_output_size(h, case["kernel"], case["stride"], case["padding"], case["dilation"]) == \
        conv_output_size(case["size"], case["kernel"], case["stride"], case["padding"], case["dilation"])[0]
    assert isinstance(conv_output_size(h, 3), int) and conv_output_size((h, w), 3) == (h - 2, w - 2)


# ---- pooling: output size with floor and ceil_mode ---------------------------------------------

POOL_CASES = [  # size, kernel, stride, padding, dilation, ceil_mode
    dict(size=28, kernel=2, stride=None, padding=0, dilation=1, ceil_mode=False),  # LeNet S2: 14
    dict(size=55, kernel=3, stride=2, padding=0, dilation=1, ceil_mode=False),  # AlexNet: overlapping, 27
    dict(size=112, kernel=3, stride=2, padding=0, dilation=1, ceil_mode=True),  # GoogLeNet: 56
    dict(size=7, kernel=2, stride=2, padding=0, dilation=1, ceil_mode=False),  # 3
    dict(size=7, kernel=2, stride=2, padding=0, dilation=1, ceil_mode=True),  # 4
    dict(size=4, kernel=2, stride=3, padding=1, dilation=1, ceil_mode=True),  # last window would start in the pad
    dict(size=6, kernel=3, stride=2, padding=1, dilation=1, ceil_mode=True),
    dict(size=10, kernel=3, stride=2, padding=1, dilation=2, ceil_mode=False),
    dict(size=10, kernel=2, stride=4, padding=1, dilation=3, ceil_mode=True),
    dict(size=(9, 12), kernel=(3, 2), stride=(2, 3), padding=(1, 0), dilation=1, ceil_mode=True),
]


POOLS = {"torch-max": torch.nn.MaxPool2d, "c147-max": c147.nn.MaxPool2d, "torch-avg": torch.nn.AvgPool2d,
         "c147-avg": c147.nn.AvgPool2d}


@pytest.mark.parametrize(("case", "cls"), [  # AvgPool2d has no dilation: only the dilation-1 cases for it
    pytest.param(case, cls, id=f"{name}-" + "-".join(f"{k}{v}" for k, v in case.items()))
    for case in POOL_CASES for name, cls in POOLS.items() if "Max" in cls.__name__ or case["dilation"] == 1
])
def test_pool_output_size_matches_the_module(case, cls):
    kwargs = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"],
                  ceil_mode=case["ceil_mode"])
    if "Max" in cls.__name__:
        kwargs["dilation"] = case["dilation"]
    pool = cls(**kwargs)
    size = case["size"] if isinstance(case["size"], tuple) else (case["size"],) * 2
    y = pool(torch.zeros(1, 2, *size))
    out = pool_output_size(case["size"], case["kernel"], case["stride"], case["padding"], case["dilation"],
                           case["ceil_mode"])
    assert (out if isinstance(out, tuple) else (out, out)) == tuple(y.shape[2:])
    assert sum(p.numel() for p in pool.parameters()) == 0  # the sheet: "pooling has 0 parameters"


def test_ceil_mode_rule_drops_a_window_starting_in_the_right_padding():
    # (4 + 2 - 1 - 1) / 3 = 1.33 -> ceil 2 -> 3 windows, but the third would start at 6 >= 4 + 1
    assert pool_output_size(4, 2, 3, 1, ceil_mode=False) == 2
    assert pool_output_size(4, 2, 3, 1, ceil_mode=True) == 2
    assert pool_output_size(7, 2, 2, ceil_mode=True) == 4  # here the extra window starts inside


# ---- bad arguments ------------------------------------------------------------------------------

BAD = [
    (conv_output_size, dict(size=0, kernel=3), "conv_output_size: expected size >= 1, got 0"),
    (conv_output_size, dict(size=8, kernel=0), "expected kernel >= 1, got 0"),
    (conv_output_size, dict(size=8, kernel=3, stride=0), "expected stride >= 1, got 0"),
    (conv_output_size, dict(size=8, kernel=3, padding=-1), "expected padding >= 0, got -1"),
    (conv_output_size, dict(size=8, kernel=3, dilation=(1, 0)), r"expected dilation >= 1, got \(1, 0\)"),
    (conv_output_size, dict(size=8, kernel=True), "expected kernel an int or a pair of ints"),
    (conv_output_size, dict(size=8, kernel="3"), "expected kernel an int or a pair of ints .h, w., got '3'"),
    (conv_output_size, dict(size=(8, 8, 8), kernel=3), r"expected size an int or a pair .*got \(8, 8, 8\)"),
    (conv_output_size, dict(size=4, kernel=5), "the window does not fit: output size 0 for size=4, kernel=5"),
    (conv_output_size, dict(size=8, kernel=3, dilation=5), "the window does not fit: output size 0 for size=8"),
    (pool_output_size, dict(size=8, kernel=3, padding=2), "expected padding at most half the kernel, got padding=2"),
    (pool_output_size, dict(size=1, kernel=3, stride=2, padding=0), "pool_output_size: the window does not fit"),
    (pool_output_size, dict(size=8, kernel=2, stride=0), "expected stride >= 1, got 0"),
    (conv_params, dict(in_channels=3, out_channels=4, kernel=3, groups=2), "divisible by groups.*in_channels=3"),
    (conv_params, dict(in_channels=0, out_channels=4, kernel=3), "in_channels=0"),
    (conv_params, dict(in_channels=3, out_channels=4, kernel=(3, 0)), r"expected kernel >= 1, got \(3, 0\)"),
    (conv_macs, dict(in_channels=3, out_channels=4, kernel=3, output_size=0), "expected output_size >= 1, got 0"),
    (linear_params, dict(in_features=0, out_features=4), "linear_params: expected positive .* got 0 and 4"),
    (linear_macs, dict(in_features=3, out_features=-1), "linear_macs: expected positive .* got 3 and -1"),
]


@pytest.mark.parametrize(("fn", "kwargs", "message"), BAD, ids=lambda v: getattr(v, "__name__", None))
def test_bad_arguments_name_what_came(fn, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fn(**kwargs)


def test_linear_formulas_match_the_module():
    for bias in (True, False):
        fc = torch.nn.Linear(400, 120, bias=bias)
        assert linear_params(400, 120, bias) == sum(p.numel() for p in fc.parameters()) == 400 * 120 + 120 * bias
        assert linear_macs(400, 120) == real_macs(fc, torch.zeros(1, 400)) == 48_000


# ---- the sheet's worked examples ---------------------------------------------------------------


def test_sheet_lenet_c1_size_and_parameters():
    # "C1 contains six 5x5 conv filters ... 32 - 5 + 1 = 28 -> (28x28x6)", "(5x5 + 1) x 6 = 156 params"
    assert conv_output_size(32, 5) == 28 and conv_params(1, 6, 5) == 156
    assert pool_output_size(28, 2, 2) == 14  # S2: (14x14x6)


def test_sheet_lenet_c1_connections():
    # "neuron (5x5x1) } 122,304; # of neurons (28x28x6)": each of the 28x28x6 neurons sees 5x5x1 inputs
    # plus the bias: 122,304 connections (LeCun et al. 1998) from only 156 shared parameters
    neurons = 28 * 28 * 6
    assert conv_macs(1, 6, 5, 28) + neurons == neurons * (5 * 5 * 1 + 1) == 122_304
    assert conv_params(1, 6, 5) == 156


def test_sheet_five_3x3_filters_on_rgb_have_140_parameters():
    # "five filters of size 3x3, stride = 1 and padding = 1 ... 256x256x3 ... 28 x 5 = 140"
    assert conv_params(3, 5, 3) == 140
    assert conv_output_size(256, 3, 1, 1) == 256 and pool_output_size(256, 2, 2) == 128


def test_sheet_one_5x5x3_filter_has_76_parameters():
    assert conv_params(3, 1, 5) == 76  # "(5x5x3) + b = 75 + 1 = 76 params"


def test_alexnet_conv1_on_227_is_55():
    assert conv_output_size(227, 11, 4, 0) == 55  # (227 - 11) / 4 + 1, exact
    assert conv_output_size(224, 11, 4, 2) == 55  # torchvision's 224 input with padding 2 (floor of 55.25)


def test_sheet_stacked_3x3_convs_see_7x7_with_fewer_parameters():
    # VGG: "smaller fields need more layers, less params, but more nonlinearity": three 3x3 convs (stride 1)
    # cover a 7x7 field like one 7x7 conv, with 3 (9 C^2 + C) < 49 C^2 + C parameters for C channels
    side = 7
    for _ in range(3):
        side = conv_output_size(side, 3)
    assert side == 1 == conv_output_size(7, 7)
    c = 256
    assert 3 * conv_params(c, c, 3) == 3 * (9 * c * c + c) < conv_params(c, c, 7) == 49 * c * c + c


# ---- summarize ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg16() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None)


@pytest.fixture(scope="module")
def vgg16_summary(vgg16) -> Summary:
    return summarize(vgg16, (3, 224, 224))


@pytest.mark.slow
def test_vgg16_138m_parameters_mostly_fc_and_15_47g_macs(vgg16, vgg16_summary):
    s = vgg16_summary
    assert s.params == 138_357_544 and s.unused_params == 0  # the sheet: "138M params"
    assert s.fc_params == 123_642_856 and s.fc_share > 0.85  # "concentrated in FC layers"
    # multiply-adds at 224x224: the known 15.47 G, from the formulas, and from torch's own FLOP counter
    assert s.macs == 15_470_264_320 == real_macs(vgg16.eval(), torch.zeros(1, 3, 224, 224))
    conv = [r for r in s if r.type == "Conv2d"]
    assert len(conv) == 13 and sum(r.macs for r in conv) == 15_346_630_656
    assert [r.output_shape for r in s if r.type == "MaxPool2d"] == [(c, n, n) for c, n in
                                                                    [(64, 112), (128, 56), (256, 28), (512, 14),
                                                                     (512, 7)]]
    pool = next(r for r in s if r.type == "AdaptiveAvgPool2d")
    assert pool.input_shape == pool.output_shape == (512, 7, 7)
    assert [r.input_shape for r in s if r.is_fc] == [(25088,), (4096,), (4096,)]


@pytest.mark.slow
def test_summarize_on_the_meta_device_gives_the_same_rows(vgg16_summary):
    # shapes only, no memory and no arithmetic: a quick table for any size of network
    with torch.device("meta"):
        net = torchvision.models.vgg16(weights=None)
    s = summarize(net, (3, 224, 224))
    assert s.rows == vgg16_summary.rows and s.params == vgg16_summary.params and s.macs == vgg16_summary.macs


def test_parameters_the_forward_never_calls_are_counted_as_unused():
    net = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    s = summarize(net, (3, 64, 64))  # eval mode: the auxiliary heads are skipped
    assert s.params == 13_004_888 and s.unused_params == 13_004_888 - 6_624_904
    assert not any(r.name.startswith("aux") for r in s) and s.fc_params == 1_025_000


def test_lenet5_rows_from_the_formulas():
    s = summarize(lenet5(impl="torch", num_classes=10, in_channels=1, image_size=32), (1, 32, 32))
    conv = [(r.output_shape, r.params, r.macs) for r in s if r.type == "Conv2d"]
    assert conv == [((6, 28, 28), 156, 6 * 28 * 28 * 25), ((16, 10, 10), 2_416, 16 * 10 * 10 * 150)]
    assert [r.output_shape for r in s if r.type == "MaxPool2d"] == [(6, 14, 14), (16, 5, 5)]
    assert [(r.params, r.macs) for r in s if r.is_fc] == [(48_120, 48_000), (10_164, 10_080), (850, 840)]
    assert s.params == 61_706 and s.fc_params == 59_134 and s.macs == 416_520
    assert [r.name for r in s][:3] == ["features.0", "features.1", "features.2"]


@pytest.mark.parametrize(("factory", "input_size"), [(lenet5, (1, 32, 32)), (lenet5, (3, 64, 64)),
                                                     (mlp, (1, 8, 8))], ids=["lenet5-32", "lenet5-64", "mlp"])
def test_c147_and_torch_impls_give_the_same_rows(factory, input_size):
    c, side = input_size[0], input_size[1]
    ours = summarize(factory(impl="c147", num_classes=10, in_channels=c, image_size=side), input_size)
    twin = summarize(factory(impl="torch", num_classes=10, in_channels=c, image_size=side), input_size)
    assert ours.rows == twin.rows and len(ours) > 0
    assert (ours.params, ours.macs, ours.fc_params) == (twin.params, twin.macs, twin.fc_params)


def test_summarize_restores_train_mode_and_checks_input_size():
    net = lenet5(impl="torch", num_classes=10, in_channels=1, image_size=32)
    summarize(net, (1, 32, 32))
    assert net.training
    for bad in [(32, 32), (1, 0, 32), (1, 32.0, 32)]:
        with pytest.raises(ValueError, match=r"expected input_size \(C, H, W\) of three positive ints"):
            summarize(net, bad)


class CroppingConv2d(torch.nn.Conv2d):
    """A Conv2d whose output disagrees with the size formula."""

    def forward(self, x):
        return super().forward(x)[..., 1:, :]


class ExtraLinear(torch.nn.Linear):
    """A Linear holding one parameter more than the formula allows."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = torch.nn.Parameter(torch.ones(1))


@pytest.mark.parametrize(("layer", "message"), [
    (CroppingConv2d(1, 2, 3), r"layer '0' \(CroppingConv2d\) disagrees with the formulas: output \(2, 5, 6\) "
                              r"vs formula \(2, 6, 6\)"),
    (torch.nn.Sequential(torch.nn.Flatten(), ExtraLinear(64, 3)),
     r"layer '0.1' \(ExtraLinear\) .* parameters 196 vs formula 195"),
])
def test_summarize_raises_when_a_module_disagrees_with_the_formulas(layer, message):
    with pytest.raises(RuntimeError, match=message):
        summarize(torch.nn.Sequential(layer), (1, 8, 8))


def test_format_table_shows_every_row_and_the_totals():
    s = summarize(lenet5(impl="torch", num_classes=10, in_channels=1, image_size=32), (1, 32, 32))
    console = Console(width=140, record=True)
    console.print(format_table(s, title="LeNet-5"))
    text = console.export_text()
    assert "LeNet-5" in text and "61,706" in text and "416,520" in text and "FC share 95.8%" in text
    assert text.count("Conv2d") == 2 and text.count("Linear (FC)") == 3
    plain = format_table(list(s))  # a bare list of rows: no totals
    assert plain.row_count == len(s) == 12 and not plain.show_footer
    assert isinstance(s[0], LayerRow) and s.to_dict()["layers"][0]["output_shape"] == [6, 28, 28]


def test_window_count_is_torchs_output_size_everywhere():
    """The one home of the formula against torch's own ops, over a grid that includes windows that do
    not fit (0) and ceil_mode's last-window rule."""
    from c147.theory import window_count

    def torch_size(op, x, *args, **kwargs) -> int:
        try:
            return op(x, *args, **kwargs).shape[2]
        except RuntimeError:  # torch refuses a window that does not fit: 0 windows
            return 0

    checked = 0
    for size in range(1, 12):
        for kernel in range(1, 5):
            for stride in (1, 2, 3):
                for dilation in (1, 2):
                    for padding in range(0, kernel // 2 + 1):
                        x = torch.zeros(1, 1, size, 1)
                        conv = torch_size(torch.nn.functional.conv2d, x, torch.zeros(1, 1, kernel, 1),
                                          stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1))
                        assert window_count(size, kernel, stride, padding, dilation) == conv
                        for ceil in (False, True):
                            pool = torch_size(torch.nn.functional.max_pool2d, x, (kernel, 1), (stride, 1),
                                              (padding, 0), (dilation, 1), ceil_mode=ceil)
                            assert window_count(size, kernel, stride, padding, dilation, ceil) == pool, \
                                (size, kernel, stride, padding, dilation, ceil)
                            checked += 1
    assert checked > 500


def test_min_input_size_and_check_input_size():
    from c147.models.lenet import lenet5_feature_size
    from c147.theory import check_input_size, min_input_size

    assert min_input_size(lenet5_feature_size) == 16
    check_input_size("LeNet-5", 16, 20, 16)
    with pytest.raises(ValueError, match="LeNet-5 needs input images of at least 16x16, got 15x20"):
        check_input_size("LeNet-5", 15, 20, 16)
