"""Binary cross-entropy on probabilities and on logits: twins of ``F.binary_cross_entropy`` and
``F.binary_cross_entropy_with_logits``.

The sheet: ``CE = -sum_i [y_i log O(z_i) + (1 - y_i) log(1 - O(z_i))]`` with ``O = sigma``.

Both take ``reduction`` in ``'mean' | 'sum' | 'none'`` (and torch's deprecated ``size_average`` /
``reduce``). ``weight`` and ``pos_weight`` are constants, as in torch: passing them with
``requires_grad=True`` raises ``ValueError`` (torch raises ``RuntimeError``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd import Function

from c147.functional._loss_checks import check_constant
from c147.functional._reduction import reduce_loss, reduction_of, unreduce
from c147.functional.activation import SigmoidFunction, _wide_

_BCE_EPS = torch.tensor(1e-12, dtype=torch.float32, device="cpu").item()  # torch's EPSILON: 1e-12 rounded to float32


def _broadcasts_to(source: torch.Size, shape: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(source, shape) == shape
    except RuntimeError:
        return False


def _broadcastable(name: str, what: str, t: Tensor | None, shape: torch.Size) -> None:
    if t is not None and not _broadcasts_to(t.shape, shape):
        raise ValueError(f"{name}: expected {what} broadcastable to the input's shape {tuple(shape)}, "
                         f"got {tuple(t.shape)}")


def _in_unit_interval(name: str, what: str, t: Tensor) -> None:
    if not ((t >= 0) & (t <= 1)).all():
        raise ValueError(f"{name}: expected every element of {what} in [0, 1], got values in "
                         f"[{t.min().item()}, {t.max().item()}] (or nan)")


class BinaryCrossEntropyFunction(Function):
    """``l = -w [y max(ln x, -100) + (1 - y) max(ln(1 - x), -100)]`` on probabilities ``x``.

    ``dl/dx = w (x - y) / max(x (1 - x), eps)``, ``dl/dy = w (ln(1 - x) - ln x)``: torch's clamps, so
    that ``x = 0`` or ``1`` gives a loss of 100 and a finite (huge) gradient, not ``inf``/``nan``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y, g = torch.rand(4, 3, requires_grad=True), torch.rand(4, 3), torch.tensor(1.0)
        >>> (ours,) = torch.autograd.grad(BinaryCrossEntropyFunction.apply(x, y, None, "mean"), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.binary_cross_entropy(x, y), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, target: Tensor, weight: Tensor | None, reduction: str) -> Tensor:
        loss = (target - 1) * torch.log1p(-input).clamp_min(-100) - target * input.log().clamp_min(-100)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(input, target, weight)
        ctx.reduction = reduction
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx, grad: Tensor):
        input, target, weight = ctx.saved_tensors
        g = unreduce(grad, ctx.reduction, input.shape, input.numel())
        if weight is not None:
            g = g * weight
        # dl/dx = w (x - y) / (x (1 - x))
        dx = g * (input - target) / (input * (1 - input)).clamp_min(_BCE_EPS) if ctx.needs_input_grad[0] else None
        # dl/dy = w (ln(1 - x) - ln x)
        dy = g * (torch.log1p(-input) - input.log()) if ctx.needs_input_grad[1] else None
        return dx, dy, None, None


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """``-w [y ln x + (1 - y) ln(1 - x)]`` on probabilities ``x``, logs clamped at -100.
    Twin of ``F.binary_cross_entropy``.

    Raises:
        ValueError: a bad ``reduction``, ``target`` not of the input's shape, ``weight`` not broadcastable
            to it, an input or target outside [0, 1].

    Shape:
        - Input: (*), probabilities in [0, 1].
        - Target: (*), the input's shape, in [0, 1].
        - Output: a scalar, or (*) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y, w = torch.rand(4, 3), torch.rand(4, 3), torch.rand(3)
        >>> binary_cross_entropy(x, y, reduction="none").shape
        torch.Size([4, 3])
        >>> torch.allclose(binary_cross_entropy(x, y, w), torch.nn.functional.binary_cross_entropy(x, y, w), atol=1e-6)
        True
    """
    name = "binary_cross_entropy"
    reduction = reduction_of(name, reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"{name}: expected target of the input's shape {tuple(input.shape)}, "
                         f"got {tuple(target.shape)}")
    _broadcastable(name, "weight", weight, input.shape)
    check_constant(name, "weight", weight)
    _in_unit_interval(name, "input (probabilities)", input)
    _in_unit_interval(name, "target", target)
    return BinaryCrossEntropyFunction.apply(input, target, weight, reduction)


