"""c147.nn Linear, activations, Flatten against torch.nn's, and Maxout against c147.reference.Maxout."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn as torch_nn

from c147 import reference
from c147.functional.activation import PReLUFunction, ReLUFunction, SigmoidFunction
from c147.functional.linear import LinearFunction
from c147.functional.maxout import MaxoutFunction
from c147.nn.activation import ELU, LeakyReLU, Maxout, PReLU, ReLU, Sigmoid, Softplus, Tanh
from c147.nn.flatten import Flatten
from c147.nn.linear import Linear
from tests.twins import DEVICES, DTYPES, assert_backward_is, assert_module_parity
from tests.twins import rand as twins_rand

# this module's inputs: normal numbers times 2
rand = partial(twins_rand, scale=2.0)

# (ours, twin, constructor kwargs, input shape); the twin of Maxout is the torch composition
MODULES = [
    (Linear, torch_nn.Linear, dict(in_features=5, out_features=3), (4, 5)),
    (Linear, torch_nn.Linear, dict(in_features=5, out_features=3, bias=False), (2, 3, 5)),
    (Linear, torch_nn.Linear, dict(in_features=6, out_features=1), (6,)),
    (Sigmoid, torch_nn.Sigmoid, {}, (4, 5)),
    (Tanh, torch_nn.Tanh, {}, (4, 5)),
    (ReLU, torch_nn.ReLU, {}, (4, 5)),
    (LeakyReLU, torch_nn.LeakyReLU, {}, (4, 5)),
    (LeakyReLU, torch_nn.LeakyReLU, dict(negative_slope=0.1), (2, 3, 4)),
    (ELU, torch_nn.ELU, {}, (4, 5)),
    (ELU, torch_nn.ELU, dict(alpha=2.0), (4, 5)),
    (Softplus, torch_nn.Softplus, {}, (4, 5)),
    (Softplus, torch_nn.Softplus, dict(beta=2.0, threshold=3.0), (4, 5)),
    (PReLU, torch_nn.PReLU, {}, (4, 5)),
    (PReLU, torch_nn.PReLU, dict(num_parameters=3, init=0.1), (2, 3, 4, 4)),
    (Flatten, torch_nn.Flatten, {}, (2, 3, 4, 5)),
    (Flatten, torch_nn.Flatten, dict(start_dim=0, end_dim=2), (2, 3, 4, 5)),
    (Flatten, torch_nn.Flatten, dict(start_dim=-2), (2, 3, 4)),
    (Maxout, reference.Maxout, dict(in_features=5, out_features=3), (4, 5)),
    (Maxout, reference.Maxout, dict(in_features=4, out_features=2, pieces=3, bias=False), (2, 3, 4)),
    (Maxout, reference.Maxout, dict(in_features=3, out_features=4, pieces=1), (3,)),
]
WITH_PARAMETERS = [m for m in MODULES if m[0] in (Linear, PReLU, Maxout)]
FACTORY = (Linear, PReLU, Maxout, torch_nn.Linear, torch_nn.PReLU, reference.Maxout)  # take device=, dtype=


def build(cls, kwargs, dtype=torch.float64, device="cpu", seed=0):
    torch.manual_seed(seed)
    factory = dict(device=device, dtype=dtype) if cls in FACTORY else {}
    return cls(**kwargs, **factory)


def ids(m):
    return f"{m[0].__name__}-" + "-".join(f"{k}={v}" for k, v in m[2].items())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours, twin, kwargs, shape", MODULES, ids=[ids(m) for m in MODULES])
def test_parity(ours, twin, kwargs, shape, dtype, device):
    a, b = build(ours, kwargs, dtype, device, seed=1), build(twin, kwargs, dtype, device)
    assert_module_parity(a, b, rand(*shape, dtype=dtype, device=device), steps=2)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours, twin, kwargs, shape", WITH_PARAMETERS, ids=[ids(m) for m in WITH_PARAMETERS])
def test_same_init_under_the_same_seed(ours, twin, kwargs, shape, device):
    a, after_a = build(ours, kwargs, device=device, seed=7), torch.randn(3, device=device)
    b, after_b = build(twin, kwargs, device=device, seed=7), torch.randn(3, device=device)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert torch.equal(after_a, after_b)  # the same number of random draws


@pytest.mark.parametrize("ours, twin, kwargs, shape", WITH_PARAMETERS, ids=[ids(m) for m in WITH_PARAMETERS])
def test_state_dict_loads_both_ways(ours, twin, kwargs, shape):
    x = rand(*shape)
    a, b = build(ours, kwargs, seed=1), build(twin, kwargs, seed=2)
    b.load_state_dict(a.state_dict())  # ours -> torch
    torch.testing.assert_close(b(x), a(x))
    a2 = build(ours, kwargs, seed=3)
    a2.load_state_dict(build(twin, kwargs, seed=4).state_dict())  # torch -> ours
    torch.testing.assert_close(a2(x), build(twin, kwargs, seed=4)(x))


@pytest.mark.parametrize("ours, twin, kwargs, shape", MODULES, ids=[ids(m) for m in MODULES])
def test_repr_matches_the_twin(ours, twin, kwargs, shape):
    assert repr(build(ours, kwargs)) == repr(build(twin, kwargs))


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
