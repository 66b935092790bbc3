"""GaussianNoise: the sheet's noise injection as a layer (the math is in :mod:`c147.functional.noise`).

In training ``y = x + sigma * N(0, 1)``, in evaluation the identity; the backward is the identity.
Placed first in a network it perturbs the inputs, after an activation the hidden units; registered as
a parametrization of a weight (``torch.nn.utils.parametrize``) it perturbs the weights at every
training forward. torch has no twin: ``c147.nn.reference.GaussianNoise`` is the plain composition.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Module

from c147.functional.noise import check_sigma, gaussian_noise


class GaussianNoise(Module):
    """Add N(0, sigma^2) noise in training; the identity in evaluation.

    Args:
        sigma: standard deviation of the noise, >= 0 (0: the identity).
        generator: draws the noise (keyword only); None uses the global RNG.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> from c147.nn.reference import GaussianNoise as Twin
        >>> x = torch.randn(2, 3)
        >>> _ = torch.manual_seed(0); ours = GaussianNoise(0.1)(x)
        >>> _ = torch.manual_seed(0); theirs = Twin(0.1)(x)
        >>> torch.equal(ours, theirs), torch.equal(GaussianNoise(0.1).eval()(x), x)
        (True, True)
    """

    def __init__(self, sigma: float = 0.1, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.sigma = float(check_sigma(sigma))
        self.generator = generator

    def forward(self, input: Tensor) -> Tensor:
        return gaussian_noise(input, self.sigma, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


__all__ = ["GaussianNoise"]
