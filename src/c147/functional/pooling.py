"""2-D max and average pooling, twins of ``torch.nn.functional.max_pool2d`` / ``avg_pool2d``.

Pooling slides a kH x kW window (no parameters) over each channel separately; the output size is
the convolution's,

    H_out = floor((H + 2 P - D (k - 1) - 1) / S) + 1

(the sheet's "use pooling: (w - w + 1) / stride" drops the floor, the +1 outside the division and
the padding), with ``ceil_mode`` rounding up instead, except that the last window must start
inside the input or the left padding: if (H_out - 1) S >= H + P, H_out drops by one (torch's rule).

Max pooling: Y = max over the window, and the gradient goes only to the arg max,

    dL/dX[p] = sum over windows w whose arg max is p of dL/dY[w]        (scatter_add)

(ties: the first maximum in the window's row-major scan, as torch). Average pooling:
Y = (sum over the window) / divisor, and every input pixel gets dL/dY / divisor from each window
that covers it (col2im, ``fold``, of the broadcast dL/dY / divisor). The divisor is torch's:
the window's area clipped to the padded input (``count_include_pad=True``) or to the input
(``False``), or ``divisor_override``.

Eager forms: :func:`_reference_max_pool` is the textbook max pool (``max(-1)`` over each window's
taps); :func:`_max_pool` gives the same values and indices with the taps first (an elementwise
``amax`` over kH kW rows, the first maximum found by rank), and falls back to the reference for
windows holding a NaN. Average pooling (float32 / float64) sums the window as kH kW - 1 adds of the
taps' strided views, and its backward adds dL/dY / divisor into each tap's strided view of the
gradient instead of ``fold`` (which remains for half types, in float32, and for a double backward).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from c147.functional.conv import IntPair, _accumulation_dtype, _pair, _windows
from c147.theory.shapes import window_count


def _geometry(op: str, input: Tensor, kernel_size: IntPair, stride: IntPair | None, padding: IntPair,
              dilation: IntPair, ceil_mode: bool) -> tuple:
    """Checked (kernel, stride, padding (top, bottom, left, right), dilation, output size)."""
    if input.dim() not in (3, 4):
        raise ValueError(f"{op}: expected input of shape (N, C, H, W) or (C, H, W), got {tuple(input.shape)}")
    k = _pair(kernel_size, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _pair(stride, "stride", op)
    p, d = _pair(padding, "padding", op), _pair(dilation, "dilation", op)
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise ValueError(f"{op}: expected positive kernel_size, stride and dilation, "
                         f"got kernel_size={k}, stride={s}, dilation={d}")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: expected padding between 0 and half the kernel size {(k[0] // 2, k[1] // 2)}, "
                         f"got padding={p}")
    h, w = input.shape[-2:]
    out = (window_count(h, k[0], s[0], p[0], d[0], ceil_mode), window_count(w, k[1], s[1], p[1], d[1], ceil_mode))
    if min(out) < 1:
        raise ValueError(f"{op}: expected an output size of at least (1, 1), got {out} for input size {(h, w)}")
    # pad the end far enough for the last (ceil_mode) window, and by at least the start's padding
    ends = [max(p[i], (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (size + p[i])) for i, size in enumerate((h, w))]
    return k, s, (p[0], ends[0], p[1], ends[1]), d, out


def _window_starts(out: int, s: int, p: int, device: torch.device) -> Tensor:
    """First row (or column) of each window, in unpadded coordinates (negative inside the padding)."""
    return torch.arange(out, device=device) * s - p


def _first_inside(out: int, s: int, p: int, d: int, device: torch.device) -> Tensor:
    """Each window's first tap inside the input: start + ceil(max(-start, 0) / d) d (torch's scan start)."""
    start = _window_starts(out, s, p, device)
    return start + (start.neg().clamp(min=0) + d - 1).div(d, rounding_mode="floor") * d


def _reference_max_pool(input: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int, int, int], dilation: tuple[int, int],
                        out: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """The textbook form: ``max(-1)`` over each window's kH kW taps, then its (i, j) -> h W + w."""
    h, w = input.shape[-2:]
    (ho, wo), (kh, kw), dev = out, kernel, input.device
    x = input.reshape(math.prod(input.shape[:-2]), 1, h, w)  # each (n, c) plane pooled alone
    win = _windows(x, kernel, stride, padding, dilation, -float("inf"))[:, 0, :ho, :wo]  # (B, Ho, Wo, kH, kW)
    win = win.reshape(*win.shape[:3], kh * kw)
    y, arg = win.max(-1)  # the first maximum in row-major order
    # torch's scan keeps the last NaN (no data-dependent branch: this form also serves torch.compile and CUDA)
    arg = torch.where(y.isnan(), kh * kw - 1 - win.isnan().flip(-1).int().argmax(-1), arg)
    tap_row, tap_col = arg.div(kw, rounding_mode="floor"), arg.remainder(kw)  # the arg max's (i, j) in the window
    rows = _window_starts(ho, stride[0], padding[0], dev).view(ho, 1) + tap_row * dilation[0]
    cols = _window_starts(wo, stride[1], padding[2], dev).view(1, wo) + tap_col * dilation[1]
    indices = rows * w + cols
    first = (_first_inside(ho, stride[0], padding[0], dilation[0], dev).view(ho, 1) * w
             + _first_inside(wo, stride[1], padding[2], dilation[1], dev).view(1, wo))
    indices = torch.where(y == -float("inf"), first, indices)  # the -inf padding never wins
    shape = (*input.shape[:-2], ho, wo)
    return y.reshape(shape), indices.reshape(shape)


