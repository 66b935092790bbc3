"""Adam (Kingma & Ba, 2015), by hand: the twin of :class:`torch.optim.Adam`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT

from c147._compat import _get_scalar_dtype, _view_as_real
from c147.optim._base import TwoPathOptimizer
from c147.optim._foreach import chunked

__all__ = ["Adam"]


class Adam(TwoPathOptimizer):
    r"""Adam: momentum on the gradient plus RMSprop's per-coordinate normalization, both bias-corrected.

    The sheet's rule, corrected (``m`` is the sheet's ``V``, ``v`` its ``a``, ``ε`` is ``lr``, ``δ`` is ``eps``)::

        m_t = β1 m_{t-1} + (1 - β1) g_t              # momentum-like first moment
        v_t = β2 v_{t-1} + (1 - β2) g_t ⊙ g_t        # RMSprop-like second moment
        m̂_t = m_t / (1 - β1^t)                       # bias correction
        v̂_t = v_t / (1 - β2^t)
        θ_t = θ_{t-1} - ε m̂_t / (√v̂_t + δ)

    ``weight_decay`` adds ``λ θ`` to the gradient (L2 penalty); with ``decoupled_weight_decay=True`` it
    instead shrinks ``θ ← (1 - ε λ) θ`` before the update (AdamW). ``amsgrad`` normalizes by the running
    maximum of ``v_t``. ``maximize`` ascends (uses ``-g``).

    Where the sheet is wrong: its second moment reads ``a = B2 a + (1 - B2) g log``; it is ``g ⊙ g``.
    Its update ``Θ = Θ - ε / V̂ ⊙ V`` divides by the bias-corrected *first* moment and never uses the
    second: ``V / V̂ = 1 - β1^t`` for every coordinate, so that rule moves every parameter by the same
    ``-ε (1 - β1^t)`` whatever the gradient. Its ``Var[V_t] = M`` is also wrong: for i.i.d. gradients of
    mean ``M`` and variance ``σ²``, ``Var[m_t] = σ² (1 - β1) / (1 + β1) (1 - β1^{2t})``, free of ``M``.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate ``ε``.
        betas: ``(β1, β2)``, decay rates of the first and second moment averages.
        eps: ``δ``, added to ``√v̂`` (outside the square root, like torch).
        weight_decay: L2 penalty ``λ`` (decoupled when ``decoupled_weight_decay``).
        amsgrad: use the running maximum of ``v_t`` (Reddi et al., 2018).
        foreach: ``True`` for the ``torch._foreach_*`` path, ``False`` for the per-tensor loop,
            ``None`` to choose like torch (foreach when every parameter is on CUDA).
        maximize: maximize the objective instead of minimizing it.
        capturable: accepted for state_dict compatibility; ``True`` is not implemented.
        differentiable: accepted for state_dict compatibility; ``True`` is not implemented.
        fused: accepted for state_dict compatibility; ``True`` is not implemented.
        decoupled_weight_decay: AdamW's weight decay.
    """

    unimplemented = ("capturable", "differentiable", "fused")
    foreach_with_tensor_lr = False  # as torch's Adam

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        if isinstance(lr, Tensor):
            if foreach and not capturable:
                raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, beta in enumerate(betas):
            if isinstance(beta, Tensor):
                if foreach and not capturable:
                    raise ValueError(f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True")
                if beta.numel() != 1:
                    raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(b.squeeze() if isinstance(b, Tensor) else b for b in betas)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        self._refuse_unimplemented(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
            group.setdefault("decoupled_weight_decay", False)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if len(p_state) != 0 and not torch.is_tensor(p_state["step"]):
                    p_state["step"] = torch.tensor(float(p_state["step"]), dtype=_get_scalar_dtype())

    def _state(self, p: Tensor, amsgrad: bool) -> dict[str, Tensor]:
        """The state of ``p``, created on its first gradient: torch's keys, ``step`` a CPU scalar tensor."""
        state = self.state[p]
        if len(state) == 0:
            state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype())
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if amsgrad:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _step_single(self, group: dict[str, Any]) -> None:
        """The readable path: the sheet's equations, one parameter at a time."""
        lr, eps, weight_decay = float(group["lr"]), group["eps"], group["weight_decay"]
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad, maximize = group["amsgrad"], group["maximize"]
        decay = 1 - lr * weight_decay if group["decoupled_weight_decay"] else None
        one = torch.ones(())  # t ← t + 1 with a tensor operand: 3x cheaper than wrapping the 1 every time
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError("Adam does not support sparse gradients, please consider SparseAdam instead")
            state = self._state(p, amsgrad)
            exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
            # t ← t + 1   (a CPU tensor, as in torch: reading it back is no device sync)
            t = step_t.add_(one).item()
            if maximize:
                grad = -grad
            if weight_decay != 0:
                if decay is not None:
                    # θ ← (1 - ε λ) θ   (decoupled, AdamW)
                    p.mul_(decay)
                else:
                    # g ← g + λ θ   (L2 penalty)
                    grad = grad.add(p, alpha=weight_decay)
            if torch.is_complex(p):  # real and imaginary parts as independent coordinates, like torch
                p, grad = torch.view_as_real(p), torch.view_as_real(grad)
                exp_avg, exp_avg_sq = torch.view_as_real(exp_avg), torch.view_as_real(exp_avg_sq)
            # m_t = β1 m_{t-1} + (1 - β1) g_t
            exp_avg.lerp_(grad, 1 - beta1)
            # v_t = β2 v_{t-1} + (1 - β2) g_t ⊙ g_t
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            if amsgrad:
                v_max = state["max_exp_avg_sq"]
                v_max = torch.view_as_real(v_max) if torch.is_complex(v_max) else v_max
                # v_max = max(v_max, v_t), used in place of v_t below
                torch.maximum(v_max, exp_avg_sq, out=v_max)
                exp_avg_sq = v_max
            # √v̂_t + δ = √v_t / √(1 - β2^t) + δ
            denom = exp_avg_sq.sqrt().div_((1 - beta2**t) ** 0.5).add_(eps)
            # θ_t = θ_{t-1} - ε m̂_t / (√v̂_t + δ),  m̂_t = m_t / (1 - β1^t) folded into the scalar
            p.addcdiv_(exp_avg, denom, value=-(lr / (1 - beta1**t)))

    def _step_foreach(self, group: dict[str, Any]) -> None:
        """The fast path: the same equations on lists of tensors, grouped by device and dtype."""
        lr, eps, weight_decay = float(group["lr"]), group["eps"], group["weight_decay"]
        beta1, beta2 = (float(b) for b in group["betas"])
        amsgrad, maximize = group["amsgrad"], group["maximize"]
        params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps = [], [], [], [], [], []
        has_complex = False
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("Adam does not support sparse gradients, please consider SparseAdam instead")
            state = self._state(p, amsgrad)
            has_complex |= torch.is_complex(p)
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
            if amsgrad:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
        if not params:
            return
        grouped = Optimizer._group_tensors_by_device_and_dtype(
            [params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps]
        )
        hyper = dict(
            lr=lr,
            betas=(beta1, beta2),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=group["decoupled_weight_decay"],
        )
        for tensor_lists, _ in grouped.values():
            if has_complex:  # real and imaginary parts as independent coordinates, like torch
                _view_as_real(*tensor_lists[:4], *tensor_lists[4:5] if amsgrad else [])
            for chunk in chunked(tensor_lists):
                _foreach_adam(*chunk, **hyper)


