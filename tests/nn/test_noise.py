"""GaussianNoise (the sheet's noise robustness) against its twin, a plain x + sigma * randn_like; noise on
inputs, hidden units and weights of the models."""

import pytest
import torch

from c147.functional.noise import GaussianNoiseFunction, gaussian_noise
from c147.models import lenet5, mlp
from c147.nn import GaussianNoise
from c147.nn.reference import GaussianNoise as TwinNoise
from tests.twins import TOL, assert_backward_is, rand


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_noise_equals_its_twin_under_one_seed_and_its_backward_is_the_identity(dtype):
    x = rand(4, 3, 5, dtype=dtype).requires_grad_()
    g = rand(4, 3, 5, dtype=dtype, seed=1)
    torch.manual_seed(0)
    ours = GaussianNoise(0.3)(x)
    torch.manual_seed(0)
    theirs = TwinNoise(0.3)(x)
    torch.testing.assert_close(ours, theirs, **TOL[dtype])
    assert not torch.equal(ours, x) and (ours - x).std().item() == pytest.approx(0.3, rel=0.5)
    assert_backward_is(ours, GaussianNoiseFunction)
    ours.backward(g)
    assert torch.equal(x.grad, g)
    assert torch.equal(GaussianNoise(0.3).eval()(x), x) and torch.equal(GaussianNoise(0.0)(x), x)


def test_noise_function_gradcheck_and_bad_sigma():
    x, eps = rand(3, 4).requires_grad_(), rand(3, 4, seed=2)
    assert torch.autograd.gradcheck(lambda t: GaussianNoiseFunction.apply(t, eps, 0.7), (x,))
    for sigma in (-0.1, "big", True):
        with pytest.raises(ValueError, match="noise sigma must be a number >= 0"):
            gaussian_noise(x, sigma)


@pytest.mark.parametrize("build", [lenet5, lambda **k: mlp(hidden=(16, 8), **k)])
def test_model_noise_options_place_the_layers_and_follow_impl(build):
    noise = {"input": 0.1, "hidden": 0.2, "weight": 0.05}
    model = build(noise=noise)
    sigmas = sorted(m.sigma for m in model.modules() if isinstance(m, GaussianNoise))
    n_act, n_weights = (4, 5) if isinstance(model, type(lenet5())) else (2, 3)
    assert sigmas == sorted([0.1] + [0.2] * n_act + [0.05] * n_weights)
    x = torch.randn(2, 1, 32, 32)
    assert not torch.equal(model(x), model(x))  # training: fresh noise at every forward
    model.eval()
    assert torch.equal(model(x), model(x))
    torch.manual_seed(0)
    ours = build(noise=noise)
    torch.manual_seed(0)
    theirs = build(noise=noise, impl="torch")
    assert any(isinstance(m, TwinNoise) for m in theirs.modules())
    torch.manual_seed(1)
    a = ours(x)
    torch.manual_seed(1)
    torch.testing.assert_close(a, theirs(x), **TOL[torch.float32])


def test_weight_noise_perturbs_the_forward_not_the_stored_weight():
    torch.manual_seed(0)
    model = mlp(hidden=(8,), noise={"weight": 0.5})
    layer = model.net[1]
    stored = layer.parametrizations.weight.original.detach().clone()
    assert not torch.equal(layer.weight, stored)  # training: a noisy draw
    model.eval()
    assert torch.equal(layer.weight, stored)
