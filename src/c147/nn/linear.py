"""``Linear``, the twin of ``torch.nn.Linear``: y = x W^T + b with our hand-written backward."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch import nn as torch_nn

from c147.functional.linear import linear
from c147.nn import init


class Linear(torch_nn.Module):
    """Fully connected layer, y = x W^T + b (the sheet's z = W^T x + b for one column sample).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias ``b`` (default True).
        device, dtype: where and in what dtype the parameters live.

    Attributes:
        weight: (out_features, in_features), U(-1/sqrt(in_features), 1/sqrt(in_features)).
        bias: (out_features,), same distribution, or None.

    Shape:
        - Input: (*, in_features).
        - Output: (*, out_features).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> ours = Linear(4, 3)
        >>> _ = torch.manual_seed(0)
        >>> theirs = torch.nn.Linear(4, 3)
        >>> x = torch.randn(5, 2, 4)
        >>> ours(x).shape
        torch.Size([5, 2, 3])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = torch_nn.Parameter(torch.empty((out_features, in_features), **factory))
        if bias:
            self.bias = torch_nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's init, same calls in the same order: Kaiming-uniform with a = sqrt(5), i.e.
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), for the weight, then that same range for the bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias)  # (*, out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


__all__ = ["Linear"]
