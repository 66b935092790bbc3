"""Random augmentations with per-image parameters drawn from a seeded ``torch.Generator``.

Each transform is a small callable ``t(x, generator) -> x`` on a batch (N, C, H, W): it draws one set
of parameters per image from ``generator`` (a CPU generator; the draws do not depend on the device
the batch is on) and applies the functional op of :mod:`c147.data.augment` with them. The same
generator state gives the same output, so a training run seeds one generator per batch from (seed,
epoch, batch) and a resumed run replays the same augmentations.

Named augmentations (``data.augment=[flip,crop]``) and presets (``data.augment=alexnet``) are built
by :func:`build_augment`. ``lighting`` (:class:`~c147.data.augment.lighting.Lighting`) needs the training split's
pixel covariance first: the data module fits it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from c147.data.augment.affine import affine, rotate
from c147.data.augment.functional import horizontal_flip, pad, subsample, vertical_flip
from c147.data.augment.lighting import Lighting
from c147.data.augment.photometric import adjust_brightness, adjust_contrast, gaussian_blur, gaussian_noise


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return torch.where(mask.to(a.device).view(-1, *[1] * (a.dim() - 1)), a, b)


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return _where(torch.rand(len(x), generator=generator) < self.p, horizontal_flip(x), x)


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror each image top-bottom with probability ``p``."""

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return _where(torch.rand(len(x), generator=generator) < self.p, vertical_flip(x), x)


