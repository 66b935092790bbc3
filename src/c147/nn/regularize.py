"""The sheet's regularizers: L2 and L1 penalties as loss terms, and a max-norm constraint.

* L2 (weight decay): Ω(W) = (α/2) ||W||², ∇Ω = αW. With plain SGD this is the sheet's
  W ← (1 - εα) W - ε ∇J: exactly ``torch.optim.SGD(weight_decay=α)`` (a test shows it).
* L1: Ω(W) = α ||W||₁, ∇Ω = α sign(W) (subgradient 0 at 0): pushes weights to sparsity.
* Max-norm: after each step, every unit's incoming weight vector w (a row of a Linear weight, a
  filter of a Conv2d) is rescaled to ||w||₂ <= c (Srebro & Shraibman 2005; used with dropout by
  Srivastava et al. 2014).

By default the penalties and the constraint apply to weights only (parameters with two or more
dimensions), not to biases or normalization parameters.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

APPLY_TO = ("weights", "all")


class L2PenaltyFunction(torch.autograd.Function):
    """(α/2) Σ ||W||² over the given tensors; backward: dΩ/dW = α W."""

    @staticmethod
    def forward(ctx, alpha: float, *params: Tensor) -> Tensor:
        ctx.alpha = alpha
        ctx.save_for_backward(*params)
        return 0.5 * alpha * sum((p * p).sum() for p in params)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return (None, *(grad * ctx.alpha * p if need else None
                        for p, need in zip(ctx.saved_tensors, ctx.needs_input_grad[1:], strict=True)))


class L1PenaltyFunction(torch.autograd.Function):
    """α Σ ||W||₁ over the given tensors; backward: dΩ/dW = α sign(W) (0 at W = 0)."""

    @staticmethod
    def forward(ctx, alpha: float, *params: Tensor) -> Tensor:
        ctx.alpha = alpha
        ctx.save_for_backward(*params)
        return alpha * sum(p.abs().sum() for p in params)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return (None, *(grad * ctx.alpha * p.sign() if need else None
                        for p, need in zip(ctx.saved_tensors, ctx.needs_input_grad[1:], strict=True)))


def l2_penalty(params: Iterable[Tensor], alpha: float) -> Tensor:
    """(α/2) Σ ||W||², the sheet's L2 term."""
    return L2PenaltyFunction.apply(alpha, *params)


def l1_penalty(params: Iterable[Tensor], alpha: float) -> Tensor:
    """α Σ ||W||₁, the sheet's L1 term."""
    return L1PenaltyFunction.apply(alpha, *params)


@torch.no_grad()
def max_norm_(weight: Tensor, max_value: float, eps: float = 1e-7) -> Tensor:
    """Rescale each row ``weight[i]`` (a unit's incoming weights) in place to L2 norm <= ``max_value``."""
    norms = weight.reshape(weight.shape[0], -1).pow(2).sum(1).sqrt()
    scale = (max_value / (norms + eps)).clamp_(max=1.0)
    return weight.mul_(scale.reshape(-1, *([1] * (weight.dim() - 1))))


class Regularizer:
    """L2 / L1 penalties and a max-norm constraint for a model's parameters.

    Args:
        l2: α of the L2 penalty (α/2)||W||² (0 disables).
        l1: α of the L1 penalty α||W||₁ (0 disables).
        max_norm: c of the max-norm constraint ||w||₂ <= c per unit (None disables).
        apply_to: ``"weights"`` (parameters with >= 2 dims: not biases, not norm layers) or ``"all"``.
    """

    def __init__(self, l2: float = 0.0, l1: float = 0.0, max_norm: float | None = None,
                 apply_to: str = "weights") -> None:
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        if l1 < 0:
            raise ValueError(f"l1 must be >= 0, got {l1}")
        if max_norm is not None and max_norm <= 0:
            raise ValueError(f"max_norm must be > 0 or None, got {max_norm}")
        if apply_to not in APPLY_TO:
            raise ValueError(f"apply_to must be one of {APPLY_TO}, got {apply_to!r}")
        self.l2, self.l1, self.max_norm, self.apply_to = l2, l1, max_norm, apply_to

    def parameters(self, module: nn.Module) -> list[Tensor]:
        """The parameters the penalties and the constraint act on."""
        return [p for p in module.parameters() if p.requires_grad and (self.apply_to == "all" or p.dim() >= 2)]

    def penalty(self, module: nn.Module) -> Tensor | None:
        """The penalty term to add to the loss, or None when both penalties are off."""
        params = self.parameters(module)
        terms = []
        if self.l2 > 0:
            terms.append(l2_penalty(params, self.l2))
        if self.l1 > 0:
            terms.append(l1_penalty(params, self.l1))
        return sum(terms) if terms else None

    def constrain(self, module: nn.Module) -> None:
        """Apply the max-norm constraint (after an optimizer step)."""
        if self.max_norm is not None:
            for p in self.parameters(module):
                if p.dim() >= 2:
                    max_norm_(p, self.max_norm)

    def __repr__(self) -> str:
        return f"Regularizer(l2={self.l2}, l1={self.l1}, max_norm={self.max_norm}, apply_to={self.apply_to!r})"


__all__ = ["L1PenaltyFunction", "L2PenaltyFunction", "Regularizer", "l1_penalty", "l2_penalty", "max_norm_"]
