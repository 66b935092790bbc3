"""c147.classic.grad_check: the centred-difference gradient and the relative error of the course."""

from __future__ import annotations

import pytest
import torch

from c147.classic import grad_check, numerical_gradient, rel_error
from tests.twins import rand


def test_numerical_gradient_of_the_sheets_quadratic_form():
    """The sheet's grad_x (x^T A x) = (A + A^T) x. A quadratic's centred difference has no truncation error, only
    rounding: eps |f| / h ~ 1e-16 * 10 / 1e-5 = 1e-10 absolute."""
    A, x = rand(5, 5, seed=1), rand(5, seed=2)
    num = numerical_gradient(lambda x: x @ A @ x, x)
    torch.testing.assert_close(num, (A + A.T) @ x, rtol=0, atol=1e-9)
    assert torch.equal(x, rand(5, seed=2))  # x restored


@pytest.mark.parametrize("f", [
    lambda x: (x.sin() * x.exp()).sum(),
    lambda x: torch.logsumexp(x, 0),
    lambda x: (x[:, None] * x[None, :]).tanh().sum(),
], ids=["sin_exp", "logsumexp", "tanh_outer"])
def test_autograd_passes_and_a_wrong_gradient_fails(f):
    """Smooth functions, h = 1e-5, float64: truncation h^2 f''' ~ 1e-10 and rounding ~1e-11, relative to
    gradients of order 0.1 to 1, so 1e-7 (the course's "good" threshold) is safe."""
    x = rand(6, seed=3)
    assert grad_check(f, x) < 1e-7
    leaf = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(f(leaf), leaf)
    assert grad_check(f, x, analytic=grad) < 1e-7
    assert grad_check(f, x, analytic=grad * 1.01) > 5e-3  # 1% off in every entry shows as ~1e-2
    wrong = grad.clone()
    wrong[3] += 1e-3
    assert grad_check(f, x, analytic=wrong) > 1e-4  # one entry slightly off shows too


def test_float_returning_function_and_matrix_input():
    W = rand(3, 4, seed=4)
    assert grad_check(lambda W: float((W ** 2).sum()), W, analytic=2 * W) < 1e-8


@pytest.mark.parametrize("a, n, expected", [
    ([1.0, 2.0], [1.0, 2.0], 0.0),
    ([1.0, 0.0], [1.01, 0.0], 0.01 / 1.01),  # both zero: 0 / tiny = 0
    ([1e-12], [0.0], 1e-12 / 1e-8),  # below tiny: measured against tiny, not against itself
    ([-2.0, 3.0], [2.0, 3.0], 2.0),  # opposite signs: the maximum relative error is 2
])
def test_rel_error(a, n, expected):
    assert rel_error(torch.tensor(a), torch.tensor(n)) == pytest.approx(expected, rel=1e-6)


def test_rel_error_shapes_must_match():
    with pytest.raises(ValueError, match=r"gradients of the same shape, got \(2,\) and \(3,\)"):
        rel_error(torch.zeros(2), torch.zeros(3))
