"""Checking an analytic gradient against a numerical one, as in the course (CS231n's ``eval_numerical_gradient``
and ``rel_error``).

The centred difference, one coordinate at a time,

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)

has error O(h^2) (the one-sided difference's is O(h)), plus rounding eps |f| / h: with h = 1e-5 in float64
both are about 1e-10 relative. The comparison is the relative error |a - n| / max(|a|, |n|, tiny),
maximized over the coordinates; ``tiny`` keeps coordinates where both are ~0 from dividing by 0
(CS231n divides by max(|a| + |n|, 1e-8), at most twice smaller). Around 1e-7 or less is a correct
gradient in float64; a kink (a hinge, a ReLU) within h of x can spoil the numerical side.

The sheet: "don't use a numerical gradient: too slow, expensive" (2 N evaluations of f for N
parameters): for training, yes; to check the analytic one on a small case, it is the standard.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def numerical_gradient(f: Callable[[Tensor], Tensor | float], x: Tensor, h: float = 1e-5) -> Tensor:
    """The centred-difference gradient of the scalar ``f`` at ``x`` (``x`` is restored afterwards).

    Example:
        >>> numerical_gradient(lambda x: (x ** 2).sum(), torch.tensor([1.0, -2.0], dtype=torch.float64)).tolist()
        [2.0000000000131024, -4.000000000026205]
    """
    x = x.detach().clone()
    grad = torch.zeros_like(x)
    flat, flat_grad = x.view(-1), grad.view(-1)
    with torch.no_grad():
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            f_plus = float(f(x))
            flat[i] = old - h
            f_minus = float(f(x))
            flat[i] = old
            flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(a: Tensor, n: Tensor, tiny: float = 1e-8) -> float:
    """max_i |a_i - n_i| / max(|a_i|, |n_i|, tiny).

    Example:
        >>> round(rel_error(torch.tensor([1.0, 0.0]), torch.tensor([1.01, 0.0])), 6)  # 0.01 / 1.01
        0.009901
    """
    a, n = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(n, dtype=torch.float64, device=a.device)
    if a.shape != n.shape:
        raise ValueError(f"Expected gradients of the same shape, got {tuple(a.shape)} and {tuple(n.shape)}")
    return ((a - n).abs() / torch.maximum(a.abs(), n.abs()).clamp_min(tiny)).max().item()


def grad_check(f: Callable[[Tensor], Tensor | float], x: Tensor, h: float = 1e-5, analytic: Tensor | None = None,
               tiny: float = 1e-8) -> float:
    """The max relative error between ``analytic`` (torch autograd of ``f`` if None) and the numerical gradient.

    Example:
        >>> x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
        >>> grad_check(lambda x: (x ** 3).sum(), x, analytic=3 * x ** 2) < 1e-9
        True
        >>> grad_check(lambda x: (x ** 3).sum(), x, analytic=2 * x ** 2) > 0.3  # a wrong gradient shows
        True
    """
    if analytic is None:
        leaf = x.detach().clone().requires_grad_(True)
        analytic = torch.autograd.grad(f(leaf), leaf)[0]
    return rel_error(analytic, numerical_gradient(f, x, h), tiny)
