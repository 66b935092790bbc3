"""Synthetic 2-D problems for the MLP: Gaussian blobs and interleaved spirals."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import TensorDataset

from c147.data.base import ClassificationDataModule, loader_arguments, seeded_split, split_counts

KINDS = ("blobs", "spirals")


def make_blobs(n: int, num_classes: int, noise: float, generator: torch.Generator):
    """``num_classes`` isotropic Gaussians with centres on the unit circle scaled by 3."""
    y = torch.arange(n) % num_classes
    angle = 2 * math.pi * y.double() / num_classes
    centres = 3.0 * torch.stack([angle.cos(), angle.sin()], dim=1)
    x = centres + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return x.float(), y


def make_spirals(n: int, num_classes: int, noise: float, generator: torch.Generator):
    """``num_classes`` interleaved arms r = t, theta = 1.75 pi t + class offset (cs231n's spirals)."""
    y = torch.arange(n) % num_classes
    t = torch.rand(n, generator=generator, dtype=torch.float64)
    theta = 3.5 * t + 2 * math.pi * y.double() / num_classes + noise * torch.randn(
        n, generator=generator, dtype=torch.float64
    )
    x = torch.stack([t * theta.sin(), t * theta.cos()], dim=1)
    return x.float(), y


class SyntheticDataModule(ClassificationDataModule):
    """2-D points in ``num_classes`` classes; ``in_channels`` = 2 features, ``image_size`` = 1.

    Args:
        kind: ``"blobs"`` or ``"spirals"``.
        num_samples: total number of points, split into train / val / test.
        num_classes: number of classes (>= 2).
        noise: standard deviation of the Gaussian noise.
        **loader: batch_size, num_workers, seed, bootstrap, split_seed, on_device, keyword only: see
            :class:`ClassificationDataModule`; augment must stay null: the points are not images.
    """

    in_channels = 2
    image_size = 1

    @loader_arguments()
    def __init__(
        self,
        kind: str = "spirals",
        num_samples: int = 3000,
        num_classes: int = 3,
        noise: float = 0.2,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        **loader: Any,
    ) -> None:
        augment = loader.pop("augment", None)
        if augment:
            raise ValueError(f"augment: the synthetic data are 2-D points, not images; got {augment!r} (use null)")
        super().__init__(**loader)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        if not isinstance(num_samples, int) or num_samples < 10 * num_classes:
            raise ValueError(f"num_samples must be an integer >= {10 * num_classes}, got {num_samples!r}")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.kind, self.num_samples, self.num_classes, self.noise = kind, num_samples, num_classes, noise
        self._sizes = split_counts(num_samples, val_fraction, test_fraction)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        g = torch.Generator().manual_seed(self.split_seed)
        make = make_blobs if self.kind == "blobs" else make_spirals
        x, y = make(self.num_samples, self.num_classes, self.noise, g)
        x = x.view(-1, 2, 1, 1)  # (N, features, 1, 1): flat vectors as 1x1 "images"
        parts = seeded_split(self.num_samples, self._sizes, self.split_seed)
        self.train_set, self.val_set, self.test_set = (TensorDataset(x[i], y[i]) for i in parts)
