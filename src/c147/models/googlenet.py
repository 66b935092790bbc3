"""GoogLeNet, Inception v1 (Szegedy et al. 2014, "Going Deeper with Convolutions"), in torchvision's layout.

22 layers with weights, most of them inside nine Inception modules. Each module runs four branches
on the same input and concatenates them along the channels:

    1x1 conv | 1x1 conv -> 3x3 conv | 1x1 conv -> "5x5" conv | 3x3/1 max pool -> 1x1 conv

the 1x1 convs ("reduce") shrinking the channels before the expensive convs. The stem is conv 7x7/2,
max pool 3x3/2, conv 1x1, conv 3x3, max pool 3x3/2; max pools 3x3/2 (after 3b) and 2x2/2 (after 4e)
separate the stages; then global average pooling, dropout 0.2 and one FC layer (1024 -> classes)
instead of AlexNet/VGG's stack of big FC layers. The paper's Table 1 (torchvision's table):

===========  ====  ====  ==========  ====  ==========  ====  =========
module       in    1x1   3x3 reduce  3x3   5x5 reduce  5x5   pool proj
===========  ====  ====  ==========  ====  ==========  ====  =========
inception3a  192   64    96          128   16          32    32
inception3b  256   128   128         192   32          96    64
inception4a  480   192   96          208   16          48    64
inception4b  512   160   112         224   24          64    64
inception4c  512   128   128         256   24          64    64
inception4d  512   112   144         288   32          64    64
inception4e  528   256   160         320   32          128   128
inception5a  832   256   160         320   32          128   128
inception5b  832   384   192         384   48          128   128
===========  ====  ====  ==========  ====  ==========  ====  =========

Every conv is torchvision's ``BasicConv2d``: conv without bias, BatchNorm2d(eps=0.001), ReLU (the
batch norm is not in the paper; torchvision added it when porting the weights).

torchvision quirk kept here: the "5x5" branch uses a 3x3 conv (pytorch/vision#906), so state_dicts
load both ways. ``five_by_five=True`` builds the paper's real 5x5 convs instead (same module names,
bigger weights, torchvision's state_dicts no longer fit). Parameters with 1000 classes:

==========================  =========  ===============
layout                      no aux     with aux heads
==========================  =========  ===============
torchvision (3x3 "5x5")     6,624,904  13,004,888
paper (``five_by_five``)    7,005,832  13,385,816
==========================  =========  ===============

The paper's "12 times fewer parameters than AlexNet" (about 5M, the sheet's figure) is below both:
its own Table 1 adds up to about 6.8M. The single FC layer holds 1,025,000 of them.

Auxiliary heads (``aux_logits=True``, after inception4a and 4d: adaptive average pool to 4x4,
1x1 conv 128, FC 2048-1024, ReLU, dropout 0.7, FC 1024-classes) are used in training only: in
training mode ``forward`` returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``, in eval
mode the logits. torchvision's ``GoogLeNet`` class defaults to ``aux_logits=True``; here the default
is False, the count torchvision reports for its weights (6,624,904).

Small inputs: the four ceil-mode max pools never drop a partial window, so the network runs on
inputs down to 15x15 (computed by :func:`googlenet_min_size`); the global average pool and the aux
heads' adaptive pools make the FC layers independent of the input size, so 32x32 works too.
"""

from __future__ import annotations

from collections import namedtuple

import torch
from torch import Tensor
from torch import nn as torch_nn

from c147.models._checks import check_model_arguments
from c147.nn import init
from c147.switch import functional, layers
from c147.theory.shapes import check_input_size, min_input_size, window_count

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

# name: (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), the paper's Table 1
INCEPTIONS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}

# the layers that change the size, in order: (kernel, stride, padding, ceil_mode)
_SIZE_CHANGERS = [(7, 2, 3, False), (3, 2, 0, True), (3, 2, 0, True), (3, 2, 0, True), (2, 2, 0, True)]


