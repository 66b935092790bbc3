"""A multilayer perceptron: Linear -> activation (-> Dropout) per hidden layer, then a Linear head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn as torch_nn

from c147.switch import layers

ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "elu": "ELU", "leaky_relu": "LeakyReLU"}


class MLP(torch_nn.Module):
    """Fully connected classifier on flattened input.

    Args:
        num_classes: outputs of the last layer.
        in_channels, image_size: input shape (C, S, S); in_features = C * S * S.
        hidden: widths of the hidden layers.
        activation: one of :data:`ACTIVATIONS`.
        dropout: drop probability after each hidden activation (0 disables).
        impl: ``"c147"`` (hand-written layers) or ``"torch"``.

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
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden widths must be positive, got {list(hidden)}")
        nn = layers(impl)
        in_features = in_channels * image_size * image_size
        blocks: list[torch_nn.Module] = [nn.Flatten()]
        for width in hidden:
            blocks += [nn.Linear(in_features, int(width)), getattr(nn, ACTIVATIONS[activation])()]
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            in_features = int(width)
        blocks.append(nn.Linear(in_features, num_classes))
        self.net = torch_nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, num_classes)


def mlp(impl: str = "c147", num_classes: int = 10, in_channels: int = 1, image_size: int = 32,
        hidden: Sequence[int] = (256, 128), activation: str = "relu", dropout: float = 0.0) -> MLP:
    """Build an :class:`MLP` (see its arguments); the factories' common order: impl, num_classes,
    in_channels, image_size, then the options.

    Example:
        >>> ours, theirs = mlp(hidden=(256, 128)), mlp(hidden=(256, 128), impl="torch")
        >>> # (1024 + 1) 256 + (256 + 1) 128 + (128 + 1) 10
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (296586, 296586)
    """
    return MLP(num_classes=num_classes, in_channels=in_channels, image_size=image_size, hidden=hidden,
               activation=activation, dropout=dropout, impl=impl)
