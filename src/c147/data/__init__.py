"""LightningDataModules: ``digits`` (bundled default), ``synthetic``, ``mnist``,
``fashion_mnist`` and ``cifar10`` (torchvision's real loaders)."""

from c147.data.base import ClassificationDataModule
from c147.data.digits import DigitsDataModule
from c147.data.synthetic import SyntheticDataModule
from c147.data.vision import CIFAR10DataModule, DatasetNotFoundError, FashionMNISTDataModule, MNISTDataModule

__all__ = [
    "CIFAR10DataModule",
    "ClassificationDataModule",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "MNISTDataModule",
    "SyntheticDataModule",
]
