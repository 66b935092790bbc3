"""VGG against torchvision: parameter counts, module tree, seeded init, state_dict parity, sizes, errata.

Counts and trees are checked on the meta device (no memory, no init), so all eight models stay cheap;
the real 130M-parameter models are built once per test where weights or gradients matter.
"""

import pytest
import torch
import torchvision.models as tv

from c147.models import vgg as vgg_module
from c147.models.vgg import VGG, cfgs, vgg_feature_size, vgg_min_size
from tests.twins import assert_same_init_then_load

NAMES = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
COUNTS = {  # torchvision's, 1000 classes
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992, "vgg19_bn": 143_678_248,
}
IMPLS = ["c147", "torch"]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(name: str, device: str = "cpu", **kwargs) -> torch.nn.Module:
    with torch.device(device):
        return getattr(vgg_module, name)(**kwargs)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_equals_torchvision(name, impl):
    ours = build(name, "meta", impl=impl)
    with torch.device("meta"):
        ref = getattr(tv, name)()
    assert n_params(ours) == n_params(ref) == COUNTS[name]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_module_tree_and_state_dict_keys_equal_torchvision(name, impl):
    ours = build(name, "meta", impl=impl)
    with torch.device("meta"):
        ref = getattr(tv, name)()
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    # same layer kinds at the same places (torch's classes, or their c147 twins of the same name)
    assert [type(m).__name__ for m in ours.modules()][1:] == [type(m).__name__ for m in ref.modules()][1:]


def test_c147_impl_uses_only_hand_written_layers():
    model = build("vgg11_bn", "meta", impl="c147")
    leaves = {type(m) for m in model.modules() if not list(m.children())}
    assert {cls for cls in leaves if not cls.__module__.startswith("c147.")} == set()
    assert len(leaves) == 7  # Conv2d BatchNorm2d ReLU MaxPool2d AdaptiveAvgPool2d Linear Dropout


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
def test_seeded_init_equals_torchvision_and_state_dict_loads(impl):
    torch.manual_seed(0)
    ref = tv.vgg11_bn()
    torch.manual_seed(0)
    ours = build("vgg11_bn", impl=impl)  # same seed, same random calls in the same order
    assert_same_init_then_load(ours, ref)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out, expected = ours(x), ref(x)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    out.square().sum().backward()
    expected.square().sum().backward()
    grads = {n: p.grad for n, p in ref.named_parameters()}
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, impl",
    [(name, "c147") for name in NAMES] + [("vgg11", "torch"), ("vgg19_bn", "torch")],
)
def test_forward_backward_at_the_smallest_size(name, impl):
    """32x32 (features 1x1, stretched to 7x7): every table with our layers; the torch side runs the
    same model code, so two of its models suffice (each VGG build fills ~130M weights twice)."""
    model = build(name, impl=impl, num_classes=10, in_channels=1, image_size=32)
    out = model(torch.randn(2, 1, 32, 32))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", ["vgg11", "vgg16_bn"])
def test_forward_backward_at_the_canonical_size(name, impl):
    """224x224, batch 1: one plain and one BN model (the other depths differ only in the table)."""
    model = build(name, impl=impl)
    shapes = []
    model.features.register_forward_hook(lambda module, args, out: shapes.append(out.shape))
    out = model(torch.randn(1, 3, 224, 224))
    assert shapes == [(1, 512, 7, 7)] and out.shape == (1, 1000)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("cfg", list(cfgs))
def test_feature_size_formula_agrees_with_torchvision(cfg):
    """The size rule and the smallest size (32: five 2x2/2 pools) against torchvision's layers on meta."""
    assert vgg_min_size(cfgs[cfg]) == 32
    features = tv.vgg.make_layers(cfgs[cfg]).to("meta")
    for size in [31, 32, 33, 63, 64, 100, 224]:
        side = vgg_feature_size(cfgs[cfg], size)
        if side < 1:
            with pytest.raises(RuntimeError, match="too small"):
                features(torch.empty(1, 3, size, size, device="meta"))
        else:
            assert features(torch.empty(1, 3, size, size, device="meta")).shape[-2:] == (side, side)
    assert vgg_feature_size(cfgs[cfg], 224) == 7


