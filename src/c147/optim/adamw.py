"""AdamW (Loshchilov & Hutter, 2019), by hand: the twin of :class:`torch.optim.AdamW`."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.optim.optimizer import ParamsT

from c147.optim._docs import functional_doc, shared_docs
from c147.optim.adam import Adam, adam

__all__ = ["AdamW", "adamw"]


@shared_docs
class AdamW(Adam):
    r"""Adam with decoupled weight decay: the decay shrinks ``θ`` directly instead of entering ``g``.

    The update (``m`` the sheet's ``V``, ``v`` its ``a``, ``ε`` is ``lr``, ``δ`` is ``eps``)::

        θ ← (1 - ε λ) θ                               # decoupled weight decay
        m_t = β1 m_{t-1} + (1 - β1) g_t
        v_t = β2 v_{t-1} + (1 - β2) g_t ⊙ g_t
        θ_t = θ - ε m̂_t / (√v̂_t + δ),  m̂_t = m_t / (1 - β1^t),  v̂_t = v_t / (1 - β2^t)

    With L2 decay (plain :class:`Adam`'s ``weight_decay``) the penalty gradient ``λ θ`` is divided by
    ``√v̂``, so coordinates with large gradients are barely regularized; decoupled decay shrinks every
    coordinate by the same factor. The arithmetic is :class:`~c147.optim.adam.Adam`'s with
    ``decoupled_weight_decay=True``; the sheet does not cover AdamW. Arguments as in
    :class:`~c147.optim.adam.Adam`, with ``weight_decay`` defaulting to ``1e-2`` as in torch.

    {example}
    """

    example_hyper = "lr=0.1"  # the docstring's example

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # AdamW is always decoupled, whatever an old state_dict says
            group["decoupled_weight_decay"] = True


@functional_doc("adamw", extra="\n\n    It is :func:`~c147.optim.adam.adam` with ``decoupled_weight_decay=True``.")
def adamw(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    foreach: bool | None = None,
    capturable: bool = False,
    differentiable: bool = False,
    fused: bool | None = None,
    grad_scale: Tensor | None = None,
    found_inf: Tensor | None = None,
    has_complex: bool = False,
    *,
    amsgrad: bool,
    beta1: float | Tensor,
    beta2: float | Tensor,
    lr: float | Tensor,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    adam(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        max_exp_avg_sqs,
        state_steps,
        foreach=foreach,
        capturable=capturable,
        differentiable=differentiable,
        fused=fused,
        grad_scale=grad_scale,
        found_inf=found_inf,
        has_complex=has_complex,
        decoupled_weight_decay=True,
        amsgrad=amsgrad,
        beta1=beta1,
        beta2=beta2,
        lr=lr,
        weight_decay=weight_decay,
        eps=eps,
        maximize=maximize,
    )
