"""Gaussian noise injection, the sheet's noise robustness: train on x + sigma * eps, eps ~ N(0, I).

Noise added to the inputs acts as a regulariser (for a linear model it is equivalent to L2 weight
decay, Bishop 1995); added to hidden units it is what dropout does multiplicatively; added to the
weights it makes the network prefer flat minima. At test time there is no noise: the identity.

Forward, with eps drawn once and held constant:

    y = x + sigma * eps

Backward: dy/dx = I, so

    dL/dx = dL/dy

(the noise is not a function of x; no gradient flows to sigma, a fixed hyperparameter).
"""

from __future__ import annotations

import torch
from torch import Tensor


class GaussianNoiseFunction(torch.autograd.Function):
    """y = x + sigma * eps for a given eps; dL/dx = dL/dy (the identity).

    Example:
        >>> import torch
        >>> x, eps, g = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4), torch.randn(3, 4)
        >>> y = GaussianNoiseFunction.apply(x, eps, 0.5)
        >>> torch.allclose(y, x + 0.5 * eps)
        True
        >>> y.backward(g)
        >>> torch.equal(x.grad, g)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, noise: Tensor, sigma: float) -> Tensor:
        return input + sigma * noise  # y = x + sigma eps

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None, None]:
        grad_input = grad_output if ctx.needs_input_grad[0] else None  # dL/dx = dL/dy
        return grad_input, None, None


def gaussian_noise(input: Tensor, sigma: float = 0.1, training: bool = True,
                   generator: torch.Generator | None = None) -> Tensor:
    """``input + sigma * N(0, 1)`` in training, ``input`` itself otherwise (or when ``sigma`` is 0).

    The noise is ``torch.randn_like(input)`` (or ``torch.randn`` with ``generator``): the same draws as
    the twin ``c147.nn.reference.gaussian_noise`` under the same seed.

    Args:
        input: any shape.
        sigma: standard deviation of the noise, >= 0.
        training: add noise (True) or return ``input`` (False).
        generator: draws the noise; None uses the global RNG.

    Raises:
        ValueError: ``sigma`` negative or not a number.

    Example:
        >>> import torch
        >>> from c147.nn.reference import gaussian_noise as twin
        >>> x = torch.randn(2, 3)
        >>> _ = torch.manual_seed(0); ours = gaussian_noise(x, 0.1)
        >>> _ = torch.manual_seed(0); theirs = twin(x, 0.1)
        >>> torch.equal(ours, theirs), torch.equal(gaussian_noise(x, 0.1, training=False), x)
        (True, True)
    """
    check_sigma(sigma)
    if not training or sigma == 0:
        return input
    if generator is None:
        noise = torch.randn_like(input)
    else:
        noise = torch.randn(input.shape, generator=generator, dtype=input.dtype, device=input.device)
    return GaussianNoiseFunction.apply(input, noise, float(sigma))


def check_sigma(sigma: float) -> float:
    """``sigma`` if it is a number >= 0, else ``ValueError``."""
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma >= 0:
        raise ValueError(f"noise sigma must be a number >= 0, got {sigma!r}")
    return sigma


__all__ = ["GaussianNoiseFunction", "check_sigma", "gaussian_noise"]
