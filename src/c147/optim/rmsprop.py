"""RMSprop (Hinton's lecture 6e; centered: Graves, 2013), by hand: the twin of :class:`torch.optim.RMSprop`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT

from c147._compat import _get_scalar_dtype, _view_as_real
from c147.optim._base import TwoPathOptimizer
from c147.optim._foreach import chunked

__all__ = ["RMSprop"]


class RMSprop(TwoPathOptimizer):
    r"""RMSprop: Adagrad whose accumulator of squared gradients is an exponential moving average.

    The sheet's rules (``a`` is ``square_avg``, ``β`` is ``alpha``, ``ε`` is ``lr``, ``ν`` is ``eps``)::

        a = β a + (1 - β) g ⊙ g
        θ = θ - ε / (√a + ν) ⊙ g                       # momentum = 0

    RMSprop + momentum (``momentum = α > 0``)::

        V = α V - ε / (√a + ν) ⊙ g,   θ = θ + V

    which is torch's form with ``V = -ε b``: ``b = α b + g / (√a + ν)``, ``θ = θ - ε b`` (the buffer ``b``
    is ``momentum_buffer``; the two agree (up to rounding) while ``ε`` is constant; with a changing ``ε`` torch's form
    rescales the past steps by the new ``ε``). ``centered`` normalizes by an estimate of the standard
    deviation instead of the root mean square: ``ḡ = β ḡ + (1 - β) g``, ``√(a - ḡ ⊙ ḡ) + ν``.
    ``weight_decay`` adds ``λ θ`` to ``g``; ``maximize`` ascends. The sheet's ``β = 0.97`` is an example;
    torch's default ``alpha`` is 0.99. Like the sheet, ``ν`` sits outside the square root (TensorFlow puts
    it inside).

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate ``ε``.
        alpha: smoothing constant ``β`` of the average of squared gradients.
        eps: ``ν``, added to ``√a``.
        weight_decay: L2 penalty ``λ``.
        momentum: momentum factor ``α``.
        centered: normalize by the centered second moment (an estimate of the gradient's variance).
        capturable: accepted for state_dict compatibility; ``True`` is not implemented.
        foreach: ``True`` for the ``torch._foreach_*`` path, ``False`` for the per-tensor loop,
            ``None`` to choose like torch (foreach when every parameter is on CUDA).
        maximize: maximize the objective instead of minimizing it.
        differentiable: accepted for state_dict compatibility; ``True`` is not implemented.
    """

    unimplemented = ("capturable", "differentiable")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        self._refuse_unimplemented(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if len(p_state) != 0 and not torch.is_tensor(p_state["step"]):
                    p_state["step"] = torch.tensor(float(p_state["step"]), dtype=_get_scalar_dtype())

    def _state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        """The state of ``p``, created on its first gradient: torch's keys, ``step`` a CPU scalar tensor."""
        state = self.state[p]
        if len(state) == 0:
            state["step"] = torch.zeros((), dtype=_get_scalar_dtype())
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["momentum"] > 0:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _step_single(self, group: dict[str, Any]) -> None:
        """The readable path: the sheet's equations, one parameter at a time."""
        lr, alpha, eps = float(group["lr"]), group["alpha"], group["eps"]
        weight_decay, momentum, centered, maximize = (
            group["weight_decay"],
            group["momentum"],
            group["centered"],
            group["maximize"],
        )
        one = torch.ones(())  # t ← t + 1 with a tensor operand: 3x cheaper than wrapping the 1 every time
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError("RMSprop does not support sparse gradients")
            state = self._state(p, group)
            square_avg = state["square_avg"]
            # t ← t + 1   (kept for torch's state_dict; RMSprop has no bias correction)
            state["step"].add_(one)
            if maximize:
                grad = -grad
            if weight_decay != 0:
                # g ← g + λ θ
                grad = grad.add(p, alpha=weight_decay)
            complex_param = torch.is_complex(p)
            if complex_param:  # real and imaginary parts as independent coordinates, like torch
                p, grad, square_avg = torch.view_as_real(p), torch.view_as_real(grad), torch.view_as_real(square_avg)
            # a = β a + (1 - β) g ⊙ g
            square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            if centered:
                grad_avg = state["grad_avg"]
                grad_avg = torch.view_as_real(grad_avg) if complex_param else grad_avg
                # ḡ = β ḡ + (1 - β) g
                grad_avg.lerp_(grad, 1 - alpha)
                # √(a - ḡ ⊙ ḡ) + ν
                avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
            else:
                # √a + ν
                avg = square_avg.sqrt().add_(eps)
            if momentum > 0:
                buf = state["momentum_buffer"]
                buf = torch.view_as_real(buf) if complex_param else buf
                # b = α b + g / (√a + ν)      (the sheet's V = α V - ε g / (√a + ν) is V = -ε b)
                buf.mul_(momentum).addcdiv_(grad, avg)
                # θ = θ - ε b                 (the sheet's θ = θ + V)
                p.add_(buf, alpha=-lr)
            else:
                # θ = θ - ε / (√a + ν) ⊙ g
                p.addcdiv_(grad, avg, value=-lr)

    def _step_foreach(self, group: dict[str, Any]) -> None:
        """The fast path: the same equations on lists of tensors, grouped by device and dtype."""
        lr, alpha, eps = float(group["lr"]), group["alpha"], group["eps"]
        weight_decay, momentum, centered, maximize = (
            group["weight_decay"],
            group["momentum"],
            group["centered"],
            group["maximize"],
        )
        params, grads, square_avgs, grad_avgs, bufs, steps = [], [], [], [], [], []
        has_complex = False
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("RMSprop does not support sparse gradients")
            state = self._state(p, group)
            has_complex |= torch.is_complex(p)
            params.append(p)
            grads.append(p.grad)
            square_avgs.append(state["square_avg"])
            steps.append(state["step"])
            if momentum > 0:
                bufs.append(state["momentum_buffer"])
            if centered:
                grad_avgs.append(state["grad_avg"])
        if not params:
            return
        grouped = Optimizer._group_tensors_by_device_and_dtype([params, grads, square_avgs, grad_avgs, bufs, steps])
        hyper = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        for tensor_lists, _ in grouped.values():
            if has_complex:  # real and imaginary parts as independent coordinates, like torch
                _view_as_real(*(tensors for tensors in tensor_lists[:5] if tensors))
            for chunk in chunked(tensor_lists):
                _foreach_rmsprop(*chunk, **hyper)


def _foreach_rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    grad_avgs: list[Tensor],
    bufs: list[Tensor],
    steps: list[Tensor],
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    """One RMSprop step on lists of tensors of one device and dtype."""
    # t ← t + 1   (a tensor operand: torch's CPU foreach would wrap a Python 1 once per tensor)
    torch._foreach_add_(steps, torch.ones(()), alpha=1.0)
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        # g ← g + λ θ
        if maximize:  # grads is already our own copy
            torch._foreach_add_(grads, params, alpha=weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    # a = β a + (1 - β) g ⊙ g
    torch._foreach_mul_(square_avgs, alpha)
    torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
    if centered:
        # ḡ = β ḡ + (1 - β) g
        torch._foreach_lerp_(grad_avgs, grads, 1 - alpha)
        # √(a - ḡ ⊙ ḡ) + ν
        avgs = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
        torch._foreach_sqrt_(avgs)
    else:
        # √a + ν
        avgs = torch._foreach_sqrt(square_avgs)
    torch._foreach_add_(avgs, eps)
    if momentum > 0:
        # b = α b + g / (√a + ν)
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_addcdiv_(bufs, grads, avgs)
        # θ = θ - ε b
        torch._foreach_add_(params, bufs, alpha=-lr)
    else:
        # θ = θ - ε / (√a + ν) ⊙ g
        torch._foreach_addcdiv_(params, grads, avgs, value=-lr)
