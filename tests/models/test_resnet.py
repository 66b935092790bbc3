"""ResNet against torchvision: counts, module tree, seeded init, float64 train/eval parity, stems, sizes, summary."""

import pytest
import torch
import torchvision.models as tv

from c147.models import resnet as resnet_module
from c147.models.resnet import BasicBlock, Bottleneck, ResNet, pick_stem, resnet, resnet_feature_size
from c147.theory.shapes import summarize
from tests.twins import assert_same_init_then_load

NAMES = ["resnet18", "resnet34", "resnet50"]
COUNTS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}  # torchvision's, 1000 classes
IMPLS = ["c147", "torch"]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(name: str, device: str = "cpu", **kwargs) -> ResNet:
    with torch.device(device):
        return getattr(resnet_module, name)(**kwargs)


def torchvision_small_stem(name: str, in_channels: int, **kwargs) -> torch.nn.Module:
    """torchvision's model with the CIFAR-style stem, the usual recipe: conv1 3x3/1 pad 1, no max pool."""
    ref = getattr(tv, name)(**kwargs)
    ref.conv1 = torch.nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    ref.maxpool = torch.nn.Identity()
    return ref


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_module_tree_and_state_dict_keys_equal_torchvision(name, impl):
    ours = build(name, "meta", impl=impl)
    with torch.device("meta"):
        ref = getattr(tv, name)()
    assert n_params(ours) == n_params(ref) == COUNTS[name]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [type(m).__name__ for m in ours.modules()][1:] == [type(m).__name__ for m in ref.modules()][1:]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_c147_impl_uses_only_hand_written_layers():
    for stem in ("imagenet", "small"):
        model = build("resnet50", "meta", impl="c147", stem=stem)
        leaves = {type(m) for m in model.modules() if not list(m.children())}
        assert {cls for cls in leaves if not cls.__module__.startswith("c147.")} == set()
        # Conv2d BatchNorm2d ReLU AdaptiveAvgPool2d Linear, and MaxPool2d in the ImageNet stem only
        assert len(leaves) == (6 if stem == "imagenet" else 5)


def assert_parity_in_both_modes(ours: torch.nn.Module, ref: torch.nn.Module, x: torch.Tensor,
                                backward: bool = True) -> None:
    """Eval outputs equal; then a train-mode step (batch statistics): outputs, running statistics and, with
    ``backward``, gradients."""
    torch.testing.assert_close(ours(x), ref(x))
    ours.train(), ref.train()
    out, expected = ours(x), ref(x)
    torch.testing.assert_close(out, expected)
    for name, buffer in ref.named_buffers():
        torch.testing.assert_close(ours.get_buffer(name), buffer, msg=name)
    if not backward:
        return
    out.square().sum().backward()
    expected.square().sum().backward()
    grads = {n: p.grad for n, p in ref.named_parameters()}
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], msg=name)


# the c147 impl checks ours and the shared model code; the torch impl (the same code on torch.nn) runs with the slow set
SLOW_TORCH = ["c147", pytest.param("torch", marks=pytest.mark.slow)]


@pytest.mark.parametrize("impl", SLOW_TORCH)
@pytest.mark.parametrize("name", ["resnet18", pytest.param("resnet50", marks=pytest.mark.slow)])
def test_seeded_init_equals_torchvision_and_state_dict_loads_float64(name, impl):
    """The ImageNet stem on 33x33, the smallest input that leaves layer4 at 2x2 (at 1x1 and batch 2, train-mode batch
    norm sees two values a channel and the gradients reach 1e4, ill-conditioned): same seed, same tensors; a strict
    load, equal outputs, gradients and running statistics in float64."""
    torch.manual_seed(0)
    ref = getattr(tv, name)(num_classes=10).double()
    torch.manual_seed(0)
    ours = build(name, impl=impl, num_classes=10, image_size=224).double()  # same random calls in the same order
    assert_same_init_then_load(ours, ref)
    assert_parity_in_both_modes(ours, ref, torch.randn(2, 3, 33, 33, dtype=torch.float64,
                                                       generator=torch.Generator().manual_seed(2)))


@pytest.mark.parametrize(
    "impl, backward",
    [("c147", False), pytest.param("c147", True, marks=pytest.mark.slow),
     pytest.param("torch", True, marks=pytest.mark.slow)],
)
def test_small_stem_equals_torchvision_with_the_cifar_stem_on_8x8_digits(impl, backward):
    """Strict load into torchvision's model with the CIFAR stem; the gradients (float64 slow convs: ~3 s) in the
    slow set, the ImageNet stem's test above checks them in the fast one."""
    torch.manual_seed(0)
    ref = torchvision_small_stem("resnet18", 1, num_classes=10).double()
    ours = build("resnet18", impl=impl, num_classes=10, in_channels=1, image_size=8).double()
    assert ours.stem == "small" and ours.maxpool is None
    ours.load_state_dict(ref.state_dict())  # strict
    ours.eval(), ref.eval()
    assert_parity_in_both_modes(ours, ref, torch.randn(4, 1, 8, 8, dtype=torch.float64,
                                                       generator=torch.Generator().manual_seed(3)), backward)


