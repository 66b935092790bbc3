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

That textbook form is kept as :func:`_reference_forward` / :func:`_reference_backward` (one im2col
of the whole batch, one batched GEMM over the groups). It is what runs for float16/bfloat16 and
for a double backward (``create_graph=True``: it is written with differentiable ops). The float32 /
float64 eager path computes the same sums in two faster forms, both checked against it:

* im2col chunk by chunk: the columns of a few samples at a time (about 4 MB, laid out (G, K, b L)
  as the reference's; a batch whose columns fit 16 MB is one chunk) go into one reused buffer, one
  copy of the (once padded) input's windows per chunk, each chunk one GEMM. The full X_g is kH kW
  times the input's size; allocating it afresh every call costs more (page faults) than the GEMM.
  Nothing but x is saved: the backward redoes each chunk's columns for dL/dW (a batch that was one
  chunk keeps the forward's); for stride 1 (and C/G >= 8) dL/dX is the correlation of dY with the
  flipped, transposed filters, the forward's chunked GEMM again, instead of col2im (see
  :func:`_gemm_backward`); on the CPU a batch of one chunk otherwise has its col2im as one
  ``index_add_`` of the columns' gradients, the batch innermost, onto the input's pixels
  (:func:`_indexed_grad_input`).
* depthwise / channel-multiplier convolution (C/G = 1: one input channel per group) directly, as
  the sum over the kH kW taps (i, j) of a shifted strided view of the padded input times the
  per-channel weight,

      Y[n, o] = b[o] + sum_{i, j} W[o, 0, i, j] X_pad[n, g(o), S h + D i, S w + D j]

  with the backward tap by tap too: dL/dX_pad[n, g, S h + D i, S w + D j] += sum_{o in g} W[o, 0, i, j]
  dY[n, o, h, w] (the transposed taps) and dL/dW[o, 0, i, j] = sum_{n, h, w} dY[n, o, h, w]
  X_pad[n, g(o), S h + D i, S w + D j]. im2col would copy K = kH kW values per pixel for a
  one-row GEMM per group; the taps touch each value kH kW times in cache-sized chunks instead.

