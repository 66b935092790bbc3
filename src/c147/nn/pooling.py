"""``MaxPool2d`` and ``AvgPool2d``, twins of ``torch.nn.MaxPool2d`` / ``torch.nn.AvgPool2d``.

Pooling has no parameters (the sheet: "pooling has 0 parameters"); the output size is
floor((W + 2 P - D (k - 1) - 1) / S) + 1, or the ceiling with ``ceil_mode``.
"""

from __future__ import annotations

from torch import Tensor
from torch import nn as torch_nn

from c147.functional.conv import IntPair
from c147.functional.pooling import avg_pool2d, max_pool2d


class MaxPool2d(torch_nn.Module):
    """Max over each kH x kW window: the gradient flows only to each window's arg max.

    Args:
        kernel_size: window size, an int or (kH, kW).
        stride: window step, default ``kernel_size``.
        padding: implicit -inf padding on both sides, at most half the kernel.
        dilation: spacing between window taps.
        return_indices: also return the arg max indices (flat h W + w per plane).
        ceil_mode: round the output size up.

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, H_out, W_out), H_out = floor((H + 2 P - D (k - 1) - 1) / S) + 1 (ceil with ``ceil_mode``).

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 8, 8)
        >>> torch.allclose(MaxPool2d(3, 2, 1)(x), torch.nn.MaxPool2d(3, 2, 1)(x), atol=1e-6)
        True
    """

    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                          ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(torch_nn.Module):
    """Mean over each kH x kW window (torch's divisor rules, see :func:`avg_pool2d`).

    Args:
        kernel_size: window size, an int or (kH, kW).
        stride: window step, default ``kernel_size``.
        padding: implicit zero padding on both sides, at most half the kernel.
        ceil_mode: round the output size up.
        count_include_pad: count the zero padding in the divisor.
        divisor_override: divide by this instead of the window's size.

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, H_out, W_out), as :class:`MaxPool2d`.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3, 8, 8)
        >>> torch.allclose(AvgPool2d(2)(x), torch.nn.AvgPool2d(2)(x), atol=1e-6)
        True
    """

    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


__all__ = ["AvgPool2d", "MaxPool2d"]