@pytest.mark.parametrize(
    "name, impl, size, in_channels",
    [("resnet18", "c147", 8, 1), pytest.param("resnet18", "torch", 32, 1, marks=pytest.mark.slow),
     pytest.param("resnet34", "c147", 8, 1, marks=pytest.mark.slow),
     pytest.param("resnet50", "c147", 32, 3, marks=pytest.mark.slow)],
)
def test_forward_backward_on_small_images(name, impl, size, in_channels):
    model = build(name, impl=impl, num_classes=10, in_channels=in_channels, image_size=size)
    out = model(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_feature_size_formula_and_stems_agree_with_torchvision():
    """layer4's side from the formula against torchvision's layers on meta; "auto" picks the small stem up to 32."""
    with torch.device("meta"):
        ref = tv.resnet18().eval()
        small = torchvision_small_stem("resnet18", 3).eval()
    sides = []
    for model in (ref, small):
        model.layer4.register_forward_hook(lambda module, args, out: sides.append(out.shape[-1]))
    for size in [1, 2, 7, 8, 9, 31, 32, 33, 64, 224, 225]:
        ref(torch.empty(1, 3, size, size, device="meta"))
        small(torch.empty(1, 3, size, size, device="meta"))
        assert sides[-2:] == [resnet_feature_size(size), resnet_feature_size(size, "small")], size
    assert resnet_feature_size(224) == 7 and resnet_feature_size(32) == 1 and resnet_feature_size(8, "small") == 1
    assert [pick_stem("auto", s) for s in (8, 32, 33, 224)] == ["small", "small", "imagenet", "imagenet"]
    with torch.device("meta"):
        assert build("resnet18", "meta", image_size=32, stem="imagenet").conv1.kernel_size == (7, 7)
        assert build("resnet18", "meta", image_size=224, stem="small").conv1.kernel_size == (3, 3)


def test_zero_init_residual_starts_every_block_as_the_identity():
    """F(x) = 0: a block passes relu(x) = x for x >= 0 on, so a deep net starts as a shallow one."""
    model = build("resnet18", zero_init_residual=True, num_classes=10, image_size=8, in_channels=1).eval()
    x = torch.rand(2, 64, 4, 4)
    torch.testing.assert_close(model.layer1(x), x)
    model = ResNet(Bottleneck, [1, 1, 1, 1], zero_init_residual=True)
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 4 and all(not b.bn3.weight.any() and b.bn2.weight.all() for b in blocks)


def test_gradient_reaches_the_input_through_the_identity_shortcut():
    """With the residual branch's last BN scale at 0 the block's Jacobian is relu'(x) I: the gradient passes as is."""
    block = BasicBlock(8, 8).eval()
    torch.nn.init.zeros_(block.bn2.weight)
    x = torch.rand(1, 8, 4, 4, requires_grad=True)
    g = torch.randn(1, 8, 4, 4)
    block(x).backward(g)
    torch.testing.assert_close(x.grad, g)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name, size", [("resnet18", 224), ("resnet50", 8)])
def test_summary_counts_torchvisions_parameters(name, size, impl):
    """c147-summary's table: every leaf call (the shortcut projections too), the total equals torchvision's."""
    model = build(name, impl=impl, image_size=size)
    with torch.device("meta"):
        counted = n_params(getattr(tv, name)() if model.stem == "imagenet" else torchvision_small_stem(name, 3))
    result = summarize(model, (3, size, size))
    assert result.params == counted and result.unused_params == 0
    rows = {r.name: r for r in result}
    side = resnet_feature_size(size, model.stem)
    assert rows["layer4.0.downsample.0"].output_shape == (512 * model.layer4[0].expansion, side, side)
    assert rows["fc"].output_shape == (1000,) and result.fc_params == rows["fc"].params


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(impl="jax"), "impl must be one of"),
        (dict(num_classes=0), "^ResNet: num_classes must be positive, got 0$"),
        (dict(in_channels=0), "^ResNet: in_channels must be positive, got 0$"),
        (dict(stem="big"), r"^ResNet: stem must be one of \('auto', 'imagenet', 'small'\), got 'big'$"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build("resnet18", "meta", **kwargs)


def test_bad_names_and_block_counts():
    with pytest.raises(ValueError, match=r"unknown ResNet 'resnet101'; expected one of \('resnet18'"):
        resnet("resnet101")
    with pytest.raises(ValueError, match=r"^ResNet: blocks must be four positive counts, got \[2, 2, 2\]$"):
        ResNet(BasicBlock, [2, 2, 2])
