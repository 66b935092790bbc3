"""Shared pieces of c147's LightningDataModules: seeded splits and loaders."""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Subset


def seeded_split(n: int, sizes: list[int], seed: int) -> list[torch.Tensor]:
    """Split ``range(n)`` into consecutive chunks of ``sizes`` after a seeded shuffle.

    Raises:
        ValueError: if the sizes do not add up to ``n`` or one is negative.
    """
    if any(s < 0 for s in sizes) or sum(sizes) != n:
        raise ValueError(f"split sizes must be non-negative and add up to {n}, got {sizes}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return list(torch.split(perm, sizes))


def fraction_to_count(fraction: float, n: int, name: str) -> int:
    """``round(fraction * n)``, after checking ``0 <= fraction < 1``."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {fraction}")
    return int(round(fraction * n))


def split_counts(n: int, val_fraction: float, test_fraction: float) -> list[int]:
    """Sizes ``[train, val, test]`` of ``n`` samples for the given held-out fractions.

    Raises:
        ValueError: a fraction outside [0, 1), or nothing left for training.
    """
    n_val = fraction_to_count(val_fraction, n, "val_fraction")
    n_test = fraction_to_count(test_fraction, n, "test_fraction")
    if n_val + n_test >= n:
        raise ValueError(
            f"val_fraction + test_fraction must leave training data, got {val_fraction} + {test_fraction}"
        )
    return [n - n_val - n_test, n_val, n_test]


class ClassificationDataModule(L.LightningDataModule):
    """Base class: subclasses fill ``self.train_set``, ``self.val_set``, ``self.test_set`` in
    :meth:`setup` and set the class attributes describing the data.

    Attributes:
        num_classes: number of target classes.
        in_channels: channels of one input (1 for grey images, 3 for RGB; 0 for flat vectors).
        image_size: side of the square images fed to the network (0 for flat vectors).
        in_features: length of one flattened input.
    """

    num_classes: int = 0
    in_channels: int = 0
    image_size: int = 0

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    @property
    def in_features(self) -> int:
        return self.in_channels * self.image_size * self.image_size

    def _loader(self, dataset: Dataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before asking for loaders")
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


__all__ = ["ClassificationDataModule", "Subset", "fraction_to_count", "seeded_split", "split_counts"]