def googlenet_feature_size(image_size: int) -> int:
    """Side of inception5b's output for a square input (7 for 224, 1 for 32).

    Example:
        >>> googlenet_feature_size(224), googlenet_feature_size(32)
        (7, 1)
    """
    s = image_size
    for kernel, stride, padding, ceil_mode in _SIZE_CHANGERS:
        s = window_count(s, kernel, stride, padding, ceil_mode=ceil_mode)
        if s < 1:
            return 0
    return s


def googlenet_min_size() -> int:
    """Smallest square input whose every layer has an output of at least 1x1 (15).

    Example:
        >>> googlenet_min_size(), googlenet_feature_size(googlenet_min_size() - 1)
        (15, 0)
    """
    return min_input_size(googlenet_feature_size)


class BasicConv2d(torch_nn.Module):
    """Conv (no bias: the batch norm's shift replaces it), BatchNorm2d(eps=0.001), ReLU.

    Shape:
        - Input: (N, in_channels, H, W).
        - Output: (N, out_channels, H_out, W_out), H_out and W_out the conv's.

    Example:
        >>> import torch
        >>> from torchvision.models.googlenet import BasicConv2d as TorchBasicConv2d
        >>> _ = torch.manual_seed(0)
        >>> ours = BasicConv2d(3, 8, kernel_size=3, padding=1).eval()
        >>> _ = torch.manual_seed(0)  # the same seed gives torchvision's weights
        >>> theirs = TorchBasicConv2d(3, 8, kernel_size=3, padding=1).eval()
        >>> x = torch.randn(2, 3, 8, 8)
        >>> ours(x).shape
        torch.Size([2, 8, 8, 8])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    def __init__(self, in_channels: int, out_channels: int, impl: str = "c147", **kwargs) -> None:
        super().__init__()
        nn = layers(impl)
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self._relu = functional(impl).relu  # a function: torchvision's module tree has no ReLU here

    def forward(self, x: Tensor) -> Tensor:
        return self._relu(self.bn(self.conv(x)), inplace=True)  # in place, as torchvision


class Inception(torch_nn.Module):
    """Four branches on one input, concatenated: out channels = 1x1 + 3x3 + 5x5 + pool proj.

    Args:
        in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: a row of :data:`INCEPTIONS`.
        impl: ``"c147"`` or ``"torch"``.
        five_by_five: a real 5x5 conv (pad 2) in branch3, as the paper; False: torchvision's 3x3.

    Shape:
        - Input: (N, in_channels, H, W).
        - Output: (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).

    Example:
        >>> import torch
        >>> from torchvision.models.googlenet import Inception as TorchInception
        >>> _ = torch.manual_seed(0)
        >>> ours = Inception(*INCEPTIONS["inception3a"]).eval()
        >>> _ = torch.manual_seed(0)  # the same seed gives torchvision's weights
        >>> theirs = TorchInception(*INCEPTIONS["inception3a"]).eval()
        >>> x = torch.randn(1, 192, 8, 8)
        >>> ours(x).shape  # 64 + 128 + 32 + 32 channels
        torch.Size([1, 256, 8, 8])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, impl: str = "c147", five_by_five: bool = False) -> None:
        super().__init__()
        nn = layers(impl)
        k5 = 5 if five_by_five else 3
        self.branch1 = BasicConv2d(in_channels, ch1x1, impl, kernel_size=1)
        self.branch2 = torch_nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, impl, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, impl, kernel_size=3, padding=1),
        )
        self.branch3 = torch_nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, impl, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, impl, kernel_size=k5, padding=k5 // 2),
        )
        self.branch4 = torch_nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, impl, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]  # same H, W
        return torch.cat(branches, 1)  # (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)


