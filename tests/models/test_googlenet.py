"""GoogLeNet against torchvision: counts, module tree, seeded init, train/eval parity, sizes, errata."""

import pytest
import torch
import torchvision.models as tv

import c147.functional
import c147.nn
from c147.models.googlenet import (
    INCEPTIONS,
    GoogLeNet,
    GoogLeNetOutputs,
    googlenet,
    googlenet_feature_size,
    googlenet_min_size,
)
from tests.twins import DEVICES, assert_same_init_then_load

IMPLS = ["c147", "torch"]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torchvision_googlenet(**kwargs) -> torch.nn.Module:
    # init_weights=True: torchvision's init, without its FutureWarning about the default
    return tv.googlenet(init_weights=True, **kwargs)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "aux_logits, five_by_five, count",
    [(False, False, 6_624_904), (True, False, 13_004_888), (False, True, 7_005_832), (True, True, 13_385_816)],
)
def test_parameter_count(impl, aux_logits, five_by_five, count):
    with torch.device("meta"):
        ours = googlenet(impl=impl, aux_logits=aux_logits, five_by_five=five_by_five)
        assert n_params(ours) == count
        if not five_by_five:
            assert n_params(tv.googlenet(init_weights=False, aux_logits=aux_logits)) == count


def test_five_by_five_adds_16_weights_per_filter_tap_pair():
    """Paper layout: 5x5 instead of 3x3 in branch3 adds (25 - 9) * reduce * out weights per module."""
    extra = sum(16 * row[4] * row[5] for row in INCEPTIONS.values())
    assert extra == 7_005_832 - 6_624_904 == 380_928
    with torch.device("meta"):
        model = googlenet(five_by_five=True)
    assert {m.branch3[1].conv.kernel_size for m in model.modules() if type(m).__name__ == "Inception"} == {(5, 5)}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("aux_logits", [False, True])
def test_module_tree_and_state_dict_keys_equal_torchvision(impl, aux_logits):
    with torch.device("meta"):
        ours = googlenet(impl=impl, aux_logits=aux_logits)
        ref = tv.googlenet(init_weights=False, aux_logits=aux_logits)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [type(m).__name__ for m in ours.modules()] == [type(m).__name__ for m in ref.modules()]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_c147_impl_uses_only_hand_written_layers():
    with torch.device("meta"):
        model = googlenet(impl="c147", aux_logits=True)
    leaves = {type(m) for m in model.modules() if not list(m.children())}
    assert {cls for cls in leaves if not cls.__module__.startswith("c147.")} == set()
    assert len(leaves) == 6  # Conv2d BatchNorm2d MaxPool2d AdaptiveAvgPool2d Linear Dropout
    assert model.conv1._relu is c147.functional.relu and model.aux1._F is c147.functional


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", IMPLS)
def test_seeded_init_equals_torchvision_and_eval_outputs_match(impl, device):
    torch.manual_seed(0)
    ref = torchvision_googlenet(aux_logits=True).to(device)
    torch.manual_seed(0)
    ours = googlenet(impl=impl, aux_logits=True).to(device)  # same random calls in the same order
    assert_same_init_then_load(ours, ref)
    x = torch.randn(2, 3, 64, 64, device=device)
    out = ours(x)
    assert isinstance(out, torch.Tensor)  # eval: the logits only, aux heads unused
    torch.testing.assert_close(out, ref(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("impl", IMPLS)
def test_training_outputs_and_gradients_match_torchvision_in_float64(impl, device):
    """Train mode: batch statistics, dropout (same seed, same masks), aux heads, transform_input."""
    torch.manual_seed(0)
    ref = torchvision_googlenet(aux_logits=True, transform_input=True).to(device).double()
    ours = googlenet(impl=impl, aux_logits=True, transform_input=True).to(device).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 48, 40, dtype=torch.float64, device=device)
    torch.manual_seed(1)
    out = ours(x)
    torch.manual_seed(1)
    expected = ref(x)
    assert isinstance(out, GoogLeNetOutputs) and out._fields == expected._fields
    for a, b in zip(out, expected, strict=True):
        torch.testing.assert_close(a, b)
    sum(o.square().sum() for o in out).backward()
    sum(o.square().sum() for o in expected).backward()
    grads = {n: p.grad for n, p in ref.named_parameters()}
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], msg=name)
    for name, buffer in ref.named_buffers():  # running statistics updated alike
        torch.testing.assert_close(ours.get_buffer(name), buffer, msg=name)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "size, kwargs",
    [
        (15, dict(image_size=15, num_classes=10, in_channels=1)),  # the smallest
        (32, dict(image_size=32, num_classes=10, in_channels=1, aux_logits=True)),  # digits/CIFAR
        pytest.param(224, dict(aux_logits=True), marks=pytest.mark.slow),  # canonical
    ],
)
def test_forward_backward(impl, size, kwargs):
    model = googlenet(impl=impl, **kwargs)
    x = torch.randn(2, kwargs.get("in_channels", 3), size, size)
    out = model(x)
    classes = kwargs.get("num_classes", 1000)
    if kwargs.get("aux_logits"):
        assert isinstance(out, GoogLeNetOutputs)
        assert [o.shape for o in out] == [(2, classes)] * 3
        loss = out.logits.sum() + 0.3 * (out.aux_logits1.sum() + out.aux_logits2.sum())  # the paper's weights
    else:
        assert out.shape == (2, classes)
        loss = out.sum()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, classes)


