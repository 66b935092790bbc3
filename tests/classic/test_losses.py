"""The hand-derived loss gradients of c147.classic.losses against torch autograd and the numerical gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from c147.classic import binary_hinge_loss_grad, grad_check, multiclass_hinge_loss_grad, softmax_loss_grad
from tests.twins import DEVICES, rand, tol


def penalty(W, reg):
    return 0.5 * reg * (W * W).sum()


# the twins: the same losses from torch's own functions, differentiated by autograd
def softmax_twin(W, b, X, y, reg):
    return F.cross_entropy(X @ W + b, y) + penalty(W, reg)


def multiclass_twin(W, b, X, y, reg, delta=1.0):
    C = W.shape[1]  # multi_margin_loss divides the Weston-Watkins sum over j != y by the number of classes
    return C * F.multi_margin_loss(X @ W + b, y, margin=delta) + penalty(W, reg)


def binary_twin(w, b, X, y, reg):
    return torch.relu(1 - y * (X @ w + b)).mean() + penalty(w, reg)


def problem(m, D, C, seed, device="cpu", binary=False):
    """A seeded batch with weights large enough that some margins are violated and some are not."""
    X = rand(m, D, seed=seed, device=device)
    W = rand(D, *(() if binary else (C,)), seed=seed + 1, device=device, scale=0.7)
    b = rand(*(() if binary else (C,)), seed=seed + 2, device=device, scale=0.3)
    g = torch.Generator().manual_seed(seed + 3)
    y = torch.randint(2 if binary else C, (m,), generator=g).to(device)
    return W, b, X, (2.0 * y - 1 if binary else y)


CASES = [  # (name, ours, twin, binary)
    ("softmax", softmax_loss_grad, softmax_twin, False),
    ("multiclass_hinge", multiclass_hinge_loss_grad, multiclass_twin, False),
    ("binary_hinge", binary_hinge_loss_grad, binary_twin, True),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reg", [0.0, 0.3])
@pytest.mark.parametrize("m, D, C", [(1, 3, 2), (8, 5, 4), (50, 10, 2)])
@pytest.mark.parametrize("name, ours, twin, binary", CASES)
def test_gradient_equals_autograd(name, ours, twin, binary, m, D, C, reg, device):
    W, b, X, y = problem(m, D, C, seed=m + D, device=device, binary=binary)
    loss, dW, db = ours(W, b, X, y, reg)
    Wl, bl = W.clone().requires_grad_(), b.clone().requires_grad_()
    ref = twin(Wl, bl, X, y, reg)
    ref_dW, ref_db = torch.autograd.grad(ref, (Wl, bl))
    for got, want in ((loss, ref), (dW, ref_dW), (db, ref_db)):
        torch.testing.assert_close(got, want.detach(), **tol(torch.float64))


@pytest.mark.parametrize("name, ours, twin, binary", CASES)
def test_gradient_passes_grad_check(name, ours, twin, binary):
    """Numerical vs analytic, CS231n style. Centred differences with h = 1e-5 in float64 leave ~1e-10 absolute
    error (truncation h^2 f''' and rounding eps f / h); the smallest gradient entries here are ~1e-3, hence 1e-6."""
    W, b, X, y = problem(12, 4, 3, seed=7, binary=binary)
    _, dW, db = ours(W, b, X, y, 0.1)
    assert grad_check(lambda W: ours(W, b, X, y, 0.1)[0], W, analytic=dW) < 1e-6
    assert grad_check(lambda b: ours(W, b, X, y, 0.1)[0], b, analytic=db) < 1e-6


@pytest.mark.parametrize("name, ours, twin, binary", CASES)
def test_a_wrong_gradient_fails_grad_check(name, ours, twin, binary):
    W, b, X, y = problem(12, 4, 3, seed=7, binary=binary)
    _, dW, _ = ours(W, b, X, y, 0.1)
    assert grad_check(lambda W: ours(W, b, X, y, 0.1)[0], W, analytic=dW - 0.1 * W) > 1e-2  # the penalty's grad missing


def test_hinge_kinks_take_relu_subgradient():
    """Margins exactly at the hinge: the gradient taken is 0 there, as torch.relu's backward."""
    X, w = torch.tensor([[1.0], [2.0]], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    b = torch.tensor(0.0, dtype=torch.float64)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)  # margins 1 (at the kink) and -2
    _, dw, db = binary_hinge_loss_grad(w, b, X, y)
    assert dw.tolist() == [1.0] and db.item() == 0.5  # only the second example: 1/2 (-(-1) 2), 1/2 (-(-1))
    wl = w.clone().requires_grad_()
    assert torch.equal(torch.autograd.grad(binary_twin(wl, b, X, y, 0.0), wl)[0], dw)
    W = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    _, dW, _ = multiclass_hinge_loss_grad(W, torch.zeros(2, dtype=torch.float64), X[:1], torch.tensor([0]))
    assert not dW.any()  # s_1 - s_0 + 1 = 0: exactly at the hinge


def sheet_gradient(w, b, X, y, eps=1.0):
    """The sheet's line: 1/K sum_i sum_j eps_i y_i (w^T x_i + b) 1{w^T x_i + b <= 1} (-y_i x_i) (eps_i = 1, one j)."""
    s = X @ w + b
    return ((eps * y * s * (s <= 1)) [:, None] * (-y[:, None] * X)).mean(0)


def test_sheet_erratum_binary_hinge_gradient():
    """The sheet's hinge gradient is wrong: the indicator must hold the margin y(w^T x+b) < 1; no extra y(w^T x+b)."""
    X = torch.tensor([[2.0, 1.0], [0.5, -1.0], [-3.0, 0.5], [-0.2, 0.4]], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    w, b = torch.tensor([0.8, -0.3], dtype=torch.float64), torch.tensor(0.1, dtype=torch.float64)
    wl = w.clone().requires_grad_()
    (autograd,) = torch.autograd.grad(binary_twin(wl, b, X, y, 0.0), wl)
    s = X @ w + b  # (1.4, 0.8, -2.45, -0.18): example 3 is far on its right side (margin 2.45), but s <= 1
    correct = ((y * s < 1)[:, None] * (-y[:, None] * X)).mean(0)
    no_factor = ((s <= 1)[:, None] * (-y[:, None] * X)).mean(0)  # the sheet without its extra factor
    margin_indicator = ((y * s * (y * s < 1))[:, None] * (-y[:, None] * X)).mean(0)  # the sheet with the margin fixed
    torch.testing.assert_close(correct, autograd, **tol(torch.float64))
    torch.testing.assert_close(binary_hinge_loss_grad(w, b, X, y)[1], autograd, **tol(torch.float64))
    for wrong in (sheet_gradient(w, b, X, y), no_factor, margin_indicator):
        assert (wrong - autograd).abs().max() > 0.1


@pytest.mark.parametrize("fn, args, match", [
    (softmax_loss_grad, (torch.zeros(3, 2), torch.zeros(2), torch.zeros(4, 3), torch.zeros(5, dtype=torch.long)),
     r"got X \(4, 3\), y \(5,\)"),
    (multiclass_hinge_loss_grad, (torch.zeros(3, 2), torch.zeros(3), torch.zeros(4, 3), torch.zeros(4).long()),
     r"W \(3, 2\), b \(3,\)"),
    (binary_hinge_loss_grad, (torch.zeros(2), torch.tensor(0.0), torch.zeros(4, 3), torch.ones(4)), r"X \(4, 3\)"),
    (binary_hinge_loss_grad, (torch.zeros(3), 0.0, torch.zeros(2, 3), torch.tensor([1.0, 0.0])), r"in \{-1, \+1\}"),
])
def test_bad_input(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)