class InceptionAux(torch_nn.Module):
    """Auxiliary classifier: adaptive avg pool 4x4, 1x1 conv 128, FC 2048-1024, ReLU, dropout, FC.

    Shape:
        - Input: (N, in_channels, H, W) (512 after inception4a, 528 after inception4d).
        - Output: (N, num_classes).

    Example:
        >>> import torch
        >>> from torchvision.models.googlenet import InceptionAux as TorchInceptionAux
        >>> _ = torch.manual_seed(0)
        >>> ours = InceptionAux(512, 10).eval()
        >>> _ = torch.manual_seed(0)  # the same seed gives torchvision's weights
        >>> theirs = TorchInceptionAux(512, 10).eval()
        >>> x = torch.randn(2, 512, 14, 14)
        >>> ours(x).shape
        torch.Size([2, 10])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    def __init__(self, in_channels: int, num_classes: int, impl: str = "c147", dropout: float = 0.7) -> None:
        super().__init__()
        nn = layers(impl)
        self.conv = BasicConv2d(in_channels, 128, impl, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)
        # functions, not modules: torchvision pools and applies ReLU functionally, so neither joins its tree
        self._F = functional(impl)

    def forward(self, x: Tensor) -> Tensor:
        x = self._F.adaptive_avg_pool2d(x, (4, 4))  # (N, 512 or 528, 4, 4)
        x = self.conv(x)  # (N, 128, 4, 4)
        x = torch.flatten(x, 1)  # (N, 2048)
        x = self.dropout(self._F.relu(self.fc1(x), inplace=True))  # (N, 1024)
        return self.fc2(x)  # (N, num_classes)


class GoogLeNet(torch_nn.Module):
    """GoogLeNet with torchvision's module names, initialization and outputs.

    Args:
        impl: ``"c147"`` (hand-written layers) or ``"torch"``.
        num_classes: outputs of the classifier (and of the aux heads).
        in_channels: channels of the input image (3 with ``transform_input``).
        image_size: side of the square input the model is built for (at least 15).
        aux_logits: build the two auxiliary classifiers (used in training mode only).
        transform_input: map ImageNet-normalized input to the (x - 0.5) / 0.5 scaling of the
            ported weights, as torchvision.
        dropout: drop probability before the FC layer.
        dropout_aux: drop probability in the aux heads.
        five_by_five: the paper's real 5x5 convs instead of torchvision's 3x3.

    Raises:
        ValueError: unknown ``impl``, non-positive ``num_classes`` or ``in_channels``, a drop
            probability outside [0, 1], ``transform_input`` without 3 channels, or ``image_size``
            below :func:`googlenet_min_size`.

    Shape:
        - Input: (N, in_channels, H, W), H and W at least 15.
        - Output: (N, num_classes); in training mode with ``aux_logits``, :data:`GoogLeNetOutputs` of three.

    Example:
        >>> import torch, torchvision
        >>> _ = torch.manual_seed(0)
        >>> model = GoogLeNet(num_classes=10, image_size=32).eval()
        >>> model(torch.randn(1, 3, 32, 32)).shape
        torch.Size([1, 10])
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours = GoogLeNet(aux_logits=True)
        ...     theirs = torchvision.models.GoogLeNet(aux_logits=True, init_weights=False)
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (13004888, 13004888)
    """

    aux_weight = 0.3  # the auxiliary classifiers' share of the training loss (Szegedy et al. 2014)

    def __init__(
        self,
        impl: str = "c147",
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        aux_logits: bool = False,
        transform_input: bool = False,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
        five_by_five: bool = False,
    ) -> None:
        super().__init__()
        check_model_arguments(num_classes, in_channels, dropout=dropout, dropout_aux=dropout_aux)
        if transform_input and in_channels != 3:
            raise ValueError(f"transform_input needs in_channels=3 (RGB), got {in_channels}")
        nn = layers(impl)
        self.min_size = googlenet_min_size()
        self._check_size(image_size, image_size)
        self.aux_logits = aux_logits
        self.transform_input = transform_input

        def conv(cin: int, cout: int, **kwargs) -> BasicConv2d:
            return BasicConv2d(cin, cout, impl, **kwargs)

        def inception(name: str) -> Inception:
            return Inception(*INCEPTIONS[name], impl=impl, five_by_five=five_by_five)

        # registered in torchvision's order: the same seed then gives the same weights
        self.conv1 = conv(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv(64, 64, kernel_size=1)
        self.conv3 = conv(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = inception("inception3a")
        self.inception3b = inception("inception3b")
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception("inception4a")
        self.inception4b = inception("inception4b")
        self.inception4c = inception("inception4c")
        self.inception4d = inception("inception4d")
        self.inception4e = inception("inception4e")
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = inception("inception5a")
        self.inception5b = inception("inception5b")
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, impl, dropout=dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, impl, dropout=dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        # torchvision's init: N(0, 0.01) truncated at +-2 (absolute, i.e. +-200 sigma: in effect no
        # truncation) for conv and FC weights, FC biases as built, BN scale 1 and shift 0
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def _check_size(self, h: int, w: int) -> None:
        check_input_size("GoogLeNet", h, w, self.min_size)

    def _transform_input(self, x: Tensor) -> Tensor:
        """ImageNet normalization (x - mean) / std undone and redone as (x - 0.5) / 0.5, per channel."""
        x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        return torch.cat((x_ch0, x_ch1, x_ch2), 1)

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        self._check_size(x.shape[-2], x.shape[-1])
        if self.transform_input:
            x = self._transform_input(x)
        x = self.conv1(x)  # (N, 64, 112, 112) for 224x224 input
        x = self.maxpool1(x)  # (N, 64, 56, 56)
        x = self.conv2(x)  # (N, 64, 56, 56)
        x = self.conv3(x)  # (N, 192, 56, 56)
        x = self.maxpool2(x)  # (N, 192, 28, 28)
        x = self.inception3a(x)  # (N, 256, 28, 28)
        x = self.inception3b(x)  # (N, 480, 28, 28)
        x = self.maxpool3(x)  # (N, 480, 14, 14)
        x = self.inception4a(x)  # (N, 512, 14, 14)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None  # (N, num_classes)
        x = self.inception4b(x)  # (N, 512, 14, 14)
        x = self.inception4c(x)  # (N, 512, 14, 14)
        x = self.inception4d(x)  # (N, 528, 14, 14)
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None  # (N, num_classes)
        x = self.inception4e(x)  # (N, 832, 14, 14)
        x = self.maxpool4(x)  # (N, 832, 7, 7)
        x = self.inception5a(x)  # (N, 832, 7, 7)
        x = self.inception5b(x)  # (N, 1024, 7, 7)
        x = self.avgpool(x)  # (N, 1024, 1, 1)
        x = torch.flatten(x, 1)  # (N, 1024)
        x = self.fc(self.dropout(x))  # (N, num_classes)
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
              aux_logits: bool = False, transform_input: bool = False, dropout: float = 0.2,
              dropout_aux: float = 0.7, five_by_five: bool = False) -> GoogLeNet:
    """GoogLeNet (see :class:`GoogLeNet`), 6,624,904 parameters with 1000 classes and no aux heads.

    Example:
        >>> import torch, torchvision
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     ours, paper = googlenet(), googlenet(five_by_five=True)
        ...     theirs = torchvision.models.googlenet(aux_logits=False, init_weights=False)
        >>> [sum(p.numel() for p in m.parameters()) for m in (ours, theirs, paper)]
        [6624904, 6624904, 7005832]
    """
    return GoogLeNet(impl=impl, num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                     aux_logits=aux_logits, transform_input=transform_input, dropout=dropout,
                     dropout_aux=dropout_aux, five_by_five=five_by_five)


__all__ = [
    "INCEPTIONS",
    "BasicConv2d",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "Inception",
    "InceptionAux",
    "googlenet",
    "googlenet_feature_size",
    "googlenet_min_size",
]
