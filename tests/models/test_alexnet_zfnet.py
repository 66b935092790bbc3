"""AlexNet (torchvision layout and the 2012 paper's) and ZFNet: parameter counts, torchvision
parity, map sizes, small inputs, bad arguments, and the cheat sheet's errata in these sections."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn as torch_nn

import c147.nn
from c147.functional.activation import relu
from c147.models.alexnet import (
    SMALL_STEM,
    AlexNet,
    alexnet,
    cfgs,
    conv_out,
    feature_size,
    make_features,
    min_image_size,
    with_stem,
)
from c147.models.lenet import lenet5
from c147.models.zfnet import ZFNet, zfnet
from c147.switch import layers
from tests.twins import assert_module_parity

IMPLS = ["c147", "torch"]
SEED = torch.Generator().manual_seed


def n_params(model: torch_nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=SEED(seed))


def tree(model: torch_nn.Module) -> list[tuple[str, str]]:
    """(name, class name) of every submodule: the module tree without the classes' origin."""
    return [(name, type(m).__name__) for name, m in model.named_modules()]


def paper_count(convs: list[tuple[int, int, int]], fc_in: int, classes: int = 1000) -> int:
    """Parameters from the papers' layer sizes: (in, out, kernel) per conv, then FC fc_in-4096-4096-classes."""
    conv = sum(c_in * c_out * k * k + c_out for c_in, c_out, k in convs)
    return conv + (fc_in * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * classes + classes)


# (model id, factory, kwargs, parameters with 1000 classes as stated in the docstrings)
MODELS = [
    ("alexnet", alexnet, {}, 61_100_840),
    ("alexnet-paper", alexnet, dict(variant="paper"), 62_378_344),
    ("zfnet", zfnet, {}, 62_357_608),
    ("zfnet-large", zfnet, dict(variant="large"), 107_627_624),
]
MODEL_IDS = [m[0] for m in MODELS]


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name, factory, kwargs, count", MODELS, ids=MODEL_IDS)
def test_parameter_counts(name, factory, kwargs, count, impl):
    assert n_params(factory(impl=impl, **kwargs)) == count


