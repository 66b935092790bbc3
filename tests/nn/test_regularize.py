"""The sheet's L2 / L1 penalties and the max-norm constraint."""

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from c147.app.train import train
from c147.nn.regularize import L1PenaltyFunction, L2PenaltyFunction, Regularizer, l1_penalty, l2_penalty, max_norm_
from tests.optim.trajectory import TIGHT, assert_same_params, make_model
from tests.twins import assert_backward_is


def tensors(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=g, dtype=dtype, requires_grad=True) for s in ((4, 3), (5,), (2, 3, 3))]


@pytest.mark.parametrize(
    "ours, plain, function",
    [
        (l2_penalty, lambda ps, a: 0.5 * a * sum((p**2).sum() for p in ps), L2PenaltyFunction),
        (l1_penalty, lambda ps, a: a * sum(p.abs().sum() for p in ps), L1PenaltyFunction),
    ],
)
def test_penalties_match_the_plain_formula_and_its_autograd(ours, plain, function):
    a, b = tensors(), tensors()
    out, ref = ours(a, 0.3), plain(b, 0.3)
    torch.testing.assert_close(out, ref, **TIGHT)
    assert_backward_is(out, function)
    out.backward()
    ref.backward()
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x.grad, y.grad, **TIGHT)
    assert gradcheck(lambda *ps: ours(ps, 0.7), tuple(tensors()))
    if ours is l2_penalty:  # |W| has no second derivative at 0; the L2 term's is constant
        assert gradgradcheck(lambda *ps: ours(ps, 0.7), tuple(tensors()))


def sgd_run(weight_decay: float, l2: float, steps: int = 50):
    # every parameter gets a gradient at every step (SGD skips weight decay for grad-less ones)
    model = make_model()
    del model.extra
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=weight_decay)
    reg = Regularizer(l2=l2, apply_to="all")
    for step in range(steps):
        opt.zero_grad()
        g = torch.Generator().manual_seed(step)
        x = torch.randn(16, 5, generator=g, dtype=torch.float64)
        y = torch.randn(16, 1, generator=g, dtype=torch.float64)
        loss = (model(x) - y).pow(2).mean()
        penalty = reg.penalty(model)
        (loss if penalty is None else loss + penalty).backward()
        opt.step()
    return model


def test_sgd_with_l2_penalty_equals_sgd_with_weight_decay():
    """The sheet: J~ = J + (α/2) WᵀW gives W <- (1 - εα) W - ε∇J, i.e. SGD's weight_decay=α."""
    assert_same_params(sgd_run(weight_decay=0.0, l2=0.01), sgd_run(weight_decay=0.01, l2=0.0), rtol=1e-9, atol=1e-12)


def test_sheet_erratum_l2_update_rule():
    """The sheet writes W <- (I - εI) W - ε∇J and W = (1 - α) W - ε∇J; the step is (1 - εα) W - ε∇J."""
    eps, alpha = 0.1, 0.01
    w = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    grad_j = torch.tensor([0.5], dtype=torch.float64)
    opt = torch.optim.SGD([w], lr=eps, weight_decay=alpha)
    w.grad = grad_j.clone()
    w0 = w.detach().clone()
    opt.step()
    correct = (1 - eps * alpha) * w0 - eps * grad_j
    torch.testing.assert_close(w.detach(), correct, **TIGHT)
    for sheet in ((1 - eps) * w0 - eps * grad_j, (1 - alpha) * w0 - eps * grad_j):
        assert not torch.allclose(sheet, w.detach())


def test_penalties_apply_to_weights_only_by_default():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    names = {id(p): n for n, p in model.named_parameters()}
    chosen = {names[id(p)] for p in Regularizer(l2=1.0).parameters(model)}
    assert chosen == {"0.weight", "2.weight"}
    assert len(Regularizer(l2=1.0, apply_to="all").parameters(model)) == 6
    assert Regularizer().penalty(model) is None


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 2, 2)])
def test_max_norm_matches_torch_renorm(shape):
    w = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    expected = torch.renorm(w, p=2, dim=0, maxnorm=1.5)
    ours = max_norm_(w.clone(), 1.5)
    torch.testing.assert_close(ours, expected, rtol=1e-6, atol=1e-9)  # both use eps = 1e-7 in the scale
    norms = ours.reshape(shape[0], -1).norm(dim=1)
    assert (norms <= 1.5 + 1e-9).all()
    small = w.reshape(shape[0], -1).norm(dim=1) <= 1.5
    torch.testing.assert_close(ours[small], w[small], rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(l2=-1.0), "l2 must be >= 0, got -1.0"),
        (dict(l1=-0.5), "l1 must be >= 0, got -0.5"),
        (dict(max_norm=0.0), "max_norm must be > 0 or None, got 0.0"),
        (dict(apply_to="biases"), "apply_to must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Regularizer(**kwargs)


@pytest.mark.parametrize("name", ["l2", "l1", "max_norm"])
def test_training_with_each_regularizer_config(train_config, name):
    metrics = train(train_config("data=synthetic", "model=mlp", "trainer.max_epochs=1", f"regularizer={name}",
                                 "callbacks.model_checkpoint=null", "~logger"))
    assert ("train/penalty" in metrics) == (name != "max_norm")
    assert metrics["val/acc"] > 0.3