Under ``torch.compile`` the chunk and tap loops would be unrolled into thousands of graph nodes; there the forms
inductor fuses run instead: the reference (an im2col and a GEMM per chunk of samples, at most
:data:`_COMPILED_CHUNKS` chunks, :func:`_compiled_forward`; for stride 1, dL/dX as the flipped-filter correlation,
a gather (with C/G < 8 input channels a group: the sum of each tap's padded block, a gather too), and for larger
strides one such correlation over the sub-pixel phases, :func:`_compiled_backward`: inductor's col2im scatter-adds
atomically, slow on several threads) and, for
depthwise, one expression over the taps (:func:`_window_forward`, :func:`_window_backward`), each checked against
the reference in float64.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from c147._compat import dispatch_mode_active
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


def _col2im(cols: Tensor, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
            padding: tuple[int, int, int, int], dilation: tuple[int, int]) -> Tensor:
    """The adjoint of :func:`_im2col` per sample: columns (n, C kH kW, L) summed back onto the pixels they were
    copied from (``fold``), (n, C, H, W); the padding's rows and columns dropped."""
    (h, w), (top, bottom, left, right) = size, padding
    return F.fold(cols, (h + bottom - top, w + right - left), kernel, dilation=dilation, padding=(top, left),
                  stride=stride)[..., :h, :w]


def _flipped_filters(weight: Tensor, groups: int, padding: tuple[int, int, int, int],
                     dilation: tuple[int, int]) -> tuple[Tensor, tuple[int, int, int, int]]:
    """For dL/dX of a stride-1 convolution as a correlation of dY: the flipped, transposed filters
    W'[c, o, i, j] = W[o, c, kH-1-i, kW-1-j] (C, O/G, kH, kW), and dY's padding D (k - 1) - P per side (negative:
    a crop)."""
    o, cg, kh, kw = weight.shape
    top, bottom, left, right = padding
    flipped = weight.view(groups, o // groups, cg, kh, kw).transpose(1, 2).reshape(groups * cg, o // groups, kh, kw)
    reach = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    return flipped.flip(2, 3), (reach[0] - top, reach[0] - bottom, reach[1] - left, reach[1] - right)


_COLS_BLOCK = 1 << 20  # elements of the reused im2col buffer of one chunk (4 MB in float32)
# a batch whose columns fit this is one chunk (16 MB in float32): its columns serve dW too, and dX is
# _indexed_grad_input's on the CPU (LeNet-5's C1 at batch 64, 1.25M: 2.80 -> 2.14 ms forward + backward; the 3x3
# stride-2 row, 1.18M: 5.68 -> 5.05); past it, chunks of _COLS_BLOCK (3x3 64->64 in chunks of 4M: 23.3 -> 29.9 ms)
_BATCH_BLOCK = 1 << 22
_TAPS_BLOCK = 1 << 18  # output elements of one chunk of the tap loop (1 MB in float32: stays in cache)


def _fast(*tensors: Tensor | None) -> bool:
    """The chunked / tap forms run for float32 and float64 (half types take the reference path,
    whose sums accumulate in float32 as torch's)."""
    dtype = tensors[0].dtype
    return dtype in (torch.float32, torch.float64) and all(t is None or t.dtype == dtype for t in tensors)


def _direct(weight: Tensor, groups: int) -> bool:
    """Depthwise (one input channel per group): the tap form, not im2col. Not under a dispatch mode
    (``FlopCounterMode`` counts a convolution's multiply-adds in its GEMMs; the taps are elementwise)."""
    return weight.shape[1] == 1 and groups > 1 and not dispatch_mode_active()


def _reference_forward(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                       padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int) -> Tensor:
    """The textbook form: Y_g = W_g X_g + b_g with X_g the im2col of the whole batch, (N, O, H_out, W_out)."""
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    cols = _im2col(x, (kh, kw), stride, padding, dilation, groups)  # (G, K, N L)
    ho, wo = _out_size(x.shape[2:], (kh, kw), stride, padding, dilation)
    wg = weight.reshape(groups, o // groups, cg * kh * kw)  # (G, O/G, K)
    y = torch.matmul(wg, cols) if bias is None else torch.baddbmm(bias.view(groups, -1, 1), wg, cols)
    return y.reshape(o, n, ho, wo).transpose(0, 1)  # (N, O, H_out, W_out), a view


def _reference_backward(x: Tensor, weight: Tensor, g: Tensor, stride: tuple[int, int],
                        padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int,
                        needs: tuple[bool, bool, bool]) -> tuple[Tensor | None, ...]:
    """The textbook backward (differentiable ops only): dX = col2im(W_g^T dY_g), dW_g = dY_g X_g^T,
    db = sum dY, for x (N, C, H, W) and g = dL/dY (N, O, H_out, W_out)."""
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    ho, wo = g.shape[2:]
    grad_input = grad_weight = grad_bias = None
    if needs[0]:
        # dL/dX_g = W_g^T dY_g per sample, then col2im sums columns onto pixels
        # (in half precision in float32, as torch: col2im sums up to kH kW terms per pixel)
        dcols = _column_grads(weight, g.to(_accumulation_dtype(g.dtype)), groups).reshape(n, c * kh * kw, ho * wo)
        grad_input = _col2im(dcols, (h, w), (kh, kw), stride, padding, dilation).to(x.dtype)
    if needs[1]:
        # X_g again (a differentiable function of x, for a double backward); dL/dW_g = dY_g X_g^T,
        # the sum over the batch and the output pixels in one GEMM
        cols = _im2col(x, (kh, kw), stride, padding, dilation, groups)
        dy = g.reshape(n, groups, o // groups, ho * wo).permute(1, 2, 0, 3)  # (G, O/G, N, L)
        dy = dy.reshape(groups, o // groups, n * ho * wo)
        grad_weight = torch.matmul(dy, cols.transpose(1, 2)).reshape(weight.shape)
    if needs[2]:
        grad_bias = g.sum((0, 2, 3))  # dL/db = sum over N, H_out, W_out of dL/dY
    return grad_input, grad_weight, grad_bias


def _column_grads(weight: Tensor, g: Tensor, groups: int) -> Tensor:
    """The columns' gradients W_g^T dY_g per sample, (N, G, K, H_out W_out), in g's dtype."""
    n, (o, cg, kh, kw) = g.shape[0], weight.shape
    wgt = weight.reshape(groups, o // groups, cg * kh * kw).transpose(1, 2).to(g.dtype)  # (G, K, O/G)
    return torch.matmul(wgt, g.reshape(n, groups, o // groups, -1))


def _one_chunk(n: int, per_sample: int) -> bool:
    """Whether a batch of ``n`` samples' im2col columns (``per_sample`` elements each) fit :data:`_BATCH_BLOCK`:
    then they are one chunk."""
    return n * per_sample <= _BATCH_BLOCK


def _batch_budget(n: int, per_sample: int) -> int:
    """Elements of im2col columns a chunk may hold: the whole batch's when :func:`_one_chunk`, else
    :data:`_COLS_BLOCK`."""
    return _BATCH_BLOCK if _one_chunk(n, per_sample) else _COLS_BLOCK


def _chunks(n: int, per_sample: int, budget: int) -> tuple[int, list[tuple[int, int]]]:
    """Samples per chunk (at least one) for ``budget`` elements, and the (start, stop) of each chunk."""
    b = max(1, min(n, budget // max(per_sample, 1)))
    return b, [(start, min(start + b, n)) for start in range(0, n, b)]


def _tap_range(i: int, size: int, out: int, stride: int, pad: int, dilation: int) -> tuple[slice, slice] | None:
    """Tap i along one axis: the output positions h whose input S h + D i - P falls inside [0, size),
    as (output slice, input slice), or None when there are none (the tap only meets padding)."""
    lo = max(0, -((dilation * i - pad) // stride))  # ceil((P - D i) / S)
    hi = min(out, (size - 1 + pad - dilation * i) // stride + 1)
    if hi <= lo:
        return None
    start = stride * lo + dilation * i - pad
    return slice(lo, hi), slice(start, start + stride * (hi - lo - 1) + 1, stride)


def _taps(kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int, int, int],
          dilation: tuple[int, int], size: tuple[int, int], out: tuple[int, int]):
    """(t, output rows, output cols, input rows, input cols) per tap (i, j), t = i kW + j, over the output
    pixels whose tap lands inside the input (the zero padding adds nothing: no padded copy of x)."""
    for i in range(kernel[0]):
        rows = _tap_range(i, size[0], out[0], stride[0], padding[0], dilation[0])
        for j in range(kernel[1]):
            cols = _tap_range(j, size[1], out[1], stride[1], padding[2], dilation[1])
            if rows is not None and cols is not None:
                yield i * kernel[1] + j, rows[0], cols[0], rows[1], cols[1]


def _covers(piece: slice, size: int) -> bool:
    """The slice is all of range(size), step 1."""
    return piece.start == 0 and piece.stop == size and piece.step in (None, 1)


class _Columns:
    """im2col of a chunk of samples at a time into one reused buffer laid out as X_g (G, K, b L), batch next to
    pixels as in the reference (so the GEMM has b L columns even when L is small): each chunk is one copy of the
    windows' strided view (C, kH, kW, b, H_out, W_out) of x, padded once (a copy of x, one pass; copying each tap's
    rectangle separately cost a call per tap and sample, ~5 ms of a 64-channel 3x3 convolution's 24).
    ``chunk(start, stop)`` returns the chunk's (G, K, b L) columns (copied once: asked again for the chunk it holds,
    it returns the buffer as it is, so the forward's columns of a batch that is one chunk serve the backward's dW)."""

    def __init__(self, x: Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int, out: tuple[int, int]):
        c = x.shape[1]
        self.groups, self.length = groups, out[0] * out[1]
        self.rows = c * kernel[0] * kernel[1]  # C kH kW = G K
        per_sample = self.rows * self.length
        self.b, self.chunks = _chunks(x.shape[0], per_sample, _batch_budget(x.shape[0], per_sample))
        self.buffer = x.new_empty(c, kernel[0], kernel[1], self.b, *out)
        self.windows = _windows(x, kernel, stride, padding, dilation).permute(1, 4, 5, 0, 2, 3)
        self.held: tuple[int, int] | None = None  # the chunk in the buffer

    def chunk(self, start: int, stop: int) -> Tensor:
        if self.held != (start, stop):
            self.buffer[:, :, :, : stop - start] = self.windows[:, :, :, start:stop]
            self.held = (start, stop)
        cols = self.buffer.view(self.groups, self.rows // self.groups, self.b, self.length)[:, :, : stop - start]
        return cols.view(self.groups, self.rows // self.groups, (stop - start) * self.length)


def _gemm_forward(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                  padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int, out: Tensor) -> _Columns:
    """out (N, O, H_out, W_out) = W_g X_g + b_g, X_g im2col'd a chunk of samples at a time; returns the columns
    (holding the last chunk's)."""
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    ho, wo = out.shape[2:]
    og, length = o // groups, ho * wo
    columns = _Columns(x, (kh, kw), stride, padding, dilation, groups, (ho, wo))
    wg = weight.reshape(groups, og, cg * kh * kw)
    b = columns.b
    bias_g = None if bias is None else bias.view(groups, og, 1)
    y = out.view(n, groups, og, length)
    products = x.new_empty(groups, og, b * length) if b > 1 else None
    for start, stop in columns.chunks:
        cols = columns.chunk(start, stop)  # (G, K, b L)
        if b == 1:  # (G, O/G, L) is the sample's output itself
            target = y[start]
        else:
            target = products[:, :, : (stop - start) * length]
        if bias_g is None:
            torch.matmul(wg, cols, out=target)
        else:
            torch.baddbmm(bias_g, wg, cols, out=target)
        if b > 1:  # (G, O/G, b, L) -> (b, G, O/G, L)
            y[start:stop] = target.view(groups, og, stop - start, length).permute(2, 0, 1, 3)
    return columns


def _gemm_backward(x: Tensor, weight: Tensor, g: Tensor, stride: tuple[int, int],
                   padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int,
                   needs: tuple[bool, bool, bool], columns: _Columns | None = None) -> tuple[Tensor | None, ...]:
    """_reference_backward's sums a chunk of samples at a time: dW_g accumulated over the chunks'
    dY_g X_g^T (the chunk's columns redone from x, or the forward's ``columns`` when the batch was one chunk); dX
    by col2im of the chunk's W_g^T dY_g, or, for stride 1, as the same sums read per input pixel: the correlation
    of dY, padded by D (k - 1) - P (a negative pad crops), with the flipped, transposed filters
    W'[c, o, i, j] = W[o, c, kH-1-i, kW-1-j]

        dX[n, c, h, w] = sum_{o in group(c), i, j} W'[c, o, i, j] dY_pad[n, o, h + D i, w + D j]

    (col2im scatters and is slow; this gathers, a second pass of the forward's chunked GEMM, worth it
    when the GEMM has enough rows: C/G >= 8 input channels per group); on the CPU, a batch whose columns fit one
    chunk and that takes no gather has its col2im as one indexed sum (:func:`_indexed_grad_input`)."""
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    ho, wo = g.shape[2:]
    og, k, length = o // groups, cg * kh * kw, ho * wo
    gy = g.reshape(n, groups, og, length)
    transposed = needs[0] and stride == (1, 1) and cg >= 8
    # a batch of one chunk on the CPU, of 16 samples or more (rows of 16+ values for index_add_) and at most 2^16
    # column rows a sample: dX by one GEMM and one indexed sum (_indexed_grad_input; its 1.3-2.3x over the taps
    # below turns into 0.6x for 8 samples or 73,728 rows a sample, the 3x3 stride-2 row's)
    indexed = (needs[0] and not transposed and x.device.type == "cpu" and n >= 16
               and c * kh * kw * length <= 1 << 16 and _one_chunk(n, c * kh * kw * length))
    grad_input = x.new_empty(x.shape) if needs[0] and not indexed else None
    grad_weight = None
    if transposed:
        flipped, pads = _flipped_filters(weight, groups, padding, dilation)
        _gemm_forward(g, flipped, None, (1, 1), pads, dilation, groups, grad_input)
    elif indexed:
        grad_input = _indexed_grad_input(weight, g, (h, w), stride, padding, dilation, groups)
    if needs[1]:
        if columns is None:
            columns = _Columns(x, (kh, kw), stride, padding, dilation, groups, (ho, wo))
        grad_weight = weight.new_zeros(groups, og, k)
        grads = g.new_empty(groups, og, columns.b, length)  # dY_g laid out as (G, O/G, b L)
        for start, stop in columns.chunks:
            dy = grads[:, :, : stop - start]
            dy.copy_(gy[start:stop].permute(1, 2, 0, 3))
            grad_weight.baddbmm_(dy.view(groups, og, -1), columns.chunk(start, stop).transpose(1, 2))  # dY_g X_g^T
        grad_weight = grad_weight.view(weight.shape)
    if needs[0] and not transposed and not indexed:
        # dL/dX_g columns W_g^T dY_g per sample, (b, G, K, L), then col2im tap by tap: each tap's columns added
        # onto the input pixels it was copied from (only where it meets the input), the adjoint of _Columns's
        # copies (fold, torch's col2im, took 3x as long: a loop over each column's entries)
        wgt = weight.reshape(groups, og, k).transpose(1, 2)
        b, chunks = _chunks(n, c * kh * kw * length, _COLS_BLOCK)
        buf = x.new_empty(b, groups, k, length)
        taps = list(_taps((kh, kw), stride, padding, dilation, (h, w), (ho, wo)))
        grad_input.zero_()
        for start, stop in chunks:
            cols = buf[: stop - start]
            torch.matmul(wgt, gy[start:stop], out=cols)
            per_tap = cols.view(stop - start, c, kh * kw, ho, wo)
            into = grad_input[start:stop]
            for t, out_rows, out_cols, in_rows, in_cols in taps:
                into[..., in_rows, in_cols].add_(per_tap[:, :, t, out_rows, out_cols])  # (not +=: a copy back)
    grad_bias = g.sum((0, 2, 3)) if needs[2] else None
    return grad_input, grad_weight, grad_bias


@functools.lru_cache(maxsize=64)
def _column_pixels(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], out: tuple[int, int],
                   padded: tuple[int, int], channels: int) -> Tensor:
    """For :func:`_indexed_grad_input`: the flat index c H_p W_p + (S h + D i) W_p + (S w + D j) in the padded input
    (C, H_p, W_p) of the pixel that column (h, w)'s entry (c, i, j) was copied from, laid out (C, kH kW, H_out W_out)
    as the rows of W_g^T dY_g (one tensor per shape, kept: it is the same for every call)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo), (hp, wp) = kernel, stride, dilation, out, padded
    rows = (torch.arange(kh).view(kh, 1, 1, 1) * dh + torch.arange(ho).view(1, 1, ho, 1) * sh) * wp
    cols = torch.arange(kw).view(1, kw, 1, 1) * dw + torch.arange(wo).view(1, 1, 1, wo) * sw
    taps = (rows + cols).view(1, kh * kw, ho * wo)
    return (torch.arange(channels).view(channels, 1, 1) * (hp * wp) + taps).reshape(-1)


def _indexed_grad_input(weight: Tensor, g: Tensor, size: tuple[int, int], stride: tuple[int, int],
                        padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int) -> Tensor:
    """dL/dX for a batch whose columns fit one block, in two calls: the columns' gradients for the whole batch as one
    GEMM per group with the batch innermost, W_g^T (K, O/G) dY_g (O/G, H_out W_out N) -> rows (c, i, j, h, w) of N
    values each, then col2im as one ``index_add_`` of those rows onto the padded input's pixels (C H_p W_p, N) at
    :func:`_column_pixels` (the rows of a pixel's kH kW taps summed in tap order). At LeNet-5's sizes the tap-by-tap
    col2im is a call per tap on 10-pixel rows (conv 6 -> 16 5x5 at batch 32: 1.0 ms against 0.5 this way); on the
    CPU only (on CUDA ``index_add_`` adds atomically, in no fixed order)."""
    n = g.shape[0]
    h, w = size
    o, cg, kh, kw = weight.shape
    og, (ho, wo) = o // groups, g.shape[2:]
    top, bottom, left, right = padding
    hp, wp = h + top + bottom, w + left + right
    dy = g.reshape(n, groups, og, ho * wo).permute(1, 2, 3, 0).reshape(groups, og, ho * wo * n)  # (G, O/G, L N)
    wgt = weight.reshape(groups, og, cg * kh * kw).transpose(1, 2)  # (G, K, O/G)
    dcols = torch.matmul(wgt, dy)  # (G, K, L N): row (c, i, j, h, w) holds the N samples' gradients
    pixels = _column_pixels((kh, kw), stride, dilation, (ho, wo), (hp, wp), cg * groups)
    padded = g.new_zeros(cg * groups * hp * wp, n)
    padded.index_add_(0, pixels, dcols.view(pixels.numel(), n))
    padded = padded.view(cg * groups, hp, wp, n)[:, top: top + h, left: left + w]
    return padded.permute(3, 0, 1, 2).contiguous()


def _tap_weights(weight: Tensor, groups: int) -> Tensor:
    """W (O, 1, kH, kW) as (kH kW, 1, G, O/G, 1, 1): tap t's per-channel weights, broadcast over (N, G, O/G, h, w)."""
    o, _, kh, kw = weight.shape
    return weight.reshape(groups, o // groups, kh * kw).permute(2, 0, 1).reshape(kh * kw, 1, groups, o // groups, 1, 1)


def _direct_forward(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                    padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int, out: Tensor) -> None:
    """out (N, O, H_out, W_out) = b + sum over taps of the tap's shifted view of x times its weights,
    a few samples at a time (the chunk of out stays in cache over the kH kW passes)."""
    n, _, h, w = x.shape
    o, _, kh, kw = weight.shape
    ho, wo = out.shape[2:]
    taps = list(_taps((kh, kw), stride, padding, dilation, (h, w), (ho, wo)))
    # a tap meeting the input at every output pixel writes the chunk first (no fill)
    first = next((tap for tap in taps if _covers(tap[1], ho) and _covers(tap[2], wo)), None)
    wt = _tap_weights(weight, groups)
    xs5 = x.unsqueeze(2)  # (N, G, 1, H, W)
    y = out.view(n, groups, o // groups, ho, wo)
    b5 = None if bias is None else bias.view(1, groups, o // groups, 1, 1)
    _, chunks = _chunks(n, o * ho * wo, _TAPS_BLOCK)
    for start, stop in chunks:
        ys, xs = y[start:stop], xs5[start:stop]
        if first is None:
            ys.copy_(b5.expand_as(ys)) if b5 is not None else ys.zero_()
        else:
            t, _, _, rows, cols = first
            if b5 is None:
                torch.mul(xs[..., rows, cols], wt[t], out=ys)
            else:
                torch.addcmul(b5, xs[..., rows, cols], wt[t], out=ys)
        for tap in taps:
            if tap is not first:
                t, out_rows, out_cols, rows, cols = tap
                ys[..., out_rows, out_cols].addcmul_(xs[..., rows, cols], wt[t])


def _direct_backward(x: Tensor, weight: Tensor, g: Tensor, stride: tuple[int, int],
                     padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int,
                     needs: tuple[bool, bool, bool]) -> tuple[Tensor | None, ...]:
    """Tap by tap: dX[tap's view] += sum_{o in g} W_tap dY, dW_tap = sum_{n, h, w} dY X[tap's view]."""
    n, _, h, w = x.shape
    o, _, kh, kw = weight.shape
    ho, wo = g.shape[2:]
    m = o // groups
    taps = list(_taps((kh, kw), stride, padding, dilation, (h, w), (ho, wo)))
    first = next((tap for tap in taps if _covers(tap[3], h) and _covers(tap[4], w)), None) if m == 1 else None
    wt = _tap_weights(weight, groups)
    gy = g.reshape(n, groups, m, ho, wo)
    grad_input = x.new_empty(x.shape) if needs[0] else None
    grad_w = weight.new_zeros(kh * kw, groups, m) if needs[1] else None
    b, chunks = _chunks(n, o * ho * wo, _TAPS_BLOCK)
    product = x.new_empty(b * o * ho * wo) if needs[1] else None  # reused by every tap's dY X
    for start, stop in chunks:
        gs, xs = gy[start:stop], x[start:stop]
        if needs[0]:
            gx = grad_input[start:stop]
            if first is None:
                gx.zero_()
            else:
                t, out_rows, out_cols, _, _ = first
                torch.mul(gs[:, :, 0, out_rows, out_cols], wt[t, :, :, 0], out=gx)
        for tap in taps:
            t, out_rows, out_cols, rows, cols = tap
            if needs[0] and tap is not first:
                if m == 1:
                    gx[..., rows, cols].addcmul_(gs[:, :, 0, out_rows, out_cols], wt[t, :, :, 0])
                else:
                    gx[..., rows, cols].add_((gs[..., out_rows, out_cols] * wt[t]).sum(2))
            if needs[1]:
                piece = gs[..., out_rows, out_cols]
                prod = product[: piece.numel()].view(piece.shape)
                torch.mul(piece, xs[:, :, rows, cols].unsqueeze(2), out=prod)
                grad_w[t] += prod.sum((0, 3, 4))
    grad_weight = None if grad_w is None else grad_w.permute(1, 2, 0).reshape(weight.shape)
    grad_bias = g.sum((0, 2, 3)) if needs[2] else None
    return grad_input, grad_weight, grad_bias


# under torch.compile the batch is cut into at most this many chunks (each an im2col + GEMM in the graph)
_COMPILED_CHUNKS = 8


def _compiled_chunks(x: Tensor, weight: Tensor, out: tuple[int, int]) -> list[tuple[int, int]]:
    """(start, stop) of the chunks of samples whose columns :func:`_compiled_forward` and :func:`_compiled_backward`
    form at a time: about the eager chunks' size (:data:`_COLS_BLOCK`), at most :data:`_COMPILED_CHUNKS` of them
    (the graph holds each)."""
    n, (kh, kw) = x.shape[0], weight.shape[2:]
    b, _ = _chunks(n, x.shape[1] * kh * kw * out[0] * out[1], _COLS_BLOCK)  # C kH kW rows of L columns a sample
    b = max(b, -(-n // _COMPILED_CHUNKS))
    return [(start, min(start + b, n)) for start in range(0, n, b)]


def _compiled_forward(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                      padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int) -> Tensor:
    """Under ``torch.compile``: :func:`_reference_forward` a chunk of samples at a time (the chunk's columns stay
    in cache for its GEMM: the 3x3 64->64 case's forward 16.5 -> 6.6 ms against the whole batch's im2col)."""
    ho, wo = _out_size(x.shape[2:], weight.shape[2:], stride, padding, dilation)
    pieces = [_reference_forward(x[a:b], weight, bias, stride, padding, dilation, groups)
              for a, b in _compiled_chunks(x, weight, (ho, wo))]
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces)


def _compiled_backward(x: Tensor, weight: Tensor, g: Tensor, stride: tuple[int, int],
                       padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int,
                       needs: tuple[bool, bool, bool]) -> tuple[Tensor | None, ...]:
    """Under ``torch.compile``: :func:`_reference_backward` a chunk of samples at a time (dW summed over the
    chunks, dX by col2im per chunk), except that dX is the correlation of dY with the flipped, transposed filters
    (:func:`_gemm_backward`'s gather: an im2col + GEMM per chunk, which inductor fuses; for a stride above 1, over
    the sub-pixel phases; for C/G < 8 at stride 1 col2im as a gather, :func:`_tapped_grad_input`) instead of
    col2im's scatter, whatever C/G (inductor's scatter-add is atomic per element:
    with 2 threads a depthwise backward took 3.6x as long as with 1; the 3x3 stride-2 row went 2.3 -> 1.6)."""
    grad_input = _gathered_grad_input(weight, g, x.shape[2:], stride, padding, dilation, groups) if needs[0] else None
    scatter = needs[0] and grad_input is None  # col2im per chunk
    parts = [_reference_backward(x[a:b], weight, g[a:b], stride, padding, dilation, groups, (scatter, needs[1], False))
             for a, b in _compiled_chunks(x, weight, g.shape[2:])] if scatter or needs[1] else []
    if scatter:
        grad_input = torch.cat([p[0] for p in parts])
    grad_weight = sum(p[1] for p in parts) if needs[1] else None
    grad_bias = g.sum((0, 2, 3)) if needs[2] else None
    return grad_input, grad_weight, grad_bias


def _gathered_grad_input(weight: Tensor, g: Tensor, size: Sequence[int], stride: tuple[int, int],
                         padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int) -> Tensor | None:
    """dX (N, C, H, W) by a gather, for ``torch.compile``: at stride 1 the correlation of dY with the flipped,
    transposed filters (a depthwise one when those have one channel per group: the window form), or for C/G < 8
    col2im as a sum of padded taps (:func:`_tapped_grad_input`); for a larger stride (undilated) one correlation
    over the sub-pixel phases (:func:`_subpixel_grad_input`). None for a dilated stride or, at stride 1 with
    C/G >= 8, more padding than the kernel reaches (a crop): col2im's scatter there."""
    if stride != (1, 1):
        return _subpixel_grad_input(weight, g, size, stride, padding, groups) if dilation == (1, 1) else None
    if weight.shape[1] < 8 and not _direct(weight, groups):
        return _tapped_grad_input(weight, g, size, padding, dilation, groups)
    flipped, pads = _flipped_filters(weight, groups, padding, dilation)
    if min(pads) < 0:
        return None
    form = _window_forward if _direct(flipped, groups) else _compiled_forward
    return form(g, flipped, None, (1, 1), pads, dilation, groups)


def _tapped_grad_input(weight: Tensor, g: Tensor, size: Sequence[int], padding: tuple[int, int, int, int],
                       dilation: tuple[int, int], groups: int) -> Tensor:
    """dX of a stride-1 convolution with few input channels per group (C/G < 8), for ``torch.compile``: the
    columns' gradients W_g^T dY_g per sample (the reference's GEMM), then col2im written as a gather, the sum over
    the kH kW taps of each tap's (N, C, H_out, W_out) block padded into place (D i rows down, D j columns right),
    cropped by the padding: inductor makes the sum one loop over dX reading kH kW masked values per pixel. The
    flipped-filter gather would im2col dY into (O/G) kH kW rows per pixel (LeNet-5's C3: 400 rows for 6 outputs;
    4.4 ms where torch compiled takes 1.5)."""
    n, (h, w) = g.shape[0], size
    _, cg, kh, kw = weight.shape
    ho, wo = g.shape[2:]
    top, _, left, _ = padding
    reach = (dilation[0] * (kh - 1), dilation[1] * (kw - 1))
    dcols = _column_grads(weight, g, groups).reshape(n, groups * cg, kh, kw, ho, wo)
    padded = sum(F.pad(dcols[:, :, i, j], (dilation[1] * j, reach[1] - dilation[1] * j,
                                            dilation[0] * i, reach[0] - dilation[0] * i))
                 for i in range(kh) for j in range(kw))  # (N, C, H_out + D (kH - 1), W_out + D (kW - 1))
    return padded[:, :, top: top + h, left: left + w]


def _subpixel_grad_input(weight: Tensor, g: Tensor, size: Sequence[int], stride: tuple[int, int],
                         padding: tuple[int, int, int, int], groups: int) -> Tensor:
    """dX of an undilated convolution of stride S by the sub-pixel split: along one axis, the padded input's pixel
    u = S a + r only meets the taps i = r + S m (m = 0, ..., M - 1, M = ceil(k / S); taps past k are zeros), from
    output h = a - m, so

        dX_pad[S a + r] = sum_m W[r + S m] dY[a - m]

    is, for every phase r at once, one stride-1 correlation of dY (padded by M - 1 in front) with S flipped
    sub-filters W[r::S] as S times the channels (a gather, which inductor fuses; col2im's scatter-add it makes
    atomic; one correlation of S_h S_w C outputs took 1.7 ms where one per phase took 2.4, torch 1.4); the phases
    are then interleaved into dX_pad (S a + r) and the padding cropped."""
    n, c, h, w = g.shape[0], weight.shape[1] * groups, *size
    o, cg, kh, kw = weight.shape
    (sh, sw), (top, bottom, left, right) = stride, padding
    mh, mw = -(-kh // sh), -(-kw // sw)
    # phase (r, q)'s tap (m, m') is W[r + S_h m, q + S_w m'] (zero past the kernel), as the outputs (g, r, q, c) of
    # one grouped correlation: (G S_h S_w C/G, O/G, M_h, M_w), flipped
    taps = F.pad(weight, (0, mw * sw - kw, 0, mh * sh - kh)).view(groups, o // groups, cg, mh, sh, mw, sw)
    flipped = taps.permute(0, 4, 6, 2, 1, 3, 5).flip(5, 6).reshape(groups * sh * sw * cg, o // groups, mh, mw)
    ah, aw = -(-(h + top + bottom) // sh), -(-(w + left + right) // sw)  # each phase's pixels (the longest)
    dy = g[:, :, : min(g.shape[2], ah), : min(g.shape[3], aw)]  # outputs past the last phase pixel: cropped
    pads = (mh - 1, ah - dy.shape[2], mw - 1, aw - dy.shape[3])
    form = _window_forward if _direct(flipped, groups) else _compiled_forward
    phases = form(dy, flipped, None, (1, 1), pads, (1, 1), groups)  # (N, G S_h S_w C/G, A_h, A_w)
    grad = phases.view(n, groups, sh, sw, cg, ah, aw).permute(0, 1, 4, 5, 2, 6, 3).reshape(n, c, ah * sh, aw * sw)
    return grad[:, :, top: top + h, left: left + w]


def _window_forward(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, int],
                    padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int) -> Tensor:
    """Depthwise under ``torch.compile``: Y[n, g, m] = b + sum over the kH kW taps of the tap's strided view of the
    padded x times its weights, one expression (inductor makes it one kernel; :func:`_direct_forward`'s
    chunks and in-place slices would be unrolled). (N, O, H_out, W_out)."""
    n = x.shape[0]
    o, _, kh, kw = weight.shape
    ho, wo = _out_size(x.shape[2:], (kh, kw), stride, padding, dilation)
    win = _windows(x, (kh, kw), stride, padding, dilation)[:, :, :ho, :wo].unsqueeze(2)  # (N, G, 1, Ho, Wo, kH, kW)
    wt = _tap_weights(weight, groups)  # (kH kW, 1, G, O/G, 1, 1)
    y = sum(win[..., i, j] * wt[i * kw + j] for i in range(kh) for j in range(kw))
    if bias is not None:
        y = y + bias.view(1, groups, o // groups, 1, 1)
    return y.reshape(n, o, ho, wo)


def _window_backward(x: Tensor, weight: Tensor, g: Tensor, stride: tuple[int, int],
                     padding: tuple[int, int, int, int], dilation: tuple[int, int], groups: int,
                     needs: tuple[bool, bool, bool]) -> tuple[Tensor | None, ...]:
    """Depthwise under ``torch.compile``: dW[o, 0, i, j] = sum_{n, h, w} dY X_pad[tap (i, j)'s view] (one reduction
    per tap, fused), dX for stride 1 as :func:`_compiled_backward`'s gather, else col2im of the columns W_tap dY
    (``fold``, as the reference)."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    ho, wo = g.shape[2:]
    m = o // groups
    gy = g.reshape(n, groups, m, ho, wo)
    grad_weight = grad_bias = None
    grad_input = _gathered_grad_input(weight, g, x.shape[2:], stride, padding, dilation, groups) if needs[0] else None
    if needs[0] and grad_input is None:
        wt = weight.reshape(groups, m, kh * kw)
        cols = (gy.unsqueeze(3) * wt.view(1, groups, m, kh * kw, 1, 1)).sum(2)  # (N, G, kH kW, Ho, Wo)
        grad_input = _col2im(cols.reshape(n, c * kh * kw, ho * wo), (h, w), (kh, kw), stride, padding, dilation)
    if needs[1]:
        win = _windows(x, (kh, kw), stride, padding, dilation)[:, :, :ho, :wo].unsqueeze(2)  # (N, G, 1, Ho, Wo, kH, kW)
        taps = [(gy * win[..., i, j]).sum((0, 3, 4)) for i in range(kh) for j in range(kw)]  # each (G, O/G)
        grad_weight = torch.stack(taps, -1).reshape(weight.shape)
    if needs[2]:
        grad_bias = g.sum((0, 2, 3))
    return grad_input, grad_weight, grad_bias


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
        o, _, kh, kw = weight.shape
        ho, wo = _out_size(x.shape[2:], (kh, kw), stride, padding, dilation)
        # a fresh output tensor (not a view of a temporary, so in-place ops on it are allowed)
        out = x.new_empty((o, ho, wo) if input.dim() == 3 else (x.shape[0], o, ho, wo))
        y = out.view(x.shape[0], o, ho, wo)
        if torch.compiler.is_compiling():  # forms inductor fuses (the eager forms' loops would be unrolled)
            form = _window_forward if _direct(weight, groups) else _compiled_forward
            y.copy_(form(x, weight, bias, stride, padding, dilation, groups))
        elif not _fast(x, weight, bias):
            y.copy_(_reference_forward(x, weight, bias, stride, padding, dilation, groups))
        elif _direct(weight, groups):
            _direct_forward(x, weight, bias, stride, padding, dilation, groups, y)
        else:
            columns = _gemm_forward(x, weight, bias, stride, padding, dilation, groups, y)
            if len(columns.chunks) == 1 and ctx.needs_input_grad[1]:  # one chunk, at most 16 MB: dW reads it again
                ctx.columns = columns
        ctx.save_for_backward(input, weight)
        ctx.conf = (stride, padding, dilation, groups)
        return out

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        input, weight = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        unbatched = input.dim() == 3
        x = input.unsqueeze(0) if unbatched else input
        g = grad_output.unsqueeze(0) if unbatched else grad_output
        needs = tuple(ctx.needs_input_grad[:3])
        if torch.compiler.is_compiling():
            form = _window_backward if _direct(weight, groups) else _compiled_backward
        elif torch.is_grad_enabled() or not _fast(x, weight, g):
            form = _reference_backward  # differentiable (double backward), and half types in float32
        else:
            columns = getattr(ctx, "columns", None)
            form = _direct_backward if _direct(weight, groups) else functools.partial(_gemm_backward, columns=columns)
            g = g.contiguous()
        grad_input, grad_weight, grad_bias = form(x, weight, g, stride, padding, dilation, groups, needs)
        ctx.columns = None  # (a second backward through retain_graph redoes them)
        if unbatched and grad_input is not None:
            grad_input = grad_input.squeeze(0)
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
