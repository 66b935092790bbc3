"""The sheet's augmentations as batched tensor ops, twins of ``torchvision.transforms.v2.functional``.

Every function takes a float tensor of shape (..., C, H, W) (a batch (N, C, H, W) or one image
(C, H, W)) on any device and returns the same dtype on the same device. Values are images in
[0, 1], as torchvision assumes: ``adjust_brightness``, ``adjust_contrast`` and ``gaussian_noise``
clamp to [0, 1] as theirs do. The arithmetic is ours: index maps for flips, crops and padding,
interpolation weight matrices for ``resize`` (out = A_h X A_w^T). The photometric ops (brightness,
contrast, blur, noise) live in :mod:`c147.data.augment.photometric`, ``affine`` / ``rotate`` in
:mod:`c147.data.augment.affine`.

Where a per-sample parameter makes sense (brightness, contrast, blur sigma) it may be a tensor of
shape (N,), one value per image of the batch: the random transforms use that.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

Number = int | float
PAD_MODES = ("constant", "edge", "reflect", "symmetric")


def check_image(inpt: Tensor, name: str) -> None:
    """``inpt`` is a floating-point tensor with at least (C, H, W) dimensions."""
    if not isinstance(inpt, Tensor) or not inpt.is_floating_point() or inpt.dim() < 3:
        what = f"{inpt.dtype} tensor of shape {tuple(inpt.shape)}" if isinstance(inpt, Tensor) else type(inpt).__name__
        raise ValueError(f"{name}: expected a floating-point tensor of shape (..., C, H, W), got a {what}")


def interpolation_name(interpolation) -> str:
    """``'nearest'`` or ``'bilinear'`` from a string or torchvision's ``InterpolationMode``."""
    name = str(getattr(interpolation, "value", interpolation)).lower()
    if name not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    return name


def per_sample(value: Number | Tensor, like: Tensor) -> Number | Tensor:
    """A scalar as is; a tensor of one value per image as (N, 1, 1, 1) in ``like``'s dtype and device."""
    if isinstance(value, Tensor):
        return value.to(device=like.device, dtype=like.dtype).view(-1, *[1] * (like.dim() - 1))
    return value


# ---------------------------------------------------------------------------------- geometry


def horizontal_flip(inpt: Tensor) -> Tensor:
    """Mirror left-right: out[..., i, j] = x[..., i, W - 1 - j]."""
    check_image(inpt, "horizontal_flip")
    return inpt.flip(-1)


def vertical_flip(inpt: Tensor) -> Tensor:
    """Mirror top-bottom: out[..., i, j] = x[..., H - 1 - i, j]."""
    check_image(inpt, "vertical_flip")
    return inpt.flip(-2)