def test_parameter_counts_follow_from_the_papers_layer_sizes():
    tv = [(3, 64, 11), (64, 192, 5), (192, 384, 3), (384, 256, 3), (256, 256, 3)]
    paper = [(3, 96, 11), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    zf = [(3, 96, 7), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    zf_large = [(3, 96, 7), (96, 256, 5), (256, 512, 3), (512, 1024, 3), (1024, 512, 3)]
    assert paper_count(tv, 256 * 36) == 61_100_840 == torchvision.models.AlexNet_Weights.DEFAULT.meta["num_params"]
    assert paper_count(paper, 256 * 36) == 62_378_344
    assert paper_count(zf, 256 * 36) == 62_357_608
    assert paper_count(zf_large, 512 * 36) == 107_627_624


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
def test_torchvision_state_dict_loads_and_gives_the_same_outputs(impl):
    """Same module tree and keys as torchvision's AlexNet; its state_dict loads both ways; outputs, input
    and parameter gradients agree (eval mode, float32; at 160x160 the features are 4x4, which the adaptive
    pooling stretches to 6x6 with overlapping windows, so the weights keep their shapes)."""
    torch.manual_seed(0)
    twin = torchvision.models.alexnet(weights=None).eval()
    ours = alexnet(impl=impl, image_size=160).eval()
    assert tree(ours) == tree(twin)
    assert ours.state_dict().keys() == twin.state_dict().keys()
    assert_module_parity(ours, twin, rand(2, 3, 160, 160))  # loads twin -> ours
    twin.load_state_dict(ours.state_dict())


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
def test_same_seed_gives_torchvisions_initial_weights(impl):
    torch.manual_seed(1)
    twin = torchvision.models.alexnet(weights=None)
    torch.manual_seed(1)
    ours = alexnet(impl=impl)
    for (name, p), q in zip(ours.state_dict().items(), twin.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


@pytest.mark.slow
@pytest.mark.parametrize(
    "factory, kwargs, size",
    [(alexnet, dict(variant="paper"), 67), (zfnet, {}, 47), (zfnet, {}, 32)],
    ids=["alexnet-paper", "zfnet", "zfnet-small-stem"],
)
def test_c147_matches_torch_impl(factory, kwargs, size):
    """No torchvision twin: the same model on torch.nn layers is the reference (same seed, same weights)."""
    torch.manual_seed(2)
    ours = factory(impl="c147", image_size=size, **kwargs).eval()
    torch.manual_seed(2)
    twin = factory(impl="torch", image_size=size, **kwargs).eval()
    for p, q in zip(ours.state_dict().values(), twin.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    assert tree(ours) == tree(twin)
    assert_module_parity(ours, twin, rand(2, 3, size, size))


# (model id, factory, kwargs, image sizes: the smallest accepted and the canonical one)
SIZES = [
    ("alexnet", alexnet, {}, [15, 224]),
    ("alexnet-paper", alexnet, dict(variant="paper"), [15, 227]),
    ("zfnet", zfnet, {}, [8, 224]),
    ("zfnet-large", zfnet, dict(variant="large"), [8]),
]


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "factory, kwargs, size",
    [(f, kw, s) for _, f, kw, sizes in SIZES for s in sizes],
    ids=[f"{name}-{s}" for name, _, _, sizes in SIZES for s in sizes],
)
def test_forward_backward(factory, kwargs, size, impl):
    model = factory(impl=impl, image_size=size, **kwargs)
    out = model(rand(1 if size > 200 else 2, 3, size, size))
    assert out.shape == (1 if size > 200 else 2, 1000)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("factory, channels, size", [(alexnet, 1, 28), (zfnet, 3, 32)], ids=["alexnet-1", "zfnet-3"])
def test_digits_and_cifar_sizes(factory, channels, size, impl):
    """The training pipeline's small datasets (grey 28x28 digits, CIFAR's 3x32x32), 10 classes."""
    model = factory(impl=impl, num_classes=10, in_channels=channels, image_size=size)
    assert model.stem == "small"
    out = model(rand(2, channels, size, size))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert model.features[0].weight.grad.shape[1] == channels


@pytest.mark.parametrize(
    "factory, kwargs, size, sides",
    [
        # conv1, pool1, conv2, pool2, conv3, conv4, conv5, pool5
        (alexnet, {}, 224, [55, 27, 27, 13, 13, 13, 13, 6]),
        (alexnet, dict(variant="paper"), 227, [55, 27, 27, 13, 13, 13, 13, 6]),  # the paper's 55x55x96 after conv1
        (zfnet, {}, 224, [110, 55, 26, 13, 13, 13, 13, 6]),  # Zeiler & Fergus, Fig. 3
        (alexnet, {}, 32, [32, 15, 15, 7, 7, 7, 7, 3]),  # small stem
        (zfnet, {}, 32, [32, 16, 16, 8, 8, 8, 8, 4]),
    ],
    ids=["alexnet-224", "alexnet-paper-227", "zfnet-224", "alexnet-32", "zfnet-32"],
)
def test_map_sizes(factory, kwargs, size, sides):
    """The maps after each conv and pool, measured on the real layers, and the table's formula."""
    model = factory(impl="c147", image_size=size, **kwargs)
    seen = []
    for m in model.features:
        if isinstance(m, c147.nn.Conv2d | c147.nn.MaxPool2d):
            m.register_forward_hook(lambda mod, inp, out: seen.append(out.shape[-1]))
    with torch.no_grad():
        model.features(rand(1, 3, size, size))
    assert seen == sides
    assert feature_size(model.cfg, size) == sides[-1]


@pytest.mark.parametrize(
    "cfg, smallest",
    [
        (cfgs["torchvision"], 63),  # torchvision's AlexNet_Weights meta["min_size"]
        (cfgs["paper"], 67),
        (with_stem(cfgs["torchvision"], SMALL_STEM), 15),
        (ZFNet.cfgs["paper"], 47),
        (ZFNet.cfgs["large"], 47),
        (with_stem(ZFNet.cfgs["paper"], ZFNet.small_stem), 8),
    ],
    ids=["alexnet", "alexnet-paper", "alexnet-small", "zfnet", "zfnet-large", "zfnet-small"],
)
def test_smallest_input_is_tight(cfg, smallest):
    """min_image_size is computed from the formulas; the real layers run at it and fail one pixel below."""
    assert min_image_size(cfg) == smallest
    features = make_features(layers("torch"), cfg, 3)
    assert features(rand(1, 3, smallest, smallest)).shape[-1] == 1
    with pytest.raises(RuntimeError):
        features(rand(1, 3, smallest - 1, smallest - 1))


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode", [(11, 4, 2, False), (7, 2, 1, False), (5, 2, 0, False),
                                                            (3, 2, 0, False), (3, 2, 0, True), (3, 2, 1, True)])
def test_conv_out_is_the_layers_rule(kernel, stride, padding, ceil_mode):
    """conv_out against the real layers (0 where they refuse), ceil_mode's "start inside the input" included."""
    layer = (torch_nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode) if kernel == 3
             else torch_nn.Conv2d(1, 1, kernel, stride, padding))
    for size in range(1, 40):
        try:
            side = layer(rand(1, 1, size, size)).shape[-1]
        except RuntimeError:
            side = 0
        assert conv_out(size, kernel, stride, padding, ceil_mode) == side, size


