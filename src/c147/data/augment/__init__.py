"""The sheet's data augmentations: hand-written batched tensor ops, twins of
``torchvision.transforms.v2.functional`` (same names and arguments), their random versions with
per-image parameters from a seeded generator, AlexNet's PCA colour shift (``lighting``: no torchvision twin),
and the named recipes a run selects with ``data.augment=...``."""

from c147.data.augment.affine import affine, rotate
from c147.data.augment.functional import crop, horizontal_flip, pad, resize, subsample, vertical_flip
from c147.data.augment.lighting import Lighting, adjust_lighting, pixel_covariance, principal_components
from c147.data.augment.photometric import adjust_brightness, adjust_contrast, gaussian_blur, gaussian_noise
from c147.data.augment.random import (
    AUGMENTATIONS,
    PRESETS,
    ColorJitter,
    Compose,
    GaussianBlur,
    GaussianNoise,
    RandomCrop,
    RandomHorizontalFlip,
    RandomRotation,
    RandomScale,
    RandomSubsample,
    RandomVerticalFlip,
    augment_names,
    build_augment,
)

__all__ = [
    "AUGMENTATIONS",
    "PRESETS",
    "ColorJitter",
    "Compose",
    "GaussianBlur",
    "GaussianNoise",
    "Lighting",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomRotation",
    "RandomScale",
    "RandomSubsample",
    "RandomVerticalFlip",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_lighting",
    "affine",
    "augment_names",
    "build_augment",
    "crop",
    "gaussian_blur",
    "gaussian_noise",
    "horizontal_flip",
    "pad",
    "pixel_covariance",
    "principal_components",
    "resize",
    "rotate",
    "subsample",
    "vertical_flip",
]