class BinaryCrossEntropyWithLogitsFunction(Function):
    """``l = w [(1 - y) x - (1 + (p - 1) y) ln sigma(x)]`` on logits ``x`` (``p``: ``pos_weight``), with
    ``-ln sigma(x) = max(-x, 0) + ln(1 + e^{-|x|})`` (no overflow). Without ``pos_weight`` this is
    ``max(x, 0) - x y + ln(1 + e^{-|x|})``.

    ``dl/dx = w [(1 - y) - (1 + (p - 1) y)(1 - sigma(x))]`` (``= w (sigma(x) - y)`` for ``p = 1``),
    ``dl/dy = w [-x - (p - 1) ln sigma(x)]``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y, g = torch.randn(4, 3, requires_grad=True), torch.rand(4, 3), torch.tensor(1.0)
        >>> p = torch.tensor([1.0, 2.0, 0.5])  # pos_weight
        >>> (ours,) = torch.autograd.grad(BinaryCrossEntropyWithLogitsFunction.apply(x, y, None, p, "mean"), x, g)
        >>> loss = torch.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=p)
        >>> (theirs,) = torch.autograd.grad(loss, x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, target: Tensor, weight: Tensor | None, pos_weight: Tensor | None,
                reduction: str) -> Tensor:
        if pos_weight is None and target.dtype == input.dtype:
            # max(x, 0) - x y + ln(1 + e^{-|x|}), in place on one temporary (5 passes and a max(x, 0))
            loss = _wide_(torch.copysign(input, -1.0).exp_(), "log1p").addcmul_(input, target, value=-1)
            loss.add_(input.clamp_min(0))
        else:
            neg_log_sigmoid = (-input).clamp_min(0) + (-input.abs()).exp().log1p()
            if pos_weight is not None:
                neg_log_sigmoid = (1 + (pos_weight - 1) * target) * neg_log_sigmoid
            loss = (1 - target) * input + neg_log_sigmoid
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(input, target, weight, pos_weight)
        ctx.reduction = reduction
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx, grad: Tensor):
        input, target, weight, pos_weight = ctx.saved_tensors
        g = unreduce(grad, ctx.reduction, input.shape, input.numel())
        if weight is not None:
            g = g * weight
        dx = dy = None
        if ctx.needs_input_grad[0]:
            sigmoid = SigmoidFunction.apply(input)  # computed without overflow (a constant here unless create_graph)
            if pos_weight is None:
                # dl/dx = sigma(x) - y
                dx = g * (sigmoid - target) if torch.is_grad_enabled() else sigmoid.sub_(target).mul_(g)
            else:
                dx = g * ((1 - target) - (1 + (pos_weight - 1) * target) * (1 - sigmoid))
        if ctx.needs_input_grad[1]:
            dy = -g * input  # dl/dy = -x - (p - 1) ln sigma(x)
            if pos_weight is not None:
                dy = dy + g * (pos_weight - 1) * ((-input).clamp_min(0) + (-input.abs()).exp().log1p())
        return dx, dy, None, None, None


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """``-w [p y ln sigma(x) + (1 - y) ln(1 - sigma(x))]`` on logits, computed stably.
    Twin of ``F.binary_cross_entropy_with_logits``.

    Its gradient ``sigma(x) - y`` stays near 1 for a confident wrong prediction (the sheet's "if z is large
    the gradient ~ 0" is true of MSE after a sigmoid, not of cross-entropy).

    Raises:
        ValueError: a bad ``reduction``, ``target`` not of the input's shape, ``weight`` or ``pos_weight``
            not broadcastable to it.

    Shape:
        - Input: (*), logits.
        - Target: (*), the input's shape, in [0, 1].
        - weight, pos_weight: broadcastable to the input (pos_weight: (C,) for the last dim C).
        - Output: a scalar, or (*) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y, p = torch.randn(4, 3), torch.rand(4, 3), torch.tensor([1.0, 2.0, 0.5])
        >>> ours = binary_cross_entropy_with_logits(x, y, pos_weight=p)
        >>> torch.allclose(ours, torch.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=p), atol=1e-6)
        True
    """
    name = "binary_cross_entropy_with_logits"
    reduction = reduction_of(name, reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"{name}: expected target of the input's shape {tuple(input.shape)}, "
                         f"got {tuple(target.shape)}")
    for what, t in (("weight", weight), ("pos_weight", pos_weight)):
        _broadcastable(name, what, t, input.shape)
        check_constant(name, what, t)
    return BinaryCrossEntropyWithLogitsFunction.apply(input, target, weight, pos_weight, reduction)


__all__ = [
    "BinaryCrossEntropyFunction",
    "BinaryCrossEntropyWithLogitsFunction",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]