def test_smallest_alexnet_is_torchvisions():
    assert min_image_size(cfgs["torchvision"]) == torchvision.models.AlexNet_Weights.DEFAULT.meta["min_size"][0]


@pytest.mark.parametrize(
    "factory, kwargs, stem",
    [
        (alexnet, dict(image_size=63), "imagenet"),
        (alexnet, dict(image_size=62), "small"),
        (alexnet, dict(variant="paper", image_size=66), "small"),
        (alexnet, dict(image_size=224, stem="small"), "small"),
        (zfnet, dict(image_size=47), "imagenet"),
        (zfnet, dict(image_size=46), "small"),
    ],
)
def test_stem_choice(factory, kwargs, stem):
    model = factory(impl="torch", **kwargs)
    assert model.stem == stem
    assert model.features[0].kernel_size == ((3, 3) if stem == "small" else (model.cfg[0][1],) * 2)


@pytest.mark.parametrize(
    "factory, kwargs, message",
    [
        (alexnet, dict(image_size=14), "AlexNet needs input images of at least 15x15, got 14x14"),
        (alexnet, dict(image_size=32, stem="imagenet"), "AlexNet needs input images of at least 63x63, got 32x32"),
        (alexnet, dict(image_size=66, variant="paper", stem="imagenet"), "at least 67x67, got 66x66"),
        (zfnet, dict(image_size=7), "ZFNet needs input images of at least 8x8, got 7x7"),
        (zfnet, dict(image_size=40, stem="imagenet"), "ZFNet needs input images of at least 47x47, got 40x40"),
    ],
)
def test_too_small_image_size(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(impl="torch", **kwargs)


@pytest.mark.parametrize(
    "factory, image_size, shape, message",
    [
        (alexnet, 224, (1, 3, 32, 32), "AlexNet needs input images of at least 63x63, got 32x32"),
        (alexnet, 32, (1, 3, 14, 40), "AlexNet needs input images of at least 15x15, got 14x40"),
        (zfnet, 224, (3, 46, 100), "ZFNet needs input images of at least 47x47, got 46x100"),
    ],
)
def test_too_small_input_in_forward(factory, image_size, shape, message):
    model = factory(impl="c147", image_size=image_size)
    with pytest.raises(ValueError, match=message):
        model(rand(*shape))


@pytest.mark.parametrize(
    "factory, kwargs, message",
    [
        (alexnet, dict(variant="caffe"), r"AlexNet: variant must be one of \('torchvision', 'paper'\), got 'caffe'"),
        (zfnet, dict(variant="torchvision"), r"ZFNet: variant must be one of \('paper', 'large'\), got 'torchvision'"),
        (alexnet, dict(stem="tiny"), r"stem must be one of \('auto', 'imagenet', 'small'\), got 'tiny'"),
        (alexnet, dict(num_classes=0), "num_classes must be positive, got 0"),
        (zfnet, dict(in_channels=0), "in_channels must be positive, got 0"),
        (alexnet, dict(dropout=1.5), r"dropout must be in \[0, 1\], got 1.5"),
        (zfnet, dict(dropout=-0.1), r"dropout must be in \[0, 1\], got -0.1"),
        (alexnet, dict(impl="jax"), r"impl must be one of \('c147', 'torch'\), got 'jax'"),
    ],
)
def test_bad_arguments(factory, kwargs, message):
    with pytest.raises(ValueError, match=message):
        factory(**kwargs)


# the layer sequences, LRN and dropout placement included
FEATURES = {
    "torchvision": "Conv ReLU Max Conv ReLU Max Conv ReLU Conv ReLU Conv ReLU Max",
    "paper": "Conv ReLU LRN Max Conv ReLU LRN Max Conv ReLU Conv ReLU Conv ReLU Max",  # Sec. 3.5
    "zfnet": "Conv ReLU Max LRN Conv ReLU Max LRN Conv ReLU Conv ReLU Conv ReLU Max",  # Fig. 3: relu, pool, norm
}
CLASSIFIERS = {
    "torchvision": "Dropout Linear ReLU Dropout Linear ReLU Linear",
    "paper": "Linear ReLU Dropout Linear ReLU Dropout Linear",  # dropout on FC6's and FC7's outputs
}
SHORT = {"Conv2d": "Conv", "MaxPool2d": "Max", "LocalResponseNorm": "LRN"}


@pytest.mark.parametrize(
    "model, features, classifier",
    [
        (lambda: AlexNet("torchvision", impl="torch"), "torchvision", "torchvision"),
        (lambda: AlexNet("paper", impl="torch"), "paper", "paper"),
        (lambda: ZFNet("paper", impl="torch"), "zfnet", "paper"),
    ],
    ids=["alexnet", "alexnet-paper", "zfnet"],
)
def test_layer_sequences(model, features, classifier):
    model = model()
    names = lambda seq: " ".join(SHORT.get(type(m).__name__, type(m).__name__) for m in seq)  # noqa: E731
    assert names(model.features) == FEATURES[features]
    assert names(model.classifier) == CLASSIFIERS[classifier]
    for m in model.features:
        if isinstance(m, torch_nn.LocalResponseNorm):
            assert (m.size, m.alpha, m.beta, m.k) == (5, 1e-4, 0.75, 2.0)
        if isinstance(m, torch_nn.MaxPool2d):
            assert (m.kernel_size, m.stride, m.ceil_mode) == (3, 2, isinstance(model, ZFNet))


@pytest.mark.parametrize("factory", [alexnet, zfnet])
def test_c147_impl_uses_only_hand_written_layers(factory):
    """Every layer of impl="c147" is ours."""
    model = factory(impl="c147", image_size=32)
    leaves = [m for m in model.modules() if not isinstance(m, torch_nn.Sequential | AlexNet | ZFNet)]
    assert {type(m).__module__.split(".")[0] for m in leaves} == {"c147"}, {type(m).__module__ for m in leaves}


@pytest.mark.slow
def test_dropout_is_off_in_eval_and_zero_dropout_is_deterministic():
    model = alexnet(impl="c147", image_size=32, num_classes=10, dropout=0.0)
    x = rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.train()(x), model.eval()(x))
    model = alexnet(impl="c147", image_size=32, num_classes=10).train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))  # dropout 0.5 draws new masks


