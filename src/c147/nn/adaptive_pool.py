"""``AdaptiveAvgPool2d``, twin of ``torch.nn.AdaptiveAvgPool2d``.

The output size is fixed and the windows adapt: output row i averages the input rows
[floor(i H / H_out), ceil((i + 1) H / H_out)). No parameters. AlexNet and VGG put one before their
classifier so that it sees 6 x 6 (7 x 7) maps whatever the image size.
"""

from __future__ import annotations

from torch import Tensor
from torch import nn as torch_nn

from c147.functional.adaptive_pool import OutputSize, adaptive_avg_pool2d


class AdaptiveAvgPool2d(torch_nn.Module):
    """Mean over the adaptive windows that give an H_out x W_out output.

    Args:
        output_size: H_out = W_out (an int), or (H_out, W_out); ``None`` keeps that side's size.

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, H_out, W_out) or (C, H_out, W_out), ``output_size``.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 7, 5)
        >>> torch.allclose(AdaptiveAvgPool2d((3, 2))(x), torch.nn.AdaptiveAvgPool2d((3, 2))(x), atol=1e-6)
        True
    """

    def __init__(self, output_size: OutputSize) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


__all__ = ["AdaptiveAvgPool2d"]