def _branchless_max_pool(input: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                         padding: tuple[int, int, int, int], dilation: tuple[int, int],
                         out: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """:func:`_reference_max_pool`'s result in reductions inductor fuses, with no data-dependent branch (for
    ``torch.compile`` and accelerators): Y = the windows' amax over their kH kW taps; the first tap t holding Y as
    the highest rank kH kW - t among the taps equal to Y; where Y is NaN the last NaN tap (the largest t + 1 among
    the NaN taps); the flat index as a table of the taps' offsets, indexed by t, plus the window's start. (The
    reference's ``max(-1)`` with its indices and a second arg max for the NaNs compiled to 2-5x torch's time.)"""
    h, w = input.shape[-2:]
    (ho, wo), (kh, kw), dev = out, kernel, input.device
    kk, b = kh * kw, math.prod(input.shape[:-2])
    x = input.reshape(b, 1, h, w)
    win = _windows(x, kernel, stride, padding, dilation, -float("inf"))[:, 0, :ho, :wo].reshape(b, ho, wo, kk)
    y = win.amax(-1)
    t = torch.arange(kk, device=dev)
    first = kk - torch.where(win == y.unsqueeze(-1), kk - t, 0).amax(-1)
    last_nan = torch.where(win.isnan(), t + 1, 0).amax(-1) - 1
    tap = torch.where(y.isnan(), last_nan, first)
    start, inside = _start_tables(w, stride, padding, dilation, out, dev)
    indices = _flat_indices(_tap_offsets(kernel, dilation, w, dev)[tap], y, start, inside)
    shape = (*input.shape[:-2], ho, wo)
    return y.reshape(shape), indices.reshape(shape)


def _tap_offsets(kernel: tuple[int, int], dilation: tuple[int, int], w: int, device: torch.device) -> Tensor:
    """Tap t = (i, j)'s flat offset from its window's start, D i W + D j, for t = 0, ..., kH kW - 1."""
    t = torch.arange(kernel[0] * kernel[1], device=device)
    return t.div(kernel[1], rounding_mode="floor") * dilation[0] * w + t.remainder(kernel[1]) * dilation[1]


def _flat_indices(offsets: Tensor, y: Tensor, start: Tensor, first: Tensor | None) -> Tensor:
    """The arg max's flat index h W + w in its input plane from its tap's offset in each window (B, H_out,
    W_out): the window's start (S h - P) W + S w - P plus the offset; with padding (``first`` not None) a window of
    -inf starting in the padding points at its first tap inside the input (as torch's scan). ``start`` and
    ``first``: :func:`_start_tables`."""
    indices = offsets + start
    if first is not None:
        indices = torch.where(y == -float("inf"), first, indices)
    return indices


def _start_tables(w: int, stride: tuple[int, int], padding: tuple[int, int, int, int], dilation: tuple[int, int],
                  out: tuple[int, int], device: torch.device | str) -> tuple[Tensor, Tensor | None]:
    """Each window's start (S h - P) W + S w - P, (H_out, W_out), and with padding its first tap inside the input."""
    ho, wo = out
    start = (_window_starts(ho, stride[0], padding[0], device).view(ho, 1) * w
             + _window_starts(wo, stride[1], padding[2], device).view(1, wo))
    if not (padding[0] or padding[2]):
        return start, None
    first = (_first_inside(ho, stride[0], padding[0], dilation[0], device).view(ho, 1) * w
             + _first_inside(wo, stride[1], padding[2], dilation[1], device).view(1, wo))
    return start, first


@functools.lru_cache(maxsize=64)
def _cpu_tables(kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int, int, int],
               dilation: tuple[int, int], out: tuple[int, int], w: int) -> tuple[Tensor, ...]:
    """For :func:`_max_pool` on the CPU, kept per shape (a LeNet-sized pool's own work is a few calls of ~20 us;
    building these took a dozen more): the taps' ranks kH kW - t as a (kH kW, 1) uint8 column, the tap offsets
    indexed by rank (rank 0, no tap, at 0), and :func:`_start_tables`."""
    kk = kernel[0] * kernel[1]
    rank = torch.arange(kk, 0, -1, dtype=torch.uint8).view(kk, 1)
    by_rank = torch.cat([torch.zeros(1, dtype=torch.long), _tap_offsets(kernel, dilation, w, "cpu").flip(0)])
    return rank, by_rank, *_start_tables(w, stride, padding, dilation, out, "cpu")


