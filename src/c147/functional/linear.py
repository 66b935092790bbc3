"""The fully connected (affine) layer, twin of ``torch.nn.functional.linear``.

The sheet: without an activation every layer is linear, ``z = W^T x + b``. In torch's
row-vector convention, with a batch of inputs X of shape (*, in_features) and a weight W of
shape (out_features, in_features):

    Y = X W^T + b

and, for an upstream gradient dL/dY of shape (*, out_features), flattening the leading dims
into one batch dim of size M:

    dL/dX = dL/dY W                   (*, in_features)
    dL/dW = (dL/dY)^T X               (out_features, in_features), summed over the M rows
    dL/db = sum_m (dL/dY)_m           (out_features,)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _check(input: Tensor, weight: Tensor, bias: Tensor | None) -> None:
    if weight.dim() != 2:
        raise ValueError(f"linear: expected weight of shape (out_features, in_features), got {tuple(weight.shape)}")
    out_features, in_features = weight.shape
    if input.dim() == 0 or input.shape[-1] != in_features:
        raise ValueError(f"linear: expected input of shape (*, {in_features}), got {tuple(input.shape)}")
    if bias is not None and tuple(bias.shape) != (out_features,):
        raise ValueError(f"linear: expected bias of shape ({out_features},), got {tuple(bias.shape)}")
    dtypes = {t.dtype for t in (input, weight, bias) if t is not None}
    if len(dtypes) > 1:
        raise ValueError(f"linear: expected input, weight and bias of one dtype, got {sorted(map(str, dtypes))}")


def _rows(input: Tensor) -> int:
    """M, the number of input vectors: the product of the leading dims (1 for a single vector)."""
    return math.prod(input.shape[:-1])


class LinearFunction(torch.autograd.Function):
    """Y = X W^T + b with the hand-written backward above (double-differentiable).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(2, 5, 4, requires_grad=True), torch.randn(2, 5, 3)
        >>> w, b = torch.randn(3, 4, requires_grad=True), torch.randn(3, requires_grad=True)
        >>> ours = torch.autograd.grad(LinearFunction.apply(x, w, b), (x, w, b), g)
        >>> theirs = torch.autograd.grad(torch.nn.functional.linear(x, w, b), (x, w, b), g)
        >>> all(torch.allclose(o, t, atol=1e-5) for o, t in zip(ours, theirs, strict=True))
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(input, weight)
        x = input.reshape(_rows(input), weight.shape[1])  # (M, in); explicit M: in_features may be 0
        # Y = X W^T + b as one fused GEMM
        # written into a fresh (*, out) tensor: returning a reshape would hand autograd a view, and
        # in-place ops on the output (ReLU(inplace=True)) would be refused
        out = x.new_empty(*input.shape[:-1], weight.shape[0])
        y = out.view(x.shape[0], weight.shape[0])  # (M, out)
        if bias is None:
            torch.mm(x, weight.t(), out=y)
        else:
            torch.addmm(bias, x, weight.t(), out=y)
        return out

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        input, weight = ctx.saved_tensors
        g = grad_output.reshape(_rows(input), weight.shape[0])  # (M, out)
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # dL/dX = dL/dY W
            grad_input = (g @ weight).reshape(input.shape)
        if ctx.needs_input_grad[1]:
            # dL/dW = (dL/dY)^T X, the sum over the M rows of the outer products g_m x_m^T
            grad_weight = g.t() @ input.reshape(_rows(input), weight.shape[1])
        if ctx.needs_input_grad[2]:
            # dL/db = sum_m (dL/dY)_m
            grad_bias = g.sum(0)
        return grad_input, grad_weight, grad_bias


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Y = X W^T + b, twin of ``torch.nn.functional.linear``.

    Args:
        input: (*, in_features), any number of leading dims (a single 1-D sample included).
        weight: (out_features, in_features).
        bias: (out_features,) or None.

    Returns:
        (*, out_features).

    Raises:
        ValueError: a shape or dtype that does not fit. Unlike torch, a 1-D ``weight`` and a
            bias that only broadcasts to (out_features,) (shape () or (1,)) are refused.

    Shape:
        - Input: (*, in_features).
        - Weight: (out_features, in_features).
        - Bias: (out_features,).
        - Output: (*, out_features).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, w, b = torch.randn(2, 5, 4), torch.randn(3, 4), torch.randn(3)
        >>> linear(x, w, b).shape
        torch.Size([2, 5, 3])
        >>> torch.allclose(linear(x, w, b), torch.nn.functional.linear(x, w, b), atol=1e-6)
        True
    """
    _check(input, weight, bias)
    return LinearFunction.apply(input, weight, bias)


__all__ = ["LinearFunction", "linear"]
