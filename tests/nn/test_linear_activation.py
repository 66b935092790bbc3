"""c147.nn Linear, activations, Flatten, Maxout: what the module table (module_db.py, test_modules.py)
does not cover: in-place variants, our backward, Maxout as our Linear then a max, bad arguments."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn as torch_nn

from c147.functional.activation import PReLUFunction, ReLUFunction, SigmoidFunction
from c147.functional.linear import LinearFunction
from c147.functional.maxout import MaxoutFunction
from c147.nn.activation import ELU, LeakyReLU, Maxout, PReLU, ReLU, Sigmoid
from c147.nn.flatten import Flatten
from c147.nn.linear import Linear
from tests.twins import assert_backward_is
from tests.twins import rand as twins_rand

# this module's inputs: normal numbers times 2
rand = partial(twins_rand, scale=2.0)

@pytest.mark.parametrize(
    "ours, twin, kwargs",
    [
        (ReLU, torch_nn.ReLU, dict(inplace=True)),
        (LeakyReLU, torch_nn.LeakyReLU, dict(negative_slope=0.2, inplace=True)),
        (ELU, torch_nn.ELU, dict(alpha=0.5, inplace=True)),
    ],
)
def test_inplace_modules(ours, twin, kwargs):
    assert repr(ours(**kwargs)) == repr(twin(**kwargs))
    base, g = rand(3, 4), rand(3, 4, seed=1)
    results = []
    for m in (ours(**kwargs), twin(**kwargs)):
        leaf = base.clone().requires_grad_()
        x = leaf * 1  # in-place needs a non-leaf
        out = m(x)
        assert out is x
        out.backward(g)
        results.append((out.detach(), leaf.grad))
    for p, q in zip(*results, strict=True):
        torch.testing.assert_close(p, q)


@pytest.mark.parametrize(
    "module, function, shape",
    [
        (Linear(3, 2), LinearFunction, (4, 3)),
        (Sigmoid(), SigmoidFunction, (4, 3)),
        (ReLU(), ReLUFunction, (4, 3)),
        (PReLU(3), PReLUFunction, (4, 3)),
        (Maxout(3, 2), MaxoutFunction, (4, 3)),
    ],
)
def test_backward_is_ours(module, function, shape):
    assert_backward_is(module(rand(*shape, dtype=torch.float32).requires_grad_()), function)


def test_maxout_is_our_linear_then_the_max_over_pieces():
    m = Maxout(3, 2, pieces=2)
    x = rand(5, 3, dtype=torch.float32)
    z = x @ m.linear.weight.T + m.linear.bias  # (5, 4): features (w_{j1}, w_{j2}) for j = 0, 1
    torch.testing.assert_close(m(x), torch.maximum(z[:, 0::2], z[:, 1::2]))
    assert isinstance(m.linear, Linear)


def test_maxout_bad_pieces():
    with pytest.raises(ValueError, match=r"Maxout: expected pieces to be a positive int, got 0"):
        Maxout(3, 2, pieces=0)


def test_flatten_is_a_view_and_flattens_a_scalar_like_torch():
    x = rand(2, 3, 4)
    out = Flatten()(x)
    assert out.data_ptr() == x.data_ptr() and out._base is x
    assert Flatten(0)(torch.tensor(1.0)).shape == torch_nn.Flatten(0)(torch.tensor(1.0)).shape == (1,)
    assert Flatten(1, 1)(x).shape == (2, 3, 4)


@pytest.mark.parametrize(
    "kwargs, shape, message",
    [
        (dict(), (5,), r"Flatten: expected a dim in \[-1, 0\] for a 1-d input, got 1"),
        (dict(), (), r"Flatten: expected a dim in \[-1, 0\] for a 1-d input, got 1"),
        (dict(start_dim=0, end_dim=3), (2, 3), r"Flatten: expected a dim in \[-2, 1\] for a 2-d input, got 3"),
        (dict(start_dim=2, end_dim=1), (2, 3, 4), r"Flatten: start_dim=2 comes after end_dim=1"),
        (dict(start_dim=-1, end_dim=1), (2, 3, 4), r"Flatten: start_dim=-1 comes after end_dim=1"),
    ],
)
def test_flatten_bad_inputs(kwargs, shape, message):
    with pytest.raises(ValueError, match=message):
        Flatten(**kwargs)(torch.randn(shape))


@pytest.mark.parametrize("shape", [(2, 5), (5,), (2, 3, 5)])
def test_linear_output_allows_in_place_ops(shape):
    lin = Linear(5, 4)
    x = torch.randn(shape, requires_grad=True)
    out = ReLU(inplace=True)(lin(x))
    out.sum().backward()
    twin = torch.nn.Linear(5, 4)
    twin.load_state_dict(lin.state_dict())
    x2 = x.detach().clone().requires_grad_()
    torch.relu(twin(x2)).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