# ---- the cheat sheet's AlexNet / LeNet listings (cheatsheet.md lines 712-747) ----


@pytest.fixture(scope="module")
def paper():
    """AlexNet as in the paper, on c147 layers (built once: 62M parameters)."""
    return alexnet(impl="c147", variant="paper", image_size=227)


def test_sheet_erratum_alexnet_conv1_padding(paper):
    """Sheet l.736: "CONV 11x11, stride 4, padding 5" on 227x227. (227 + 10 - 11) / 4 + 1 = 57.5 is no
    integer (the layer floors it to 57), while the paper's 55x55 needs padding 0 on 227 (exact) or
    padding 2 on 224 (torchvision)."""
    assert (227 + 2 * 5 - 11) / 4 + 1 == 57.5
    sheet_conv = c147.nn.Conv2d(3, 96, 11, stride=4, padding=5)
    assert sheet_conv(rand(1, 3, 227, 227)).shape[-1] == 57 != 55
    assert (227 + 2 * 0 - 11) % 4 == 0 and conv_out(227, 11, 4, 0) == 55
    assert conv_out(224, 11, 4, 2) == 55
    assert paper.features[0].padding == (0, 0)
    with torch.no_grad():
        assert paper.features[0](rand(1, 3, 227, 227)).shape == (1, 96, 55, 55)


def test_sheet_erratum_alexnet_pool_is_not_dropout(paper):
    """Sheet l.735, 739, 743: the POOL rows are labelled [Dropout], and the first comes before conv1.
    Overlapping 3x3/2 max pooling follows LRN1, LRN2 and conv5; it keeps one input value per window
    and is the same in training, while dropout zeroes at random and only sits in the classifier."""
    model = paper.train()
    assert isinstance(model.features[0], c147.nn.Conv2d)
    pools = [m for m in model.features if isinstance(m, c147.nn.MaxPool2d)]
    assert len(pools) == 3 and all(n_params(p) == 0 for p in pools)
    assert not any(isinstance(m, c147.nn.Dropout) for m in model.features)
    x = rand(1, 4, 9, 9)
    y = pools[0](x)
    assert torch.equal(y, pools[0](x)) and torch.isin(y, x).all()
    drop = model.classifier[2]
    assert isinstance(drop, c147.nn.Dropout) and not torch.equal(drop(x), drop(x))