class RandomCrop:
    """Pad by ``padding`` (torchvision's forms), then cut a ``size`` window (default: the input's size)
    at a uniformly drawn position per image: random translations by up to ``padding`` pixels."""

    def __init__(self, size: int | Sequence[int] | None = None, padding: int | Sequence[int] | None = None,
                 fill: float = 0.0, padding_mode: str = "constant") -> None:
        self.size = [size, size] if isinstance(size, int) else size
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        h, w = self.size or x.shape[-2:]
        if self.padding:
            x = pad(x, self.padding, fill=self.fill, padding_mode=self.padding_mode)
        n, c, ph, pw = x.shape
        if h > ph or w > pw:
            raise ValueError(f"RandomCrop: crop {h}x{w} larger than the padded input {ph}x{pw}")
        top = torch.randint(ph - h + 1, (n,), generator=generator).to(x.device)
        left = torch.randint(pw - w + 1, (n,), generator=generator).to(x.device)
        rows = (top[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (N, h, 1)
        cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (N, 1, w)
        batch = torch.arange(n, device=x.device)[:, None, None]
        return x.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (N, C, h, w)


class RandomRotation:
    """Rotate each image by an angle drawn uniformly from [-degrees, degrees] (or [lo, hi])."""

    def __init__(self, degrees: float | Sequence[float], interpolation: str = "nearest", fill: float = 0.0) -> None:
        self.degrees = (-degrees, degrees) if isinstance(degrees, (int, float)) else tuple(degrees)
        self.interpolation, self.fill = interpolation, fill

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        angle = _uniform(len(x), *self.degrees, generator)
        return rotate(x, angle, self.interpolation, fill=self.fill)


class RandomScale:
    """Zoom each image about its centre by a factor drawn uniformly from ``scale`` (the sheet's
    "scale"; torchvision's ``RandomAffine(degrees=0, scale=scale)``), keeping its size."""

    def __init__(self, scale: Sequence[float] = (0.9, 1.1), interpolation: str = "bilinear", fill: float = 0.0) -> None:
        self.scale, self.interpolation, self.fill = tuple(scale), interpolation, fill

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        factor = _uniform(len(x), *self.scale, generator)
        return affine(x, 0.0, [0.0, 0.0], factor, [0.0, 0.0], self.interpolation, fill=self.fill)


class ColorJitter:
    """Brightness, then contrast, by factors drawn uniformly from [max(0, 1 - b), 1 + b] per image
    (torchvision draws the order at random too; here it is fixed)."""

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0) -> None:
        self.brightness, self.contrast = brightness, contrast

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if self.brightness:
            x = adjust_brightness(x, _uniform(len(x), max(0.0, 1 - self.brightness), 1 + self.brightness, generator))
        if self.contrast:
            x = adjust_contrast(x, _uniform(len(x), max(0.0, 1 - self.contrast), 1 + self.contrast, generator))
        return x


class GaussianNoise:
    """x + mean + sigma z, z ~ N(0, 1) per pixel, clamped to [0, 1] when ``clip``."""

    def __init__(self, mean: float = 0.0, sigma: float = 0.1, clip: bool = True) -> None:
        self.mean, self.sigma, self.clip = mean, sigma, clip

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return gaussian_noise(x, self.mean, self.sigma, self.clip, generator=generator)


class GaussianBlur:
    """Blur each image with a Gaussian of ``kernel_size`` and a sigma drawn uniformly from ``sigma``."""

    def __init__(self, kernel_size: int | Sequence[int], sigma: Sequence[float] = (0.1, 2.0)) -> None:
        self.kernel_size, self.sigma = kernel_size, tuple(sigma)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return gaussian_blur(x, self.kernel_size, _uniform(len(x), *self.sigma, generator))


class RandomSubsample:
    """With probability ``p``, :func:`subsample` the image by ``factor`` (a lower-resolution copy)."""

    def __init__(self, factor: int = 2, p: float = 0.5) -> None:
        self.factor, self.p = factor, p

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return _where(torch.rand(len(x), generator=generator) < self.p, subsample(x, self.factor), x)


class Compose:
    """Apply ``transforms`` in order, all drawing from one generator (``generator`` here, or the call's)."""

    def __init__(self, transforms: Sequence[Callable[[Tensor, torch.Generator], Tensor]],
                 generator: torch.Generator | None = None) -> None:
        self.transforms, self.generator = list(transforms), generator

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        generator = generator if generator is not None else self.generator
        if generator is None:
            raise ValueError("Compose: pass a torch.Generator (here or when building) so the draws are seeded")
        for transform in self.transforms:
            x = transform(x, generator)
        return x

    def __repr__(self) -> str:
        return f"Compose({', '.join(type(t).__name__ for t in self.transforms)})"


# the names a config may use, each with the sheet's usual strength for small (8x8 to 32x32) images
AUGMENTATIONS: dict[str, Callable[[], Callable[[Tensor, torch.Generator], Tensor]]] = {
    "flip": lambda: RandomHorizontalFlip(0.5),
    "vflip": lambda: RandomVerticalFlip(0.5),
    "crop": lambda: RandomCrop(padding=4),  # shifts of up to 4 pixels: CIFAR's recipe, AlexNet's 32/256
    "rotate": lambda: RandomRotation(15, interpolation="bilinear"),
    "scale": lambda: RandomScale((0.9, 1.1)),
    "brightness": lambda: ColorJitter(brightness=0.2),
    "contrast": lambda: ColorJitter(contrast=0.2),
    "noise": lambda: GaussianNoise(sigma=0.05),
    "blur": lambda: GaussianBlur(3, (0.1, 1.0)),
    "subsample": lambda: RandomSubsample(2, p=0.5),
    "lighting": lambda: Lighting(0.1),  # the paper's sigma; the data module fits it to its training split
}
# named recipes; alexnet: Krizhevsky et al. 2012, random crops (224 of 256), horizontal reflections and the PCA
# colour shift
PRESETS: dict[str, list[str]] = {
    "alexnet": ["crop", "flip", "lighting"],
    "sheet": ["flip", "scale", "rotate", "crop", "noise", "subsample", "brightness", "blur"],
}


def augment_names(spec: str | Sequence[str] | None) -> list[str]:
    """The augmentation names of ``spec``: null, a name, a preset, or a list of names and presets.

    Raises:
        ValueError: an unknown name, listing the known ones and the presets.
    """
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str) else list(spec) if isinstance(spec, Sequence) or hasattr(
        spec, "__iter__") else None
    names: list[str] = []
    for item in items if items is not None else [spec]:
        if isinstance(item, str) and item in PRESETS:
            names += PRESETS[item]
        elif isinstance(item, str) and item in AUGMENTATIONS:
            names.append(item)
        else:
            raise ValueError(f"augment: unknown augmentation {item!r}; known: {', '.join(AUGMENTATIONS)}; "
                             f"presets: {', '.join(PRESETS)}")
    return names


def build_augment(spec: str | Sequence[str] | None, generator: torch.Generator | None = None) -> Compose | None:
    """A :class:`Compose` of the named augmentations (None for none), e.g. ``build_augment("alexnet")``."""
    names = augment_names(spec)
    return Compose([AUGMENTATIONS[name]() for name in names], generator) if names else None
