"""VGG (Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for Large-Scale Image Recognition").

One rule for the whole network: every CONV is 3x3, stride 1, pad 1 (keeps H x W), every POOL is
2x2 max, stride 2 (halves it). A stack of two 3x3 convs sees 5x5 and three see 7x7, with fewer
weights (3 * 3^2 C^2 = 27 C^2 against 7^2 C^2 = 49 C^2) and more ReLUs between. The paper's
configurations (Table 1; numbers are conv widths, ``"M"`` a max pool):

======  =========  ======================================================================
config  model      features
======  =========  ======================================================================
A       VGG-11     64 M 128 M 256 256 M 512 512 M 512 512 M
B       VGG-13     64 64 M 128 128 M 256 256 M 512 512 M 512 512 M
D       VGG-16     64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M
E       VGG-19     64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M
======  =========  ======================================================================

then ``avgpool`` (adaptive average pooling to 7x7) and the classifier FC 25088-4096, ReLU, Dropout,
FC 4096-4096, ReLU, Dropout, FC 4096-1000. ``*_bn`` puts a BatchNorm2d after each conv (not in
the paper; torchvision's variants). Parameters with 1000 classes (torchvision's counts):

========  ===========  ===========
model     plain        with BN
========  ===========  ===========
VGG-11    132,863,336  132,868,840
VGG-13    133,047,848  133,053,736
VGG-16    138,357,544  138,365,992
VGG-19    143,667,240  143,678,248
========  ===========  ===========

The three FC layers hold 123,642,856 of them (whatever the depth; 89% of VGG-16's 138M).

Small inputs: the features need at least 2^5 = 32 pixels a side (five 2x2/2 pools, computed from the
table by :func:`vgg_min_size`), and the adaptive pooling stretches whatever is left (1x1 for 32x32
input, 7x7 for 224x224) to 7x7, so the classifier, and a torchvision state_dict, fit any input of
at least 32x32. Module names follow torchvision's (``features``, ``avgpool``, ``classifier``) so
``load_state_dict`` works both ways.
"""

from __future__ import annotations

import torch
from torch import nn as torch_nn

from c147.models._checks import check_model_arguments
from c147.nn import init
from c147.switch import layers
from c147.theory.shapes import check_input_size, min_input_size, window_count

cfgs: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

# model name -> config letter
_DEPTH = {"VGG-11": "A", "VGG-13": "B", "VGG-16": "D", "VGG-19": "E"}


def vgg_feature_size(cfg: list[int | str], image_size: int) -> int:
    """Side of the features' output for a square input: conv 3x3/1 pad 1 keeps it, pool 2x2/2 halves it.

    Example:
        >>> vgg_feature_size(cfgs["A"], 224), vgg_feature_size(cfgs["A"], 32)
        (7, 1)
    """
    s = image_size
    for v in cfg:
        s = window_count(s, 2, 2) if v == "M" else window_count(s, 3, 1, 1)
    return s


def vgg_min_size(cfg: list[int | str]) -> int:
    """Smallest square input whose features come out at least 1x1 (32 for every config: 5 pools).

    Example:
        >>> [vgg_min_size(cfg) for cfg in cfgs.values()]
        [32, 32, 32, 32]
    """
    return min_input_size(lambda side: vgg_feature_size(cfg, side))


