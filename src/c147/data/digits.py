"""scikit-learn's bundled 8x8 handwritten digits: the default dataset, no download needed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch.utils.data import TensorDataset

from c147.data.base import ClassificationDataModule, loader_arguments, seeded_split, split_counts

# a second label from the digit, for multitask learning
SECOND_LABELS = {
    "parity": lambda y: y % 2,  # 0 even, 1 odd
    "at_least_5": lambda y: (y >= 5).long(),
}


class DigitsDataModule(ClassificationDataModule):
    """1,797 grey 8x8 digits (UCI), upsampled to ``image_size`` and normalized.

    The whole set is split once, with a seeded permutation, into train / val / test.

    Args:
        image_size: side the 8x8 images are upsampled to (bilinear); 32 feeds LeNet-5.
        val_fraction: share of all samples held out for validation.
        test_fraction: share of all samples held out for the test.
        classes: keep only these digits (``[0, 1, 2, 3, 4]``), in every split, relabelled ``0..k-1`` in the
            order given (transfer learning: a trunk on 0-4, a new head on 5-9); None keeps all ten.
        train_samples: keep only the first ``n`` training samples (after ``classes``; the split is already
            a seeded shuffle); None keeps them all. Validation and test are unchanged.
        second_label: a second label per image for multitask learning: ``"parity"`` (0 even, 1 odd) or
            ``"at_least_5"`` (1 for digits 5-9), from the original digit; the labels become (N, 2).
        class_keep: an imbalanced training split: ``{digit: fraction}`` keeps that fraction of the digit's
            training samples (``{0: 0.1}``: a tenth of the zeros; at least one). Validation and test are unchanged.
        **loader: batch_size (32 here), num_workers, seed, augment, bootstrap, split_seed, on_device, keyword only:
            see :class:`ClassificationDataModule`.
    """

    num_classes = 10
    in_channels = 1
    native_size = 8  # the images' own side: 64 pixels, as scikit-learn's load_digits gives them

    @loader_arguments(batch_size=32)  # small data: many small steps per epoch
    def __init__(
        self,
        image_size: int = 32,
        val_fraction: float = 0.15,
        test_fraction: float = 0.2,
        classes: Sequence[int] | None = None,
        train_samples: int | None = None,
        second_label: str | None = None,
        class_keep: dict[int, float] | None = None,
        **loader: Any,
    ) -> None:
        super().__init__(**loader)
        if not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        self.image_size = image_size
        if classes is not None:
            classes = list(classes)
            if (len(classes) < 2 or len(set(classes)) != len(classes)
                    or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9 for c in classes)):
                raise ValueError(f"data.classes: expected at least 2 distinct digits in 0..9, got {classes!r}")
            self.num_classes = len(classes)
        if train_samples is not None and (not isinstance(train_samples, int) or isinstance(train_samples, bool)
                                          or train_samples < 1):
            raise ValueError(f"data.train_samples: expected a positive integer (or null: all), got {train_samples!r}")
        if second_label is not None and second_label not in SECOND_LABELS:
            raise ValueError(f"data.second_label: expected one of {', '.join(SECOND_LABELS)} (or null), "
                             f"got {second_label!r}")
        if class_keep is not None:
            class_keep = dict(class_keep)
            if not class_keep or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 9
                                         and isinstance(f, (int, float)) and 0 < f <= 1
                                         for c, f in class_keep.items()):
                raise ValueError(f"data.class_keep: expected {{digit: fraction in (0, 1]}}, got {class_keep!r}")
        self.class_keep = class_keep
        self.classes, self.train_samples, self.second_label = classes, train_samples, second_label
        self.task_classes = [self.num_classes] + ([2] if second_label else [])
        self.task_names = ["digit", second_label] if second_label else []
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
        if self.classes is not None:  # keep these digits, relabelled 0..k-1
            keep = torch.isin(y, torch.tensor(self.classes))
            train_idx, val_idx, test_idx = (i[keep[i]] for i in (train_idx, val_idx, test_idx))
        if self.class_keep:  # an imbalanced training split: the first fraction of each named digit's samples
            drop = []
            for digit, fraction in self.class_keep.items():
                mine = train_idx[y[train_idx] == digit]
                drop.append(mine[max(1, round(fraction * len(mine))):])
            train_idx = train_idx[~torch.isin(train_idx, torch.cat(drop))]
        if self.train_samples is not None:
            if self.train_samples > len(train_idx):
                raise ValueError(f"data.train_samples: expected at most {len(train_idx)} (the training split's "
                                 f"size), got {self.train_samples}")
            train_idx = train_idx[:self.train_samples]
        labels = y
        if self.classes is not None:
            relabel = torch.full((10,), -1, dtype=torch.int64)
            relabel[torch.tensor(self.classes)] = torch.arange(len(self.classes))
            labels = relabel[y]
        if self.second_label:
            labels = torch.stack([labels, SECOND_LABELS[self.second_label](y)], dim=1)  # (N, 2)
        self.train_set = TensorDataset(x[train_idx], labels[train_idx])
        self.val_set = TensorDataset(x[val_idx], labels[val_idx])
        self.test_set = TensorDataset(x[test_idx], labels[test_idx])
