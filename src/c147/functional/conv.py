"""2-D convolution by im2col + matrix multiply, twin of ``torch.nn.functional.conv2d``.

The sheet's output size (W - W_f + 2 pad) / stride + 1 holds only when the division is exact
and the filter is not dilated; the size every framework uses is

    W_out = floor((W + 2 P - D (F - 1) - 1) / S) + 1          (D: dilation, F: filter size)

im2col copies every receptive field of X (N, C, H, W) into one column: per group g of the
``groups`` channel groups, X_g is (K, N L) with K = C/G kH kW rows and one column per output
pixel (L = H_out W_out per sample). Each filter is a row of W_g (O/G, K), so the convolution is
one matrix product per group (a single batched GEMM over the groups):

    Y_g = W_g X_g + b_g                                  (O/G, N L)

and, for dL/dY (N, O, H_out, W_out) read as dY_g (O/G, N L):

    dL/dW_g   = dY_g X_g^T          (O/G, K): the sum over the batch of dY_g[n] X_g[n]^T
    dL/dX_g   = col2im(W_g^T dY_g)  each column's gradient summed back onto the pixels it
                                    was copied from (``fold``, the adjoint of im2col)
    dL/db     = sum over N, H_out, W_out of dL/dY

The columns X_g are kept from the forward for dL/dW (only when the weight needs a gradient): that
costs K / C = kH kW times the input's memory, traded for not redoing im2col in the backward. A
double backward (``create_graph=True``) rebuilds X_g from x with differentiable ops, since the
saved copy carries no graph. Laying X_g out as (G, K, N L), batch next to pixels, makes the
forward and dL/dW one GEMM per group over the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from c147.theory.shapes import window_count

IntPair = int | Sequence[int]


def _pair(value: IntPair, name: str, op: str) -> tuple[int, int]:
    """An int or a sequence of one or two ints as (height, width)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, Sequence) and len(value) in (1, 2) and all(isinstance(v, int) for v in value):
        return (value[0], value[0]) if len(value) == 1 else (value[0], value[1])
    raise ValueError(f"{op}: expected {name} an int or a tuple of two ints, got {value!r}")