class VGG(torch_nn.Module):
    """VGG built from a configuration of :data:`cfgs` (torchvision's layout and initialization).

    Args:
        cfg: ``"A"``, ``"B"``, ``"D"`` or ``"E"`` (VGG-11, -13, -16, -19).
        batch_norm: BatchNorm2d after each conv.
        impl: ``"c147"`` (hand-written layers) or ``"torch"``.
        num_classes: outputs of the last layer.
        in_channels: channels of the input image.
        image_size: side of the square input the model is built for (at least 32).
        dropout: drop probability of the two dropout layers in the classifier.

    Raises:
        ValueError: unknown ``cfg``, ``impl``, a non-positive ``num_classes`` or ``in_channels``,
            ``dropout`` outside [0, 1], or ``image_size`` below the smallest size the features accept.

    Shape:
        - Input: (N, in_channels, H, W), H and W at least 32.
        - Output: (N, num_classes).

    Example:
        >>> import torch, torchvision
        >>> _ = torch.manual_seed(0)
        >>> model = VGG("A", num_classes=10, image_size=32).eval()
        >>> model(torch.randn(1, 3, 32, 32)).shape
        torch.Size([1, 10])
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = VGG("D", batch_norm=True), torchvision.models.vgg16_bn()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (138365992, 138365992)
    """

    def __init__(
        self,
        cfg: str,
        batch_norm: bool = False,
        impl: str = "c147",
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if cfg not in cfgs:
            raise ValueError(f"cfg must be one of {tuple(cfgs)}, got {cfg!r}")
        check_model_arguments(num_classes, in_channels, dropout=dropout)
        nn = layers(impl)
        depth = {v: k for k, v in _DEPTH.items()}[cfg]
        self.arch = f"{depth}-BN" if batch_norm else depth
        self.min_size = vgg_min_size(cfgs[cfg])
        self._check_size(image_size, image_size)

        blocks: list[torch_nn.Module] = []
        channels = in_channels
        for v in cfgs[cfg]:
            if v == "M":
                blocks.append(nn.MaxPool2d(kernel_size=2, stride=2))  # halves H and W
                continue
            blocks.append(nn.Conv2d(channels, v, kernel_size=3, padding=1))  # keeps H and W
            if batch_norm:
                blocks.append(nn.BatchNorm2d(v))
            blocks.append(nn.ReLU(inplace=True))
            channels = v
        self.features = torch_nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = torch_nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),  # FC6
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),  # FC7
            nn.Linear(4096, num_classes),  # FC8
        )
        self._init_weights(nn)

    def _init_weights(self, nn) -> None:
        """torchvision's: He normal (fan_out) convs, N(0, 0.01) linears, zero biases, BN 1 and 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0, 0.01)
                init.zeros_(m.bias)

    def _check_size(self, h: int, w: int) -> None:
        check_input_size(self.arch, h, w, self.min_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_size(x.shape[-2], x.shape[-1])
        x = self.features(x)  # (N, 512, 7, 7) for 224x224 input, (N, 512, 1, 1) for 32x32
        x = self.avgpool(x)  # (N, 512, 7, 7)
        x = torch.flatten(x, 1)  # (N, 25088)
        return self.classifier(x)  # (N, num_classes)


# the variants by name, as timm keys them: (configuration of :data:`cfgs`, batch norm)
VARIANTS: dict[str, tuple[str, bool]] = {
    "vgg11": ("A", False),
    "vgg11_bn": ("A", True),
    "vgg13": ("B", False),
    "vgg13_bn": ("B", True),
    "vgg16": ("D", False),
    "vgg16_bn": ("D", True),
    "vgg19": ("E", False),
    "vgg19_bn": ("E", True),
}


def vgg(name: str, impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
        dropout: float = 0.5) -> VGG:
    """The VGG variant ``name`` (a key of :data:`VARIANTS`: ``"vgg11"`` ... ``"vgg19_bn"``).

    Raises:
        ValueError: an unknown name.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg("vgg13_bn", num_classes=10), torchvision.models.vgg13_bn(num_classes=10)
        >>> ours.arch, sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        ('VGG-13-BN', 128997706, 128997706)
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown VGG variant {name!r}; expected one of {tuple(VARIANTS)}")
    cfg, batch_norm = VARIANTS[name]
    return VGG(cfg, batch_norm, impl=impl, num_classes=num_classes, in_channels=in_channels, image_size=image_size,
               dropout=dropout)


def vgg11(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
          dropout: float = 0.5) -> VGG:
    """VGG-11 (config A), 132,863,336 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg11(), torchvision.models.vgg11()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (132863336, 132863336)
    """
    return vgg("vgg11", impl, num_classes, in_channels, image_size, dropout)


def vgg11_bn(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
             dropout: float = 0.5) -> VGG:
    """VGG-11 with batch norm, 132,868,840 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg11_bn(), torchvision.models.vgg11_bn()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (132868840, 132868840)
    """
    return vgg("vgg11_bn", impl, num_classes, in_channels, image_size, dropout)


def vgg13(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
          dropout: float = 0.5) -> VGG:
    """VGG-13 (config B), 133,047,848 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg13(), torchvision.models.vgg13()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (133047848, 133047848)
    """
    return vgg("vgg13", impl, num_classes, in_channels, image_size, dropout)


def vgg13_bn(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
             dropout: float = 0.5) -> VGG:
    """VGG-13 with batch norm, 133,053,736 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg13_bn(), torchvision.models.vgg13_bn()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (133053736, 133053736)
    """
    return vgg("vgg13_bn", impl, num_classes, in_channels, image_size, dropout)


def vgg16(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
          dropout: float = 0.5) -> VGG:
    """VGG-16 (config D), 138,357,544 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg16(), torchvision.models.vgg16()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (138357544, 138357544)
    """
    return vgg("vgg16", impl, num_classes, in_channels, image_size, dropout)


def vgg16_bn(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
             dropout: float = 0.5) -> VGG:
    """VGG-16 with batch norm, 138,365,992 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg16_bn(), torchvision.models.vgg16_bn()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (138365992, 138365992)
    """
    return vgg("vgg16_bn", impl, num_classes, in_channels, image_size, dropout)


def vgg19(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
          dropout: float = 0.5) -> VGG:
    """VGG-19 (config E), 143,667,240 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg19(), torchvision.models.vgg19()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (143667240, 143667240)
    """
    return vgg("vgg19", impl, num_classes, in_channels, image_size, dropout)


def vgg19_bn(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
             dropout: float = 0.5) -> VGG:
    """VGG-19 with batch norm, 143,678,248 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = vgg19_bn(), torchvision.models.vgg19_bn()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (143678248, 143678248)
    """
    return vgg("vgg19_bn", impl, num_classes, in_channels, image_size, dropout)


__all__ = [
    "VARIANTS",
    "VGG",
    "cfgs",
    "vgg",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "vgg_feature_size",
    "vgg_min_size",
]
