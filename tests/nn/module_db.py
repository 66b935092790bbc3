"""The module table (torch's ``module_db`` idea): each c147.nn layer with its twin, constructor cases and
an input shape. The generic tests over it (parity in every dtype and on every device, seeded init,
state_dicts both ways, repr and attributes) are in ``test_modules.py``; what one layer alone has (the
sheet's worked examples, bad arguments, in-place variants) stays in its own file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn as torch_nn

from c147.nn import reference
from c147.nn.activation import ELU, LeakyReLU, Maxout, PReLU, ReLU, Sigmoid, Softplus, Tanh
from c147.nn.conv import Conv2d
from c147.nn.flatten import Flatten
from c147.nn.linear import Linear
from c147.nn.lrn import LocalResponseNorm
from c147.nn.pooling import AvgPool2d, MaxPool2d


@dataclass(frozen=True)
class ModuleInfo:
    """One constructor case: ours, its twin (torch's, or the torch composition of c147.nn.reference), the
    constructor kwargs, the input shape, and the scale of the normal input numbers."""

    ours: type[torch.nn.Module]
    twin: type[torch.nn.Module]
    kwargs: dict[str, Any]
    shape: tuple[int, ...]
    scale: float = 1.0

    @property
    def id(self) -> str:
        return f"{self.ours.__name__}-" + "-".join(f"{k}={v}" for k, v in self.kwargs.items())


def conv(shape: tuple[int, ...], **kwargs: Any) -> ModuleInfo:
    return ModuleInfo(Conv2d, torch_nn.Conv2d, kwargs, shape)


def pointwise(ours: type, twin: type, shape: tuple[int, ...], **kwargs: Any) -> ModuleInfo:
    return ModuleInfo(ours, twin, kwargs, shape, scale=2.0)  # activations: inputs well into both sides


CONVS = [
    conv((2, 3, 8, 8), in_channels=3, out_channels=4, kernel_size=3),
    conv((2, 3, 7, 9), in_channels=3, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=1, bias=False),
    conv((2, 4, 7, 7), in_channels=4, out_channels=6, kernel_size=3, padding="same", dilation=2, groups=2),
    conv((2, 4, 6, 6), in_channels=4, out_channels=4, kernel_size=3, padding=1, groups=4),
    conv((3, 7, 6), in_channels=3, out_channels=2, kernel_size=4, padding="same"),
    conv((1, 3, 5, 5), in_channels=3, out_channels=2, kernel_size=3, padding="valid"),
    conv((2, 2, 6, 6), in_channels=2, out_channels=3, kernel_size=3, padding=(1, 2), padding_mode="reflect"),
    conv((2, 2, 7, 6), in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, padding_mode="replicate"),
    conv((2, 2, 5, 6), in_channels=2, out_channels=3, kernel_size=(2, 3), padding="same", padding_mode="circular"),
]
POOLS_AND_NORMS = [
    ModuleInfo(MaxPool2d, torch_nn.MaxPool2d, dict(kernel_size=2), (2, 3, 8, 8)),
    ModuleInfo(MaxPool2d, torch_nn.MaxPool2d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 3, 8, 7)),
    ModuleInfo(MaxPool2d, torch_nn.MaxPool2d, dict(kernel_size=(2, 3), stride=1, dilation=(2, 1)), (3, 6, 6)),
    ModuleInfo(AvgPool2d, torch_nn.AvgPool2d, dict(kernel_size=2), (2, 3, 8, 8)),
    ModuleInfo(
        AvgPool2d,
        torch_nn.AvgPool2d,
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        (2, 3, 8, 7),
    ),
    ModuleInfo(AvgPool2d, torch_nn.AvgPool2d, dict(kernel_size=(2, 3), divisor_override=4), (3, 6, 6)),
    ModuleInfo(LocalResponseNorm, torch_nn.LocalResponseNorm, dict(size=5), (2, 7, 4, 4)),
    ModuleInfo(LocalResponseNorm, torch_nn.LocalResponseNorm, dict(size=3, alpha=0.5, beta=0.6, k=2.0), (2, 5, 3, 3)),
]
LINEAR_AND_ACTIVATIONS = [
    pointwise(Linear, torch_nn.Linear, (4, 5), in_features=5, out_features=3),
    pointwise(Linear, torch_nn.Linear, (2, 3, 5), in_features=5, out_features=3, bias=False),
    pointwise(Linear, torch_nn.Linear, (6,), in_features=6, out_features=1),
    pointwise(Sigmoid, torch_nn.Sigmoid, (4, 5)),
    pointwise(Tanh, torch_nn.Tanh, (4, 5)),
    pointwise(ReLU, torch_nn.ReLU, (4, 5)),
    pointwise(LeakyReLU, torch_nn.LeakyReLU, (4, 5)),
    pointwise(LeakyReLU, torch_nn.LeakyReLU, (2, 3, 4), negative_slope=0.1),
    pointwise(ELU, torch_nn.ELU, (4, 5)),
    pointwise(ELU, torch_nn.ELU, (4, 5), alpha=2.0),
    pointwise(Softplus, torch_nn.Softplus, (4, 5)),
    pointwise(Softplus, torch_nn.Softplus, (4, 5), beta=2.0, threshold=3.0),
    pointwise(PReLU, torch_nn.PReLU, (4, 5)),
    pointwise(PReLU, torch_nn.PReLU, (2, 3, 4, 4), num_parameters=3, init=0.1),
    pointwise(Flatten, torch_nn.Flatten, (2, 3, 4, 5)),
    pointwise(Flatten, torch_nn.Flatten, (2, 3, 4, 5), start_dim=0, end_dim=2),
    pointwise(Flatten, torch_nn.Flatten, (2, 3, 4), start_dim=-2),
    pointwise(Maxout, reference.Maxout, (4, 5), in_features=5, out_features=3),
    pointwise(Maxout, reference.Maxout, (2, 3, 4), in_features=4, out_features=2, pieces=3, bias=False),
    pointwise(Maxout, reference.Maxout, (3,), in_features=3, out_features=4, pieces=1),
]
MODULES = CONVS + POOLS_AND_NORMS + LINEAR_AND_ACTIVATIONS
WITH_PARAMETERS = [m for m in MODULES if m.ours in (Conv2d, Linear, PReLU, Maxout)]

# the classes whose constructors take device= and dtype= (the others hold no tensors)
FACTORY = (Conv2d, Linear, PReLU, Maxout, torch_nn.Conv2d, torch_nn.Linear, torch_nn.PReLU, reference.Maxout)


def build(cls: type, kwargs: dict[str, Any], dtype: torch.dtype = torch.float64, device: str = "cpu", seed: int = 0):
    """``cls(**kwargs)`` under ``seed``, its tensors in ``dtype`` on ``device``."""
    torch.manual_seed(seed)
    factory = dict(device=device, dtype=dtype) if cls in FACTORY else {}
    return cls(**kwargs, **factory)
