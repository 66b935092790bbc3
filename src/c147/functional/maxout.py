"""Maxout (Goodfellow et al. 2013) with a hand-written backward.

Torch has no maxout: its reference is ``c147.nn.reference.maxout``, a max over a reshaped view with
autograd doing the backward.
"""

from __future__ import annotations

import torch
from torch import Tensor


class MaxoutFunction(torch.autograd.Function):
    """maxout: y_j = max_k x_{j·pieces + k} over consecutive groups of ``pieces`` features along ``dim``.

    The sheet's max(w1^T x + b1, w2^T x + b2) is pieces=2 after a linear layer. The gradient goes to
    the argmax of each group: dL/dx_i = dL/dy_j if i is the first maximum of group j, else 0 (ties go
    to the first maximum, the index ``torch.max`` returns).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(2, 6, 4, requires_grad=True), torch.randn(2, 3, 4)
        >>> (ours,) = torch.autograd.grad(MaxoutFunction.apply(x, 2, 1), x, g)
        >>> (theirs,) = torch.autograd.grad(x.unflatten(1, (3, 2)).max(2).values, x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, pieces: int, dim: int) -> Tensor:
        x = input.unflatten(dim, (input.shape[dim] // pieces, pieces))  # (..., C / pieces, pieces, ...)
        y, index = x.max(dim + 1)
        ctx.save_for_backward(index)
        ctx.shape, ctx.dim = x.shape, dim
        return y

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None, None]:
        (index,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None
        d = ctx.dim + 1
        # dL/dx = dL/dy routed to the argmax of each group, 0 elsewhere
        grad = grad_output.new_zeros(ctx.shape).scatter(d, index.unsqueeze(d), grad_output.unsqueeze(d))
        return grad.flatten(ctx.dim, d), None, None


def maxout(input: Tensor, pieces: int, dim: int = 1) -> Tensor:
    """Max over consecutive groups of ``pieces`` features along ``dim`` (Goodfellow et al. 2013).

    Args:
        input: any shape with at least one dim; ``input.shape[dim]`` must be divisible by ``pieces``.
        pieces: features per group (the sheet's max of two affine maps is ``pieces=2``).
        dim: the feature dim (1, the channel dim, by default; -1 after a linear layer).

    Returns:
        ``input`` with ``shape[dim]`` divided by ``pieces``.

    Raises:
        ValueError: ``pieces`` not a positive int, ``dim`` out of range, or a size not divisible.

    Shape:
        - Input: (*, C, *), C = ``input.shape[dim]`` divisible by ``pieces``.
        - Output: (*, C / pieces, *).

    Example (torch has no maxout: the twin is a max over a reshaped view):
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 6, 4)
        >>> maxout(x, 2).shape
        torch.Size([2, 3, 4])
        >>> torch.equal(maxout(x, 2), x.unflatten(1, (3, 2)).amax(2))
        True
    """
    if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1:
        raise ValueError(f"maxout: expected pieces to be a positive int, got {pieces!r}")
    if input.dim() == 0:
        raise ValueError("maxout: expected input of at least 1 dim, got a 0-d tensor")
    if not -input.dim() <= dim < input.dim():
        raise ValueError(f"maxout: expected dim in [{-input.dim()}, {input.dim() - 1}], got {dim}")
    dim %= input.dim()
    if input.shape[dim] % pieces:
        raise ValueError(f"maxout: expected size {input.shape[dim]} of dim {dim} to be divisible by pieces={pieces}")
    return MaxoutFunction.apply(input, pieces, dim)


__all__ = ["MaxoutFunction", "maxout"]
