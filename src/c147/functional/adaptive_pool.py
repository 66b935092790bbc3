"""2-D adaptive average pooling, twin of ``torch.nn.functional.adaptive_avg_pool2d``.

Adaptive pooling fixes the output size instead of the window: output row i of H_out averages the
input rows [start_i, end_i) with torch's definition

    start_i = floor(i H / H_out),   end_i = ceil((i + 1) H / H_out)

(windows may overlap by one row, and for H_out > H rows repeat), and the same for columns. Each
output pixel is the mean of a rectangle, so the whole op is linear and separable: with the
averaging matrices A_h (H_out x H) and A_w (W_out x W), A[i, j] = 1 / (end_i - start_i) for
j in [start_i, end_i) and 0 elsewhere,

    Y = A_h X A_w^T                 (for every (n, c) plane X, H x W)

and its backward is the transpose,

    dL/dX = A_h^T (dL/dY) A_w

which is again linear in dL/dY, so double backward is the forward itself (written with matmul,
it differentiates). This is what lets AlexNet's classifier keep its 256 x 6 x 6 input for any image
size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from c147.functional.conv import _accumulation_dtype

OutputSize = int | Sequence[int | None]


def _averaging_matrix(size: int, out: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A (out x size): row i averages the input positions [floor(i size / out), ceil((i + 1) size / out))."""
    i = torch.arange(out, device=device)
    start = (i * size).div(out, rounding_mode="floor")
    end = ((i + 1) * size + out - 1).div(out, rounding_mode="floor")
    j = torch.arange(size, device=device)
    inside = (j >= start.view(-1, 1)) & (j < end.view(-1, 1))
    return inside.to(dtype) / (end - start).view(-1, 1).to(dtype)


def _output_size(output_size: OutputSize, h: int, w: int) -> tuple[int, int]:
    """(H_out, W_out) from an int or a pair, ``None`` keeping the input's size; checked."""
    if isinstance(output_size, int):
        pair = [output_size, output_size]
    elif isinstance(output_size, Sequence) and len(output_size) == 2:
        pair = list(output_size)
    else:
        raise ValueError(f"adaptive_avg_pool2d: expected output_size an int or a pair (H, W), got {output_size!r}")
    sizes = [size if value is None else value for value, size in zip(pair, (h, w), strict=True)]
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes):
        raise ValueError(f"adaptive_avg_pool2d: expected output_size of ints >= 0 (or None), got {output_size!r}")
    return sizes[0], sizes[1]


# planes whose Kronecker matrix has at most this many entries are pooled by one GEMM (see below)
_KRON_MAX = 1 << 14


class AdaptiveAvgPool2dFunction(torch.autograd.Function):
    """Y = A_h X A_w^T; dL/dX = A_h^T dL/dY A_w (double-differentiable: backward is linear in dL/dY).

    Small planes (the 13x13 -> 6x6 before AlexNet's classifier, global pooling) go through one
    matrix product with the Kronecker product, vec(Y) = (A_h (x) A_w) vec(X) and
    vec(dL/dX) = (A_h (x) A_w)^T vec(dL/dY) (row-major vec): one large GEMM beats two batched tiny
    ones there. Larger planes use the separable form, which needs far fewer multiplications.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(2, 3, 13, 13, requires_grad=True), torch.randn(2, 3, 6, 6)
        >>> (ours,) = torch.autograd.grad(AdaptiveAvgPool2dFunction.apply(x, (6, 6)), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.adaptive_avg_pool2d(x, 6), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, out: tuple[int, int]) -> Tensor:
        h, w = input.shape[-2:]
        # half precision: average in float32, as torch's kernels accumulate
        acc = _accumulation_dtype(input.dtype)
        a_h = _averaging_matrix(h, out[0], acc, input.device)  # (H_out, H)
        a_w = _averaging_matrix(w, out[1], acc, input.device)  # (W_out, W)
        x = input.to(acc)
        if out[0] * out[1] * h * w <= _KRON_MAX:
            kron = torch.kron(a_h, a_w)  # (H_out W_out, H W)
            ctx.save_for_backward(kron)
            # written through a view of a fresh tensor, so the output is no view and may be changed in place
            planes = math.prod(input.shape[:-2])
            y = x.new_empty((*input.shape[:-2], *out))
            torch.mm(x.reshape(planes, h * w), kron.T, out=y.view(planes, out[0] * out[1]))
        else:
            ctx.save_for_backward(a_h, a_w)
            y = a_h @ (x @ a_w.T)  # (..., H_out, W_out); X A_w^T first: one GEMM over all rows
        ctx.input_shape = input.shape
        return y.to(input.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, None]:
        grad_input = None
        if ctx.needs_input_grad[0]:
            # dL/dX = A_h^T dL/dY A_w: each input pixel gets dL/dY / area from every window covering it
            saved = ctx.saved_tensors
            g = grad_output.to(saved[0].dtype)
            if len(saved) == 1:
                (kron,) = saved
                grad_input = (g.reshape(math.prod(ctx.input_shape[:-2]), kron.shape[0]) @ kron).reshape(ctx.input_shape)
            else:
                a_h, a_w = saved
                grad_input = a_h.T @ (g @ a_w)
            grad_input = grad_input.to(grad_output.dtype)
        return grad_input, None


def adaptive_avg_pool2d(input: Tensor, output_size: OutputSize) -> Tensor:
    """Adaptive average pooling, twin of ``F.adaptive_avg_pool2d``.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W), floating point, H and W at least 1.
        output_size: H_out = W_out (an int), or (H_out, W_out); ``None`` keeps that side's size.

    Returns:
        (N, C, H_out, W_out): output pixel (i, j) is the mean of input rows
        [floor(i H / H_out), ceil((i + 1) H / H_out)) and the columns likewise.

    Raises:
        ValueError: input not 3-D or 4-D, an empty non-batch dimension, a non-floating dtype, or an
            output_size that is not an int or a pair of ints >= 0 (or None).

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, H_out, W_out) or (C, H_out, W_out).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 3, 13, 13)  # AlexNet's last feature maps at 224 x 224
        >>> adaptive_avg_pool2d(x, (6, None)).shape
        torch.Size([2, 3, 6, 13])
        >>> torch.allclose(adaptive_avg_pool2d(x, 6), torch.nn.functional.adaptive_avg_pool2d(x, 6), atol=1e-6)
        True
    """
    if input.dim() not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d: expected input of shape (N, C, H, W) or (C, H, W), "
                         f"got {tuple(input.shape)}")
    if input.shape[-2] == 0 or input.shape[-1] == 0:
        raise ValueError(f"adaptive_avg_pool2d: expected non-empty H and W, got input of shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise ValueError(f"adaptive_avg_pool2d: expected a floating point input, got {input.dtype}")
    out = _output_size(output_size, input.shape[-2], input.shape[-1])
    return AdaptiveAvgPool2dFunction.apply(input, out)


__all__ = ["AdaptiveAvgPool2dFunction", "adaptive_avg_pool2d"]
