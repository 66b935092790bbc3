"""c147.nn loss modules and the Softmax / LogSoftmax output layers against torch.nn's."""

from __future__ import annotations

import pytest
import torch
from torch import nn as tnn

from c147.functional.cross_entropy import CrossEntropyFunction
from c147.functional.loss import MultiMarginLossFunction
from c147.functional.softmax import LogSoftmaxFunction, SoftmaxFunction
from c147.nn import loss as ours_loss
from c147.nn import softmax as ours_softmax
from tests.twins import DEVICES, DTYPES, assert_backward_is, assert_module_parity


def rand(*shape, dtype=torch.float64, device="cpu", seed=0, low=None):
    """Normal numbers, or uniform in [low, 1 - low] when ``low`` is given."""
    g = torch.Generator().manual_seed(seed)
    if low is None:
        x = torch.randn(shape, generator=g, dtype=torch.float64)
    else:
        x = low + (1 - 2 * low) * torch.rand(shape, generator=g, dtype=torch.float64)
    return x.to(device=device, dtype=dtype)


def labels(n, c, device="cpu", seed=1):
    return torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed)).to(device)


# makers (dtype, device) -> tensor; N = 6 samples, C = 4 classes
def logits(d, dev):
    return rand(6, 4, dtype=d, device=dev) * 2


def probs(d, dev, seed=3):
    return rand(6, 4, dtype=d, device=dev, seed=seed, low=0.05)


def classes(d, dev):
    return labels(6, 4, dev)


def weight(*shape):
    return lambda d, dev: rand(*shape, dtype=d, device=dev, seed=2, low=0.1) * 2


# name -> (constructor kwargs, a maker where the value is a tensor; input makers)
CASES = {
    "MSELoss": ({}, [logits, probs]),
    "MSELoss sum": (dict(reduction="sum"), [logits, probs]),
    "BCELoss": (dict(weight=weight(4)), [probs, lambda d, dev: probs(d, dev, seed=4)]),
    "BCEWithLogitsLoss": (dict(weight=weight(6, 1), pos_weight=weight(4)), [logits, probs]),
    "BCEWithLogitsLoss none": (dict(reduction="none"), [logits, probs]),
    "CrossEntropyLoss": (dict(weight=weight(4), ignore_index=3, label_smoothing=0.1), [logits, classes]),
    "CrossEntropyLoss probabilities": (dict(reduction="sum"), [logits, probs]),
    "NLLLoss": (dict(weight=weight(4), ignore_index=0), [logits, classes]),
    "MultiMarginLoss": (dict(p=2, margin=0.5, weight=weight(4)), [logits, classes]),
    "MultiMarginLoss none": (dict(reduction="none"), [logits, classes]),
}


def build(name, dtype, device):
    kwargs, makers = CASES[name]
    cls = name.split()[0]
    kw = {k: v(dtype, device) if callable(v) else v for k, v in kwargs.items()}
    return getattr(ours_loss, cls)(**kw), getattr(tnn, cls)(**kw), [m(dtype, device) for m in makers]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CASES))
def test_module_parity(name, dtype, device):
    ours, twin, inputs = build(name, dtype, device)
    assert_module_parity(ours, twin, *inputs, steps=2)
    assert repr(ours) == repr(twin)


@pytest.mark.parametrize("name", list(CASES))
def test_buffers_and_state_dict_load_both_ways(name):
    ours, twin, _ = build(name, torch.float64, "cpu")
    assert list(ours._buffers) == list(twin._buffers)  # registered even when None, as torch does
    assert ours.state_dict().keys() == twin.state_dict().keys()
    ours.load_state_dict(twin.state_dict())
    twin.load_state_dict(ours.state_dict())
    for (n, b), (m, c) in zip(ours.named_buffers(), twin.named_buffers(), strict=True):
        assert n == m
        torch.testing.assert_close(b, c)


def test_forward_runs_our_functions():
    x, y = rand(6, 4).requires_grad_(), labels(6, 4)
    assert_backward_is(ours_loss.CrossEntropyLoss()(x, y), CrossEntropyFunction)
    assert_backward_is(ours_loss.MultiMarginLoss()(x, y), MultiMarginLossFunction)


@pytest.mark.parametrize("cls", ["MSELoss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss",
                                 "MultiMarginLoss"])
@pytest.mark.parametrize("size_average, reduce", [(False, None), (None, False), (True, True)])
def test_legacy_arguments_set_the_same_reduction(cls, size_average, reduce):
    with pytest.warns(UserWarning, match="deprecated"):
        ours = getattr(ours_loss, cls)(size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning, match="deprecated"):
        twin = getattr(tnn, cls)(size_average=size_average, reduce=reduce)
    assert ours.reduction == twin.reduction


@pytest.mark.parametrize("kwargs, match", [
    (dict(p=3), "only p == 1 and p == 2 supported, got p=3"),
    (dict(weight=torch.ones(2, 2)), "expected weight to be None or 1D tensor, got 2D instead"),
])
def test_multi_margin_loss_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ours_loss.MultiMarginLoss(**kwargs)


def test_bad_reduction_raises_at_forward():
    with pytest.raises(ValueError, match=r"expected reduction in \('mean', 'sum', 'none'\), got 'avg'"):
        ours_loss.CrossEntropyLoss(reduction="avg")(rand(2, 3), labels(2, 3))


# ---------------------------------------------------------------- Softmax / LogSoftmax

SOFTMAX = {"Softmax": SoftmaxFunction, "LogSoftmax": LogSoftmaxFunction}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [1, -1, 0])
@pytest.mark.parametrize("cls", list(SOFTMAX))
def test_softmax_module_parity(cls, dim, dtype, device):
    ours, twin = getattr(ours_softmax, cls)(dim), getattr(tnn, cls)(dim)
    x = rand(3, 5, 2, dtype=dtype, device=device)
    assert_module_parity(ours, twin, x)
    assert repr(ours) == repr(twin) == f"{cls}(dim={dim})"
    assert_backward_is(ours(x.clone().requires_grad_()), SOFTMAX[cls])


@pytest.mark.parametrize("cls", list(SOFTMAX))
def test_softmax_module_implicit_dim_warns_as_torch(cls):
    x = rand(2, 3, 4, 5)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        out = getattr(ours_softmax, cls)()(x)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        ref = getattr(tnn, cls)()(x)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("cls", list(SOFTMAX))
@pytest.mark.parametrize("dim", ["1", 1.0, True])
def test_softmax_module_rejects_non_int_dim_as_torch(cls, dim):
    with pytest.raises(TypeError, match="dim must be an int or None"):
        getattr(ours_softmax, cls)(dim)
    with pytest.raises(TypeError, match="dim must be an int or None"):
        getattr(tnn, cls)(dim)