def _windows(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int, int, int],
             dilation: tuple[int, int], value: float = 0.0) -> Tensor:
    """All receptive fields of x (N, C, H, W) padded by (top, bottom, left, right) with ``value``,
    as a strided view (N, C, H_out, W_out, kH, kW): no copy beyond the padding."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    top, bottom, left, right = padding
    if any(padding):
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)[..., ::dh, ::dw]


def _im2col(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int, int, int],
            dilation: tuple[int, int], groups: int) -> Tensor:
    """x (N, C, H, W) -> X (G, C/G kH kW, N H_out W_out), rows ordered as the weight's (c, i, j)."""
    win = _windows(x, kernel, stride, padding, dilation)  # (N, C, H_out, W_out, kH, kW)
    n, c, ho, wo, kh, kw = win.shape
    win = win.reshape(n, groups, c // groups, ho, wo, kh, kw)
    return win.permute(1, 2, 5, 6, 0, 3, 4).reshape(groups, c // groups * kh * kw, n * ho * wo)


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float16/bfloat16 sums (as torch's kernels accumulate), else the dtype itself."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class Conv2dFunction(torch.autograd.Function):
    """Y_g = W_g X_g + b_g with the hand-written backward above (double-differentiable).

    ``padding`` is (top, bottom, left, right) with bottom >= top and right >= left (torch's
    'same' puts the odd pixel at the end). Unbatched (C, H, W) input is handled inside, so the
    output's ``grad_fn`` is always this Function.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(2, 4, 8, 8, requires_grad=True), torch.randn(2, 6, 8, 8)
        >>> w = torch.randn(6, 2, 3, 3, requires_grad=True)
        >>> b = torch.randn(6, requires_grad=True)
        >>> ours = torch.autograd.grad(Conv2dFunction.apply(x, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 2), (x, w, b), g)
        >>> theirs = torch.autograd.grad(torch.nn.functional.conv2d(x, w, b, padding=1, groups=2), (x, w, b), g)
        >>> all(torch.allclose(o, t, atol=1e-5) for o, t in zip(ours, theirs, strict=True))
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int) -> Tensor:
        x = input.unsqueeze(0) if input.dim() == 3 else input
        n = x.shape[0]
        o, cg, kh, kw = weight.shape
        cols = _im2col(x, (kh, kw), stride, padding, dilation, groups)  # (G, K, N L)
        ho, wo = _out_size(x.shape[2:], (kh, kw), stride, padding, dilation)
        wg = weight.reshape(groups, o // groups, cg * kh * kw)  # (G, O/G, K)
        # a fresh output tensor (not a view of a temporary, so in-place ops on it are allowed)
        out = cols.new_empty((o, ho, wo) if input.dim() == 3 else (n, o, ho, wo))
        # Y_g = W_g X_g + b_g: one batched GEMM over the groups, the bias fused in
        target = out.view(groups, o // groups, ho * wo) if n == 1 else None  # (G, O/G, L): N = 1 writes in place
        if bias is None:
            y = torch.matmul(wg, cols, out=target) if n == 1 else torch.matmul(wg, cols)
        else:
            b = bias.view(groups, -1, 1)
            y = torch.baddbmm(b, wg, cols, out=target) if n == 1 else torch.baddbmm(b, wg, cols)
        if n > 1:
            out.copy_(y.view(o, n, ho, wo).transpose(0, 1))  # (N, O, H_out, W_out)
        ctx.save_for_backward(input, weight, cols if ctx.needs_input_grad[1] else None)
        ctx.conf = (stride, padding, dilation, groups)
        return out

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        input, weight, cols = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        unbatched = input.dim() == 3
        x = input.unsqueeze(0) if unbatched else input
        g = grad_output.unsqueeze(0) if unbatched else grad_output
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        ho, wo = g.shape[2:]
        wg = weight.reshape(groups, o // groups, cg * kh * kw)  # (G, O/G, K)
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # dL/dX_g = W_g^T dY_g per sample, (N, G, K, L), then col2im sums columns onto pixels
            # (in half precision in float32, as torch: col2im sums up to kH kW terms per pixel)
            acc = _accumulation_dtype(g.dtype)
            dcols = torch.matmul(wg.transpose(1, 2).to(acc), g.reshape(n, groups, o // groups, ho * wo).to(acc))
            dcols = dcols.reshape(n, c * kh * kw, ho * wo)
            top, bottom, left, right = padding
            grad_input = F.fold(dcols, (h + bottom - top, w + right - left), (kh, kw), dilation=dilation,
                                padding=(top, left), stride=stride)[..., :h, :w].to(x.dtype)
            if unbatched:
                grad_input = grad_input.squeeze(0)
        if ctx.needs_input_grad[1]:
            if torch.is_grad_enabled() and x.requires_grad:
                # double backward: X_g again, now as a differentiable function of x
                cols = _im2col(x, (kh, kw), stride, padding, dilation, groups)
            # dL/dW_g = dY_g X_g^T, the sum over the batch and the output pixels in one GEMM
            dy = g.reshape(n, groups, o // groups, ho * wo).permute(1, 2, 0, 3)  # (G, O/G, N, L)
            dy = dy.reshape(groups, o // groups, n * ho * wo)
            grad_weight = torch.matmul(dy, cols.transpose(1, 2)).reshape(weight.shape)
        if ctx.needs_input_grad[2]:
            # dL/db = sum over N, H_out, W_out of dL/dY
            grad_bias = g.sum((0, 2, 3))
        return grad_input, grad_weight, grad_bias, None, None, None, None


def _out_size(size: Sequence[int], kernel: tuple[int, int], stride: tuple[int, int],
              padding: tuple[int, int, int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    """floor((W + P_begin + P_end - D (F - 1) - 1) / S) + 1 per spatial dim."""
    pads = (padding[0] + padding[1], padding[2] + padding[3])
    return tuple(window_count(size[i] + pads[i], kernel[i], stride[i], 0, dilation[i]) for i in range(2))


def _padding(padding: str | IntPair, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right); 'same' pads D (F - 1) in total, the odd pixel at the end (torch)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ValueError(f"conv2d: expected padding 'valid', 'same', an int or a tuple, got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"conv2d: padding='same' is not supported for strided convolutions, got stride={stride}")
        totals = [dilation[i] * (kernel[i] - 1) for i in range(2)]
        return totals[0] // 2, totals[0] - totals[0] // 2, totals[1] // 2, totals[1] - totals[1] // 2
    ph, pw = _pair(padding, "padding", "conv2d")
    if ph < 0 or pw < 0:
        raise ValueError(f"conv2d: expected non-negative padding, got {padding!r}")
    return ph, ph, pw, pw


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1,
           padding: str | IntPair = 0, dilation: IntPair = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation (the deep-learning "convolution"), twin of ``F.conv2d``.

    Y[n, o] = b[o] + sum_{c in group(o)} sum_{i, j} W[o, c, i, j] X_pad[n, c, S h + D i, S w + D j]

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW).
        bias: (C_out,) or None.
        stride: S, an int or (sH, sW), positive.
        padding: an int or (pH, pW) of zeros on both sides, ``'valid'`` (no padding) or ``'same'``
            (output size = input size, stride 1 only; an odd total puts the extra zero at the end).
        dilation: D, the spacing between filter taps, an int or (dH, dW), positive.
        groups: G; channel group g of the input only meets filters of output group g.

    Returns:
        (N, C_out, H_out, W_out) (unbatched: (C_out, H_out, W_out)) with
        H_out = floor((H + 2 pH - dH (kH - 1) - 1) / sH) + 1, W_out likewise.

    Raises:
        ValueError: wrong ranks or channel counts, a bias not of shape (C_out,), non-positive
            stride, dilation or groups, negative padding, an unknown padding string, 'same'
            with a stride, or a dilated kernel larger than the padded input.

    Shape:
        - Input: (N, C_in, H, W) or (C_in, H, W).
        - Weight: (C_out, C_in / groups, kH, kW).
        - Bias: (C_out,).
        - Output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, w, b = torch.randn(2, 4, 9, 9), torch.randn(6, 2, 3, 3), torch.randn(6)
        >>> y = conv2d(x, w, b, stride=2, padding=1, groups=2)
        >>> y.shape
        torch.Size([2, 6, 5, 5])
        >>> torch.allclose(y, torch.nn.functional.conv2d(x, w, b, stride=2, padding=1, groups=2), atol=1e-5)
        True
    """
    if input.dim() not in (3, 4):
        raise ValueError(f"conv2d: expected input of shape (N, C, H, W) or (C, H, W), got {tuple(input.shape)}")
    if weight.dim() != 4:
        raise ValueError(f"conv2d: expected weight of shape (C_out, C_in / groups, kH, kW), got {tuple(weight.shape)}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"conv2d: expected groups a positive integer, got {groups!r}")
    c_in, (o, cg, kh, kw) = input.shape[-3], weight.shape
    if c_in != cg * groups:
        raise ValueError(f"conv2d: expected input with weight.size(1) * groups = {cg * groups} channels, "
                         f"got {c_in} channels (input {tuple(input.shape)}, weight {tuple(weight.shape)})")
    if o % groups:
        raise ValueError(f"conv2d: expected out channels weight.size(0) divisible by groups = {groups}, got {o}")
    if bias is not None and tuple(bias.shape) != (o,):
        raise ValueError(f"conv2d: expected bias of shape ({o},), got {tuple(bias.shape)}")
    s, d = _pair(stride, "stride", "conv2d"), _pair(dilation, "dilation", "conv2d")
    if min(s) < 1 or min(d) < 1:
        raise ValueError(f"conv2d: expected positive stride and dilation, got stride={stride!r}, dilation={dilation!r}")
    pad = _padding(padding, (kh, kw), s, d)
    padded = (input.shape[-2] + pad[0] + pad[1], input.shape[-1] + pad[2] + pad[3])
    dilated = (d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1)
    if padded[0] < dilated[0] or padded[1] < dilated[1]:
        raise ValueError(f"conv2d: expected a (dilated) kernel no larger than the padded input {padded}, "
                         f"got kernel {dilated}")
    return Conv2dFunction.apply(input, weight, bias, s, pad, d, groups)


__all__ = ["Conv2dFunction", "conv2d"]
