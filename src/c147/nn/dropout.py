"""Dropout and Dropout2d modules, twins of ``torch.nn.Dropout`` / ``torch.nn.Dropout2d``.

Inverted dropout (the math is in :mod:`c147.functional.dropout`): in training y = x * m / (1 - p)
with m ~ Bernoulli(1 - p), in evaluation (``module.eval()``) the identity. Two additions to
torch's modules, for teaching and tests, neither in the state_dict:

* ``last_mask``: the 0/1 mask m of the last forward (None when it was the identity);
* ``generator``: a ``torch.Generator`` (keyword-only constructor argument, or set the attribute)
  that draws the masks, on the input's device; None uses the global RNG.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Module

from c147.functional.dropout import dropout, dropout2d


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace
        self.generator = generator
        self.last_mask: Tensor | None = None

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) in training.

    Args:
        p: probability of zeroing an element, in [0, 1].
        inplace: overwrite the input.
        generator: draws the masks (keyword only, not in torch's signature).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(Dropout(0.5).eval()(x), x, atol=1e-6)
        True
    """

    def forward(self, input: Tensor) -> Tensor:
        out, self.last_mask = dropout(
            input, self.p, self.training, self.inplace, generator=self.generator, return_mask=True
        )
        return out


class Dropout2d(_DropoutNd):
    """Zero each whole channel (n, c) of an (N, C, H, W) input with probability p in training.

    A 3-D input is read as (N, C, L), as torch does (see :func:`c147.functional.dropout2d`).
    Arguments as :class:`Dropout`; ``last_mask`` has shape (N, C, 1, 1).

    Shape:
        - Input: (N, C, H, W) or (N, C, L).
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 4, 4)
        >>> torch.allclose(Dropout2d(0.5).eval()(x), x, atol=1e-6)
        True
    """

    def forward(self, input: Tensor) -> Tensor:
        out, self.last_mask = dropout2d(
            input, self.p, self.training, self.inplace, generator=self.generator, return_mask=True
        )
        return out


__all__ = ["Dropout", "Dropout2d"]
