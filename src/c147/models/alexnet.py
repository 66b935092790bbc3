"""AlexNet (Krizhevsky, Sutskever, Hinton 2012, "ImageNet Classification with Deep Convolutional
Neural Networks"): five convolutions, overlapping 3x3/2 max pooling, ReLU, local response
normalization, three fully connected layers with dropout.

Two variants, as tables (``(out_channels, kernel, stride, padding)`` is a conv followed by a ReLU,
``"M"`` a 3x3/2 max pool, ``"N"`` local response normalization across 5 channels):

``"torchvision"`` (default): torchvision's ``alexnet`` exactly (the "one weird trick" single-GPU
layout, Krizhevsky 2014): 64-192-384-256-256 filters, no LRN, dropout *before* FC6 and FC7.
61,100,840 parameters with 1000 classes; a torchvision state_dict loads into it (both impls).

``"paper"``: the 2012 network with its two GPU halves merged (dense connections, as a single-GPU
equivalent): 96-256-384-384-256 filters, conv1 11x11/4 without padding on 227x227 input
(227 -> 55 -> 27 -> 13 -> 6; the paper's "224" does not divide: (224 - 11) / 4 + 1 = 54.25), LRN
(size 5, alpha 1e-4, beta 0.75, k 2) after the ReLU of conv1 and conv2 and before their pooling
(Sec. 3.3-3.4), dropout 0.5 on the outputs of FC6 and FC7 ("the first two fully-connected
layers"), as the paper's Caffe reference. 62,378,344 parameters with 1000 classes. The paper writes
the LRN denominator k + alpha sum a^2; its code (cuda-convnet, whose ``cmrnorm`` divides ``scale``
by ``size``) and Caffe compute k + alpha / size sum a^2, torch's convention, so alpha = 1e-4 here
is the trained network's.

Both end in ``avgpool`` = AdaptiveAvgPool2d((6, 6)) (the identity at 224 / 227) so the classifier
sees 256 x 6 x 6 for any input size. Module names and types are torchvision's (``features``,
``avgpool``, ``classifier``), ReLUs in place as torchvision's (c147's Conv2d and Linear return
fresh tensors, so autograd accepts it). Default (torch) initialization for both impls: the same seed
gives the same weights.

Small inputs: the 11x11/4 stem needs 63x63 (torchvision's ``min_size``) or 67x67 (paper),
computed from the table by :func:`min_image_size`. Below that, ``stem="auto"`` switches to a small
stem: conv1 becomes 3x3, stride 1, padding 1 (same filters), which needs 15x15 and leaves 3x3 maps
for a 32x32 image (32 -> 15 -> 7 -> 3), stretched to 6x6 by the adaptive pooling; the rest of the
network and its parameter count (but for conv1's kernel) are unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn as torch_nn

from c147.models._checks import check_model_arguments
from c147.switch import layers
from c147.theory.shapes import check_input_size, min_input_size, window_count

# (out_channels, kernel, stride, padding) = conv + ReLU; "M" = max pool 3x3/2; "Mc" = the same with
# ceil_mode (ZFNet); "N" = local response normalization
Layer = tuple[int, int, int, int] | str

cfgs: dict[str, list[Layer]] = {
    "torchvision": [(64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1), "M"],
    "paper": [(96, 11, 4, 0), "N", "M", (256, 5, 1, 2), "N", "M", (384, 3, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1), "M"],
}

# AlexNet's small-input stem: conv number -> (kernel, stride, padding)
SMALL_STEM = {0: (3, 1, 1)}
STEMS = ("auto", "imagenet", "small")


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, ceil_mode: bool = False) -> int:
    """floor((W - F + 2P) / S) + 1, or 0 when no window fits; with ``ceil_mode`` torch's rounding up:
    the last window may run past the input but must start inside it (so 2 -> 1 for a 3x3/2 pool).
    :func:`c147.theory.shapes.window_count` with this module's argument order."""
    return window_count(size, kernel, stride, padding, ceil_mode=ceil_mode)


def feature_size(cfg: list[Layer], image_size: int) -> int:
    """Side of the features' output for a square ``image_size`` input (0: too small)."""
    s = image_size
    for layer in cfg:
        if isinstance(layer, tuple):
            s = conv_out(s, *layer[1:])
        elif layer in ("M", "Mc"):
            s = conv_out(s, 3, 2, ceil_mode=layer == "Mc")
    return s


def min_image_size(cfg: list[Layer]) -> int:
    """Smallest square input whose features come out at least 1x1."""
    return min_input_size(lambda side: feature_size(cfg, side))


def with_stem(cfg: list[Layer], stem: dict[int, tuple[int, int, int]]) -> list[Layer]:
    """``cfg`` with conv number i's (kernel, stride, padding) replaced by ``stem[i]``."""
    convs = [i for i, layer in enumerate(cfg) if isinstance(layer, tuple)]
    out = list(cfg)
    for n, (kernel, stride, padding) in stem.items():
        out[convs[n]] = (cfg[convs[n]][0], kernel, stride, padding)
    return out


def make_features(nn: Any, cfg: list[Layer], in_channels: int) -> torch_nn.Sequential:
    """The conv / ReLU / LRN / pool stack of ``cfg`` built from the layer namespace ``nn``."""
    blocks: list[torch_nn.Module] = []
    channels = in_channels
    for layer in cfg:
        if isinstance(layer, tuple):
            out, kernel, stride, padding = layer
            blocks += [nn.Conv2d(channels, out, kernel_size=kernel, stride=stride, padding=padding),
                       nn.ReLU(inplace=True)]
            channels = out
        elif layer == "N":
            blocks.append(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
        else:
            blocks.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=layer == "Mc"))
    return torch_nn.Sequential(*blocks)