def test_feature_size_formula_agrees_with_torchvision():
    """The size rule and the smallest size (15, torchvision's min_size) against torchvision on meta."""
    assert googlenet_min_size() == 15 == tv.GoogLeNet_Weights.IMAGENET1K_V1.meta["min_size"][0]
    assert googlenet_feature_size(224) == 7 and googlenet_feature_size(32) == 1
    with torch.device("meta"):
        ref = tv.googlenet(init_weights=False, aux_logits=False).eval()
        shapes = []
        ref.inception5b.register_forward_hook(lambda module, args, out: shapes.append(out.shape[-1]))
        for size in [*range(11, 20), 31, 32, 33, 64, 65, 224, 225]:
            side = googlenet_feature_size(size)
            if side < 1:
                with pytest.raises(RuntimeError, match="too small"):
                    ref(torch.empty(1, 3, size, size))
            else:
                ref(torch.empty(1, 3, size, size))
                assert shapes.pop() == side, size


def test_too_small_image_size_names_the_smallest_size():
    with pytest.raises(ValueError, match="GoogLeNet needs input images of at least 15x15, got 14x14"):
        googlenet(image_size=14)


@pytest.mark.parametrize("shape", [(1, 3, 14, 20), (1, 3, 224, 8)])
def test_too_small_input_tensor_names_the_smallest_size(shape):
    with torch.device("meta"):
        model = googlenet(impl="torch")
    h, w = shape[-2:]
    with pytest.raises(ValueError, match=f"GoogLeNet needs input images of at least 15x15, got {h}x{w}"):
        model(torch.empty(shape, device="meta"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(impl="jax"), "impl must be one of"),
        (dict(num_classes=0), "num_classes must be positive, got 0"),
        (dict(in_channels=-1), "in_channels must be positive, got -1"),
        (dict(dropout=2.0), r"dropout must be in \[0, 1\], got 2.0"),
        (dict(dropout_aux=-0.5), r"dropout_aux must be in \[0, 1\], got -0.5"),
        (dict(transform_input=True, in_channels=1), "transform_input needs in_channels=3 .RGB., got 1"),
        (dict(image_size=10), "GoogLeNet needs input images of at least 15x15, got 10x10"),
    ],
)
def test_bad_arguments(kwargs, message):
    with torch.device("meta"), pytest.raises(ValueError, match=message):
        GoogLeNet(**kwargs)


def test_options_reach_the_layers():
    with torch.device("meta"):
        model = googlenet(num_classes=7, in_channels=1, aux_logits=True, dropout=0.1, dropout_aux=0.6)
    assert model.conv1.conv.in_channels == 1 and model.conv1.conv.bias is None and model.conv1.bn.eps == 0.001
    assert model.fc.out_features == model.aux1.fc2.out_features == model.aux2.fc2.out_features == 7
    assert (model.dropout.p, model.aux1.dropout.p, model.aux2.dropout.p) == (0.1, 0.6, 0.6)
    assert model.aux1.conv.conv.in_channels == 512 and model.aux2.conv.conv.in_channels == 528


def test_sheet_googlenet_has_no_large_fc_layers_and_about_5m_params():
    """Sheet: "GoogleNet = deeper Inception module, no FC, 5M params". Right in spirit: GoogLeNet drops
    AlexNet/VGG's stack of big FC layers for global average pooling, keeping one FC classifier (1024 x 1000
    + 1000 = 1,025,000 parameters, against AlexNet's 58.6M in three FC layers), and has about 5M parameters
    (the paper: "12 times fewer than AlexNet"). The exact counts: 6,624,904 in torchvision's layout,
    7,005,832 with the paper's real 5x5 convs (the paper's own Table 1 adds up to about 6.8M)."""
    with torch.device("meta"):
        alexnet_fc = sum(n_params(m) for m in tv.alexnet().modules() if isinstance(m, torch.nn.Linear))
        for five_by_five, exact in [(False, 6_624_904), (True, 7_005_832)]:
            model = googlenet(five_by_five=five_by_five)
            fcs = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, c147.nn.Linear))]
            assert fcs == [model.fc] and n_params(model.fc) == 1024 * 1000 + 1000 == 1_025_000
            assert alexnet_fc == 58_631_144 > 50 * n_params(model.fc)  # no large FC layers
            assert n_params(model) == exact and 5e6 < exact < 1.5 * 5e6  # about 5M: the same order
