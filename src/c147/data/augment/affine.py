"""Rotation and affine maps by our own sampling: twins of torchvision's ``rotate`` and ``affine``.

For each output pixel p (coordinates centred on the image), the source point is q = M^-1 p, with
M = T C R S Sh C^-1 (translation, centre, rotation, scale, shear: torchvision's
``_get_inverse_affine_matrix``, here over tensors so each image may have its own angle and scale).
In pixel units, x_src = q_x + (W - 1)/2 and y_src = q_y + (H - 1)/2, which is what
``grid_sample(align_corners=False)`` makes of torchvision's normalized grid. Then

- nearest: the pixel round(x_src), round(y_src) (half to even, as ``grid_sample``);
- bilinear: (1 - a)(1 - b) x00 + a (1 - b) x01 + (1 - a) b x10 + a b x11 with a, b the fractional parts.

Source pixels outside the image read 0. With a ``fill`` the same weights sample an all-ones mask m
(the in-image share of each output pixel), and out = fill where m < 1/2 (nearest) or
out = m (out - fill) + fill (bilinear), as torchvision does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from c147.data.augment.functional import check_image, interpolation_name

Number = int | float


def inverse_affine_matrix(center: Sequence[float], angle: Number | Tensor, translate: Sequence[float],
                          scale: Number | Tensor, shear: Sequence[float]) -> Tensor:
    """(N, 2, 3) float64 M^-1 (``angle``, ``scale``: numbers or (N,) tensors; degrees)."""
    rot = torch.as_tensor(angle, dtype=torch.float64).reshape(-1) * (math.pi / 180)
    scale = torch.as_tensor(scale, dtype=torch.float64).reshape(-1)
    sx, sy = (math.radians(s) for s in shear)
    cx, cy = center
    tx, ty = translate
    # rotation-scale-shear without the scale: [[a, b], [c, d]], determinant 1
    a = torch.cos(rot - sy) / math.cos(sy)
    b = -(a * math.tan(sx) + torch.sin(rot))
    c = torch.sin(rot - sy) / math.cos(sy)
    d = torch.cos(rot) - c * math.tan(sx)
    m = torch.stack([d, -b, torch.zeros_like(a), -c, a, torch.zeros_like(a)], -1) / scale[:, None]
    # C RSS^-1 C^-1 T^-1: the offsets that keep the centre and undo the translation
    m[:, 2] = cx - m[:, 0] * (cx + tx) - m[:, 1] * (cy + ty)
    m[:, 5] = cy - m[:, 3] * (cx + tx) - m[:, 4] * (cy + ty)
    return m.view(-1, 2, 3)


def source_coords(matrix: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """(N, H, W) float64 source pixel coordinates x_src, y_src of every output pixel."""
    x = torch.arange(width, dtype=torch.float64) - (width - 1) / 2
    y = (torch.arange(height, dtype=torch.float64) - (height - 1) / 2)[:, None]
    m = matrix.double()[:, :, :, None, None]  # (N, 2, 3, 1, 1)
    xs = m[:, 0, 0] * x + m[:, 0, 1] * y + m[:, 0, 2] + (width - 1) / 2
    ys = m[:, 1, 0] * x + m[:, 1, 1] * y + m[:, 1, 2] + (height - 1) / 2
    return xs, ys


def _gather(img: Tensor, xi: Tensor, yi: Tensor) -> tuple[Tensor, Tensor]:
    """img[n, :, yi, xi] for integer maps (N', H, W) (N' = N or 1), 0 outside; and the in-image mask."""
    n, c, h, w = img.shape
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    flat = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).expand(n, -1, -1).reshape(n, 1, -1)
    values = img.reshape(n, c, h * w).gather(2, flat.expand(n, c, -1)).view(n, c, *xi.shape[-2:])
    inside = inside.expand(n, -1, -1).unsqueeze(1)
    return values * inside, inside.to(img.dtype)


def warp(inpt: Tensor, matrix: Tensor, interpolation, fill: Number | Sequence[Number] | None) -> Tensor:
    """Sample ``inpt`` (..., C, H, W) at M^-1 p for every output pixel p (see the module docstring)."""
    mode = interpolation_name(interpolation)
    shape = inpt.shape
    img = inpt.reshape(-1, *shape[-3:])
    h, w = shape[-2:]
    xs, ys = source_coords(matrix, h, w)
    xs, ys = xs.to(device=img.device, dtype=img.dtype), ys.to(device=img.device, dtype=img.dtype)
    if mode == "nearest":
        out, mask = _gather(img, xs.round().long(), ys.round().long())
    else:
        x0, y0 = xs.floor(), ys.floor()
        a, b = (xs - x0).unsqueeze(1), (ys - y0).unsqueeze(1)  # (N', 1, H, W)
        x0, y0 = x0.long(), y0.long()
        out, mask = 0, 0
        for dy, dx, weight in ((0, 0, (1 - a) * (1 - b)), (0, 1, a * (1 - b)), (1, 0, (1 - a) * b), (1, 1, a * b)):
            values, inside = _gather(img, x0 + dx, y0 + dy)
            out, mask = out + weight * values, mask + weight * inside
    if fill is not None:
        fill_values = torch.as_tensor(fill, dtype=img.dtype, device=img.device).reshape(1, -1, 1, 1)
        if fill_values.shape[1] not in (1, img.shape[1]):
            raise ValueError(f"fill needs 1 or {img.shape[1]} values, got {fill_values.shape[1]}")
        if mode == "nearest":
            out = torch.where(mask < 0.5, fill_values, out)
        else:  # img m + (1 - m) fill
            out = mask * (out - fill_values) + fill_values
    return out.reshape(shape)


def _centre(center: Sequence[float] | None, height: int, width: int) -> list[float]:
    """torchvision's centre: pixel coordinates, relative to the image centre (default: the centre)."""
    return [0.0, 0.0] if center is None else [center[0] - width * 0.5, center[1] - height * 0.5]