def _max_pool(input: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int, int, int],
              dilation: tuple[int, int], out: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """:func:`_reference_max_pool`'s result with the taps first: the windows copied as T (kH kW, B H_out W_out),
    Y = T.amax(0) (an elementwise max of kH kW rows), and the first maximum as the highest rank among the
    taps equal to Y, rank(t) = kH kW - t (``max(-1)`` over a short last dim is several times slower).
    Windows holding a NaN take the reference form (its rule: the last NaN wins). On the CPU in eager mode
    only: under ``torch.compile`` (where the NaN check would break the graph) and on accelerators (where it
    would wait for the device) :func:`_branchless_max_pool` runs."""
    h, w = input.shape[-2:]
    (ho, wo), (kh, kw), dev = out, kernel, input.device
    kk, b = kh * kw, math.prod(input.shape[:-2])
    if dev.type != "cpu" or torch.compiler.is_compiling():
        return _branchless_max_pool(input, kernel, stride, padding, dilation, out)
    if kk > 255:  # ranks in uint8
        return _reference_max_pool(input, kernel, stride, padding, dilation, out)
    x = input.reshape(b, 1, h, w)
    win = _windows(x, kernel, stride, padding, dilation, -float("inf"))[:, 0, :ho, :wo]  # (B, Ho, Wo, kH, kW)
    taps = win.permute(3, 4, 0, 1, 2).reshape(kk, b * ho * wo)  # (kH kW, B Ho Wo), a copy
    y = taps.amax(0)
    if y.isnan().any():
        return _reference_max_pool(input, kernel, stride, padding, dilation, out)
    rank, by_rank, start, first = _cpu_tables(kernel, stride, padding, dilation, out, w)
    best = torch.mul(taps == y, rank).amax(0)  # kH kW - t for the first tap t holding the maximum
    y = y.view(b, ho, wo)
    indices = _flat_indices(by_rank[best.long()].view(b, ho, wo), y, start, first)
    shape = (*input.shape[:-2], ho, wo)
    return y.reshape(shape), indices.reshape(shape)


