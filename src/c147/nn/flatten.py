"""``Flatten``, the twin of ``torch.nn.Flatten``: merge dims start_dim..end_dim into one (a view when possible).

No autograd.Function: it is a reshape, whose gradient is the inverse reshape, exact and free.
"""

from __future__ import annotations

import math

from torch import Tensor
from torch import nn as torch_nn


class Flatten(torch_nn.Module):
    """(*, S_start, ..., S_end, *) -> (*, S_start * ... * S_end, *), e.g. (N, C, H, W) -> (N, C*H*W).

    Args:
        start_dim: first dim to flatten (1, keeping the batch dim).
        end_dim: last dim to flatten (-1).

    Raises:
        ValueError: (in forward) a dim out of range for the input, or start_dim after end_dim.

    Shape:
        - Input: (*, S_start, ..., S_end, *).
        - Output: (*, S_start * ... * S_end, *).

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 4)
        >>> torch.allclose(Flatten()(x), torch.nn.Flatten()(x), atol=1e-6)
        True
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        shape = tuple(input.shape) or (1,)  # a 0-d tensor flattens as if it were (1,), as in torch
        start, end = (self._dim(d, len(shape)) for d in (self.start_dim, self.end_dim))
        if start > end:
            raise ValueError(f"Flatten: start_dim={self.start_dim} comes after end_dim={self.end_dim}")
        return input.reshape(*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])

    @staticmethod
    def _dim(dim: int, ndim: int) -> int:
        if not -ndim <= dim < ndim:
            raise ValueError(f"Flatten: expected a dim in [{-ndim}, {ndim - 1}] for a {ndim}-d input, got {dim}")
        return dim % ndim

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


__all__ = ["Flatten"]