def _foreach_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """One Adam step on lists of tensors of one device and dtype."""
    beta1, beta2 = betas
    # t ← t + 1   (a tensor operand: torch's CPU foreach would wrap a Python 1 once per tensor)
    torch._foreach_add_(steps, torch.ones(()), alpha=1.0)
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if decoupled_weight_decay:
            # θ ← (1 - ε λ) θ
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        elif maximize:  # grads is already our own copy
            # g ← g + λ θ
            torch._foreach_add_(grads, params, alpha=weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    # m_t = β1 m_{t-1} + (1 - β1) g_t
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    # v_t = β2 v_{t-1} + (1 - β2) g_t ⊙ g_t
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    del grads
    if amsgrad:
        # v_max = max(v_max, v_t)
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        exp_avg_sqs = max_exp_avg_sqs
    step_sizes, bias_correction2_sqrts = _bias_corrections(steps, lr, beta1, beta2)
    # √v̂_t + δ = √v_t / √(1 - β2^t) + δ
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denoms, bias_correction2_sqrts)
    torch._foreach_add_(denoms, eps)
    # θ_t = θ_{t-1} - ε m̂_t / (√v̂_t + δ),  m̂_t = m_t / (1 - β1^t) folded into the scalar
    torch._foreach_addcdiv_(params, exp_avgs, denoms, step_sizes)


def _bias_corrections(
    steps: list[Tensor], lr: float, beta1: float, beta2: float
) -> tuple[float | list[float], float | list[float]]:
    """``-ε / (1 - β1^t)`` and ``√(1 - β2^t)`` per tensor; one scalar each when every ``t`` is the same."""
    ts = [s.item() for s in steps]  # CPU scalars: no device sync
    if ts.count(ts[0]) == len(ts):
        t = ts[0]
        return -(lr / (1 - beta1**t)), (1 - beta2**t) ** 0.5
    return [-(lr / (1 - beta1**t)) for t in ts], [(1 - beta2**t) ** 0.5 for t in ts]
