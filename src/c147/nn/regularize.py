"""The sheet's regularizers: L2, L1 and ∞-norm penalties as loss terms, an L1 penalty on hidden
activations, and a max-norm constraint.

* L2 (weight decay): Ω(W) = (α/2) ||W||², ∇Ω = αW. With plain SGD this is the sheet's
  W ← (1 - εα) W - ε ∇J: exactly ``torch.optim.SGD(weight_decay=α)`` (a test shows it).
* L1: Ω(W) = α ||W||₁, ∇Ω = α sign(W) (subgradient 0 at 0): pushes weights to sparsity.
* ∞-norm: Ω(W) = α ||W||_∞ = α max_k Σ_j |W_kj| (the largest absolute row sum, a row being a unit's
  incoming weights); subgradient α sign(W_kj) on the maximizing row, 0 on the others.
* Activity L1 (sparse representations): Ω(h) = α ||h||₁ on hidden activations h, per example and
  averaged over the batch as the loss is; pushes hidden units to exactly 0.
* Max-norm: after each step, every unit's incoming weight vector w (a row of a Linear weight, a
  filter of a Conv2d) is rescaled to ||w||₂ <= c (Srebro & Shraibman 2005; used with dropout by
  Srivastava et al. 2014).

By default the weight penalties and the constraint apply to weights only (parameters with two or more
dimensions), not to biases or normalization parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from c147.nn import activation as c147_activation

APPLY_TO = ("weights", "all")

# the modules ``layers=None`` picks: torch's and c147's activation functions
ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Softplus,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.ReLU6,
    *(getattr(c147_activation, name) for name in c147_activation.__all__),
)


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


def _rows(p: Tensor) -> Tensor:
    """``p`` as a matrix whose rows are units' incoming weights: (out, rest); a vector is a column."""
    return p.reshape(p.shape[0] if p.dim() else 1, -1)


class InfNormPenaltyFunction(torch.autograd.Function):
    """α Σ ||W||_∞ over the given tensors, ||W||_∞ = max_k Σ_j |W_kj| with W seen as (rows, rest).

    Backward (a subgradient): dΩ/dW_kj = α sign(W_kj) on a row k whose absolute sum is the maximum, 0 on
    the other rows, sign(0) = 0. When n rows tie for the maximum, each gets α sign(W_kj) / n: the mean of
    the n one-row subgradients (what autograd gives for ``amax``).
    """

    @staticmethod
    def forward(ctx, alpha: float, *params: Tensor) -> Tensor:
        ctx.alpha = alpha
        ctx.save_for_backward(*params)
        return alpha * sum(_rows(p).abs().sum(1).max() for p in params)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return (None, *(grad * ctx.alpha * _inf_norm_subgradient(p) if need else None
                        for p, need in zip(ctx.saved_tensors, ctx.needs_input_grad[1:], strict=True)))


def _inf_norm_subgradient(p: Tensor) -> Tensor:
    """d||W||_∞/dW: sign(W) on the maximizing rows, each of n tied rows weighted 1/n, 0 elsewhere."""
    w = _rows(p)
    row_sums = w.abs().sum(1)  # (rows,)
    at_max = (row_sums == row_sums.max()).to(p.dtype)  # 1 on the maximizing rows
    return (w.sign() * (at_max / at_max.sum())[:, None]).reshape(p.shape)


def l2_penalty(params: Iterable[Tensor], alpha: float) -> Tensor:
    """(α/2) Σ ||W||², the sheet's L2 term."""
    return L2PenaltyFunction.apply(alpha, *params)


def l1_penalty(params: Iterable[Tensor], alpha: float) -> Tensor:
    """α Σ ||W||₁, the sheet's L1 term."""
    return L1PenaltyFunction.apply(alpha, *params)


def inf_norm_penalty(params: Iterable[Tensor], alpha: float) -> Tensor:
    """α Σ ||W||_∞, the largest absolute row sum of each weight matrix."""
    return InfNormPenaltyFunction.apply(alpha, *params)


def activity_l1_penalty(activations: Sequence[Tensor], alpha: float) -> Tensor:
    """α (1/N) Σ_n ||h_n||₁ over the given activations of one batch of N examples (each (N, ...)): the
    sheet's α ||h||₁ per example, averaged over the batch as the loss is. Backward:
    :class:`L1PenaltyFunction`'s, (α/N) sign(h).

    Raises:
        ValueError: activations of different batch sizes.
    """
    sizes = {h.shape[0] for h in activations}
    if len(sizes) != 1:
        raise ValueError(f"activity_l1: expected the activations of one batch, got batch sizes {sorted(sizes)}")
    return l1_penalty(activations, alpha / sizes.pop())


@torch.no_grad()
def max_norm_(weight: Tensor, max_value: float, eps: float = 1e-7) -> Tensor:
    """Rescale each row ``weight[i]`` (a unit's incoming weights) in place to L2 norm <= ``max_value``."""
    norms = weight.reshape(weight.shape[0], -1).pow(2).sum(1).sqrt()
    scale = (max_value / (norms + eps)).clamp_(max=1.0)
    return weight.mul_(scale.reshape(-1, *([1] * (weight.dim() - 1))))