class MaxPool2dFunction(torch.autograd.Function):
    """Y = max over each window; dL/dX = scatter_add of dL/dY at the arg max (double-differentiable).

    Returns (Y, indices), the indices flat (h W + w) into each input plane, as torch's. The arg max
    follows torch's scan: the first maximum in row-major order; a NaN wins (the last NaN, as
    torch); a window of only -inf points at its first tap inside the input.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(2, 3, 4, 4, requires_grad=True), torch.randn(2, 3, 2, 2)
        >>> y, indices = MaxPool2dFunction.apply(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), (2, 2))
        >>> (ours,) = torch.autograd.grad(y, x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.max_pool2d(x, 2), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int, int, int], dilation: tuple[int, int],
                out: tuple[int, int]) -> tuple[Tensor, Tensor]:
        y, indices = _max_pool(input, kernel, stride, padding, dilation, out)
        ctx.save_for_backward(indices)
        ctx.input_shape = input.shape
        ctx.mark_non_differentiable(indices)
        return y, indices

    @staticmethod
    def backward(ctx, grad_output: Tensor, grad_indices: Tensor | None) -> tuple[Tensor | None, ...]:
        (indices,) = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            h, w = ctx.input_shape[-2:]
            idx = indices.reshape(math.prod(indices.shape[:-2]), indices.shape[-2] * indices.shape[-1])  # (B, Ho Wo)
            # dL/dX[p] = sum of dL/dY over the windows whose arg max is p
            grad_input = grad_output.new_zeros(idx.shape[0], h * w).scatter_add(1, idx, grad_output.reshape(idx.shape))
            grad_input = grad_input.reshape(ctx.input_shape)
        return grad_input, None, None, None, None, None


def max_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               dilation: IntPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling, twin of ``F.max_pool2d``: Y = max over each kH x kW window (padding is -inf).

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        kernel_size: k, an int or (kH, kW).
        stride: S, default ``kernel_size`` (non-overlapping windows).
        padding: P on both sides, at most half the kernel.
        dilation: D, the spacing between window taps.
        ceil_mode: round the output size up (the last window must start inside the input or the
            left padding).
        return_indices: also return the arg max as flat indices h W + w into each input plane.

    Returns:
        (N, C, H_out, W_out), H_out = floor((H + 2 P - D (k - 1) - 1) / S) + 1 (ceil with
        ``ceil_mode``), and with ``return_indices`` the int64 indices of the same shape.

    Raises:
        ValueError: wrong rank, non-positive kernel/stride/dilation, padding below 0 or above
            half the kernel, or an empty output.

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, H_out, W_out) or (C, H_out, W_out).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 3, 8, 8)
        >>> y, i = max_pool2d(x, 3, stride=2, ceil_mode=True, return_indices=True)
        >>> y_theirs, i_theirs = torch.nn.functional.max_pool2d(x, 3, stride=2, ceil_mode=True, return_indices=True)
        >>> y.shape
        torch.Size([2, 3, 4, 4])
        >>> torch.equal(y, y_theirs), torch.equal(i, i_theirs)
        (True, True)
    """
    k, s, p, d, out = _geometry("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode)
    y, indices = MaxPool2dFunction.apply(input, k, s, p, d, out)
    return (y, indices) if return_indices else y


def _fast(t: Tensor) -> bool:
    """float32 / float64: sums in the tensor's own dtype (half types take the forms that accumulate in float32)."""
    return t.dtype in (torch.float32, torch.float64)


def _tap_list(kernel: tuple[int, int]):
    """The window's taps (i, j) in row-major order."""
    return ((i, j) for i in range(kernel[0]) for j in range(kernel[1]))


def _divisor(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, ...],
             out: tuple[int, int], count_include_pad: bool, input: Tensor) -> Tensor:
    """torch's divisor per output pixel: the window clipped to [-P, size + P) (count_include_pad),
    or to the input [0, size) (not), an outer product of the row and column counts."""
    counts = []
    for i, size in enumerate((h, w)):
        p = padding[2 * i]
        start = _window_starts(out[i], stride[i], p, input.device)
        end = (start + kernel[i]).clamp(max=size + p)
        counts.append(end - start if count_include_pad else end.clamp(max=size) - start.clamp(min=0))
    return (counts[0].view(-1, 1) * counts[1].view(1, -1)).to(input.dtype)


