"""AlexNet's PCA colour augmentation (Krizhevsky et al. 2012, section 4.1; the sheet's "scale PCs of color").

To every pixel of an image add the same colour shift ``sum_i alpha_i lambda_i p_i = P (alpha * lambda)``, where
``p_i`` and ``lambda_i`` are the unit eigenvectors and eigenvalues of the C x C covariance of the training split's
pixel colours (each pixel a C-vector, C = 3 for RGB) and ``alpha_i ~ N(0, sigma^2)`` is drawn once per image
(the paper's sigma is 0.1). The shift lies in the span of the principal components and has covariance
``P diag(sigma^2 lambda^2) P^T``: larger along the directions in which the training colours vary more.

``lambda_i`` is an eigenvalue, a variance, as in the paper: the shift's size depends on the pixel units, here
[0, 1] (the augmentations see images before Normalize, as torchvision's do). On grey images (C = 1) the covariance
is the pixel variance v, P = [1], and the shift is a brightness offset ``alpha v`` per image.

torchvision has no twin; the tests compare with a plain float64 computation. As in the paper, nothing is clamped.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from c147.data.augment.functional import check_image


def pixel_covariance(batches: Iterable[Tensor]) -> Tensor:
    """The (C, C) float64 covariance (divided by P - 1) of the P pixel colour vectors ``x[n, :, i, j]`` of all
    images in ``batches`` (each (N, C, H, W)), in one pass.

    The sums are taken about the first batch's mean colour k (``sum (x - k)``, ``sum (x - k)(x - k)^T``): the
    shifted-data algorithm, which keeps the one-pass formula clear of the cancellation of raw sums.

    Raises:
        ValueError: a batch that is not (N, C, H, W), a channel count that changes, or fewer than 2 pixels.
    """
    shift = total = scatter = None
    count = 0
    for x in batches:
        check_image(x, "pixel_covariance")
        if x.dim() != 4 or (shift is not None and x.shape[1] != len(shift)):
            expected = "(N, C, H, W)" if shift is None else f"(N, {len(shift)}, H, W)"
            raise ValueError(f"pixel_covariance: expected batches of shape {expected}, got {tuple(x.shape)}")
        pixels = x.detach().to("cpu", torch.float64).transpose(0, 1).reshape(x.shape[1], -1)  # (C, N H W)
        if shift is None:
            shift = pixels.mean(1, keepdim=True)  # (C, 1)
            total, scatter = torch.zeros_like(shift), torch.zeros(len(shift), len(shift), dtype=torch.float64)
        centred = pixels - shift
        total += centred.sum(1, keepdim=True)
        scatter += centred @ centred.T
        count += pixels.shape[1]
    if count < 2:
        raise ValueError(f"pixel_covariance: expected at least 2 pixels, got {count}")
    # sum (x - m)(x - m)^T = sum (x - k)(x - k)^T - P (m - k)(m - k)^T, with P (m - k) = sum (x - k)
    return (scatter - total @ total.T / count) / (count - 1)


def principal_components(covariance: Tensor) -> tuple[Tensor, Tensor]:
    """The eigenvalues ``lambda`` (C,), largest first, and unit eigenvectors ``P`` (C, C), column i = p_i, of a
    covariance matrix: ``covariance = P diag(lambda) P^T`` (float64; rounding's tiny negative eigenvalues -> 0).

    Raises:
        ValueError: not a symmetric C x C matrix.
    """
    cov = torch.as_tensor(covariance, dtype=torch.float64)
    if cov.dim() != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"principal_components: expected a (C, C) covariance, got shape {tuple(cov.shape)}")
    if not torch.allclose(cov, cov.T):
        raise ValueError(f"principal_components: expected a symmetric covariance, got {cov.tolist()}")
    eigval, eigvec = torch.linalg.eigh(cov)  # ascending
    return eigval.flip(0).clamp_min(0), eigvec.flip(1)


def _check_components(eigval: Tensor, eigvec: Tensor, channels: int, name: str) -> None:
    if tuple(eigval.shape) != (channels,) or tuple(eigvec.shape) != (channels, channels):
        raise ValueError(f"{name}: expected eigval of shape ({channels},) and eigvec of shape ({channels}, "
                         f"{channels}) for {channels}-channel images, got {tuple(eigval.shape)} and "
                         f"{tuple(eigvec.shape)}")


def adjust_lighting(inpt: Tensor, alpha: Tensor, eigval: Tensor, eigvec: Tensor) -> Tensor:
    """``x + P (alpha * lambda)``: every pixel of an image shifted by the same colour (no torchvision twin).

    Args:
        inpt: images (..., C, H, W), floating point.
        alpha: the components' weights: (C,) for every image alike, or (..., C) with ``inpt``'s leading
            dimensions (one row per image).
        eigval: ``lambda`` (C,); ``eigvec``: ``P`` (C, C), column i the component p_i (as
            :func:`principal_components` gives them).

    Returns:
        The shifted images, in ``inpt``'s dtype and on its device (the shift is computed in float64).
    """
    check_image(inpt, "adjust_lighting")
    channels, batch = inpt.shape[-3], tuple(inpt.shape[:-3])
    _check_components(eigval, eigvec, channels, "adjust_lighting")
    if tuple(alpha.shape) not in ((channels,), (*batch, channels)):
        raise ValueError(f"adjust_lighting: expected alpha of shape ({channels},) or {(*batch, channels)}, "
                         f"got {tuple(alpha.shape)}")
    eigval, eigvec = eigval.to(alpha.device, torch.float64), eigvec.to(alpha.device, torch.float64)
    shift = (alpha.double() * eigval) @ eigvec.T  # (..., C): row n is sum_i alpha_ni lambda_i p_i
    return inpt + shift.to(device=inpt.device, dtype=inpt.dtype)[..., None, None]


class Lighting:
    """AlexNet's colour augmentation: each image shifted by ``P (alpha * lambda)`` with ``alpha ~ N(0, sigma^2 I)``
    drawn per image (:func:`adjust_lighting`).

    The components come from the training split: :meth:`fit` with its pixel covariance (a data module does that
    once, from its training split, before the first training batch), or ``eigval`` / ``eigvec`` given here.

    Args:
        sigma: the standard deviation of each alpha_i (the paper's 0.1).
        eigval: ``lambda`` (C,), or None until :meth:`fit`.
        eigvec: ``P`` (C, C), or None until :meth:`fit`.
    """

    def __init__(self, sigma: float = 0.1, eigval: Tensor | None = None, eigvec: Tensor | None = None) -> None:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 <= sigma < float("inf"):
            raise ValueError(f"Lighting: expected sigma a finite non-negative number, got {sigma!r}")
        if (eigval is None) != (eigvec is None):
            raise ValueError("Lighting: expected eigval and eigvec both or neither, got only one")
        self.sigma = float(sigma)
        self.eigval = self.eigvec = None
        if eigval is not None:
            eigval, eigvec = torch.as_tensor(eigval, dtype=torch.float64), torch.as_tensor(eigvec, dtype=torch.float64)
            _check_components(eigval, eigvec, len(eigval), "Lighting")
            self.eigval, self.eigvec = eigval, eigvec

    @property
    def fitted(self) -> bool:
        """Whether the components are known."""
        return self.eigval is not None

    def fit(self, covariance: Tensor) -> Lighting:
        """Take the components of ``covariance`` (the training split's :func:`pixel_covariance`)."""
        self.eigval, self.eigvec = principal_components(covariance)
        return self

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if not self.fitted:
            raise ValueError("Lighting: expected the principal components of the training pixels, got none: call "
                             "fit(pixel_covariance(training batches)) first (a data module does at setup)")
        alpha = self.sigma * torch.randn(len(x), len(self.eigval), generator=generator, dtype=torch.float64)
        return adjust_lighting(x, alpha, self.eigval, self.eigvec)

    def __repr__(self) -> str:
        return f"Lighting(sigma={self.sigma}, eigval={None if self.eigval is None else self.eigval.tolist()})"
