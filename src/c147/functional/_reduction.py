"""The ``reduction`` argument shared by the losses: ``'mean' | 'sum' | 'none'``, torch's deprecated
``size_average`` / ``reduce`` pair, and the backward of the reduction."""

from __future__ import annotations

import torch
from torch import Tensor

from c147._compat import legacy_get_string

REDUCTIONS = ("mean", "sum", "none")


def reduction_of(name: str, reduction: str, size_average: bool | None, reduce: bool | None) -> str:
    """The reduction to apply: from the legacy ``size_average`` / ``reduce`` when given (with torch's warning).

    Raises:
        ValueError: a reduction not in ``REDUCTIONS``.
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_get_string(size_average, reduce)
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: expected reduction in {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce_loss(loss: Tensor, reduction: str, count: Tensor | float | None = None) -> Tensor:
    """``none``: per element; ``sum``; ``mean``: sum / ``count`` (default: the number of elements)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (loss.numel() if count is None else count)


def unreduce(grad: Tensor, reduction: str, shape: torch.Size, count: Tensor | float) -> Tensor:
    """``dL/dloss_n`` for each element ``n`` from ``dL/dout``: the backward of :func:`reduce_loss`."""
    if reduction == "none":
        return grad
    return (grad if reduction == "sum" else grad / count).expand(shape)


__all__ = ["REDUCTIONS", "reduce_loss", "reduction_of", "unreduce"]
