"""Weight initializers, twins of ``torch.nn.init``, with torch's fan and gain conventions.

The sheet's rules:

* too small (``normal_(w, 0, 0.01)``): activations shrink layer after layer towards 0;
* too large (``normal_(w, 0, 1)``): activations explode, tanh saturates and its gradients vanish;
* Xavier / Glorot (2010): keep Var(h) constant across layers, Var(w) = 2 / (fan_in + fan_out),
  i.e. U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (the sheet drops the square root, see
  docs/ERRATA.md) or N(0, 2 / (fan_in + fan_out));
* He / Kaiming (2015), for ReLU: Var(w) = 2 / fan_in.

Random numbers are drawn with the same calls, in the same order, as torch's, so the same seed
gives the same weights on both sides of the twin.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps the variance of activations for ``nonlinearity`` (torch's table).

    linear/conv/sigmoid: 1, tanh: 5/3, relu: sqrt(2), leaky_relu: sqrt(2 / (1 + slope^2)),
    selu: 3/4.
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (torch's rule)."""
    if tensor.dim() < 2:
        raise ValueError(
            f"Fan in and fan out can not be computed for tensor with fewer than 2 dimensions, got {tensor.dim()}"
        )
    receptive_field = math.prod(tensor.shape[2:]) if tensor.dim() > 2 else 1
    return tensor.size(1) * receptive_field, tensor.size(0) * receptive_field


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


@torch.no_grad()
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Fill with U(a, b)."""
    return tensor.uniform_(a, b, generator=generator)


@torch.no_grad()
def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2); the sheet's "too small" is std=0.01, "too large" std=1."""
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    return tensor.normal_(mean, std, generator=generator)


@torch.no_grad()
def zeros_(tensor: Tensor) -> Tensor:
    return tensor.zero_()


@torch.no_grad()
def ones_(tensor: Tensor) -> Tensor:
    return tensor.fill_(1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)): Var(w) = 2 / (fan_in + fan_out)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std  # U(-a, a) has variance a^2 / 3
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """U(-b, b), b = gain * sqrt(3 / fan): He et al. 2015, Var(w) = gain^2 / fan (2 / fan_in for ReLU)."""
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """N(0, std^2), std = gain / sqrt(fan): He et al. 2015."""
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


@torch.no_grad()
def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill with N(mean, std^2) truncated to [a, b] (GoogLeNet's init), by rejection sampling.

    The density is the normal one times 1[a <= x <= b], renormalized by the mass P = Φ((b - μ)/σ) -
    Φ((a - μ)/σ) of the interval. Two exact samplers, chosen as torch 2.14 does, with its random
    calls in its order (so a seed gives torch's numbers):

    * P > 0.3: draw N(μ, σ²) and redraw the values outside [a, b] until none is left (each round
      keeps a value with probability P, so the expected number of rounds is small);
    * otherwise (a narrow or off-centre interval): propose x ~ U(a, b) and accept it with probability
      f(x) / f(m), f the normal density and m its highest point in [a, b] (μ clamped to [a, b]);
      accepted values have density proportional to f on [a, b].

    Older torch used the inverse CDF (``erfinv`` of a uniform draw, then a clamp), which puts
    values at the bounds, far out in the tails, in float32 when σ is small against b - a
    (pytorch/pytorch#155588); there the same seed gives other numbers (``c147._compat.
    trunc_normal_by_rejection`` tells which torch is installed).
    """
    if std <= 0:
        raise ValueError(f"trunc_normal_: expected std > 0, got {std}")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    if tensor.is_meta:  # no storage, nothing to draw (as torch)
        return tensor
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    mass = _normal_cdf((b - mean) / std) - _normal_cdf((a - mean) / std)
    if mass > 0.3:
        # the bounds in the tensor's dtype, so the test below sees the values as stored
        lo, hi = tensor.new_tensor(a, device="cpu").item(), tensor.new_tensor(b, device="cpu").item()
        tensor.normal_(mean, std, generator=generator)
        while True:
            outside = (tensor < lo) | (tensor > hi)
            if not outside.any():
                return tensor
            fresh = torch.empty_like(tensor).normal_(mean, std, generator=generator)
            tensor.copy_(torch.where(outside, fresh, tensor))
    # log f(x) - log f(m) = -((x - μ)/σ)² / 2 + ((m - μ)/σ)² / 2, m = μ clamped to [a, b]
    log_peak = -0.5 * ((max(a, min(mean, b)) - mean) / std) ** 2
    candidates, log_u = torch.empty_like(tensor), torch.empty_like(tensor)

    def rejected(x: Tensor) -> Tensor:  # log U > log f(x) - log f(m): reject x
        log_ratio = candidates.copy_(x).sub_(mean).div_(std).pow_(2).mul_(-0.5).sub_(log_peak)
        return log_u.uniform_(generator=generator).log_().gt(log_ratio)

    tensor.uniform_(a, b, generator=generator)
    pending = rejected(tensor)
    if not pending.any():
        return tensor
    result = tensor
    while True:
        proposal = torch.empty_like(tensor).uniform_(a, b, generator=generator)
        result = torch.where(pending, proposal, result)
        pending = torch.where(pending, rejected(proposal), pending)
        if not pending.any():
            return tensor.copy_(result)


def _normal_cdf(x: float) -> float:
    """Φ(x) = (1 + erf(x / √2)) / 2."""
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


__all__ = [
    "calculate_gain",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
