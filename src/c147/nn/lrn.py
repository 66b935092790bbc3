"""``LocalResponseNorm``, the twin of ``torch.nn.LocalResponseNorm`` (AlexNet's NORM layer)."""

from __future__ import annotations

from torch import Tensor
from torch import nn as torch_nn

from c147.functional.lrn import local_response_norm


class LocalResponseNorm(torch_nn.Module):
    """b_c = a_c / (k + alpha / size * sum_{c' in window(c)} a_{c'}^2)^beta across channels.

    AlexNet (Krizhevsky et al. 2012) uses size 5, alpha 1e-4, beta 0.75, k 2 after its first two
    convolutions. No parameters.

    Args:
        size: number of neighbouring channels in the window.
        alpha: multiplicative factor (divided by ``size``, as torch).
        beta: exponent.
        k: additive constant.

    Shape:
        - Input: (N, C, *).
        - Output: (N, C, *), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 6, 4, 4)
        >>> torch.allclose(LocalResponseNorm(3)(x), torch.nn.LocalResponseNorm(3)(x), atol=1e-6)
        True
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


__all__ = ["LocalResponseNorm"]
