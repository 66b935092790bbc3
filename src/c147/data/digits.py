"""scikit-learn's bundled 8x8 handwritten digits: the default dataset, no download needed."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset

from c147.data.base import ClassificationDataModule, seeded_split, split_counts


class DigitsDataModule(ClassificationDataModule):
    """1,797 grey 8x8 digits (UCI), upsampled to ``image_size`` and normalized.

    The whole set is split once, with a seeded permutation, into train / val / test.

    Args:
        image_size: side the 8x8 images are upsampled to (bilinear); 32 feeds LeNet-5.
        val_fraction: share of all samples held out for validation.
        test_fraction: share of all samples held out for the test.
        batch_size, num_workers, seed, augment, bootstrap, split_seed: see :class:`ClassificationDataModule`.
    """

    num_classes = 10
    in_channels = 1
    native_size = 8  # the images' own side: 64 pixels, as scikit-learn's load_digits gives them

    def __init__(
        self,
        image_size: int = 32,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        augment: str | Sequence[str] | None = None,
        bootstrap: bool = False,
        split_seed: int | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed, augment=augment,
                         bootstrap=bootstrap, split_seed=split_seed)
        if not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        self.image_size = image_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self._sizes = split_counts(1797, val_fraction, test_fraction)
        self._stats: tuple[list[float], list[float]] | None = None

    @property
    def pixel_stats(self) -> tuple[list[float], list[float]] | None:
        return self._stats

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        digits = load_digits()
        x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
        if self.image_size != 8:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
        y = torch.tensor(digits.target, dtype=torch.int64)
        train_idx, val_idx, test_idx = seeded_split(len(y), self._sizes, self.split_seed)
        # normalize with the training split's statistics only
        mean, std = x[train_idx].mean(), x[train_idx].std()
        x = (x - mean) / std
        self._stats = ([mean.item()], [std.item()])
        self.train_set = TensorDataset(x[train_idx], y[train_idx])
        self.val_set = TensorDataset(x[val_idx], y[val_idx])
        self.test_set = TensorDataset(x[test_idx], y[test_idx])
