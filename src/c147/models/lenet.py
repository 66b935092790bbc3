"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998, "Gradient-based learning applied to document
recognition"): C1 6@5x5 -> S2 -> C3 16@5x5 -> S4 -> C5 120 -> F6 84 -> output.

On 32x32 grey input with 10 classes it has 61,706 parameters.
"""

from __future__ import annotations

import torch
from torch import nn as torch_nn

from c147.models._checks import check_model_arguments
from c147.models.options import activation_layer, check_activation, check_noise, finish, noise_layer, width_factor
from c147.switch import layers
from c147.theory.shapes import check_input_size, min_input_size, window_count


def lenet5_feature_size(image_size: int) -> int:
    """Side of S4's output for a square input: two (5x5 conv, 2x2/2 pool) stages.

    Example:
        >>> lenet5_feature_size(32)  # 32 -> 28 -> 14 -> 10 -> 5
        5
    """
    s = image_size
    for _ in range(2):
        s = window_count(s, 5)
        s = window_count(s, 2, 2)
    return s


def lenet5_min_size() -> int:
    """Smallest square input LeNet-5 accepts (S4 output at least 1x1).

    Example:
        >>> lenet5_min_size()
        16
    """
    return min_input_size(lenet5_feature_size)


class LeNet5(torch_nn.Module):
    """LeNet-5.

    Args:
        num_classes: outputs of the last layer.
        in_channels: channels of the input image.
        image_size: side of the square input (32 is the paper's).
        activation: ``"relu"`` (modern), ``"tanh"`` (the paper's squashing function) or any of
            :data:`c147.models.options.ACTIVATIONS`; ``"maxout"`` doubles each layer's outputs and keeps
            the max of each pair, so the widths seen by the next layer stay the paper's.
        pool: ``"max"`` (modern) or ``"avg"`` (the paper's subsampling).
        impl: ``"c147"`` (hand-written layers) or ``"torch"``.
        init: weight initialisation, one of :data:`c147.models.options.INITS` (``"torch_default"``:
            the layers' own).
        noise: Gaussian noise standard deviations in training, ``{"input": s, "hidden": s, "weight": s}``
            (0 or missing: none): on the input, after every hidden activation, on every weight.

    Raises:
        ValueError: a non-positive ``num_classes`` or ``in_channels``, an unknown ``activation``, ``pool``,
            ``init`` or ``impl``, a bad ``noise``, or ``image_size`` below 16.

    Shape:
        - Input: (N, in_channels, H, W), H and W at least 16.
        - Output: (N, num_classes).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> ours = LeNet5()
        >>> _ = torch.manual_seed(0)
        >>> theirs = LeNet5(impl="torch")  # torch.nn layers
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
        activation: str = "relu",
        pool: str = "max",
        impl: str = "c147",
        init: str = "torch_default",
        noise: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        check_model_arguments(num_classes, in_channels)
        check_activation(activation)
        sigma = check_noise(noise)
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        check_input_size("LeNet-5", image_size, image_size, lenet5_min_size())
        side = lenet5_feature_size(image_size)
        nn = layers(impl)
        k = width_factor(activation)  # 2 for maxout: each activation keeps one of k outputs

        def act() -> list[torch_nn.Module]:
            return [activation_layer(activation, impl), *noise_layer(sigma["hidden"], impl)]

        pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
        self.features = torch_nn.Sequential(
            *noise_layer(sigma["input"], impl),
            nn.Conv2d(in_channels, 6 * k, 5), *act(), pool_cls(2, 2),  # C1, S2
            nn.Conv2d(6, 16 * k, 5), *act(), pool_cls(2, 2),  # C3, S4
        )
        self.classifier = torch_nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120 * k), *act(),  # C5
            nn.Linear(120, 84 * k), *act(),  # F6
            nn.Linear(84, num_classes),  # output
        )
        finish(self, init, sigma, impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, 16, 5, 5) for 32x32 input
        return self.classifier(x)  # (N, num_classes)


def lenet5(impl: str = "c147", num_classes: int = 10, in_channels: int = 1, image_size: int = 32,
           activation: str = "relu", pool: str = "max", init: str = "torch_default",
           noise: dict[str, float] | None = None) -> LeNet5:
    """Build a :class:`LeNet5` (see its arguments); the factories' common order: impl, num_classes,
    in_channels, image_size, then the options.

    Example:
        >>> ours, theirs = lenet5(), lenet5(impl="torch")
        >>> sum(p.numel() for p in ours.parameters()), sum(p.numel() for p in theirs.parameters())
        (61706, 61706)
    """
    return LeNet5(num_classes=num_classes, in_channels=in_channels, image_size=image_size, activation=activation,
                  pool=pool, impl=impl, init=init, noise=noise)
