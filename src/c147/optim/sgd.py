"""Stochastic gradient descent with momentum and Nesterov momentum, by hand: the twin of :class:`torch.optim.SGD`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT

from c147.optim._base import TwoPathOptimizer
from c147.optim._foreach import chunked

__all__ = ["SGD"]


class SGD(TwoPathOptimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum, weight decay and dampening.

    The sheet's rules (``ε`` the learning rate, ``α`` the momentum)::

        θ = θ - ε g                                   # SGD
        V = α V - ε g;  θ += V                        # momentum
        temp = P;  P = α P - ε g;  θ += P + α (P - temp)   # Nesterov (the look-ahead rewrite)

    torch's rules, implemented here (``γ`` = lr, ``μ`` = momentum, ``τ`` = dampening, ``λ`` = weight decay)::

        g_t = ∇f(θ_{t-1}) + λ θ_{t-1}                  # (-∇f when maximize)
        b_1 = g_1;  b_t = μ b_{t-1} + (1 - τ) g_t      # momentum_buffer
        θ_t = θ_{t-1} - γ b_t                          # momentum
        θ_t = θ_{t-1} - γ (g_t + μ b_t)                # nesterov=True

    The two are the same trajectory with dampening 0 and a constant lr: ``V_t = -γ b_t`` by induction
    (``V_1 = -γ g_1 = -γ b_1``; ``V_t = α V_{t-1} - γ g_t = -γ (μ b_{t-1} + g_t) = -γ b_t``). The sheet's
    Nesterov step is torch's too, with ``P_t = -γ b_t``: ``θ += (1 + α) P_t - α P_{t-1}
    = -γ (1 + α) g_t + α² P_{t-1}``, and torch's ``-γ (g_t + μ (μ b_{t-1} + g_t)) = -γ (1 + μ) g_t - γ μ² b_{t-1}``
    is the same expression; so there is no separate "sheet form" option. Only when the lr changes between
    steps do they part: the sheet's ``V``/``P`` hold lr-scaled past steps, torch's buffer holds raw gradients.

    Where the sheet is wrong (tests/optim/test_sgd.py, ``test_sheet_erratum_*``): it expands
    ``V_2 = -ε (g_1 + α g_2)``; it is ``-ε (g_2 + α g_1)``, i.e. ``V_t = -ε Σ_i α^{t-i} g_i``. For i.i.d.
    gradients of mean ``M`` and variance ``σ²``: ``E[θ_t] = θ_0 - ε M / (1 - α) (t - α (1 - α^t) / (1 - α))``
    (the sheet drops ``θ_0`` and the minus sign, its ``t = 3`` case drops the leading ``α``, its double sum
    stops at ``j - 1``, and it calls ``E[θ_t] - θ_0`` "``E[g_t]``"), and with mean-zero gradients
    ``Cov(V_t) = ε² σ² (1 - α^{2t}) / (1 - α²) I``, not ``ε² σ² (1 - α²) / (1 - α) I``.

    Args:
        params: parameters or parameter groups to optimize.
        lr: learning rate ``γ`` (the sheet's ``ε``).
        momentum: momentum factor ``μ`` (the sheet's ``α``).
        dampening: ``τ``, scales the gradient by ``1 - τ`` in the buffer from the second step on.
        weight_decay: L2 penalty ``λ``, added to the gradient before momentum.
        nesterov: Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
        maximize: maximize the objective instead of minimizing it.
        foreach: ``True`` for the ``torch._foreach_*`` path, ``False`` for the per-tensor loop,
            ``None`` to choose like torch (foreach when every parameter is on CUDA).
        differentiable: accepted for state_dict compatibility; ``True`` is not implemented.
        fused: accepted for state_dict compatibility; ``True`` is not implemented.
    """

    unimplemented = ("fused", "differentiable")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        self._refuse_unimplemented(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def _step_single(self, group: dict[str, Any]) -> None:
        """One tensor at a time, the update written as the equations (also the path for sparse gradients)."""
        lr, momentum, dampening = _scalar(group["lr"]), group["momentum"], group["dampening"]
        weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
        for param in group["params"]:
            grad = param.grad
            if grad is None:
                continue
            if momentum == 0:  # θ_t = θ_{t-1} - γ (±∇f + λ θ_{t-1}), the sign and λ folded into scalars
                if weight_decay != 0:
                    # θ ← θ_{t-1} - γ λ θ_{t-1}  (an add with alpha: no scalar tensor to wrap, unlike mul_)
                    param.add_(param, alpha=-lr * weight_decay)
                # θ_t = θ - γ ∇f  (θ + γ ∇f when maximize)
                param.add_(grad, alpha=lr if maximize else -lr)
                continue
            if maximize:
                # g_t = -∇f(θ_{t-1})  (ascend)
                grad = -grad
            if weight_decay != 0:
                # g_t = g_t + λ θ_{t-1}
                grad = grad.add(param, alpha=weight_decay)
            state = self.state[param]
            buf = state.get("momentum_buffer")
            if buf is None:
                # b_1 = g_1
                buf = state["momentum_buffer"] = grad.detach().clone()
            elif dampening == 0 and not grad.is_sparse:
                # b_t = μ b_{t-1} + g_t   (one pass: the output is b itself)
                torch.add(grad, buf, alpha=momentum, out=buf)
            else:
                # b_t = μ b_{t-1} + (1 - τ) g_t
                buf.mul_(momentum).add_(grad, alpha=1 - dampening)
            if nesterov:
                # θ_t = θ_{t-1} - γ g_t - γ μ b_t
                param.add_(grad, alpha=-lr).add_(buf, alpha=-lr * momentum)
            else:
                # θ_t = θ_{t-1} - γ b_t
                param.add_(buf, alpha=-lr)

    def _step_foreach(self, group: dict[str, Any]) -> None:
        """The same update on lists of tensors, one ``torch._foreach_*`` call per line and device/dtype."""
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [p.grad for p in params]
        if any(g.is_sparse for g in grads):  # foreach kernels take no sparse tensors
            self._step_single(group)
            return
        lr, momentum, dampening = _scalar(group["lr"]), group["momentum"], group["dampening"]
        weight_decay, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
        bufs = [self.state[p].get("momentum_buffer") for p in params] if momentum != 0 else [None] * len(params)
        grouped = Optimizer._group_tensors_by_device_and_dtype([params, grads, bufs])
        for lists, _ in grouped.values():
            for dev_params, dev_grads, dev_bufs in chunked(lists):  # CPU: cache-sized chunks
                if momentum == 0:  # θ_t = θ_{t-1} - γ (±∇f + λ θ_{t-1}), the sign and λ folded into scalars
                    if weight_decay != 0:
                        # θ ← θ_{t-1} - γ λ θ_{t-1}  (in place: no list of g + λ θ to allocate)
                        torch._foreach_add_(dev_params, dev_params, alpha=-lr * weight_decay)
                    # θ_t = θ - γ ∇f  (θ + γ ∇f when maximize)
                    torch._foreach_add_(dev_params, dev_grads, alpha=lr if maximize else -lr)
                    continue
                if maximize:
                    # g_t = -∇f(θ_{t-1})
                    dev_grads = torch._foreach_neg(dev_grads)
                    if weight_decay != 0:
                        # g_t = g_t + λ θ_{t-1}  (in the fresh copy)
                        torch._foreach_add_(dev_grads, dev_params, alpha=weight_decay)
                elif weight_decay != 0:
                    # g_t = g_t + λ θ_{t-1}
                    dev_grads = torch._foreach_add(dev_grads, dev_params, alpha=weight_decay)
                if all(b is not None for b in dev_bufs):
                    # b_t = μ b_{t-1} + (1 - τ) g_t
                    torch._foreach_mul_(dev_bufs, momentum)
                    torch._foreach_add_(dev_bufs, dev_grads, alpha=1 - dampening)
                else:  # a first step for some: b_1 = g_1 there
                    for i, (p, g, b) in enumerate(zip(dev_params, dev_grads, dev_bufs, strict=True)):
                        if b is None:
                            dev_bufs[i] = self.state[p]["momentum_buffer"] = g.detach().clone()
                        else:
                            b.mul_(momentum).add_(g, alpha=1 - dampening)
                if nesterov:
                    # θ_t = θ_{t-1} - γ g_t - γ μ b_t
                    torch._foreach_add_(dev_params, dev_grads, alpha=-lr)
                    torch._foreach_add_(dev_params, dev_bufs, alpha=-lr * momentum)
                else:
                    # θ_t = θ_{t-1} - γ b_t
                    torch._foreach_add_(dev_params, dev_bufs, alpha=-lr)


def _scalar(x: float | Tensor) -> float:
    """A Python number for a hyperparameter given as a float or a 1-element tensor."""
    return x.item() if isinstance(x, Tensor) else x
