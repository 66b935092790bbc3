"""The sheet's sizing and counting formulas, and a layer table of a network built from them.

Output size of a convolution or pooling window F with stride S, padding P, dilation D on W pixels:

    W_out = floor((W + 2 P - D (F - 1) - 1) / S) + 1        (the sheet's (W - F + 2 P) / S + 1 when D = 1
                                                             and S divides exactly)

with pooling's ``ceil_mode`` rounding up instead, except that the last window must start inside the
input or its left padding (torch's rule). K filters of F_h x F_w over C_in channels in ``groups``
groups:

    parameters = (F_h F_w C_in / groups + 1) K              (no + 1 without bias; pooling: 0)
    MACs       = K H_out W_out (F_h F_w C_in / groups)      (multiply-adds; bias adds not counted)

and a fully connected layer (Linear) has (N_in + 1) N_out parameters and N_in N_out MACs per sample.

:func:`summarize` runs a real forward pass and fills a :class:`LayerRow` per leaf module, computing
the convolution, pooling and Linear rows from these formulas and checking each against the module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from rich.table import Table
from torch import nn

IntPair = int | Sequence[int]


def _pair(value: Any, name: str, where: str) -> tuple[int, int]:
    """An int or a pair of ints as (height, width)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return value[0], value[1]
    raise ValueError(f"{where}: expected {name} an int or a pair of ints (h, w), got {value!r}")


def _check(where: str, **values: tuple[int, int]) -> None:
    """Raise ValueError unless each named pair is in range: size, kernel, stride, dilation >= 1, padding >= 0."""
    for name, pair in values.items():
        low = 0 if name == "padding" else 1
        if min(pair) < low:
            raise ValueError(f"{where}: expected {name} >= {low}, got {pair if pair[0] != pair[1] else pair[0]}")


