"""A multilayer perceptron: Linear (-> BatchNorm1d) -> activation (-> Dropout) per hidden layer, then a Linear
head; with ``residual=True`` every hidden layer after the first that keeps its width adds its input back
(``h + f(h)``, the identity shortcut of :mod:`c147.models.resnet`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn as torch_nn

from c147.models._checks import check_model_arguments
from c147.models.options import activation_layer, check_activation, check_noise, finish, noise_layer, width_factor
from c147.switch import layers


class MLP(torch_nn.Module):
    """Fully connected classifier on flattened input.

    Args:
        num_classes: outputs of the last layer.
        in_channels, image_size: input shape (C, S, S); in_features = C * S * S.
        hidden: widths of the hidden layers.
        activation: one of :data:`c147.models.options.ACTIVATIONS`; ``"maxout"`` doubles each hidden
            layer's outputs and keeps the max of each pair (the hidden widths stay ``hidden``).
        dropout: drop probability after each hidden activation (0 disables).
        batch_norm: a BatchNorm1d between each hidden Linear and its activation (the sheet's placement).
        residual: an identity shortcut around every hidden layer after the first whose width equals its
            input's: ``h + f(h)``, ``f`` the layer's Linear (-> BatchNorm1d) -> activation (-> noise, Dropout),
            wrapped in a :class:`Residual` (its parameters ``net.<i>.block.<j>.*``). The sheet's "vanishing
            gradient => architecture": the gradient reaches the first layer through the additions.
        impl: ``"c147"`` (hand-written layers) or ``"torch"``.
        init: weight initialisation, one of :data:`c147.models.options.INITS`.
        noise: Gaussian noise standard deviations in training, ``{"input": s, "hidden": s, "weight": s}``
            (0 or missing: none): on the input, after every hidden activation, on every weight.

    Raises:
        ValueError: a non-positive ``num_classes``, ``in_channels`` or hidden width, an unknown ``activation``,
            ``init`` or ``impl``, a bad ``noise``, or ``dropout`` above 1 (its Dropout layers', torch's message).

    Shape:
        - Input: (N, in_channels, image_size, image_size), flattened to in_features.
        - Output: (N, num_classes).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> ours = MLP(activation="tanh")
        >>> _ = torch.manual_seed(0)
        >>> theirs = MLP(activation="tanh", impl="torch")  # torch.nn layers
        >>> x = torch.randn(2, 1, 32, 32)
        >>> ours(x).shape
        torch.Size([2, 10])
        >>> torch.allclose(ours(x), theirs(x), atol=1e-6)
        True
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 32,
        hidden: Sequence[int] = (256, 128),
        activation: str = "relu",
        dropout: float = 0.0,
        impl: str = "c147",
        init: str = "torch_default",
        noise: dict[str, float] | None = None,
        batch_norm: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        check_model_arguments(num_classes, in_channels)  # dropout: its layers check it, with torch's message
        check_activation(activation)
        sigma = check_noise(noise)
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden widths must be positive, got {list(hidden)}")
        nn = layers(impl)
        in_features = in_channels * image_size * image_size
        k = width_factor(activation)  # 2 for maxout: the activation keeps one of k outputs
        blocks: list[torch_nn.Module] = [*noise_layer(sigma["input"], impl), nn.Flatten()]
        for i, width in enumerate(hidden):
            layer = [nn.Linear(in_features, int(width) * k),
                     *([nn.BatchNorm1d(int(width) * k)] if batch_norm else []),
                     activation_layer(activation, impl), *noise_layer(sigma["hidden"], impl),
                     *([nn.Dropout(dropout)] if dropout > 0 else [])]
            if residual and i > 0 and int(width) == in_features:
                blocks.append(Residual(torch_nn.Sequential(*layer)))
            else:
                blocks += layer
            in_features = int(width)
        blocks.append(nn.Linear(in_features, num_classes))
        self.net = torch_nn.Sequential(*blocks)
        finish(self, init, sigma, impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, num_classes)


class Residual(torch_nn.Module):
    """``x + block(x)``: an identity shortcut around ``block`` (which keeps the shape).

    dL/dx = dL/dy (I + dblock/dx): the identity carries the gradient back unchanged however small
    ``dblock/dx`` is, where a plain stack multiplies one Jacobian per layer.
    """

    def __init__(self, block: torch_nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def mlp(impl: str = "c147", num_classes: int = 10, in_channels: int = 1, image_size: int = 32,
        hidden: Sequence[int] = (256, 128), activation: str = "relu", dropout: float = 0.0,
        init: str = "torch_default", noise: dict[str, float] | None = None, batch_norm: bool = False,
        residual: bool = False) -> MLP:
    """Build an :class:`MLP` (see its arguments); the factories' common order: impl, num_classes,
    in_channels, image_size, then the options.

    Example:
        >>> ours, theirs = mlp(hidden=(256, 128)), mlp(hidden=(256, 128), impl="torch")
        >>> # (1024 + 1) 256 + (256 + 1) 128 + (128 + 1) 10
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (296586, 296586)
    """
    return MLP(num_classes=num_classes, in_channels=in_channels, image_size=image_size, hidden=hidden,
               activation=activation, dropout=dropout, impl=impl, init=init, noise=noise, batch_norm=batch_norm,
               residual=residual)
