"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision's own dataset classes.

The three modules share :class:`TorchvisionDataModule`; each only names its torchvision class,
where the files live, and the dataset's standard per-channel mean / std.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torchvision import datasets, transforms
from torchvision.datasets import VisionDataset

from c147.data.base import ClassificationDataModule, Subset, fraction_to_count, loader_arguments, seeded_split


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are missing (or corrupted) and could not be downloaded.

    The message is a single line naming the dataset, the folder searched, the files expected
    there, and how to fix it.
    """


def _one_line(err: BaseException) -> str:
    """``type: message`` of ``err`` with all whitespace (torchvision's newlines) collapsed."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


class TorchvisionDataModule(ClassificationDataModule):
    """Generic module around one torchvision image-classification dataset.

    The official train split is divided into train / val with :func:`seeded_split`; the
    official test split is the test set. Images go through ``ToTensor``, ``Resize(image_size)``
    (only when it differs from the native side) and ``Normalize(mean, std)``.

    Subclasses set the class attributes below.

    Attributes:
        dataset_cls: torchvision dataset class, built as ``dataset_cls(root, train, transform,
            download=...)``.
        subdir: folder, relative to ``data_dir``, where ``dataset_cls`` looks for its files.
        files: names of the files it needs in ``subdir``.
        native_size: side of the images as stored.
        mean: per-channel mean of the training images (in [0, 1]).
        std: per-channel standard deviation of the training images.

    Args:
        data_dir: root folder handed to torchvision as ``root``.
        download: let :meth:`prepare_data` fetch the files when they are missing.
        val_fraction: share of the official train split held out for validation, in [0, 1).
        image_size: side of the square images fed to the network.
        **loader: batch_size, num_workers, seed, augment, bootstrap, split_seed, on_device, keyword only: see
            :class:`ClassificationDataModule`; ``split_seed`` fixes the train / val split.

    Raises:
        ValueError: if an argument has the wrong type or is out of range.
    """

    num_classes = 10
    dataset_cls: type[VisionDataset]
    subdir: str
    files: tuple[str, ...]
    native_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @loader_arguments()
    def __init__(
        self,
        data_dir: str | os.PathLike[str] = "data",
        download: bool = False,
        val_fraction: float = 0.1,
        image_size: int = 32,
        **loader: Any,
    ) -> None:
        super().__init__(**loader)
        if not isinstance(data_dir, (str, os.PathLike)) or not os.fspath(data_dir):
            raise ValueError(f"data_dir must be a non-empty path, got {data_dir!r}")
        # ValueError, not TypeError, for bad types too: c147 reports every config mistake alike
        if not isinstance(download, bool):  # a string "false" would otherwise mean True
            raise ValueError(f"download must be a bool, got {download!r}")  # noqa: TRY004
        if (
            isinstance(val_fraction, bool)
            or not isinstance(val_fraction, (int, float))
            or not 0.0 <= val_fraction < 1.0
        ):
            raise ValueError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        self.data_dir = Path(data_dir).expanduser()
        self.download = download
        self.val_fraction = val_fraction
        self.image_size = image_size

    @property
    def pixel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self.mean, self.std

    @property
    def folder(self) -> Path:
        """Absolute folder where the dataset's files are looked for."""
        return self.data_dir.resolve() / self.subdir

    def _error(self, problem: str, fix: str) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            f"{self.dataset_cls.__name__} {problem}: expected {', '.join(self.files)} "
            f"in {self.folder}; {fix}"
        )

    def _transform(self) -> transforms.Compose:
        steps: list = [transforms.ToTensor()]
        if self.image_size != self.native_size:
            steps.append(transforms.Resize(self.image_size))
        steps.append(transforms.Normalize(self.mean, self.std))
        return transforms.Compose(steps)

    def _load(self, train: bool) -> VisionDataset:
        try:
            return self.dataset_cls(
                str(self.data_dir), train=train, transform=self._transform(), download=False
            )
        except RuntimeError as err:  # torchvision's "Dataset not found (or corrupted)"
            missing = [name for name in self.files if not (self.folder / name).is_file()]
            if len(missing) == len(self.files):
                problem = "not found"
            elif missing:
                problem = f"incomplete (missing {', '.join(missing)})"
            else:
                problem = f"files corrupted ({_one_line(err)})"
            raise self._error(
                problem, "set data.download=true to download them, or place the files there"
            ) from None

    def prepare_data(self) -> None:
        """Download the files when ``download`` is set (a no-op when they are already there).

        Raises:
            DatasetNotFoundError: if the download fails (no network, bad checksum, ...).
        """
        if not self.download:
            return
        try:
            # torchvision fetches both splits at once (four IDX archives, one CIFAR tarball)
            self.dataset_cls(str(self.data_dir), train=True, download=True)
        except (RuntimeError, OSError) as err:
            raise self._error(
                f"download failed ({_one_line(err)})",
                "check the network connection, or place the files there by hand",
            ) from None

    def setup(self, stage: str | None = None) -> None:
        """Build the train / val sets (stage ``fit``, ``validate``) and the test set (``test``).

        ``None`` builds all three. Sets already built are kept.

        Raises:
            DatasetNotFoundError: if the files are missing or corrupted.
        """
        if stage in (None, "fit", "validate") and self.train_set is None:
            full = self._load(train=True)
            n = len(full)
            n_val = fraction_to_count(self.val_fraction, n, "val_fraction")
            train_idx, val_idx = seeded_split(n, [n - n_val, n_val], self.split_seed)
            self.train_set = Subset(full, train_idx.tolist())
            self.val_set = Subset(full, val_idx.tolist())
        if stage in (None, "test") and self.test_set is None:
            self.test_set = self._load(train=False)


_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class MNISTDataModule(TorchvisionDataModule):
    """MNIST handwritten digits: 60,000 train / 10,000 test grey 28x28 images."""

    dataset_cls = datasets.MNIST
    subdir = "MNIST/raw"
    files = _IDX_FILES
    in_channels = 1
    native_size = 28
    mean = (0.1307,)
    std = (0.3081,)


class FashionMNISTDataModule(TorchvisionDataModule):
    """Fashion-MNIST clothing images: 60,000 train / 10,000 test grey 28x28 images."""

    dataset_cls = datasets.FashionMNIST
    subdir = "FashionMNIST/raw"
    files = _IDX_FILES
    in_channels = 1
    native_size = 28
    mean = (0.2860,)
    std = (0.3530,)


class CIFAR10DataModule(TorchvisionDataModule):
    """CIFAR-10: 50,000 train / 10,000 test RGB 32x32 images (torchvision checks their md5)."""

    dataset_cls = datasets.CIFAR10
    subdir = "cifar-10-batches-py"
    files = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
    in_channels = 3
    native_size = 32
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)


__all__ = [
    "CIFAR10DataModule",
    "DatasetNotFoundError",
    "FashionMNISTDataModule",
    "MNISTDataModule",
    "TorchvisionDataModule",
]
