"""ResNet (He, Zhang, Ren, Sun 2015, "Deep Residual Learning for Image Recognition"), in torchvision's layout.

The sheet's "vanishing gradient => architecture": a plain stack of layers gets *harder* to train as
it gets deeper (the paper's 56-layer plain net has a higher *training* error than its 20-layer one).
A residual block learns a correction F to its input instead of a whole new map:

    y = relu(F(x) + shortcut(x)),   so   dL/dx = dL/dy * relu'(.) * (dF/dx + dshortcut/dx)

With the identity shortcut, dshortcut/dx = I: the gradient reaches every earlier block through the
chain of additions however small dF/dx is, instead of through a product of one Jacobian per layer
that shrinks (or grows) geometrically with depth. A block that is not needed can learn F = 0 and
pass its input on unchanged, so more depth does not hurt what a shallower net could already do.

Blocks (each conv without bias: the batch norm's shift replaces it):

- ``BasicBlock`` (ResNet-18/34): 3x3 conv, BN, ReLU, 3x3 conv, BN, + shortcut, ReLU.
- ``Bottleneck`` (ResNet-50): 1x1 conv (reduce to ``planes``), BN, ReLU, 3x3 conv, BN, ReLU,
  1x1 conv (expand to 4 ``planes``), BN, + shortcut, ReLU. The 3x3 conv works on 4 times fewer
  channels. The stride sits on the 3x3 conv (torchvision's "ResNet v1.5"; the paper strides the
  first 1x1 conv).

The shortcut is the identity where the block keeps the shape, and a projection (1x1 conv with the
block's stride, BN; the paper's option B) where it changes the channels or halves H and W; its
module is ``downsample``, as torchvision names it. The network (the paper's Table 1):

========  ==========  ==============  ===========
model     block       blocks/stage    parameters
========  ==========  ==============  ===========
ResNet18  BasicBlock  2 2 2 2         11,689,512
ResNet34  BasicBlock  3 4 6 3         21,797,672
ResNet50  Bottleneck  3 4 6 3         25,557,032
========  ==========  ==============  ===========

(parameters with 1000 classes, torchvision's counts), after the stem conv 7x7/2 (64), BN, ReLU,
max pool 3x3/2; the stages have 64, 128, 256, 512 ``planes``, the first block of stages 2-4 halves
H and W; then global average pooling and one FC layer (512 or 2048 -> classes).

Small inputs: every layer pads, so any input of at least 1x1 runs, but the ImageNet stem divides
H and W by 4 and the stages by 8 more: a 32x32 image leaves layer4 at 1x1, where its 3x3 convs see
mostly zero padding. ``stem="auto"`` then switches to the small stem of the CIFAR-style ResNets: conv1
3x3/1 pad 1 and no max pool (32 -> 32 -> 16 -> 8 -> 4; 8x8 digits end at 1x1). Only conv1's kernel
changes; module names stay torchvision's (a small-stem model has no ``maxpool`` module).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch import nn as torch_nn

from c147.models._checks import check_model_arguments
from c147.nn import init
from c147.switch import layers
from c147.theory.shapes import window_count

STEMS = ("auto", "imagenet", "small")
# stem -> the size changers before layer1, (kernel, stride, padding): conv1, then maxpool if any
_STEM_LAYERS = {"imagenet": [(7, 2, 3), (3, 2, 1)], "small": [(3, 1, 1)]}


def resnet_feature_size(image_size: int, stem: str = "imagenet") -> int:
    """Side of layer4's output for a square input: the stem's layers, then three 3x3/2 pad 1 convs.

    Example:
        >>> resnet_feature_size(224), resnet_feature_size(32), resnet_feature_size(32, "small")
        (7, 1, 4)
    """
    s = image_size
    for kernel, stride, padding in _STEM_LAYERS[stem] + [(3, 2, 1)] * 3:
        s = window_count(s, kernel, stride, padding)
    return s


def pick_stem(stem: str, image_size: int) -> str:
    """``stem``, with ``"auto"`` resolved: ``"small"`` where the ImageNet stem leaves layer4 at 1x1 (32 and below).

    Raises:
        ValueError: ``stem`` is not one of :data:`STEMS`.

    Example:
        >>> pick_stem("auto", 224), pick_stem("auto", 33), pick_stem("auto", 32), pick_stem("imagenet", 8)
        ('imagenet', 'imagenet', 'small', 'imagenet')
    """
    if stem not in STEMS:
        raise ValueError(f"ResNet: stem must be one of {STEMS}, got {stem!r}")
    if stem == "auto":
        return "small" if resnet_feature_size(image_size) <= 1 else "imagenet"
    return stem


def conv3x3(nn: Any, in_planes: int, out_planes: int, stride: int = 1) -> torch_nn.Module:
    """3x3 conv, pad 1, no bias: keeps H and W (stride 1) or halves them (stride 2)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(nn: Any, in_planes: int, out_planes: int, stride: int = 1) -> torch_nn.Module:
    """1x1 conv, no bias: mixes channels only."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def shortcut(nn: Any, in_planes: int, out_planes: int, stride: int) -> torch_nn.Sequential | None:
    """None (the identity) where the block keeps the shape, else the projection 1x1 conv (stride) + BN."""
    if stride == 1 and in_planes == out_planes:
        return None
    return torch_nn.Sequential(conv1x1(nn, in_planes, out_planes, stride), nn.BatchNorm2d(out_planes))


class BasicBlock(torch_nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), two 3x3 convs (ResNet-18/34).

    Shape:
        - Input: (N, inplanes, H, W).
        - Output: (N, planes, H / stride, W / stride) (rounded up).

    Example:
        >>> import torch
        >>> from torchvision.models.resnet import BasicBlock as TorchBasicBlock
        >>> _ = torch.manual_seed(0)
        >>> ours = BasicBlock(64, 128, stride=2).eval()
        >>> _ = torch.manual_seed(0)  # the same seed gives torchvision's weights
        >>> theirs = TorchBasicBlock(64, 128, 2, torch.nn.Sequential(torch.nn.Conv2d(64, 128, 1, 2, bias=False),
        ...                                                          torch.nn.BatchNorm2d(128))).eval()
        >>> x = torch.randn(2, 64, 8, 8)
        >>> ours(x).shape
        torch.Size([2, 128, 4, 4])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, impl: str = "c147") -> None:
        super().__init__()
        nn = layers(impl)
        downsample = shortcut(nn, inplanes, planes * self.expansion, stride)  # built first, as torchvision
        self.conv1 = conv3x3(nn, inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(nn, planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (N, planes, H / stride, W / stride)
        out = self.bn2(self.conv2(out))  # F(x), same shape
        identity = x if self.downsample is None else self.downsample(x)  # shortcut(x), same shape as F(x)
        return self.relu(out + identity)  # the gradient passes the add unchanged to both terms


class Bottleneck(torch_nn.Module):
    """relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)): 1x1 reduce, 3x3, 1x1 expand (x4).

    Shape:
        - Input: (N, inplanes, H, W).
        - Output: (N, 4 planes, H / stride, W / stride) (rounded up).

    Example:
        >>> import torch
        >>> from torchvision.models.resnet import Bottleneck as TorchBottleneck
        >>> _ = torch.manual_seed(0)
        >>> ours = Bottleneck(256, 64).eval()  # 256 = 4 x 64 channels in and out: identity shortcut
        >>> _ = torch.manual_seed(0)  # the same seed gives torchvision's weights
        >>> theirs = TorchBottleneck(256, 64).eval()
        >>> x = torch.randn(2, 256, 4, 4)
        >>> ours(x).shape
        torch.Size([2, 256, 4, 4])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, impl: str = "c147") -> None:
        super().__init__()
        nn = layers(impl)
        downsample = shortcut(nn, inplanes, planes * self.expansion, stride)  # built first, as torchvision
        self.conv1 = conv1x1(nn, inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(nn, planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(nn, planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (N, planes, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (N, planes, H / stride, W / stride)
        out = self.bn3(self.conv3(out))  # F(x): (N, 4 planes, H / stride, W / stride)
        identity = x if self.downsample is None else self.downsample(x)  # shortcut(x), same shape as F(x)
        return self.relu(out + identity)


# model name -> (block, blocks per stage), the paper's Table 1
ARCHS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


class ResNet(torch_nn.Module):
    """ResNet with torchvision's module names, initialization and outputs; see the module docstring.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        blocks: blocks in each of the four stages.
        impl: ``"c147"`` (hand-written layers) or ``"torch"``.
        num_classes: outputs of the FC layer.
        in_channels: channels of the input image.
        image_size: side of the square input the model is built for (picks the ``"auto"`` stem).
        stem: ``"auto"`` (the small stem for ``image_size`` 32 and below), ``"imagenet"`` (conv 7x7/2
            and max pool 3x3/2) or ``"small"`` (conv 3x3/1, no max pool).
        zero_init_residual: start each block's last BN scale at 0, so each block starts as the identity.

    Raises:
        ValueError: unknown ``impl`` or ``stem``, a non-positive ``num_classes`` or ``in_channels``, or
            ``blocks`` not four positive counts.

    Shape:
        - Input: (N, in_channels, H, W).
        - Output: (N, num_classes).

    Example:
        >>> import torch, torchvision
        >>> model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10, in_channels=1, image_size=8).eval()
        >>> model.stem, model(torch.randn(2, 1, 8, 8)).shape
        ('small', torch.Size([2, 10]))
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = ResNet(Bottleneck, [3, 4, 6, 3]), torchvision.models.resnet50()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (25557032, 25557032)
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        blocks: list[int],
        impl: str = "c147",
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        stem: str = "auto",
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        check_model_arguments(num_classes, in_channels, "ResNet")
        if len(blocks) != 4 or not all(isinstance(n, int) and n >= 1 for n in blocks):
            raise ValueError(f"ResNet: blocks must be four positive counts, got {blocks!r}")
        nn = layers(impl)
        self.stem = pick_stem(stem, image_size)
        self._impl = impl
        self.inplanes = 64
        if self.stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(nn, in_channels, 64)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if self.stem == "imagenet" else None
        self.layer1 = self._make_layer(block, 64, blocks[0])
        self.layer2 = self._make_layer(block, 128, blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 256, blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 512, blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights(nn, zero_init_residual)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int, n: int,
                    stride: int = 1) -> torch_nn.Sequential:
        """A stage: the first block strides (and projects its shortcut), the other n - 1 keep the shape."""
        stage = [block(self.inplanes, planes, stride, self._impl)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes, impl=self._impl) for _ in range(1, n)]
        return torch_nn.Sequential(*stage)

    def _init_weights(self, nn: Any, zero_init_residual: bool) -> None:
        """torchvision's: He normal (fan_out) convs, BN scale 1 and shift 0, the FC layer as built."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:  # F(x) = 0 at the start: every block begins as the identity
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    init.zeros_(m.bn2.weight)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 64, 112, 112) for 224x224 input; small stem: (N, 64, H, W)
        if self.maxpool is not None:
            x = self.maxpool(x)  # (N, 64, 56, 56)
        x = self.layer1(x)  # (N, 64 e, 56, 56), e = block.expansion (1 or 4)
        x = self.layer2(x)  # (N, 128 e, 28, 28)
        x = self.layer3(x)  # (N, 256 e, 14, 14)
        x = self.layer4(x)  # (N, 512 e, 7, 7)
        x = self.avgpool(x)  # (N, 512 e, 1, 1)
        x = torch.flatten(x, 1)  # (N, 512 e)
        return self.fc(x)  # (N, num_classes)


def resnet(name: str, impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
           stem: str = "auto", zero_init_residual: bool = False) -> ResNet:
    """The ResNet ``name`` (a key of :data:`ARCHS`: ``"resnet18"``, ``"resnet34"``, ``"resnet50"``).

    Raises:
        ValueError: an unknown name.
    """
    if name not in ARCHS:
        raise ValueError(f"unknown ResNet {name!r}; expected one of {tuple(ARCHS)}")
    block, blocks = ARCHS[name]
    return ResNet(block, blocks, impl=impl, num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                  stem=stem, zero_init_residual=zero_init_residual)


def resnet18(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
             stem: str = "auto", zero_init_residual: bool = False) -> ResNet:
    """ResNet-18, 11,689,512 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = resnet18(), torchvision.models.resnet18()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (11689512, 11689512)
    """
    return resnet("resnet18", impl, num_classes, in_channels, image_size, stem, zero_init_residual)


def resnet34(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
             stem: str = "auto", zero_init_residual: bool = False) -> ResNet:
    """ResNet-34, 21,797,672 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = resnet34(), torchvision.models.resnet34()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (21797672, 21797672)
    """
    return resnet("resnet34", impl, num_classes, in_channels, image_size, stem, zero_init_residual)


def resnet50(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
             stem: str = "auto", zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (Bottleneck blocks), 25,557,032 parameters with 1000 classes.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, theirs = resnet50(), torchvision.models.resnet50()
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (25557032, 25557032)
    """
    return resnet("resnet50", impl, num_classes, in_channels, image_size, stem, zero_init_residual)


__all__ = [
    "ARCHS",
    "STEMS",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "pick_stem",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet_feature_size",
]
