"""Photometric augmentations (brightness, contrast, blur, noise), twins of torchvision's.

Images are in [0, 1], as torchvision assumes: brightness, contrast and noise clamp to it as theirs do.
A factor or sigma may be a tensor of shape (N,): one value per image of the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from c147.data.augment.functional import Number, check_image, pad, per_sample


def _check_factor(value: Number | Tensor, name: str) -> None:
    if (value < 0).any() if isinstance(value, Tensor) else value < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")


def _check_channels(inpt: Tensor, name: str) -> None:
    if inpt.shape[-3] not in (1, 3):
        raise ValueError(f"{name}: expected 1 or 3 channels, got {inpt.shape[-3]}")


def adjust_brightness(inpt: Tensor, brightness_factor: Number | Tensor) -> Tensor:
    """x * factor, clamped to [0, 1] (0 gives black, 1 the image)."""
    check_image(inpt, "adjust_brightness")
    _check_channels(inpt, "adjust_brightness")
    _check_factor(brightness_factor, "brightness_factor")
    return (inpt * per_sample(brightness_factor, inpt)).clamp(0, 1)


def adjust_contrast(inpt: Tensor, contrast_factor: Number | Tensor) -> Tensor:
    """factor x + (1 - factor) m, clamped to [0, 1], with m the mean grey level of each image
    (grey = 0.2989 R + 0.587 G + 0.114 B for RGB, ITU-R 601-2 luma as torchvision's)."""
    check_image(inpt, "adjust_contrast")
    _check_channels(inpt, "adjust_contrast")
    _check_factor(contrast_factor, "contrast_factor")
    if inpt.shape[-3] == 3:
        r, g, b = inpt.unbind(-3)
        grey = (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(-3)
    else:
        grey = inpt
    mean = grey.mean(dim=(-3, -2, -1), keepdim=True)
    factor = per_sample(contrast_factor, inpt)
    return (factor * inpt + (1 - factor) * mean).clamp(0, 1)


def gaussian_kernel1d(kernel_size: int, sigma: float | Tensor) -> Tensor:
    """(K,) or (N, K) float64 weights exp(-t^2 / (2 sigma^2)) at t = -(K-1)/2 ... (K-1)/2, summing to 1."""
    t = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    sigma = sigma.double().view(-1, 1) if isinstance(sigma, Tensor) else sigma
    weights = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    return weights / weights.sum(-1, keepdim=True)


def _blur_axis(x: Tensor, kernel: Tensor, dim: int) -> Tensor:
    """sum_k kernel[k] x[..., k : k + n] along ``dim`` (-1 or -2) of a reflect-padded ``x``."""
    k = kernel.shape[-1]
    n = x.shape[dim] - k + 1
    kernel = kernel.to(device=x.device, dtype=x.dtype)
    weights = kernel.view(-1, *[1] * (x.dim() - 1), k) if kernel.dim() == 2 else kernel
    return sum(weights[..., i] * x.narrow(dim, i, n) for i in range(k))


def gaussian_blur(inpt: Tensor, kernel_size: int | Sequence[int], sigma: float | Sequence[float] | Tensor | None = None
                  ) -> Tensor:
    """Separable Gaussian blur with reflect padding; twin of torchvision's ``gaussian_blur``.

    Args:
        kernel_size: odd, positive; an int or [k_x, k_y] (width first, as torchvision's).
        sigma: a number or [sigma_x, sigma_y]; default 0.15 k + 0.35 (torchvision's); a tensor of
            shape (N,) blurs each image with its own sigma (both directions).
    """
    check_image(inpt, "gaussian_blur")
    ks = [kernel_size] * 2 if isinstance(kernel_size, int) else list(kernel_size)
    if len(ks) != 2 or not all(isinstance(k, int) and k > 0 and k % 2 == 1 for k in ks):
        raise ValueError(f"kernel_size must be odd and positive (an int or [k_x, k_y]), got {kernel_size!r}")
    if sigma is None:
        sigmas = [0.15 * k + 0.35 for k in ks]
    elif isinstance(sigma, Tensor):
        sigmas = [sigma, sigma]
    else:
        sigmas = [float(sigma)] * 2 if isinstance(sigma, (int, float)) else [float(s) for s in sigma]
        sigmas = sigmas * 2 if len(sigmas) == 1 else sigmas
    if len(sigmas) != 2 or any(bool((s <= 0).any()) if isinstance(s, Tensor) else s <= 0 for s in sigmas):
        raise ValueError(f"sigma must be positive (a number or [sigma_x, sigma_y]), got {sigma!r}")
    kx, ky = ks
    x = pad(inpt, [kx // 2, ky // 2], padding_mode="reflect")
    x = _blur_axis(x, gaussian_kernel1d(kx, sigmas[0]), -1)
    return _blur_axis(x, gaussian_kernel1d(ky, sigmas[1]), -2)


def gaussian_noise(inpt: Tensor, mean: float = 0.0, sigma: float = 0.1, clip: bool = True,
                   generator: torch.Generator | None = None) -> Tensor:
    """x + mean + sigma z with z ~ N(0, 1) per element, clamped to [0, 1] when ``clip``.

    ``generator`` (on any device) draws z; without one the global RNG of ``inpt``'s device does,
    as torchvision's ``torch.randn_like`` does (same seed, same noise).
    """
    check_image(inpt, "gaussian_noise")
    if sigma < 0 or not math.isfinite(sigma):
        raise ValueError(f"gaussian_noise: sigma must be non-negative, got {sigma}")
    device = generator.device if generator is not None else inpt.device
    z = torch.randn(inpt.shape, generator=generator, dtype=inpt.dtype, device=device).to(inpt.device)
    out = inpt + (mean + z * sigma)
    return out.clamp(0, 1) if clip else out
