"""``Softmax`` and ``LogSoftmax`` modules, twins of ``torch.nn.Softmax`` / ``torch.nn.LogSoftmax``.

The sheet's output layer: ``softmax_i(z) = e^{z_i} / sum_j e^{z_j}``, the probability of class ``i``.
"""

from __future__ import annotations

from torch import Tensor, nn

from c147.functional.softmax import log_softmax, softmax


def _check(dim: int | None) -> None:
    if dim is not None and (not isinstance(dim, int) or isinstance(dim, bool)):
        raise TypeError(f"dim must be an int or None, got {type(dim)}")


class Softmax(nn.Module):
    """Softmax along ``dim`` (``None``: torch's deprecated implicit choice, with its warning).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape, summing to 1 along ``dim``.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(Softmax(dim=1)(x), torch.nn.Softmax(dim=1)(x), atol=1e-6)
        True
    """

    def __init__(self, dim: int | None = None) -> None:
        _check(dim)
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(nn.Module):
    """Log-softmax ``z_i - LSE(z)`` along ``dim`` (``None``: torch's deprecated implicit choice).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(LogSoftmax(dim=1)(x), torch.nn.LogSoftmax(dim=1)(x), atol=1e-6)
        True
    """

    def __init__(self, dim: int | None = None) -> None:
        _check(dim)
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


__all__ = ["LogSoftmax", "Softmax"]