class AvgPool2dFunction(torch.autograd.Function):
    """Y = (window sum) / divisor; dL/dX = fold(dL/dY / divisor) (double-differentiable).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, g = torch.randn(2, 3, 4, 4, requires_grad=True), torch.randn(2, 3, 2, 2)
        >>> divisor = torch.full((2, 2), 4.0)  # the window's area
        >>> y = AvgPool2dFunction.apply(x, (2, 2), (2, 2), (0, 0, 0, 0), divisor, (2, 2))
        >>> (ours,) = torch.autograd.grad(y, x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.avg_pool2d(x, 2), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                padding: tuple[int, int, int, int], divisor: Tensor, out: tuple[int, int]) -> Tensor:
        h, w = input.shape[-2:]
        ho, wo = out
        x = input.reshape(math.prod(input.shape[:-2]), 1, h, w)
        win = _windows(x, kernel, stride, padding, (1, 1))[:, 0, :ho, :wo]  # (B, Ho, Wo, kH, kW) view
        if _fast(input) and kernel[0] * kernel[1] > 1:
            # the window sum as kH kW - 1 adds of the taps' strided views (no copy; a reduction over
            # the two short last dims of the view is several times slower)
            y = torch.add(win[..., 0, 0], win[..., 0, 1] if kernel[1] > 1 else win[..., 1, 0])
            for i, j in list(_tap_list(kernel))[2:]:
                y += win[..., i, j]
            y /= divisor
        else:
            y = win.sum((-2, -1)) / divisor  # (half types: the sum accumulates in float32)
        ctx.save_for_backward(divisor)
        ctx.conf = (input.shape, kernel, stride, padding)
        return y.reshape(*input.shape[:-2], ho, wo)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        (divisor,) = ctx.saved_tensors
        shape, kernel, stride, (top, bottom, left, right) = ctx.conf
        grad_input = None
        if ctx.needs_input_grad[0]:
            h, w = shape[-2:]
            ho, wo = grad_output.shape[-2:]
            # every tap of a window gets dL/dY / divisor; col2im sums them onto the pixels
            b = math.prod(shape[:-2])
            if torch.compiler.is_compiling() and stride == kernel and not any((top, bottom, left, right)):
                # windows that tile the input (no overlap, no padding): each pixel's one window's dL/dY / divisor,
                # an expand (one pointwise expression for inductor; the strided adds below are scatters to it);
                # the rows and columns past the last window get 0
                gd = (grad_output / divisor).reshape(b, ho, 1, wo, 1).expand(b, ho, kernel[0], wo, kernel[1])
                gd = gd.reshape(b, ho * kernel[0], wo * kernel[1])
                grad_input = F.pad(gd, (0, w - wo * kernel[1], 0, h - ho * kernel[0])).reshape(shape)
            elif _fast(grad_output) and not torch.is_grad_enabled():
                # col2im as kH kW strided adds into the padded gradient (fold scatters, and is slower)
                gd = (grad_output / divisor).reshape(b, ho, wo)
                padded = grad_output.new_zeros(b, h + top + bottom, w + left + right)
                for i, j in _tap_list(kernel):
                    padded[:, i:i + stride[0] * (ho - 1) + 1:stride[0], j:j + stride[1] * (wo - 1) + 1:stride[1]] += gd
                grad_input = padded[:, top:top + h, left:left + w].reshape(shape)
            else:
                # (in half precision in float32, as torch: col2im sums up to kH kW terms per pixel)
                g = (grad_output.to(_accumulation_dtype(grad_output.dtype)) / divisor).reshape(b, 1, ho * wo)
                g = g.expand(b, kernel[0] * kernel[1], ho * wo)
                grad_input = F.fold(g, (h + bottom - top, w + right - left), kernel, padding=(top, left),
                                    stride=stride)
                grad_input = grad_input[..., :h, :w].reshape(shape).to(grad_output.dtype)
        return grad_input, None, None, None, None, None


def avg_pool2d(input: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
               ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Average pooling, twin of ``F.avg_pool2d``: Y = (sum over each window) / divisor.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W).
        kernel_size: k, an int or (kH, kW).
        stride: S, default ``kernel_size``.
        padding: P zeros on both sides, at most half the kernel.
        ceil_mode: round the output size up (as in :func:`max_pool2d`).
        count_include_pad: divide by the window's area including the zero padding (not the part
            of a ``ceil_mode`` window beyond it); else by the number of input pixels it covers.
        divisor_override: divide by this instead, non-zero.

    Returns:
        (N, C, H_out, W_out), H_out as for :func:`max_pool2d` with D = 1.

    Raises:
        ValueError: as :func:`max_pool2d`, and ``divisor_override == 0``.

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, H_out, W_out) or (C, H_out, W_out).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 3, 8, 8)
        >>> y = avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
        >>> y.shape
        torch.Size([2, 3, 4, 4])
        >>> theirs = torch.nn.functional.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
        >>> torch.allclose(y, theirs, atol=1e-6)
        True
    """
    k, s, p, _, out = _geometry("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"avg_pool2d: expected a non-zero divisor_override, got {divisor_override!r}")
    h, w = input.shape[-2:]
    if divisor_override is None:
        divisor = _divisor(h, w, k, s, p, out, count_include_pad, input)
    else:
        divisor = torch.full(out, divisor_override, dtype=input.dtype, device=input.device)
    return AvgPool2dFunction.apply(input, k, s, p, divisor, out)


__all__ = ["AvgPool2dFunction", "MaxPool2dFunction", "avg_pool2d", "max_pool2d"]