def test_sheet_erratum_alexnet_norm_is_across_channels(paper):
    """Sheet l.737, 741: "NORM 5x5 kernel, stride 1, padding 2" reads as a spatial window. AlexNet's
    response normalization runs across n = 5 adjacent channels at the same pixel (Sec. 3.3): changing
    another pixel leaves a pixel's output alone, changing a neighbouring channel there does not."""
    lrn = paper.features[2]
    assert isinstance(lrn, c147.nn.LocalResponseNorm) and lrn.size == 5
    x = rand(1, 8, 5, 5).abs() * 30
    y = lrn(x)
    moved_pixel = x.clone()
    moved_pixel[0, :, 2, 3] += 50.0  # the spatial neighbour of (2, 2)
    assert torch.equal(lrn(moved_pixel)[0, :, 2, 2], y[0, :, 2, 2])
    moved_channel = x.clone()
    moved_channel[0, 4, 2, 2] += 50.0  # channel 4 is in channel 3's window
    assert not torch.allclose(lrn(moved_channel)[0, 3, 2, 2], y[0, 3, 2, 2])


def test_sheet_erratum_alexnet_norm_after_relu(paper):
    """Sheet l.737-738, 741-742: NORM then ReLU. The paper applies the normalization after the ReLU
    (Sec. 3.3), and the order matters: negative pre-activations enter the sum of squares otherwise."""
    feats = paper.features
    assert [type(m).__name__ for m in feats[:4]] == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d"]
    lrn, x = feats[2], rand(1, 8, 4, 4) * 20
    assert not torch.allclose(lrn(relu(x)), relu(lrn(x)))


def test_sheet_erratum_alexnet_no_norm_after_conv3(paper):
    """Sheet l.745: "NORM 3x3 kernel" after the third conv. Only conv1 and conv2 are followed by
    response normalization (Sec. 3.5); conv3, conv4, conv5 feed the ReLU directly."""
    feats = list(paper.features)
    convs = [i for i, m in enumerate(feats) if isinstance(m, c147.nn.Conv2d)]
    norms = [i for i, m in enumerate(feats) if isinstance(m, c147.nn.LocalResponseNorm)]
    assert norms == [convs[0] + 2, convs[1] + 2]
    assert all(not isinstance(feats[i + 2], c147.nn.LocalResponseNorm) for i in convs[2:])


def test_sheet_erratum_alexnet_five_convs_and_three_fc_layers(paper):
    """Sheet l.736-747 list three convs and one "FC 1000 ... (cross entropy loss)". AlexNet has five
    convs and three FC layers, 9216-4096, 4096-4096, 4096-1000, which hold 58.6M of its 62.4M parameters."""
    assert sum(isinstance(m, c147.nn.Conv2d) for m in paper.features) == 5
    fcs = [m for m in paper.classifier if isinstance(m, c147.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in fcs] == [(9216, 4096), (4096, 4096), (4096, 1000)]
    assert sum(n_params(m) for m in fcs) == 58_631_144


def test_sheet_erratum_relu_has_no_sigmoid(paper):
    """Sheet l.718, 721, 738, 742, 746: "ReLU ... takes the max of zero and the input, then passes through
    sigmoid". ReLU is max(0, x) and nothing after it: sigmoid(max(0, x)) would send 0 to 0.5 and 2 to 0.88."""
    x = torch.tensor([-1.0, 0.0, 2.0])
    for model in (paper, zfnet(impl="c147"), lenet5(impl="c147")):
        acts = {type(m).__name__ for m in model.modules()}
        assert "Sigmoid" not in acts and "ReLU" in acts
    assert torch.equal(c147.nn.ReLU()(x), torch.tensor([0.0, 0.0, 2.0]))
    assert not torch.allclose(c147.nn.ReLU()(x), torch.sigmoid(x.clamp(min=0)))


def test_sheet_erratum_lenet_fc_1000():
    """Sheet l.722: LeNet-5's "FC 1000 fully connected layer with 1000 units". LeNet-5's fully connected
    part is C5 120 -> F6 84 -> 10 outputs (61,706 parameters); an FC 1000 would make it 413,582."""
    model = lenet5(impl="c147")
    assert [m.out_features for m in model.modules() if isinstance(m, c147.nn.Linear)] == [120, 84, 10]
    assert n_params(model) == 61_706
    sheet = torch_nn.Sequential(torch_nn.Conv2d(1, 6, 5), torch_nn.Conv2d(6, 16, 5),
                                torch_nn.Linear(16 * 5 * 5, 1000), torch_nn.Linear(1000, 10))
    assert n_params(sheet) == 413_582
