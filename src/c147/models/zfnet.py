"""ZFNet (Zeiler & Fergus 2013, "Visualizing and Understanding Convolutional Networks"): AlexNet
with a finer first layer, chosen by looking at its filters (the sheet: a 7x7 filter has more
frequency coverage than 11x11, and stride 2 instead of 4 avoids aliasing).

The paper's Fig. 3, on 224x224 input (``(out_channels, kernel, stride, padding)`` = conv + ReLU,
``"Mc"`` = 3x3/2 max pool with ``ceil_mode``, ``"N"`` = contrast normalization across maps):

======  =====================  ==========  =============================================
layer   conv                   map size    then
======  =====================  ==========  =============================================
1       96 @ 7x7, stride 2     110         3x3/2 max pool -> 55, normalization
2       256 @ 5x5, stride 2    26          3x3/2 max pool -> 13, normalization
3       384 @ 3x3              13
4       384 @ 3x3              13
5       256 @ 3x3              13          3x3/2 max pool -> 6
6, 7    FC 4096, FC 4096                   (dropout 0.5 after each)
8       FC num_classes (C-way softmax)
======  =====================  ==========  =============================================

The paddings are those that give the figure's sizes: conv1 padding 1 ((224 + 2 - 7) // 2 + 1 =
110), conv2 padding 0 ((55 - 5) // 2 + 1 = 26), 3x3 convs padding 1, and the pools round up
(``ceil_mode``, as Caffe's and cuda-convnet's pooling: 110 -> 55 and 26 -> 13, where flooring
would give 54 and 12). The paper names no constants for its normalization; this uses AlexNet's
LRN (size 5, alpha 1e-4, beta 0.75, k 2), after the pooling as in Fig. 3's caption (ReLU, pool,
normalize). Layers 3-5 are dense (the paper replaces AlexNet's two-GPU sparse connections).
62,357,608 parameters with 1000 classes.

``variant="large"``: the paper's bigger model (Sec. 5.1, Table 2: "layers 3, 4, 5: 512, 1024,
512 maps"; the sheet's "increased filters: 384 to 512/1024"), 107,627,624 parameters with 1000
classes.

Like :mod:`c147.models.alexnet` (whose machinery this reuses): AdaptiveAvgPool2d((6, 6)) before the
classifier (the identity at 224), default initialization, module names ``features``, ``avgpool``,
``classifier``. Small inputs: the stride-2 stem needs 47x47 (:func:`~c147.models.alexnet.min_image_size`);
below that ``stem="auto"`` makes conv1 3x3/1 padding 1 and conv2 5x5/1 padding 2 (the two strided
convolutions would shrink a 32x32 image fourfold before any pooling), which needs 8x8 and gives
4x4 maps at 32x32 (32 -> 16 -> 8 -> 4); the parameter count changes only by conv1's kernel.
Training details of the paper (renormalizing filters whose RMS exceeds 0.1) are not part of the model.
"""

from __future__ import annotations

from c147.models.alexnet import AlexNetFamily, Layer


def _table(c3: int, c4: int, c5: int) -> list[Layer]:
    return [(96, 7, 2, 1), "Mc", "N", (256, 5, 2, 0), "Mc", "N", (c3, 3, 1, 1), (c4, 3, 1, 1), (c5, 3, 1, 1), "Mc"]


class ZFNet(AlexNetFamily):
    """ZFNet; see the module docstring for the layers and the small-input stem.

    Args:
        variant: ``"paper"`` (Fig. 3, 62,357,608 parameters) or ``"large"`` (layers 3-5 with 512,
            1024, 512 maps, 107,627,624 parameters).
        stem: ``"auto"`` (small stem only below the 7x7/2 stem's minimum, 47), ``"imagenet"`` or
            ``"small"``.
        impl: ``"c147"`` (hand-written layers) or ``"torch"``.
        num_classes: outputs of the last layer.
        in_channels: channels of the input image.
        image_size: side of the square input the model is built for.
        dropout: drop probability after FC6 and FC7.

    Raises:
        ValueError: as :class:`~c147.models.alexnet.AlexNet` (smallest sizes 8 and 47).

    Shape:
        - Input: (N, in_channels, H, W), H and W at least ``min_size`` (47; 8 with the small stem).
        - Output: (N, num_classes).

    Example (no torchvision twin: the same network built from torch.nn layers, ``impl="torch"``):
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> ours = ZFNet(num_classes=10, image_size=32).eval()
        >>> _ = torch.manual_seed(0)
        >>> theirs = ZFNet(impl="torch", num_classes=10, image_size=32).eval()
        >>> x = torch.randn(2, 3, 32, 32)
        >>> ours(x).shape, ours.stem
        (torch.Size([2, 10]), 'small')
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    name = "ZFNet"
    cfgs = {"paper": _table(384, 384, 256), "large": _table(512, 1024, 512)}
    small_stem = {0: (3, 1, 1), 1: (5, 1, 2)}
    dropout_first = ()

    def __init__(self, variant: str = "paper", stem: str = "auto", impl: str = "c147", num_classes: int = 1000,
                 in_channels: int = 3, image_size: int = 224, dropout: float = 0.5) -> None:
        super().__init__(variant, stem, impl, num_classes, in_channels, image_size, dropout)


def zfnet(impl: str = "c147", num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
          dropout: float = 0.5, variant: str = "paper", stem: str = "auto") -> ZFNet:
    """ZFNet (Zeiler & Fergus 2013, Fig. 3): 62,357,608 parameters with 1000 classes, or
    ``variant="large"`` (107,627,624). See :class:`ZFNet`.

    Example:
        >>> import torch
        >>> with torch.device("meta"):  # parameters without memory or initialization
        ...     models = zfnet(), zfnet(variant="large"), zfnet(impl="torch")
        >>> [sum(p.numel() for p in m.parameters()) for m in models]
        [62357608, 107627624, 62357608]
    """
    return ZFNet(variant, stem, impl=impl, num_classes=num_classes, in_channels=in_channels,
                 image_size=image_size, dropout=dropout)


__all__ = ["ZFNet", "zfnet"]