def parse_padding(padding: int | Sequence[int]) -> list[int]:
    """torchvision's padding (an int, [all], [left/right, top/bottom] or [left, top, right, bottom])
    as [left, right, top, bottom]."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        padding = [padding]
    if not isinstance(padding, Sequence) or len(padding) not in (1, 2, 4) or \
            not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in padding):
        raise ValueError(f"padding must be a non-negative int or a list of 1, 2 or 4 of them, got {padding!r}")
    if len(padding) == 1:
        return [padding[0]] * 4
    if len(padding) == 2:
        return [padding[0], padding[0], padding[1], padding[1]]
    return [padding[0], padding[2], padding[1], padding[3]]


def _pad_index(n: int, before: int, after: int, mode: str) -> Tensor:
    """For each of the n + before + after output positions, the input position it copies (``constant``:
    -1 outside)."""
    j = torch.arange(-before, n + after)
    if mode == "constant":
        return torch.where((j >= 0) & (j < n), j, -1)
    if mode == "edge":
        return j.clamp(0, n - 1)
    if mode == "reflect":  # ... 2 1 | 0 1 2 ... n-1 | n-2 ...: period 2 (n - 1), edges not repeated
        if max(before, after) >= n:
            raise ValueError(f"pad: reflect padding must be smaller than the side, got {max(before, after)} >= {n}")
        period = 2 * (n - 1)
        j = j.remainder(period) if period else torch.zeros_like(j)
        return torch.where(j >= n, period - j, j)
    j = j.remainder(2 * n)  # symmetric: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...: period 2 n, edges repeated
    return torch.where(j >= n, 2 * n - 1 - j, j)


def pad(inpt: Tensor, padding: int | Sequence[int], fill: Number | Sequence[Number] | None = None,
        padding_mode: str = "constant") -> Tensor:
    """Pad the last two dimensions; twin of ``torchvision.transforms.v2.functional.pad``.

    Args:
        padding: an int (all sides), [left/right, top/bottom] or [left, top, right, bottom].
        fill: the value of ``constant`` padding, a number or one per channel (default 0).
        padding_mode: ``constant``, ``edge`` (repeat the border), ``reflect`` (mirror without the
            border), ``symmetric`` (mirror with it).
    """
    check_image(inpt, "pad")
    if padding_mode not in PAD_MODES:
        raise ValueError(f"padding_mode must be one of {PAD_MODES}, got {padding_mode!r}")
    left, right, top, bottom = parse_padding(padding)
    h, w = inpt.shape[-2:]
    rows = _pad_index(h, top, bottom, padding_mode).to(inpt.device)
    cols = _pad_index(w, left, right, padding_mode).to(inpt.device)
    out = inpt.index_select(-2, rows.clamp(min=0)).index_select(-1, cols.clamp(min=0))
    if padding_mode == "constant":
        fill_values = torch.as_tensor(0.0 if fill is None else fill, dtype=inpt.dtype, device=inpt.device)
        if fill_values.dim() == 1 and len(fill_values) not in (1, inpt.shape[-3]):
            raise ValueError(f"pad: fill needs 1 or {inpt.shape[-3]} values, got {len(fill_values)}")
        outside = (rows[:, None] < 0) | (cols[None, :] < 0)  # (H_out, W_out)
        out = torch.where(outside, fill_values.view(-1, 1, 1) if fill_values.dim() else fill_values, out)
    return out


def crop(inpt: Tensor, top: int, left: int, height: int, width: int) -> Tensor:
    """The window [top, top + height) x [left, left + width); parts outside the image are 0, as
    torchvision's ``crop`` (and ``RandomCrop``'s padding) give them."""
    check_image(inpt, "crop")
    if height < 1 or width < 1:
        raise ValueError(f"crop: height and width must be positive, got {height} x {width}")
    h, w = inpt.shape[-2:]
    before = [max(-left, 0), max(-top, 0), max(left + width - w, 0), max(top + height - h, 0)]
    padded = pad(inpt, before) if any(before) else inpt
    top, left = top + before[1], left + before[0]
    return padded[..., top:top + height, left:left + width]


def resized_size(height: int, width: int, size: int | Sequence[int]) -> tuple[int, int]:
    """torchvision's output size: an int (or [int]) sets the shorter side, keeping the aspect ratio
    (the longer side rounded down); [h, w] is the size."""
    if isinstance(size, int) and not isinstance(size, bool):
        size = [size]
    if not isinstance(size, Sequence) or len(size) not in (1, 2) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
        raise ValueError(f"size must be a positive int or [height, width], got {size!r}")
    if len(size) == 2:
        return size[0], size[1]
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size[0], int(size[0] * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def nearest_index(n_in: int, n_out: int) -> Tensor:
    """torch's nearest source index, min(floor(i * s), n_in - 1) with s = n_in / n_out rounded to
    float32 and the product taken in float32 (ATen's arithmetic, so ties break as torch's do)."""
    scale = torch.tensor(n_in, dtype=torch.float32) / n_out
    return (torch.arange(n_out, dtype=torch.float32) * scale).floor().long().clamp(max=n_in - 1)


def linear_weights(n_in: int, n_out: int, antialias: bool) -> Tensor:
    """(n_out, n_in) float64 weights of 1-D linear interpolation (half-pixel centres, align_corners=False).

    Without antialias: source x = (i + 1/2) s - 1/2 (clamped at 0), weights 1 - frac and frac on its
    two neighbours. With antialias (torch's ``_upsample_bilinear2d_aa``): the triangle filter
    max(0, 1 - |j + 1/2 - c| / t) around c = (i + 1/2) s, widened to t = s >= 1 when downsampling so
    every input pixel contributes, then normalized to sum 1. Upsampling (s < 1) gives the same
    weights both ways.
    """
    s = n_in / n_out
    i = torch.arange(n_out, dtype=torch.float64)
    if antialias:
        support = max(s, 1.0)
        j = torch.arange(n_in, dtype=torch.float64)
        weights = (1 - ((j[None, :] + 0.5 - s * (i[:, None] + 0.5)) / support).abs()).clamp(min=0)
        return weights / weights.sum(1, keepdim=True)
    src = ((i + 0.5) * s - 0.5).clamp(min=0)
    i0 = src.floor().long().clamp(max=n_in - 1)
    frac = (src - i0).clamp(max=1)
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    weights.index_put_((rows, i0), 1 - frac, accumulate=True)
    weights.index_put_((rows, (i0 + 1).clamp(max=n_in - 1)), frac, accumulate=True)
    return weights


def resize(inpt: Tensor, size: int | Sequence[int], interpolation="bilinear", antialias: bool = True) -> Tensor:
    """Resize the last two dimensions; twin of ``torchvision.transforms.v2.functional.resize``.

    ``bilinear`` is out = A_h X A_w^T with :func:`linear_weights`; ``antialias`` (True, torchvision's
    default since 0.17) widens the filter when shrinking, ``antialias=False`` is plain bilinear (both
    are matched). ``nearest`` copies :func:`nearest_index` (antialias does not apply).
    """
    check_image(inpt, "resize")
    mode = interpolation_name(interpolation)
    h, w = inpt.shape[-2:]
    new_h, new_w = resized_size(h, w, size)
    if (new_h, new_w) == (h, w):
        return inpt
    if mode == "nearest":
        rows, cols = nearest_index(h, new_h).to(inpt.device), nearest_index(w, new_w).to(inpt.device)
        return inpt.index_select(-2, rows).index_select(-1, cols)
    a_h = linear_weights(h, new_h, antialias).to(device=inpt.device, dtype=inpt.dtype)
    a_w = linear_weights(w, new_w, antialias).to(device=inpt.device, dtype=inpt.dtype)
    return a_h @ inpt @ a_w.T  # (..., new_h, h) (h, w) (w, new_w)


def subsample(inpt: Tensor, factor: int) -> Tensor:
    """The sheet's "subsampling": keep every ``factor``-th pixel in each direction, then bring the
    image back to its size by nearest-neighbour resizing: a blockier, lower-resolution copy.

    The twin is torchvision's ``resize(x[..., ::factor, ::factor], [H, W], NEAREST)``.
    """
    check_image(inpt, "subsample")
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        raise ValueError(f"subsample: factor must be a positive integer, got {factor!r}")
    h, w = inpt.shape[-2:]
    return resize(inpt[..., ::factor, ::factor], [h, w], interpolation="nearest")