def out_channels(cfg: list[Layer]) -> int:
    """Channels of the features' output: the last conv's filters."""
    return [layer for layer in cfg if isinstance(layer, tuple)][-1][0]


class AlexNetFamily(torch_nn.Module):
    """features -> AdaptiveAvgPool2d((6, 6)) -> flatten -> three FC layers; subclasses give the tables.

    Class attributes: ``name`` (for messages), ``cfgs`` (variant -> table), ``small_stem`` (conv
    number -> (kernel, stride, padding) for small inputs) and ``dropout_first`` (variants whose
    classifier drops the FC inputs, torchvision's order, instead of the FC6/FC7 outputs).
    """

    name = "AlexNet"
    cfgs = cfgs
    small_stem = SMALL_STEM
    dropout_first: tuple[str, ...] = ("torchvision",)

    def __init__(self, variant: str, stem: str = "auto", impl: str = "c147", num_classes: int = 1000,
                 in_channels: int = 3, image_size: int = 224, dropout: float = 0.5) -> None:
        super().__init__()
        if variant not in self.cfgs:
            raise ValueError(f"{self.name}: variant must be one of {tuple(self.cfgs)}, got {variant!r}")
        if stem not in STEMS:
            raise ValueError(f"{self.name}: stem must be one of {STEMS}, got {stem!r}")
        check_model_arguments(num_classes, in_channels, self.name, dropout=dropout)
        nn = layers(impl)
        cfg = self.cfgs[variant]
        small = stem == "small" or (stem == "auto" and image_size < min_image_size(cfg))
        if small:
            cfg = with_stem(cfg, self.small_stem)
        self.variant, self.stem, self.cfg = variant, "small" if small else "imagenet", cfg
        self.min_size = min_image_size(cfg)
        self._check_size(image_size, image_size)

        self.features = make_features(nn, cfg, in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        c = out_channels(cfg)
        if variant in self.dropout_first:
            self.classifier = torch_nn.Sequential(
                nn.Dropout(p=dropout), nn.Linear(c * 6 * 6, 4096), nn.ReLU(inplace=True),  # FC6
                nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),  # FC7
                nn.Linear(4096, num_classes),  # FC8
            )
        else:
            self.classifier = torch_nn.Sequential(
                nn.Linear(c * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),  # FC6
                nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),  # FC7
                nn.Linear(4096, num_classes),  # FC8
            )

    def _check_size(self, h: int, w: int) -> None:
        check_input_size(self.name, h, w, self.min_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_size(x.shape[-2], x.shape[-1])
        x = self.features(x)  # (N, 256, 6, 6) at 224 (227 for AlexNet's paper variant), (N, 256, 3, 3) at 32
        x = self.avgpool(x)  # (N, 256, 6, 6) (512 channels for ZFNet's large variant)
        x = torch.flatten(x, 1)  # (N, 9216)
        return self.classifier(x)  # (N, num_classes)


class AlexNet(AlexNetFamily):
    """AlexNet; see the module docstring for the variants and the small-input stem.

    Args:
        variant: ``"torchvision"`` (61,100,840 parameters) or ``"paper"`` (62,378,344).
        stem: ``"auto"`` (small stem only when ``image_size`` is below the ImageNet stem's
            minimum), ``"imagenet"`` (11x11/4) or ``"small"`` (3x3/1, padding 1).
        impl: ``"c147"`` (hand-written layers) or ``"torch"``.
        num_classes: outputs of the last layer.
        in_channels: channels of the input image.
        image_size: side of the square input the model is built for.
        dropout: drop probability of the two dropout layers.

    Raises:
        ValueError: unknown ``variant``, ``stem`` or ``impl``, a non-positive ``num_classes`` or
            ``in_channels``, ``dropout`` outside [0, 1], or ``image_size`` below the smallest size
            the chosen stem accepts (15 for the small stem, 63 / 67 for the ImageNet one).

    Shape:
        - Input: (N, in_channels, H, W), H and W at least ``min_size`` (63 or 67; 15 with the small stem).
        - Output: (N, num_classes).

    Example:
        >>> import torch, torchvision
        >>> _ = torch.manual_seed(0)
        >>> ours = AlexNet(image_size=64).eval()
        >>> _ = torch.manual_seed(0)  # the same seed gives torchvision's weights
        >>> theirs = torchvision.models.alexnet().eval()
        >>> x = torch.randn(2, 3, 64, 64)
        >>> ours(x).shape
        torch.Size([2, 1000])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    def __init__(self, variant: str = "torchvision", stem: str = "auto", impl: str = "c147",
                 num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, dropout: float = 0.5) -> None:
        super().__init__(variant, stem, impl, num_classes, in_channels, image_size, dropout)


def alexnet(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
            variant: str = "torchvision", dropout: float = 0.5, stem: str = "auto") -> AlexNet:
    """AlexNet: torchvision's layout (61,100,840 parameters with 1000 classes) or ``variant="paper"``
    (Krizhevsky et al. 2012 on one GPU, 62,378,344 parameters; feed it 227x227). See :class:`AlexNet`.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     models = alexnet(), torchvision.models.alexnet(), alexnet(variant="paper"), alexnet(image_size=32)
        >>> [sum(p.numel() for p in m.parameters()) for m in models]
        [61100840, 61100840, 62378344, 61079336]
        >>> models[3].stem  # 32 x 32 is below the 11x11/4 stem's minimum, 63: conv1 becomes 3x3
        'small'
    """
    return AlexNet(variant, stem, impl=impl, num_classes=num_classes, in_channels=in_channels,
                   image_size=image_size, dropout=dropout)


__all__ = ["AlexNet", "alexnet"]
