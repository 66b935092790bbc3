import pytest
import torch

from c147.models import lenet5, mlp
from c147.models._checks import check_model_arguments
from c147.models.lenet import lenet5_feature_size, lenet5_min_size


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("impl", ["c147", "torch"])
def test_lenet5_has_the_papers_61706_parameters(impl):
    assert n_params(lenet5(impl=impl)) == 61_706


@pytest.mark.parametrize("impl", ["c147", "torch"])
@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(), (4, 1, 32, 32)),
        (dict(in_channels=3, num_classes=7), (2, 3, 32, 32)),
        (dict(image_size=16), (2, 1, 16, 16)),
        (dict(activation="tanh", pool="avg", image_size=28), (2, 1, 28, 28)),
    ],
)
def test_lenet5_forward_backward(impl, kwargs, shape):
    model = lenet5(impl=impl, **kwargs)
    out = model(torch.randn(shape))
    assert out.shape == (shape[0], kwargs.get("num_classes", 10))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_lenet5_too_small_input_names_the_smallest_size():
    assert lenet5_feature_size(32) == 5 and lenet5_feature_size(16) == 1
    assert lenet5_min_size() == 16
    with pytest.raises(ValueError, match="at least 16x16, got 15x15"):
        lenet5(image_size=15)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(activation="gelu"), "activation: expected one of relu, .*, maxout, got 'gelu'"),
        (dict(init="ones"), "init: expected one of normal_0.01, .*, torch_default, got 'ones'"),
        (dict(noise={"inputs": 0.1}), "noise: expected the keys input, hidden, weight, got 'inputs'"),
        (dict(noise={"hidden": -1.0}), r"noise.hidden: expected a standard deviation >= 0, got -1.0"),
        (dict(pool="lp"), "pool must be 'max' or 'avg', got 'lp'"),
        (dict(impl="jax"), "impl must be one of"),
        (dict(num_classes=0), "^num_classes must be positive, got 0$"),
        (dict(in_channels=-1), "^in_channels must be positive, got -1$"),
    ],
)
def test_lenet5_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lenet5(**kwargs)


@pytest.mark.parametrize("impl", ["c147", "torch"])
def test_mlp_shapes_and_parameter_count(impl):
    model = mlp(impl=impl, in_channels=2, image_size=1, num_classes=3, hidden=(8, 4), dropout=0.5)
    assert n_params(model) == (2 * 8 + 8) + (8 * 4 + 4) + (4 * 3 + 3)
    assert model(torch.randn(5, 2, 1, 1)).shape == (5, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(activation="swish"), "activation: expected one of"), (dict(hidden=(8, 0)), "hidden widths must be positive"),
     (dict(init="he"), "init: expected one of"), (dict(noise={"weight": "big"}), "noise.weight: expected"),
     (dict(num_classes=0), "^num_classes must be positive, got 0$"),
     (dict(in_channels=0), "^in_channels must be positive, got 0$"),
     (dict(dropout=1.5), "^dropout probability has to be between 0 and 1, but got 1.5$")],  # torch's Dropout
)
def test_mlp_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mlp(**kwargs)


FACTORIES = ["alexnet", "googlenet", "lenet5", "mlp", "resnet18", "resnet34", "resnet50", "vgg11", "vgg11_bn", "vgg13",
             "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "zfnet"]


@pytest.mark.parametrize("name", FACTORIES)
def test_every_factory_takes_the_same_first_four_arguments(name):
    import inspect

    import c147.models

    params = list(inspect.signature(getattr(c147.models, name)).parameters)
    assert params[:4] == ["impl", "num_classes", "in_channels", "image_size"], params


def test_vgg_variants_come_from_one_table_keyed_by_name():
    import c147.models
    from c147.models.vgg import VARIANTS, vgg

    assert sorted(VARIANTS) == sorted(n for n in FACTORIES if n.startswith("vgg"))
    with torch.device("meta"):
        a, b = vgg("vgg16_bn", impl="torch"), c147.models.vgg16_bn(impl="torch")
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [(k, v.shape) for k, v in b.state_dict().items()]
    with pytest.raises(ValueError, match="unknown VGG variant 'vgg12'"):
        vgg("vgg12")


@pytest.mark.parametrize(
    "args, kwargs, message",
    [((0, 3), {}, "^num_classes must be positive, got 0$"),
     ((10, 0), dict(name="AlexNet"), "^AlexNet: in_channels must be positive, got 0$"),
     ((10, 3), dict(dropout=0.5, dropout_aux=1.5), r"^dropout_aux must be in \[0, 1\], got 1.5$"),
     ((0, 0), dict(dropout=-1.0), "^num_classes"),  # the first argument out of range
     ((10, 3, "VGG"), dict(dropout=-0.1), r"^VGG: dropout must be in \[0, 1\], got -0.1$")],
)
def test_check_model_arguments(args, kwargs, message):
    """The checks every model shares, in one place (each model's own messages: tests/models/test_*.py)."""
    with pytest.raises(ValueError, match=message):
        check_model_arguments(*args, **kwargs)
    check_model_arguments(10, 3, "AlexNet", dropout=0.0, dropout_aux=1.0)  # the bounds are allowed