@pytest.mark.parametrize(
    "name, image_size, message",
    [
        ("vgg16", 31, "VGG-16 needs input images of at least 32x32, got 31x31"),
        ("vgg11_bn", 16, "VGG-11-BN needs input images of at least 32x32, got 16x16"),
        ("vgg19", 1, "VGG-19 needs input images of at least 32x32, got 1x1"),
    ],
)
def test_too_small_image_size_names_the_smallest_size(name, image_size, message):
    with pytest.raises(ValueError, match=message):
        build(name, "meta", image_size=image_size)


@pytest.mark.parametrize("shape", [(1, 3, 16, 20), (1, 3, 64, 31), (3, 31, 224)])
def test_too_small_input_tensor_names_the_smallest_size(shape):
    model = build("vgg16", "meta", impl="torch")
    h, w = shape[-2:]
    with pytest.raises(ValueError, match=f"VGG-16 needs input images of at least 32x32, got {h}x{w}"):
        model(torch.empty(shape, device="meta"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cfg="C"), r"cfg must be one of \('A', 'B', 'D', 'E'\), got 'C'"),
        (dict(impl="jax"), "impl must be one of"),
        (dict(num_classes=0), "num_classes must be positive, got 0"),
        (dict(in_channels=0), "in_channels must be positive, got 0"),
        (dict(dropout=1.5), r"dropout must be in \[0, 1\], got 1.5"),
        (dict(dropout=-0.1), r"dropout must be in \[0, 1\], got -0.1"),
    ],
)
def test_bad_arguments(kwargs, message):
    kwargs = {"cfg": "D", **kwargs}
    with torch.device("meta"), pytest.raises(ValueError, match=message):
        VGG(**kwargs)


@pytest.mark.parametrize("impl", IMPLS)
def test_options_reach_the_layers(impl):
    model = build("vgg13", "meta", impl=impl, num_classes=7, in_channels=1, image_size=32, dropout=0.25)
    assert model.features[0].in_channels == 1 and model.classifier[-1].out_features == 7
    assert [m.p for m in model.classifier if type(m).__name__ == "Dropout"] == [0.25, 0.25]


def test_sheet_vgg_uses_3x3_stride_1_pad_1_convs_and_2x2_stride_2_pools():
    """Sheet: "CONV uniform: 3x3, stride 1, pad 1; POOL uniform: 2x2 max, stride 2" (correct)."""
    for name in NAMES:
        model = build(name, "meta", impl="torch")
        convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
        pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
        assert {(m.kernel_size, m.stride, m.padding) for m in convs} == {((3, 3), (1, 1), (1, 1))}
        assert {(m.kernel_size, m.stride) for m in pools} == {(2, 2)} and len(pools) == 5


def test_sheet_vgg16_has_138m_parameters():
    """Sheet: "138M params" (correct: 138,357,544)."""
    assert round(n_params(build("vgg16", "meta")) / 1e6) == 138


def test_sheet_vgg16_fc_layers_hold_about_122m():
    """Sheet: "concentrated in FC layers (122M)". About right: the three FC layers hold
    25088*4096+4096 + 4096*4096+4096 + 4096*1000+1000 = 123,642,856 (89.4% of 138,357,544), 123.6M, 1.3%
    above the sheet's 122M (weights alone: 123,633,664); the point, that the FC layers hold almost all
    the parameters, stands."""
    model = build("vgg16", "meta")
    fc = n_params(model.classifier)
    assert fc == 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000 == 123_642_856
    assert sum(m.weight.numel() for m in model.classifier if hasattr(m, "weight")) == 123_633_664
    assert abs(fc - 122e6) / 122e6 < 0.02  # within 2% of the sheet's 122M
    assert round(100 * fc / n_params(model), 1) == 89.4
