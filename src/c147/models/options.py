"""What a model config can choose for LeNet-5 and the MLP: the activation, the initialisation and
Gaussian noise on inputs, hidden units and weights. Every choice follows ``impl``: the layers come from
``c147.layers(impl)``, the initializers from ``c147.nn.init`` or ``torch.nn.init`` (``lookup("init", ...)``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn as torch_nn

from c147.switch import check_impl, layers, lookup

# activation name -> the layer class of c147.layers(impl); maxout is FeatureMaxout (it halves the width)
ACTIVATIONS = {
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "prelu": "PReLU",  # one learned slope per layer, torch's default
    "elu": "ELU",
    "softplus": "Softplus",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "maxout": None,
}
MAXOUT_PIECES = 2  # the sheet's max(w1^T x + b1, w2^T x + b2)

# init scheme -> (initializer name, keyword arguments); biases start at 0 for every scheme but torch_default
INITS = {
    "normal_0.01": ("normal_", {"mean": 0.0, "std": 0.01}),  # the sheet's "too small"
    "normal_1": ("normal_", {"mean": 0.0, "std": 1.0}),  # the sheet's "too large"
    "xavier_uniform": ("xavier_uniform_", {}),  # Glorot 2010: Var(w) = 2 / (fan_in + fan_out)
    "xavier_normal": ("xavier_normal_", {}),
    "kaiming_uniform": ("kaiming_uniform_", {"nonlinearity": "relu"}),  # He 2015: Var(w) = 2 / fan_in
    "kaiming_normal": ("kaiming_normal_", {"nonlinearity": "relu"}),
    "torch_default": None,  # the layers' own reset_parameters (torch's kaiming_uniform_(a=sqrt(5)))
}

NOISE_KEYS = ("input", "hidden", "weight")


def check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    return activation


def width_factor(activation: str) -> int:
    """How many more outputs a layer feeding ``activation`` needs: maxout keeps one of every group."""
    return MAXOUT_PIECES if activation == "maxout" else 1


class FeatureMaxout(torch_nn.Module):
    """Maxout as an activation: the max over each group of ``pieces`` consecutive features (dim 1: the
    channels of a conv output, the features of a linear one). The layer before it has ``pieces`` times
    the outputs, so together they are the sheet's max of ``pieces`` affine maps (``c147.nn.Maxout`` is
    the same with its own linear layer). ``impl="c147"``: ``c147.functional.maxout`` (hand-written
    backward); ``"torch"``: ``c147.nn.reference.maxout`` (torch ops).

    Example:
        >>> import torch
        >>> x = torch.randn(2, 6, 3, 3)
        >>> ours, theirs = FeatureMaxout(2), FeatureMaxout(2, impl="torch")
        >>> ours(x).shape, torch.equal(ours(x), theirs(x))
        (torch.Size([2, 3, 3, 3]), True)
    """

    def __init__(self, pieces: int = MAXOUT_PIECES, impl: str = "c147") -> None:
        super().__init__()
        self.pieces, self.impl = pieces, check_impl(impl)
        if impl == "c147":
            from c147.functional import maxout
        else:
            from c147.nn.reference import maxout
        self._maxout = maxout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._maxout(x, self.pieces, dim=1)  # (N, C / pieces, ...)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}, impl={self.impl!r}"


def activation_layer(activation: str, impl: str) -> torch_nn.Module:
    """A fresh activation module of ``impl`` (see :data:`ACTIVATIONS`)."""
    name = ACTIVATIONS[check_activation(activation)]
    return FeatureMaxout(MAXOUT_PIECES, impl) if name is None else getattr(layers(impl), name)()


def check_noise(noise: Mapping[str, float] | None) -> dict[str, float]:
    """``{"input": s, "hidden": s, "weight": s}`` from a model config's ``noise`` (missing keys: 0).

    Raises:
        ValueError: an unknown key or a sigma that is not a number >= 0.
    """
    noise = dict(noise or {})
    unknown = set(noise) - set(NOISE_KEYS)
    if unknown:
        raise ValueError(f"noise: expected the keys {', '.join(NOISE_KEYS)}, got {sorted(unknown)[0]!r}")
    out = {}
    for key in NOISE_KEYS:
        sigma = noise.get(key) or 0.0
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma >= 0:
            raise ValueError(f"noise.{key}: expected a standard deviation >= 0, got {sigma!r}")
        out[key] = float(sigma)
    return out


def noise_layer(sigma: float, impl: str) -> list[torch_nn.Module]:
    """``[GaussianNoise(sigma)]`` of ``impl``, or ``[]`` for sigma 0: a list to splice into a Sequential."""
    return [layers(impl).GaussianNoise(sigma)] if sigma > 0 else []


def _weighted(net: torch_nn.Module) -> list[torch_nn.Module]:
    """The layers with a weight matrix or filter bank (Linear, Conv2d), in construction order."""
    return [m for m in net.modules() if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.dim() >= 2]


def add_weight_noise(net: torch_nn.Module, sigma: float, impl: str) -> None:
    """Perturb every weight matrix with N(0, sigma^2) at each training forward: GaussianNoise as a
    ``torch.nn.utils.parametrize`` parametrization (the stored weight stays clean; its gradient is the
    gradient of the noisy one, since the noise's backward is the identity)."""
    if sigma == 0:
        return
    from torch.nn.utils import parametrize

    for module in _weighted(net):
        parametrize.register_parametrization(module, "weight", layers(impl).GaussianNoise(sigma))


def initialize(net: torch_nn.Module, scheme: str, impl: str) -> torch_nn.Module:
    """Re-initialise every weight matrix of ``net`` by ``scheme`` (see :data:`INITS`) with ``impl``'s
    initializers, biases to 0; ``torch_default`` keeps what the layers drew.

    Raises:
        ValueError: an unknown scheme.
    """
    if scheme not in INITS:
        raise ValueError(f"init: expected one of {', '.join(INITS)}, got {scheme!r}")
    if INITS[scheme] is None:
        return net
    name, kwargs = INITS[scheme]
    init_, zeros_ = lookup("init", name, impl), lookup("init", "zeros_", impl)
    for module in _weighted(net):
        init_(module.weight, **kwargs)
        if getattr(module, "bias", None) is not None:
            zeros_(module.bias)
    return net


def finish(net: torch_nn.Module, init: str, noise: dict[str, float], impl: str) -> torch_nn.Module:
    """The last steps of building a model: initialisation, then weight noise."""
    initialize(net, init, impl)
    add_weight_noise(net, noise["weight"], impl)
    return net


__all__ = ["ACTIVATIONS", "INITS", "FeatureMaxout", "activation_layer", "add_weight_noise", "check_activation",
           "check_noise", "finish", "initialize", "width_factor"]