def rotate(inpt: Tensor, angle: Number | Tensor, interpolation="nearest", expand: bool = False,
           center: Sequence[float] | None = None, fill: Number | Sequence[Number] | None = None) -> Tensor:
    """Rotate counter-clockwise by ``angle`` degrees (a number, or (N,): one per image) about ``center``.

    Multiples of 90 degrees about the centre are exact permutations (``torch.rot90``), as in torchvision
    (90 and 270 only for square images). ``expand=True`` (grow the canvas) is not supported.
    """
    check_image(inpt, "rotate")
    if expand:
        raise ValueError("rotate: expand=True is not supported (the output keeps the input's size)")
    h, w = inpt.shape[-2:]
    if center is None and not isinstance(angle, Tensor):
        quarter, rest = divmod(angle % 360, 90)
        if rest == 0 and (quarter % 2 == 0 or h == w):
            return torch.rot90(inpt, k=int(quarter), dims=(-2, -1)) if quarter else inpt.clone()
    angle = -angle  # torchvision's rotate passes -angle: its matrix maps output to input
    matrix = inverse_affine_matrix(_centre(center, h, w), angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    return warp(inpt, matrix, interpolation, fill)


def affine(inpt: Tensor, angle: Number | Tensor, translate: Sequence[float], scale: Number | Tensor,
           shear: Sequence[float] | Number, interpolation="nearest", fill: Number | Sequence[Number] | None = None,
           center: Sequence[float] | None = None) -> Tensor:
    """Rotate by ``angle`` (clockwise, torchvision's convention for ``affine``), scale by ``scale``, shear
    by ``shear`` degrees ([x, y] or a number for x) and translate by ``translate`` pixels; angle and
    scale may be (N,) tensors, one per image. The output keeps the input's size."""
    check_image(inpt, "affine")
    if (scale <= 0).any() if isinstance(scale, Tensor) else scale <= 0:
        raise ValueError(f"affine: scale must be positive, got {scale}")
    if len(translate) != 2:
        raise ValueError(f"affine: translate must be [tx, ty], got {translate!r}")
    shear = [float(shear), 0.0] if isinstance(shear, (int, float)) else [float(s) for s in shear]
    h, w = inpt.shape[-2:]
    matrix = inverse_affine_matrix(_centre(center, h, w), angle, [float(t) for t in translate], scale, shear)
    return warp(inpt, matrix, interpolation, fill)
