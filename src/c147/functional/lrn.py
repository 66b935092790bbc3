"""Local response normalization across channels (AlexNet's NORM layer), twin of
``torch.nn.functional.local_response_norm``.

For an input a of shape (N, C, *), each channel is divided by a power of the mean square of a
window of ``size`` neighbouring channels (zero outside [0, C)), exactly torch's definition:

    s_c = sum_{c' = c - floor(size / 2)}^{c + floor((size - 1) / 2)} a_{c'}^2
    d_c = k + (alpha / size) s_c
    b_c = a_c d_c^(-beta)

(torch averages the squares, alpha / size, where Krizhevsky et al. 2012 wrote alpha s_c).

Backward. With the window W(c) above, d d_c / d a_j = (2 alpha / size) a_j [j in W(c)], so

    d b_c / d a_j = [c = j] d_c^(-beta) - (2 alpha beta / size) a_c a_j d_c^(-beta-1) [j in W(c)]

and, for dL/db = g,

    dL/da_j = g_j d_j^(-beta) - (2 alpha beta / size) a_j sum_{c : j in W(c)} g_c a_c d_c^(-beta-1)

where j in W(c) <=> c in [j - floor((size - 1) / 2), j + floor(size / 2)]: the same channel
window sum, mirrored.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from c147.functional.conv import _accumulation_dtype


def _channel_window_sum(t: Tensor, before: int, after: int) -> Tensor:
    """sum_{c' = c - before}^{c + after} t[:, c'] for t (N, C, M), zero outside the channels."""
    return F.pad(t, (0, 0, before, after)).unfold(1, before + after + 1, 1).sum(-1)


def _denominator(x: Tensor, size: int, alpha: float, k: float) -> Tensor:
    """d_c = k + (alpha / size) s_c for x (N, C, M)."""
    return _channel_window_sum(x * x, size // 2, (size - 1) // 2) * (alpha / size) + k


class LocalResponseNormFunction(torch.autograd.Function):
    """b_c = a_c d_c^(-beta) with the hand-written backward above (double-differentiable).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(2, 7, 4, 4, requires_grad=True), torch.randn(2, 7, 4, 4)
        >>> (ours,) = torch.autograd.grad(LocalResponseNormFunction.apply(x, 5, 0.1, 0.75, 2.0), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.local_response_norm(x, 5, 0.1, 0.75, 2.0), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, size: int, alpha: float, beta: float, k: float) -> Tensor:
        n, c = input.shape[:2]
        # (N, C, M); half precision computes in float32: a^2 overflows float16 from |a| = 256
        x = input.reshape(n, c, math.prod(input.shape[2:])).to(_accumulation_dtype(input.dtype))
        d = _denominator(x, size, alpha, k)
        ctx.save_for_backward(input, d)
        ctx.conf = (size, alpha, beta, k)
        return (x / d.pow(beta)).reshape(input.shape).to(input.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        input, d = ctx.saved_tensors
        size, alpha, beta, k = ctx.conf
        grad_input = None
        if ctx.needs_input_grad[0]:
            x = input.reshape(d.shape).to(d.dtype)
            if torch.is_grad_enabled():
                d = _denominator(x, size, alpha, k)  # double backward: d as a function of a
            g = grad_output.reshape(d.shape).to(d.dtype)
            # dL/da_j = g_j d_j^-beta - (2 alpha beta / size) a_j sum_{c: j in W(c)} g_c a_c d_c^(-beta-1)
            d_beta = d.pow(-beta)
            back = _channel_window_sum(g * x * d_beta / d, (size - 1) // 2, size // 2)
            grad_input = (g * d_beta - (2 * alpha * beta / size) * x * back).reshape(input.shape).to(input.dtype)
        return grad_input, None, None, None, None


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """Local response normalization across channels, twin of ``F.local_response_norm``.

    b_c = a_c / (k + alpha / size * sum_{c' in window(c)} a_{c'}^2)^beta, the window ``size``
    channels centred on c (one more before than after when ``size`` is even), zero padded.

    Args:
        input: (N, C, *) with at least 3 dimensions (torch has no unbatched form).
        size: number of neighbouring channels summed, a positive int.
        alpha: multiplicative factor (divided by ``size``, as torch).
        beta: exponent.
        k: additive constant.

    Returns:
        Same shape as ``input``.

    Raises:
        ValueError: fewer than 3 dimensions, or ``size`` not a positive int.

    Shape:
        - Input: (N, C, *), at least 3 dims.
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 7, 4, 4)
        >>> y = local_response_norm(x, 5, alpha=0.1, k=2.0)
        >>> y.shape
        torch.Size([2, 7, 4, 4])
        >>> torch.allclose(y, torch.nn.functional.local_response_norm(x, 5, alpha=0.1, k=2.0), atol=1e-6)
        True
    """
    if input.dim() < 3:
        raise ValueError(f"local_response_norm: expected input of shape (N, C, *) with at least 3 dimensions, "
                         f"got {tuple(input.shape)}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"local_response_norm: expected size a positive int, got {size!r}")
    return LocalResponseNormFunction.apply(input, size, alpha, beta, k)


__all__ = ["LocalResponseNormFunction", "local_response_norm"]
