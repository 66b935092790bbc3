"""Activation modules, twins of ``torch.nn``'s (Sigmoid, Tanh, ReLU, LeakyReLU, PReLU, ELU, Softplus),
plus ``Maxout``, which torch lacks (its reference is ``c147.nn.reference.Maxout``)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch import nn as torch_nn

from c147.functional.activation import elu, leaky_relu, prelu, relu, sigmoid, softplus, tanh
from c147.functional.maxout import maxout
from c147.nn.linear import Linear


def _inplace_str(inplace: bool, lead: str = ", ") -> str:
    return f"{lead}inplace=True" if inplace else ""


class Sigmoid(torch_nn.Module):
    """σ(x) = 1 / (1 + e^{-x}), dσ/dx = σ(1 - σ).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(Sigmoid()(x), torch.nn.Sigmoid()(x), atol=1e-6)
        True
    """

    def forward(self, input: Tensor) -> Tensor:
        return sigmoid(input)


class Tanh(torch_nn.Module):
    """tanh(x) = 2σ(2x) - 1, dtanh/dx = 1 - tanh^2(x).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(Tanh()(x), torch.nn.Tanh()(x), atol=1e-6)
        True
    """

    def forward(self, input: Tensor) -> Tensor:
        return tanh(input)


class ReLU(torch_nn.Module):
    """max(x, 0). ``inplace=True`` overwrites the input.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(ReLU()(x), torch.nn.ReLU()(x), atol=1e-6)
        True
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, lead="")


class LeakyReLU(torch_nn.Module):
    """x if x > 0 else a x, with a = ``negative_slope`` (torch's default 0.01; the sheet's example 0.1).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(LeakyReLU(0.1)(x), torch.nn.LeakyReLU(0.1)(x), atol=1e-6)
        True
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_str(self.inplace)}"


class PReLU(torch_nn.Module):
    """Leaky ReLU with learned slopes ``weight`` (one shared, or one per channel of dim 1), He et al. 2015.

    Args:
        num_parameters: 1 or the number of input channels.
        init: the initial slope (0.25).
        device, dtype: where and in what dtype ``weight`` lives.

    Shape:
        - Input: (*), channels at dim 1 when ``num_parameters`` > 1.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(PReLU(3)(x), torch.nn.PReLU(3)(x), atol=1e-6)
        True
    """

    def __init__(
        self,
        num_parameters: int = 1,
        init: float = 0.25,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = torch_nn.Parameter(torch.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Every slope to ``init`` (no random numbers drawn, as torch's ``constant_``)."""
        self.weight.fill_(self.init)

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(torch_nn.Module):
    """x if x > 0 else α (e^x - 1).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(ELU(alpha=0.5)(x), torch.nn.ELU(alpha=0.5)(x), atol=1e-6)
        True
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_str(self.inplace)}"


class Softplus(torch_nn.Module):
    """(1/β) log(1 + e^{βx}), linear where βx > ``threshold``.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(2, 3)
        >>> torch.allclose(Softplus(beta=2.0)(x), torch.nn.Softplus(beta=2.0)(x), atol=1e-6)
        True
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Maxout(torch_nn.Module):
    """Maxout unit (Goodfellow et al. 2013): y_j = max_k (w_{jk}^T x + b_{jk}), k = 1..pieces.

    The sheet's max(w1^T x + b1, w2^T x + b2) is ``pieces=2``. Built as our ``Linear`` to
    ``out_features * pieces`` features (submodule ``linear``, so the state_dict keys are
    ``linear.weight`` and ``linear.bias``, as ``c147.nn.reference.Maxout``'s) and a max over each
    consecutive group of ``pieces`` of them.

    Args:
        in_features: size of each input sample (input shape (*, in_features)).
        out_features: size of each output sample.
        pieces: affine pieces per output (2).
        bias: learn the biases b_{jk}.
        device, dtype: where and in what dtype the parameters live.

    Raises:
        ValueError: ``pieces`` is not a positive int.

    Shape:
        - Input: (*, in_features).
        - Output: (*, out_features).

    Example:
        >>> import torch
        >>> from c147.nn.reference import Maxout as TorchMaxout
        >>> ours, theirs = Maxout(4, 3, pieces=2), TorchMaxout(4, 3, pieces=2)
        >>> _ = ours.load_state_dict(theirs.state_dict())
        >>> x = torch.randn(5, 4)
        >>> ours(x).shape
        torch.Size([5, 3])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        pieces: int = 2,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1:
            raise ValueError(f"Maxout: expected pieces to be a positive int, got {pieces!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.pieces = pieces
        self.linear = Linear(in_features, out_features * pieces, bias=bias, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        z = self.linear(input)  # (*, out_features * pieces)
        return maxout(z, self.pieces, dim=-1)  # (*, out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


__all__ = ["ELU", "LeakyReLU", "Maxout", "PReLU", "ReLU", "Sigmoid", "Softplus", "Tanh"]
