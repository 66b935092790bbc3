"""Argument checks shared by the losses: constant class weights, and class-index targets."""

from __future__ import annotations

import torch
from torch import Tensor


def check_constant(name: str, what: str, t: Tensor | None) -> None:
    """Class weights and ``pos_weight`` are constants, as in torch: refuse one that requires grad."""
    if t is not None and t.requires_grad and torch.is_grad_enabled():
        raise ValueError(f"{name}: not differentiable with respect to {what} (as in torch); "
                         f"pass {what}.detach(), got a {what} that requires grad")


def check_class_weight(name: str, weight: Tensor | None, num_classes: int) -> None:
    """``weight`` is ``None`` or one weight per class, (C,)."""
    if weight is not None and weight.shape != (num_classes,):
        raise ValueError(f"{name}: expected weight of shape ({num_classes},), one per class, "
                         f"got {tuple(weight.shape)}")


def check_class_target(name: str, input: Tensor, target: Tensor, cd: int, ignore_index: int | None,
                       also: str = "") -> None:
    """``target`` holds integer class indices in [0, C) (or ``ignore_index``), shaped as input less dim ``cd``.

    The range of the values is checked in eager mode only: under ``torch.compile`` the check (a branch on
    the data) would break the graph, and an index out of range fails in the gather instead, as torch's
    own compiled losses do."""
    expected = input.shape[:cd] + input.shape[cd + 1:]
    if target.shape != expected:
        raise ValueError(f"{name}: expected target of shape {tuple(expected)} (class indices){also}, "
                         f"got {tuple(target.shape)}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"{name}: expected integer class indices as target, got {target.dtype}")
    if torch.compiler.is_compiling():
        return
    num_classes = input.shape[cd]
    bad = (target < 0) | (target >= num_classes)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bad.any():
        ignored = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ValueError(f"{name}: expected class indices in [0, {num_classes - 1}]{ignored}, "
                         f"got target {target[bad][0].item()}")


__all__ = ["check_class_target", "check_class_weight", "check_constant"]
