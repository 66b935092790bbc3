"""c147.optim.NAdam: the docstring's equations, and what only NAdam keeps (``mu_product``).

What NAdam shares with every optimizer (parity with torch.optim.NAdam on both paths, state_dicts both ways, invalid
arguments, ...) is tested over the table in test_optimizers.py.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from c147.optim.nadam import NAdam
from tests.optim.trajectory import EXACT, assert_same_params, assert_same_state, make_loss, make_model, run, train


def formula_trajectory(lr, beta1, beta2, eps, psi, steps):
    """The docstring's NAdam written out in float64 on a copy of the test model (Python floats for the scalars):

    μ_t = β1 (1 - ½ 0.96^{t ψ}),  Π_t = Π_{t-1} μ_t,  m_t = β1 m + (1 - β1) g,  v_t = β2 v + (1 - β2) g²,
    m̂_t = μ_{t+1} m_t / (1 - Π_t μ_{t+1}) + (1 - μ_t) g_t / (1 - Π_t),  θ -= ε m̂_t / (√(v_t / (1 - β2^t)) + δ)
    """
    model = make_model()
    params = list(model.parameters())
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    t = [0] * len(params)
    prod = [1.0] * len(params)
    for step in range(steps):
        for p in params:
            p.grad = None
        make_loss(model, step).backward()
        with torch.no_grad():
            for i, p in enumerate(params):
                if p.grad is None:
                    continue
                g = p.grad
                t[i] += 1
                mu = beta1 * (1 - 0.5 * 0.96 ** (t[i] * psi))
                mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t[i] + 1) * psi))
                prod[i] *= mu
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                m_hat = mu_next * m[i] / (1 - prod[i] * mu_next) + (1 - mu) * g / (1 - prod[i])
                p -= lr * m_hat / ((v[i] / (1 - beta2 ** t[i])).sqrt() + eps)
    return model


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_nadam_follows_the_docstring_equations(foreach):
    """``momentum_decay`` large enough that μ_t moves a lot within the 40 steps. ``mu_product`` is a tensor of the
    default scalar dtype, float64 here (every model of the test is built under that default, so all start the
    same): the written-out Π in Python floats then matches to rounding."""
    hyper = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, momentum_decay=0.5)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # Π kept in float64 (torch's _get_scalar_dtype follows the default)
    try:
        model_f = formula_trajectory(0.01, 0.8, 0.99, 1e-6, 0.5, steps=40)
        model, _ = run(NAdam, dict(hyper, foreach=foreach), steps=40)
        model_t, _ = run(torch.optim.NAdam, hyper, steps=40)
    finally:
        torch.set_default_dtype(previous)
    assert_same_params(model, model_f)
    assert_same_params(model_t, model_f)


def test_nadam_is_not_adam():
    """The look-ahead matters: the same hyperparameters in Adam give another trajectory (so the test above can
    tell NAdam from Adam)."""
    model, _ = run(NAdam, dict(lr=0.01), steps=20)
    model_adam, _ = run(torch.optim.Adam, dict(lr=0.01), steps=20)
    assert not torch.allclose(model[0].weight, model_adam[0].weight, rtol=1e-4)


def test_mu_product_is_the_product_of_the_momenta():
    """``state["mu_product"]`` after t steps is Π_{i≤t} β1 (1 - ½ 0.96^{i ψ}) (a CPU scalar of the scalar dtype)."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = NAdam([p], betas=(0.9, 0.999), momentum_decay=0.2)
    for _ in range(5):
        p.grad = torch.ones(3)
        opt.step()
    expected = math.prod(0.9 * (1 - 0.5 * 0.96 ** (i * 0.2)) for i in range(1, 6))
    mu_product = opt.state[p]["mu_product"]
    assert mu_product.shape == () and mu_product.device.type == "cpu"
    assert mu_product.item() == pytest.approx(expected, rel=1e-6)  # float32 by default: 6 digits


def test_old_state_dict_with_float_mu_product_is_upgraded_as_torch_does():
    """An old torch's state_dict kept ``mu_product`` (and ``step``) as Python numbers: loading makes them CPU scalar
    tensors of the scalar dtype, as torch's NAdam does, and both go on alike."""
    model, opt = run(NAdam, dict(lr=0.01), steps=10)
    sd = copy.deepcopy(opt.state_dict())
    for st in sd["state"].values():
        st["mu_product"], st["step"] = st["mu_product"].item(), st["step"].item()
    loaded = []
    for cls in (NAdam, torch.optim.NAdam):
        model_copy = copy.deepcopy(model)
        fresh = cls(model_copy.parameters(), lr=0.01)
        fresh.load_state_dict(copy.deepcopy(sd))
        for st in fresh.state.values():
            assert torch.is_tensor(st["mu_product"]) and st["mu_product"].shape == ()
        train(model_copy, fresh, 5, start=10)
        loaded.append((model_copy, fresh))
    (model_ours, ours), (model_torch, theirs) = loaded
    assert_same_params(model_ours, model_torch)
    assert_same_state(ours, theirs, **EXACT)