def window_count(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                 ceil_mode: bool = False) -> int:
    """The output size of a convolution or pooling along one dim, the formula's one home in c147
    (the ops, the models and :func:`conv_output_size` / :func:`pool_output_size` use it):

        floor((W + 2 P - D (F - 1) - 1) / S) + 1

    rounded up instead with ``ceil_mode`` unless the last window would then start in the right padding
    (torch's rule); 0 when no window fits. Asymmetric padding: pass ``W + P_begin + P_end`` as ``size``.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 1, 8, 8)
        >>> window_count(8, 3, 2), torch.nn.functional.max_pool2d(x, 3, 2).shape[-1]
        (3, 3)
        >>> window_count(8, 3, 2, ceil_mode=True), torch.nn.functional.max_pool2d(x, 3, 2, ceil_mode=True).shape[-1]
        (4, 4)
        >>> window_count(224, 11, 4, 2)  # AlexNet's conv1
        55
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # the last window would start in the right padding
        out -= 1
    return max(out, 0)


def min_input_size(feature_size: Callable[[int], int], start: int = 1) -> int:
    """The smallest square input side for which ``feature_size(side)`` (a network's feature map side) is
    at least 1: a network's minimum input.

    Example:
        >>> min_input_size(lambda side: window_count(side, 11, 4))  # one 11x11/4 window
        11
    """
    side = start
    while feature_size(side) < 1:
        side += 1
    return side


def check_input_size(name: str, h: int, w: int, min_size: int) -> None:
    """Raise ``ValueError`` naming the network when an ``h`` x ``w`` input is below its minimum.

    Example:
        >>> check_input_size("VGG-11", 32, 32, 32)
        >>> check_input_size("VGG-11", 16, 32, 32)
        Traceback (most recent call last):
            ...
        ValueError: VGG-11 needs input images of at least 32x32, got 16x32
    """
    if min(h, w) < min_size:
        raise ValueError(f"{name} needs input images of at least {min_size}x{min_size}, got {h}x{w}")


def _sizes(where: str, size: IntPair, kernel: IntPair, stride: IntPair, padding: IntPair, dilation: IntPair,
           ceil_mode: bool) -> int | tuple[int, int]:
    args = dict(size=size, kernel=kernel, stride=stride, padding=padding, dilation=dilation)
    pairs = {name: _pair(value, name, where) for name, value in args.items()}
    _check(where, **pairs)
    if where == "pool_output_size" and any(p > k // 2 for p, k in zip(pairs["padding"], pairs["kernel"], strict=True)):
        raise ValueError(f"{where}: expected padding at most half the kernel, got padding={padding}, kernel={kernel}")
    out = tuple(window_count(*dims, ceil_mode) for dims in zip(*pairs.values(), strict=True))
    result = out if any(not isinstance(v, int) for v in args.values()) else out[0]
    if min(out) < 1:
        raise ValueError(f"{where}: the window does not fit: output size {result} for size={size}, kernel={kernel}, "
                         f"stride={stride}, padding={padding}, dilation={dilation}")
    return result


def conv_output_size(size: IntPair, kernel: IntPair, stride: IntPair = 1, padding: IntPair = 0,
                     dilation: IntPair = 1) -> int | tuple[int, int]:
    """floor((W + 2 P - D (F - 1) - 1) / S) + 1; a pair (h, w) if any argument is a pair, else an int.

    Raises:
        ValueError: an argument out of range, or a window larger than the padded input.

    Example:
        >>> import torch
        >>> conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        >>> conv_output_size((32, 24), 3, stride=2, padding=1), tuple(conv(torch.zeros(1, 3, 32, 24)).shape[-2:])
        ((16, 12), (16, 12))
        >>> conv_output_size(224, 11, 4, 2)
        55
    """
    return _sizes("conv_output_size", size, kernel, stride, padding, dilation, False)


def pool_output_size(size: IntPair, kernel: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                     dilation: IntPair = 1, ceil_mode: bool = False) -> int | tuple[int, int]:
    """Pooling's output size: the convolution's, stride defaulting to the kernel, rounded up with
    ``ceil_mode`` unless the last window would then start in the right padding.

    Raises:
        ValueError: an argument out of range, padding above half the kernel (torch's limit), or a
            window larger than the padded input.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 1, 110, 26)  # ZFNet's conv1 and conv2 maps
        >>> pool_output_size((110, 26), 3, 2, ceil_mode=True)
        (55, 13)
        >>> tuple(torch.nn.functional.max_pool2d(x, 3, 2, ceil_mode=True).shape[-2:])
        (55, 13)
    """
    return _sizes("pool_output_size", size, kernel, kernel if stride is None else stride, padding, dilation,
                  ceil_mode)


def _channels(where: str, in_channels: int, out_channels: int, groups: int) -> None:
    if min(in_channels, out_channels, groups) < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(f"{where}: expected positive in_channels and out_channels divisible by groups >= 1, "
                         f"got in_channels={in_channels}, out_channels={out_channels}, groups={groups}")


def conv_params(in_channels: int, out_channels: int, kernel: IntPair, groups: int = 1, bias: bool = True) -> int:
    """(F_h F_w C_in / groups + 1) K, without the + 1 when ``bias`` is False.

    Example:
        >>> import torch
        >>> conv = torch.nn.Conv2d(64, 128, 3, groups=2)
        >>> conv_params(64, 128, 3, groups=2), sum(p.numel() for p in conv.parameters())
        (36992, 36992)
    """
    _channels("conv_params", in_channels, out_channels, groups)
    (fh, fw) = k = _pair(kernel, "kernel", "conv_params")
    _check("conv_params", kernel=k)
    return (fh * fw * in_channels // groups + int(bias)) * out_channels


def conv_macs(in_channels: int, out_channels: int, kernel: IntPair, output_size: IntPair, groups: int = 1) -> int:
    """K H_out W_out (F_h F_w C_in / groups): one multiply-add per weight per output pixel.

    Example:
        >>> conv_macs(3, 64, 11, 55)  # AlexNet's conv1 on 224 x 224
        70276800
    """
    _channels("conv_macs", in_channels, out_channels, groups)
    (fh, fw) = k = _pair(kernel, "kernel", "conv_macs")
    (ho, wo) = o = _pair(output_size, "output_size", "conv_macs")
    _check("conv_macs", kernel=k, output_size=o)
    return out_channels * ho * wo * (fh * fw * in_channels // groups)


def _features(where: str, in_features: int, out_features: int) -> None:
    if min(in_features, out_features) < 1:
        raise ValueError(f"{where}: expected positive in_features and out_features, "
                         f"got {in_features} and {out_features}")


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """(N_in + 1) N_out, or N_in N_out without bias.

    Example:
        >>> import torch
        >>> linear_params(9216, 4096), sum(p.numel() for p in torch.nn.Linear(9216, 4096).parameters())
        (37752832, 37752832)
    """
    _features("linear_params", in_features, out_features)
    return (in_features + int(bias)) * out_features


def linear_macs(in_features: int, out_features: int) -> int:
    """N_in N_out multiply-adds per sample.

    Example:
        >>> linear_macs(9216, 4096)  # AlexNet's FC6
        37748736
    """
    _features("linear_macs", in_features, out_features)
    return in_features * out_features


@dataclass(frozen=True)
class LayerRow:
    """One call of a leaf module in a forward pass; shapes without the batch dimension.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> row = summarize(nn.Sequential(nn.Conv2d(1, 4, 3)), (1, 8, 8))[0]
        >>> row.type, row.input_shape, row.output_shape, row.params, row.macs, row.is_fc
        ('Conv2d', (1, 8, 8), (4, 6, 6), 40, 1296, False)
    """

    name: str
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int
    is_fc: bool


@dataclass(frozen=True)
class Summary:
    """The rows of :func:`summarize` (iterate, index, ``len``) and the totals.

    Attributes:
        params: every parameter of the model, counted once.
        macs: multiply-adds of one sample's forward pass (convolutions and Linear layers).
        fc_params: parameters of the fully connected (Linear) layers.
        unused_params: parameters outside the leaf modules the eval-mode forward called (GoogLeNet's
            auxiliary heads, or a parameter held by a container), included in ``params``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 10))
        >>> summary = summarize(model, (1, 8, 8))
        >>> len(summary), summary.params, summary.fc_params, round(summary.fc_share, 3)
        (5, 410, 370, 0.902)
    """

    rows: list[LayerRow]
    params: int
    macs: int
    fc_params: int
    unused_params: int = 0
    input_size: tuple[int, ...] = ()

    @property
    def fc_share(self) -> float:
        """Share of the parameters in the FC layers."""
        return self.fc_params / self.params if self.params else 0.0

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> LayerRow:
        return self.rows[index]

    def to_dict(self) -> dict[str, Any]:
        return dict(input_size=list(self.input_size), params=self.params, macs=self.macs, fc_params=self.fc_params,
                    fc_share=self.fc_share, unused_params=self.unused_params,
                    layers=[{**asdict(r), "input_shape": list(r.input_shape), "output_shape": list(r.output_shape)}
                            for r in self.rows])


def _is(module: nn.Module, *names: str) -> bool:
    """``module``'s class or one of its bases is named one of ``names`` (ours or torch's)."""
    return any(cls.__name__ in names for cls in type(module).__mro__)


def _formula(name: str, module: nn.Module, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int, int] | None:
    """(output shape, parameters, MACs) of a Conv2d / Linear / pooling layer from the formulas, else None."""
    if _is(module, "Conv2d") and hasattr(module, "in_channels"):
        c, h, w = shape
        if c != module.in_channels:
            raise RuntimeError(f"summarize: layer {name!r} expects {module.in_channels} channels, got {c}")
        if module.padding == "same":
            out = (h, w)
        else:
            out = conv_output_size((h, w), module.kernel_size, module.stride,
                                   0 if module.padding == "valid" else module.padding, module.dilation)
        k, groups = module.out_channels, module.groups
        return ((k, *out), conv_params(c, k, module.kernel_size, groups, module.bias is not None),
                conv_macs(c, k, module.kernel_size, out, groups))
    if _is(module, "Linear") and hasattr(module, "in_features"):
        if shape[-1] != module.in_features:
            raise RuntimeError(f"summarize: layer {name!r} expects {module.in_features} features, got {shape[-1]}")
        rows = math.prod(shape[:-1])
        return ((*shape[:-1], module.out_features), linear_params(module.in_features, module.out_features,
                module.bias is not None), rows * linear_macs(module.in_features, module.out_features))
    if _is(module, "MaxPool2d", "AvgPool2d") and hasattr(module, "kernel_size"):
        out = pool_output_size(shape[-2:], module.kernel_size, module.stride or None, module.padding,
                               getattr(module, "dilation", 1), module.ceil_mode)
        return (*shape[:-2], *out), 0, 0
    if _is(module, "AdaptiveMaxPool2d", "AdaptiveAvgPool2d") and hasattr(module, "output_size"):
        target = module.output_size if isinstance(module.output_size, Sequence) else (module.output_size,) * 2
        return (*shape[:-2], *(t if t is not None else s for t, s in zip(target, shape[-2:], strict=True))), 0, 0
    return None


def summarize(model: nn.Module, input_size: Sequence[int]) -> Summary:
    """The layer table of ``model`` on one (C, H, W) input: a row per leaf-module call, in forward order.

    Runs ``model`` in eval mode under ``torch.no_grad`` on a zero tensor of batch 1 (the model's train
    mode is restored after). Conv2d, Linear and pooling rows (``c147.nn`` or ``torch.nn``) take their
    output shape, parameters and MACs from the formulas above, and each is checked against the
    real output shape and parameter count; other rows report the real ones and 0 MACs.

    Raises:
        ValueError: ``input_size`` is not three positive ints.
        RuntimeError: a formula disagrees with its module (the message names the layer).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 10))
        >>> summary = summarize(model, (1, 8, 8))
        >>> [row.output_shape for row in summary]
        [(4, 6, 6), (4, 6, 6), (4, 3, 3), (36,), (10,)]
        >>> summary.params == sum(p.numel() for p in model.parameters()), summary.macs
        (True, 1656)
    """
    if len(input_size) != 3 or not all(isinstance(s, int) and s > 0 for s in input_size):
        raise ValueError(f"summarize: expected input_size (C, H, W) of three positive ints, got {input_size!r}")
    names = {module: name for name, module in model.named_modules()}
    leaves = [m for m in model.modules() if not list(m.children())]
    rows: list[LayerRow] = []

    def hook(module: nn.Module, args: tuple, output: Any) -> None:
        name, x = names[module], args[0]
        y = output[0] if isinstance(output, tuple) else output  # MaxPool2d(return_indices=True)
        shape, real_shape = tuple(x.shape[1:]), tuple(y.shape[1:])
        real_params = sum(p.numel() for p in module.parameters())
        computed = _formula(name, module, shape)
        if computed is None:
            rows.append(LayerRow(name, type(module).__name__, shape, real_shape, real_params, 0, False))
            return
        out, params, macs = computed
        if out != real_shape or params != real_params:
            raise RuntimeError(f"summarize: layer {name!r} ({type(module).__name__}) disagrees with the formulas: "
                               f"output {real_shape} vs formula {out}, parameters {real_params} vs formula {params}")
        rows.append(LayerRow(name, type(module).__name__, shape, out, params, macs, _is(module, "Linear")))

    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        param = next(model.parameters(), None)
        x = torch.zeros(1, *input_size, dtype=param.dtype if param is not None else None,
                        device=param.device if param is not None else None)
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    called = {r.name for r in rows}
    params = sum(p.numel() for p in model.parameters())
    used = {id(p) for m in leaves if names[m] in called for p in m.parameters()}
    fc = {id(p): p.numel() for m in leaves if names[m] in called and _is(m, "Linear") for p in m.parameters()}
    return Summary(rows=rows, params=params, macs=sum(r.macs for r in rows), fc_params=sum(fc.values()),
                   unused_params=sum(p.numel() for p in model.parameters() if id(p) not in used),
                   input_size=tuple(input_size))


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape))


def format_table(summary: Summary | Sequence[LayerRow], title: str | None = None) -> Table:
    """A rich Table: one row per layer, and a totals row when given a :class:`Summary`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 10))
        >>> table = format_table(summarize(model, (1, 8, 8)), title="tiny")
        >>> table.row_count, [column.header for column in table.columns]
        (5, ['#', 'layer', 'type', 'input', 'output', 'params', 'MACs'])
    """
    table = Table(title=title, show_footer=isinstance(summary, Summary))
    for header, justify in (("#", "right"), ("layer", "left"), ("type", "left"), ("input", "right"),
                            ("output", "right"), ("params", "right"), ("MACs", "right")):
        table.add_column(header, justify=justify)
    for i, r in enumerate(summary):
        table.add_row(str(i), r.name, r.type + (" (FC)" if r.is_fc else ""), _shape(r.input_shape),
                      _shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}")
    if isinstance(summary, Summary):
        table.columns[1].footer = "total"
        table.columns[2].footer = f"FC share {summary.fc_share:.1%}"
        table.columns[5].footer = f"{summary.params:,}"
        table.columns[6].footer = f"{summary.macs:,}"
    return table


__all__ = ["LayerRow", "Summary", "conv_macs", "conv_output_size", "conv_params", "format_table", "linear_macs",
           "linear_params", "pool_output_size", "summarize"]
