"""References for the pieces that have no built-in twin in torch, as plain compositions of torch ops.

Only twin-less pieces live here (today: ``maxout``, ``Maxout``, ``gaussian_noise`` and ``GaussianNoise``).
They are what ``impl="torch"`` means for such a piece, and what the tests compare the hand-written
version against. Nothing here is hand-written math: each is torch's own layers and reductions, with
autograd doing the backward.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch import nn as torch_nn


def maxout(input: Tensor, pieces: int, dim: int = 1) -> Tensor:
    """Max over consecutive groups of ``pieces`` entries along ``dim`` (twin of ``c147.functional.maxout``)."""
    dim = dim % input.dim()
    return input.unflatten(dim, (input.shape[dim] // pieces, pieces)).max(dim + 1).values


class Maxout(torch_nn.Module):
    """Maxout (Goodfellow et al. 2013) from ``torch.nn.Linear`` and a ``max`` over a reshaped view.

    Same signature and parameter names (``linear.weight``, ``linear.bias``) as ``c147.nn.Maxout``:
    output j is the max of the consecutive linear outputs j*pieces .. j*pieces + pieces - 1.
    ``max(dim)`` (not ``amax``) routes the gradient of a tie to the first maximum, as ours does
    (``amax`` would split it evenly).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        pieces: int = 2,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.pieces = pieces
        self.linear = torch_nn.Linear(in_features, out_features * pieces, bias=bias, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        return maxout(self.linear(input), self.pieces, dim=-1)  # (*, out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


def gaussian_noise(input: Tensor, sigma: float = 0.1, training: bool = True,
                   generator: torch.Generator | None = None) -> Tensor:
    """``input + sigma * randn_like(input)`` in training (twin of ``c147.functional.gaussian_noise``)."""
    if not training or sigma == 0:
        return input
    if generator is None:
        return input + sigma * torch.randn_like(input)
    return input + sigma * torch.randn(input.shape, generator=generator, dtype=input.dtype, device=input.device)


class GaussianNoise(torch_nn.Module):
    """Gaussian noise in training, the identity in evaluation (twin of ``c147.nn.GaussianNoise``)."""

    def __init__(self, sigma: float = 0.1, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.sigma = float(sigma)
        self.generator = generator

    def forward(self, input: Tensor) -> Tensor:
        return gaussian_noise(input, self.sigma, self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


__all__ = ["GaussianNoise", "Maxout", "gaussian_noise", "maxout"]
