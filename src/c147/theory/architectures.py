"""The sheet's architecture lines (696-753): VGG-16, GoogLeNet, the LeNet-5 and AlexNet listings, read off
c147's models (built on the meta device: structure and parameter counts, no weights), whose layouts and
counts the model tests hold to torchvision's and the papers'."""

from __future__ import annotations

from functools import cache

import torch

from c147.data.augment.lighting import Lighting, pixel_covariance
from c147.models import alexnet, googlenet, lenet5, vgg16
from c147.theory.evidence import (
    HOLDS,
    WRONG,
    Evidence,
    Section,
    evidence,
    generator,
    holds_if,
    monte_carlo,
    wrong_if,
)
from c147.theory.shapes import conv_params, window_count

VGG, ALEX, GOOGLE = (
    "tests/models/test_vgg.py::",
    "tests/models/test_alexnet_zfnet.py::",
    "tests/models/test_googlenet.py::",
)


def _n(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _kind(m: torch.nn.Module) -> str:
    return type(m).__name__


@cache
def _models() -> dict[str, torch.nn.Module]:
    with torch.device("meta"):
        return {
            "alexnet": alexnet(variant="paper", image_size=227),
            "torch_alexnet": alexnet(),
            "vgg16": vgg16(),
            "googlenet": googlenet(),
            "googlenet_5x5": googlenet(five_by_five=True),
            "lenet5": lenet5(),
        }


def vgg_layers(what: str) -> Evidence:
    feats = _models()["vgg16"].features
    convs = {(m.kernel_size, m.stride, m.padding) for m in feats if _kind(m) == "Conv2d"}
    pools = {(m.kernel_size, m.stride) for m in feats if _kind(m) == "MaxPool2d"}
    ok = convs == {((3, 3), (1, 1), (1, 1))} if what == "conv" else pools == {(2, 2)}
    return evidence(
        holds_if(ok), "VGG-16: every conv 3x3/1 pad 1, every pool 2x2/2 max", convs=str(convs), pools=str(pools)
    )


def stacked_3x3(c: int = 256) -> Evidence:
    side = 7
    for _ in range(3):
        side = window_count(side, 3)
    ok = side == 1 and 3 * conv_params(c, c, 3) < conv_params(c, c, 7)
    return evidence(holds_if(ok), "three 3x3 convs see 7x7 with 27C² + 3C < 49C² + C parameters (and 3 ReLUs)",
                    three_3x3=3 * conv_params(c, c, 3), one_7x7=conv_params(c, c, 7))


def vgg_params() -> Evidence:
    """138,357,544 parameters, 123,642,856 (89.4%) in the FC layers: the sheet's 122M is 1.3% under."""
    model = _models()["vgg16"]
    total, fc = _n(model), _n(model.classifier)
    ok = round(total / 1e6) == 138 and abs(fc - 122e6) / 122e6 < 0.02 and fc / total > 0.85
    return evidence(holds_if(ok), "138.4M in all, 123.6M (89%) in the FC layers: '122M' is about right", total=total,
                    fc=fc, fc_share=fc / total)


def googlenet_params() -> Evidence:
    """No stack of large FC layers (one 1024 x 1000 classifier, 1.0M, vs AlexNet's three holding 58.6M) and
    6.6M parameters (7.0M with the paper's 5x5 convs): about 5M in spirit (the paper: 12x fewer than AlexNet)."""
    m, m5, alex = _models()["googlenet"], _models()["googlenet_5x5"], _models()["torch_alexnet"]
    fcs = [x for x in m.modules() if _kind(x) == "Linear"]
    alex_fc = sum(_n(x) for x in alex.modules() if _kind(x) == "Linear")
    ok = len(fcs) == 1 and _n(fcs[0]) < alex_fc / 50 and _n(m5) < 1.5 * 5e6 and _n(alex) / _n(m) > 8
    return evidence(holds_if(ok), "one small FC layer and 6.6M / 7.0M parameters (AlexNet: 61.1M)", fc=_n(fcs[0]),
                    total=_n(m), total_paper_5x5=_n(m5), alexnet_fc=alex_fc)


def lenet_listing(what: str) -> Evidence:
    model = _models()["lenet5"]
    convs = [m for m in model.modules() if _kind(m) == "Conv2d"]
    pools = [m for m in model.modules() if _kind(m) == "MaxPool2d"]
    linears = [m.out_features for m in model.modules() if _kind(m) == "Linear"]
    facts = {
        "conv1": convs[0].out_channels == 6 and convs[0].stride == (1, 1),
        "pool": all(p.kernel_size == 2 for p in pools),  # 2x2: the max of four values
        "conv2": convs[1].out_channels == 16 and convs[1].stride == (1, 1),
        "out": linears[-1] == 10,
    }
    if what == "fc1000":
        return evidence(wrong_if(1000 in linears, linears == [120, 84, 10]), "LeNet-5's FC part: 120 → 84 → 10",
                        fc_units=str(linears), parameters=_n(model))
    return evidence(holds_if(facts[what]), "c147's LeNet-5: 6 then 16 filters at stride 1, 2x2 pools, 10 outputs",
                    fc_units=str(linears))


def no_sigmoid() -> Evidence:
    kinds = {_kind(m) for name in ("alexnet", "lenet5") for m in _models()[name].modules()}
    return evidence(wrong_if("Sigmoid" in kinds, "ReLU" in kinds), "ReLU = max(0, x); no sigmoid after it",
                    activations=str(sorted(k for k in kinds if k in ("ReLU", "Sigmoid", "Tanh"))))


def _alex_features() -> list[torch.nn.Module]:
    return list(_models()["alexnet"].features)


def alexnet_line(what: str) -> Evidence:
    feats, model = _alex_features(), _models()["alexnet"]
    kinds = [_kind(m) for m in feats]
    convs = [m for m in feats if _kind(m) == "Conv2d"]
    pools = [m for m in feats if _kind(m) == "MaxPool2d"]
    if what == "input":
        return evidence(holds_if(window_count(227, 11, 4, 0) == 55 and convs[0].padding == (0, 0)),
                        "227x227x3 with conv1 11x11/4 pad 0 gives 55x55", conv1_out=window_count(227, 11, 4, 0))
    if what == "overlap":
        return evidence(holds_if(all(p.kernel_size == 3 and p.stride == 2 for p in pools)),
                        "3x3 windows at stride 2 overlap", pools=len(pools))
    if what == "dropout":
        ps = [m.p for m in model.classifier if _kind(m) == "Dropout"]
        return evidence(holds_if(ps == [0.5, 0.5]), "dropout p = 0.5 before the first two FC layers", p=str(ps))
    if what == "pool-label":
        return evidence(wrong_if("Dropout" in kinds or kinds[0] != "Conv2d", len(pools) == 3 and kinds[0] == "Conv2d"),
                        "3 max pools (after conv1, conv2, conv5), no dropout among the convs",
                        layers=" ".join(kinds[:4]))
    if what == "conv1":
        sheet = (227 + 2 * 5 - 11) / 4 + 1
        return evidence(wrong_if(sheet == 55, window_count(227, 11, 4, 0) == 55), "pad 5: 57.5, pad 0: 55", sheet=sheet)
    if what == "norm-order":
        return evidence(wrong_if(kinds[1] == "LocalResponseNorm", kinds[:3] == ["Conv2d", "ReLU", "LocalResponseNorm"]),
                        "conv → ReLU → NORM (across 5 channels) → pool", layers=" ".join(kinds[:4]),
                        lrn_size=feats[2].size)
    if what == "conv2":
        c = convs[1]
        return evidence(holds_if((c.kernel_size, c.stride, c.padding) == ((5, 5), (1, 1), (2, 2))), "conv2 5x5/1 pad 2")
    if what == "conv3":
        c = convs[2]
        return evidence(holds_if((c.kernel_size, c.stride, c.padding) == ((3, 3), (1, 1), (1, 1))), "conv3 3x3/1 pad 1")
    if what == "norm3":
        after = kinds[kinds.index("Conv2d", 8) :][:3]
        return evidence(wrong_if("LocalResponseNorm" in after, kinds.count("LocalResponseNorm") == 2),
                        "NORM follows only conv1 and conv2", after_conv3=" ".join(after))
    if what == "fc":
        fcs = [(m.in_features, m.out_features) for m in model.classifier if _kind(m) == "Linear"]
        return evidence(wrong_if(len(fcs) == 1 and len(convs) == 3, len(fcs) == 3 and len(convs) == 5),
                        "5 convs and 3 FC layers", fcs=str(fcs))
    assert what == "out"
    return evidence(holds_if(model.classifier[-1].out_features == 1000), "1000 logits into a softmax")


def pca_colour() -> Evidence:
    """AlexNet's "scale PCs of color" as c147's ``Lighting`` does it: fitted on seeded RGB images whose colours
    lie in a plane and vary mostly along one direction, 20,000 shifts of a black image; the shift lies in the span
    of the principal components, and its variance along the first one is σ² λ₁² (α ~ N(0, 0.1²) times λ₁), not
    σ² λ₁ (a scale of √λ₁, the standard deviation: the contrast). The 1% of error it saved is the paper's ImageNet
    figure, not re-measured here."""
    g = generator(115)
    mix = torch.tensor([[0.5, 0.4, 0.3], [0.0, 0.1, -0.1], [0.0, 0.0, 0.0]], dtype=torch.float64)
    images = (torch.randn(64, 8, 8, 3, generator=g, dtype=torch.float64) @ mix).permute(0, 3, 1, 2)
    lighting = Lighting().fit(pixel_covariance([images]))
    black = torch.zeros(20_000, 3, 1, 1, dtype=torch.float64)
    shift = lighting(black, torch.Generator().manual_seed(116))[:, :, 0, 0]  # (N, 3)
    p1, lam1 = lighting.eigvec[:, 0], lighting.eigval[0].item()
    along = monte_carlo("variance_along_p1", (shift @ p1) ** 2, 0.01 * lam1**2, 0.01 * lam1)
    off_plane = (shift @ lighting.eigvec[:, 2]).abs().max().item()  # the colours span a plane: λ₃ = 0
    in_span = off_plane < 1e-12
    return evidence(holds_if(along.ok and in_span), "shift = Σ α_i λ_i p_i: in the components' span, variance "
                    "σ²λ₁² along p₁", along, lambda_1=lam1, off_plane=off_plane)


S = Section("VGGNet")
CLAIMS = [
    S("vgg-conv", 698, HOLDS, "CONV uniform: 3x3, stride 1, pad 1", "as written", lambda: vgg_layers("conv"),
      VGG + "test_sheet_vgg_uses_3x3_stride_1_pad_1_convs_and_2x2_stride_2_pools"),
    S("vgg-pool", 700, HOLDS, "POOL uniform: 2x2 max, stride 2", "as written", lambda: vgg_layers("pool"),
      VGG + "test_sheet_vgg_uses_3x3_stride_1_pad_1_convs_and_2x2_stride_2_pools"),
    S("vgg-stacked", 702, HOLDS, "smaller fields need more layers, less params, more nonlinearity", "as written",
      stacked_3x3, "tests/theory/test_shapes.py::test_sheet_stacked_3x3_convs_see_7x7_with_fewer_parameters"),
    S("vgg-params", 705, HOLDS, "138M params, concentrated in FC layers (122M)",
      "about right: 138,357,544 in all, 123,642,856 (123.6M, 89.4%) in the FC layers", vgg_params,
      VGG + "test_sheet_vgg16_fc_layers_hold_about_122m"),
]
S = Section("GoogLeNet")
CLAIMS += [
    S("googlenet", 707, HOLDS, "GoogleNet = deeper Inception module, no FC, 5M params",
      "right in spirit: no stack of large FC layers (one 1024x1000 classifier, 1,025,000 parameters) and about 5M "
      "parameters (6,624,904 in torchvision's layout, 7,005,832 with the paper's 5x5 convs)", googlenet_params,
      GOOGLE + "test_sheet_googlenet_has_no_large_fc_layers_and_about_5m_params"),
]
S = Section("LeNet-5")
CLAIMS += [
    S("lenet-conv1", 717, HOLDS, "CONV 6 filters at stride 1", "as written", lambda: lenet_listing("conv1")),
    S("lenet-relu", 718, WRONG, "ReLU: max of zero and the input, then passes through sigmoid", "ReLU is max(0, x)",
      no_sigmoid, ALEX + "test_sheet_erratum_relu_has_no_sigmoid"),
    S("lenet-maxpool", 719, HOLDS, "max pooling: the max of the four values", "as written (2x2 windows)",
      lambda: lenet_listing("pool")),
    S("lenet-conv2", 720, HOLDS, "CONV 16 filters at stride 1", "as written", lambda: lenet_listing("conv2")),
    S("lenet-relu-2", 721, WRONG, "ReLU ... then passes through sigmoid", "ReLU is max(0, x)", no_sigmoid,
      ALEX + "test_sheet_erratum_relu_has_no_sigmoid"),
    S("lenet-fc-1000", 722, WRONG, "FC 1000 fully connected layer with 1000 units", "C5 120 → F6 84 → 10 outputs",
      lambda: lenet_listing("fc1000"), ALEX + "test_sheet_erratum_lenet_fc_1000"),
    S("lenet-out", 723, HOLDS, "OUT: softmax for each digit", "as written (10 outputs)", lambda: lenet_listing("out")),
]
S = Section("AlexNet")
CLAIMS += [
    S("alexnet-overlapping-pool", 728, HOLDS, "use pooling with overlapping", "as written (3x3 at stride 2)",
      lambda: alexnet_line("overlap")),
    S("alexnet-pca-colour", 731, HOLDS, "scale PCs of color = 1% error",
      "as written for the method: add Σ_i α_i λ_i p_i to every pixel, α_i ~ N(0, 0.1²) per image, p_i, λ_i the "
      "eigenvectors and eigenvalues of the training pixels' RGB covariance (c147's data.augment=[lighting]); the 1% "
      "is the paper's ImageNet result", pca_colour,
      "tests/data/test_lighting.py::test_the_shift_covariance_is_alphas_law"),
    S("alexnet-dropout", 732, HOLDS, "dropout - p = 0.5", "as written", lambda: alexnet_line("dropout")),
    S("alexnet-input", 734, HOLDS, "Input image, 227 x 227 x 3", "as written", lambda: alexnet_line("input")),
    S("alexnet-pool-1", 735, WRONG, "[Dropout] POOL 3x3 win, stride 2 (before conv1)",
      "max pooling (not dropout) after conv1, conv2 and conv5; none before conv1", lambda: alexnet_line("pool-label"),
      ALEX + "test_sheet_erratum_alexnet_pool_is_not_dropout"),
    S("alexnet-conv1", 736, WRONG, "CONV 11x11, stride 4, padding 5", "padding 0 on 227 (55x55)",
      lambda: alexnet_line("conv1"), ALEX + "test_sheet_erratum_alexnet_conv1_padding"),
    S("alexnet-norm-1", 737, WRONG, "NORM 5x5 kernel, stride 1, padding 2 (before the ReLU)",
      "ReLU, then local response normalization across 5 adjacent channels (no spatial kernel)",
      lambda: alexnet_line("norm-order"), ALEX + "test_sheet_erratum_alexnet_norm_after_relu"),
    S("alexnet-relu-1", 738, WRONG, "ReLU ... then passes through sigmoid", "ReLU is max(0, x)", no_sigmoid,
      ALEX + "test_sheet_erratum_relu_has_no_sigmoid"),
    S("alexnet-pool-2", 739, WRONG, "[Dropout] POOL 3x3 win, stride 2", "max pooling, not dropout",
      lambda: alexnet_line("pool-label"), ALEX + "test_sheet_erratum_alexnet_pool_is_not_dropout"),
    S("alexnet-conv2", 740, HOLDS, "CONV 5x5 kernel, stride 1, padding 2", "as written", lambda: alexnet_line("conv2")),
    S("alexnet-norm-2", 741, WRONG, "NORM 5x5 kernel, stride 1, padding 2 (before the ReLU)",
      "ReLU, then normalization across channels", lambda: alexnet_line("norm-order"),
      ALEX + "test_sheet_erratum_alexnet_norm_is_across_channels"),
    S("alexnet-relu-2", 742, WRONG, "ReLU ... then passes through sigmoid", "ReLU is max(0, x)", no_sigmoid,
      ALEX + "test_sheet_erratum_relu_has_no_sigmoid"),
    S("alexnet-pool-3", 743, WRONG, "[Dropout] POOL 3x3 win, stride 2", "max pooling, not dropout",
      lambda: alexnet_line("pool-label"), ALEX + "test_sheet_erratum_alexnet_pool_is_not_dropout"),
    S("alexnet-conv3", 744, HOLDS, "CONV 3x3 kernel, stride 1, padding 1", "as written", lambda: alexnet_line("conv3")),
    S("alexnet-norm-3", 745, WRONG, "NORM 3x3 kernel after the third conv", "no normalization after conv3-5",
      lambda: alexnet_line("norm3"), ALEX + "test_sheet_erratum_alexnet_no_norm_after_conv3"),
    S("alexnet-relu-3", 746, WRONG, "ReLU ... then passes through sigmoid", "ReLU is max(0, x)", no_sigmoid,
      ALEX + "test_sheet_erratum_relu_has_no_sigmoid"),
    S("alexnet-fc", 747, WRONG, "FC 1000 fully connected layer (one FC after three convs)",
      "5 convs and 3 FC layers (9216 → 4096 → 4096 → 1000)", lambda: alexnet_line("fc"),
      ALEX + "test_sheet_erratum_alexnet_five_convs_and_three_fc_layers"),
    S("alexnet-out", 748, HOLDS, "OUT: Softmax layer", "as written", lambda: alexnet_line("out")),
]
