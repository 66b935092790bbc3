"""``Conv2d``, the twin of ``torch.nn.Conv2d``: im2col + GEMM with our hand-written backward."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch import nn as torch_nn

from c147.functional.conv import IntPair, _pair, conv2d
from c147.nn import init

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(torch_nn.Module):
    """2-D convolution layer: ``out_channels`` filters of shape (in_channels / groups, kH, kW).

    Output size per spatial dim: floor((W + 2 P - D (F - 1) - 1) / S) + 1 (the sheet's
    (W - F + 2 P) / S + 1 when S divides exactly and D = 1). Parameters:
    (in_channels / groups * kH * kW + 1) * out_channels with a bias.

    Args:
        in_channels, out_channels: C_in and C_out, both divisible by ``groups``.
        kernel_size: (kH, kW) or an int.
        stride, padding, dilation, groups: as :func:`c147.functional.conv.conv2d`; padding may be
            ``'valid'`` or ``'same'``.
        bias: learn an additive bias (default True).
        padding_mode: ``'zeros'`` (handled by the convolution) or ``'reflect'``, ``'replicate'``,
            ``'circular'`` (the input is padded by ``F.pad`` first, as torch does).
        device, dtype: where and in what dtype the parameters live.

    Attributes:
        weight: (out_channels, in_channels / groups, kH, kW), U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            with fan_in = in_channels / groups * kH * kW.
        bias: (out_channels,), same distribution, or None.

    Shape:
        - Input: (N, C_in, H, W) or (C_in, H, W).
        - Output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out),
          H_out = floor((H + 2 P - D (F - 1) - 1) / S) + 1 (:func:`c147.theory.window_count`).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> ours = Conv2d(3, 4, 3, padding=1)
        >>> _ = torch.manual_seed(0)
        >>> theirs = torch.nn.Conv2d(3, 4, 3, padding=1)
        >>> x = torch.randn(2, 3, 8, 8)
        >>> ours(x).shape
        torch.Size([2, 4, 8, 8])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: str | IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.kernel_size = _pair(kernel_size, "kernel_size", "Conv2d")
        self.stride, self.dilation = _pair(stride, "stride", "Conv2d"), _pair(dilation, "dilation", "Conv2d")
        self.padding = padding if isinstance(padding, str) else _pair(padding, "padding", "Conv2d")
        if groups <= 0:
            raise ValueError(f"Conv2d: expected groups a positive integer, got {groups}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: expected in_channels and out_channels divisible by groups = {groups}, "
                             f"got {in_channels} and {out_channels}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: expected padding 'same', 'valid', an int or a tuple, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' is not supported for strided convolutions, "
                                 f"got stride={self.stride}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Conv2d: expected padding_mode one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups, self.padding_mode = (
            in_channels, out_channels, groups, padding_mode)
        self.transposed, self.output_padding = False, (0, 0)
        # F.pad's (left, right, top, bottom) for the non-zero padding modes ('same': the odd pixel at the end)
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
            self._reversed_padding_repeated_twice = [totals[1] // 2, totals[1] - totals[1] // 2,
                                                     totals[0] // 2, totals[0] - totals[0] // 2]
        elif self.padding == "valid":
            self._reversed_padding_repeated_twice = [0, 0, 0, 0]
        else:
            self._reversed_padding_repeated_twice = (self.padding[1],) * 2 + (self.padding[0],) * 2
        self.weight = torch_nn.Parameter(torch.empty((out_channels, in_channels // groups, *self.kernel_size),
                                                     **factory))
        if bias:
            self.bias = torch_nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's init, same calls in the same order: Kaiming-uniform with a = sqrt(5), i.e.
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for the weight, then that same range for the bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv2d(input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


__all__ = ["Conv2d"]