class Regularizer:
    """Weight penalties (L2, L1, ∞-norm), an activity L1 penalty and a max-norm constraint.

    The activity penalty needs :meth:`attach` on the network first: forward hooks on the chosen modules
    keep their outputs of a training forward (module in training mode, gradients on) until
    :meth:`penalty` uses them.

    Args:
        l2: α of the L2 penalty (α/2)||W||² (0 disables).
        l1: α of the L1 penalty α||W||₁ (0 disables).
        max_norm: c of the max-norm constraint ||w||₂ <= c per unit (None disables).
        apply_to: ``"weights"`` (parameters with >= 2 dims: not biases, not norm layers) or ``"all"``.
        inf_norm: α of the ∞-norm penalty α||W||_∞ (0 disables).
        activity_l1: α of the activity penalty α||h||₁ per example (0 disables).
        layers: names of the modules (``net.named_modules()``) whose outputs are h; None: every activation
            module (:data:`ACTIVATIONS`).
    """

    def __init__(self, l2: float = 0.0, l1: float = 0.0, max_norm: float | None = None,
                 apply_to: str = "weights", inf_norm: float = 0.0, activity_l1: float = 0.0,
                 layers: Sequence[str] | None = None) -> None:
        for name, value in (("l2", l2), ("l1", l1), ("inf_norm", inf_norm), ("activity_l1", activity_l1)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if max_norm is not None and max_norm <= 0:
            raise ValueError(f"max_norm must be > 0 or None, got {max_norm}")
        if apply_to not in APPLY_TO:
            raise ValueError(f"apply_to must be one of {APPLY_TO}, got {apply_to!r}")
        self.l2, self.l1, self.max_norm, self.apply_to = l2, l1, max_norm, apply_to
        self.inf_norm, self.activity_l1 = inf_norm, activity_l1
        self.layers = None if layers is None else [str(name) for name in layers]
        self._activations: list[Tensor] = []
        self._handles: list[RemovableHandle] = []

    def parameters(self, module: nn.Module) -> list[Tensor]:
        """The parameters the weight penalties and the constraint act on."""
        return [p for p in module.parameters() if p.requires_grad and (self.apply_to == "all" or p.dim() >= 2)]

    def attach(self, net: nn.Module) -> None:
        """Hook the modules whose outputs the activity penalty takes (nothing when it is off).

        Raises:
            ValueError: a name in ``layers`` that is not a module of ``net`` (the message lists them), or
                ``layers=None`` and ``net`` has no activation module.
        """
        self.detach()
        if self.activity_l1 == 0:
            return
        modules = dict(net.named_modules())
        del modules[""]
        if self.layers is None:
            chosen = [m for m in modules.values() if isinstance(m, ACTIVATIONS)]
            if not chosen:
                raise ValueError(f"regularizer.layers: {type(net).__name__} has no activation module; name the "
                                 f"modules to penalize, one of: {', '.join(modules)}")
        else:
            unknown = [name for name in self.layers if name not in modules]
            if unknown:
                raise ValueError(f"regularizer.layers: unknown module {unknown[0]!r}; the modules of "
                                 f"{type(net).__name__} are: {', '.join(modules)}")
            chosen = [modules[name] for name in self.layers]
        # a forward starts afresh: activations a penalty never took do not pile up
        self._handles.append(net.register_forward_pre_hook(self._forget))
        self._handles += [m.register_forward_hook(self._keep) for m in chosen]

    def detach(self) -> None:
        """Remove the hooks of :meth:`attach`."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._activations = [], []

    def _forget(self, module: nn.Module, inputs) -> None:
        self._activations = []

    def _keep(self, module: nn.Module, inputs, output: Tensor) -> None:
        if module.training and torch.is_grad_enabled():
            if not isinstance(output, Tensor):
                raise TypeError(f"activity_l1: {type(module).__name__} returns {type(output).__name__}, not a "
                                f"tensor of activations")
            self._activations.append(output)

    def penalty(self, module: nn.Module) -> Tensor | None:
        """The penalty term to add to the loss, or None when every penalty is off. The activity term
        takes (and forgets) the activations kept since the network's last forward began."""
        params = self.parameters(module)
        terms = []
        if self.l2 > 0:
            terms.append(l2_penalty(params, self.l2))
        if self.l1 > 0:
            terms.append(l1_penalty(params, self.l1))
        if self.inf_norm > 0:
            terms.append(inf_norm_penalty(params, self.inf_norm))
        if self.activity_l1 > 0:
            if not self._handles:
                raise RuntimeError("activity_l1: call attach(net) before the forward")
            activations, self._activations = self._activations, []
            if activations:
                terms.append(activity_l1_penalty(activations, self.activity_l1))
        return sum(terms[1:], start=terms[0]) if terms else None  # one term: its own Function's grad_fn

    def constrain(self, module: nn.Module) -> None:
        """Apply the max-norm constraint (after an optimizer step)."""
        if self.max_norm is not None:
            for p in self.parameters(module):
                if p.dim() >= 2:
                    max_norm_(p, self.max_norm)

    def __repr__(self) -> str:
        return (f"Regularizer(l2={self.l2}, l1={self.l1}, max_norm={self.max_norm}, apply_to={self.apply_to!r}, "
                f"inf_norm={self.inf_norm}, activity_l1={self.activity_l1}, layers={self.layers})")


__all__ = ["ACTIVATIONS", "InfNormPenaltyFunction", "L1PenaltyFunction", "L2PenaltyFunction", "Regularizer",
           "activity_l1_penalty", "inf_norm_penalty", "l1_penalty", "l2_penalty", "max_norm_"]
