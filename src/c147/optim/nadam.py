"""NAdam (Dozat, 2016), by hand: the twin of :class:`torch.optim.NAdam`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT

from c147._compat import _get_scalar_dtype, _view_as_real
from c147.optim._base import TwinOptimizer, check_lr, check_non_negative, check_steps, refuse_unimplemented, scalar
from c147.optim._base import use_foreach as _use_foreach
from c147.optim._docs import functional_doc, shared_docs
from c147.optim._foreach import chunked, foreach_grads

__all__ = ["NAdam", "nadam"]


@shared_docs
class NAdam(TwinOptimizer):
    r"""NAdam: Adam whose momentum is Nesterov's, the sheet's "RMSProp can also use Nesterov momentum".

    Nesterov's momentum evaluates the step at the look-ahead point: in SGD's form (torch's ``nesterov``)
    the update uses ``μ b_t + g_t`` instead of ``b_t``, i.e. the next step's momentum applied now. NAdam
    does the same to Adam's bias-corrected first moment, with a momentum ``μ_t`` that warms up over the
    steps (``ψ`` is ``momentum_decay``, ``ε`` is ``lr``, ``δ`` is ``eps``)::

        μ_t = β1 (1 - ½ 0.96^{t ψ}),   μ_{t+1} = β1 (1 - ½ 0.96^{(t+1) ψ})
        Π_t = Π_{t-1} μ_t                               # mu_product, Π_0 = 1
        m_t = β1 m_{t-1} + (1 - β1) g_t
        v_t = β2 v_{t-1} + (1 - β2) g_t ⊙ g_t
        m̂_t = μ_{t+1} m_t / (1 - Π_t μ_{t+1}) + (1 - μ_t) g_t / (1 - Π_t)   # the look-ahead
        θ_t = θ_{t-1} - ε m̂_t / (√(v_t / (1 - β2^t)) + δ)

    Without the look-ahead (``m̂_t = m_t / (1 - β1^t)``) this is Adam. ``weight_decay`` adds ``λ θ`` to
    ``g`` (L2 penalty); with ``decoupled_weight_decay=True`` it instead shrinks ``θ ← (1 - ε λ) θ`` before
    the update (NAdamW). ``maximize`` ascends (uses ``-g``). torch has no fused NAdam, and neither has c147.

    Args:
        {params}
        lr: learning rate ``ε``.
        betas: ``(β1, β2)``, decay rates of the first and second moment averages.
        eps: ``δ``, added to ``√v̂`` (outside the square root, like torch).
        weight_decay: L2 penalty ``λ`` (decoupled when ``decoupled_weight_decay``).
        momentum_decay: ``ψ``, how fast ``μ_t`` warms up from ``β1 / 2`` to ``β1``.
        decoupled_weight_decay: NAdamW's weight decay.
        {foreach}
        {maximize}
        {capturable}
        {differentiable}

    {example}
    """

    example_hyper = "lr=0.1, weight_decay=0.01"  # the docstring's example

    unimplemented = ("capturable", "differentiable")
    group_defaults = dict(
        maximize=False, foreach=None, capturable=False, differentiable=False, decoupled_weight_decay=False
    )

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        check_non_negative(epsilon=eps)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        check_non_negative(weight_decay=weight_decay, momentum_decay=momentum_decay)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        self._refuse_unimplemented(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # an old state_dict's mu_product is a Python number, as its step
            for p in group["params"]:
                p_state = self.state.get(p, {})
                if "mu_product" in p_state and not torch.is_tensor(p_state["mu_product"]):
                    p_state["mu_product"] = torch.tensor(p_state["mu_product"], dtype=_get_scalar_dtype())

    def _init_group(
        self,
        group: dict,
        params: list[Tensor],
        grads: list[Tensor],
        exp_avgs: list[Tensor],
        exp_avg_sqs: list[Tensor],
        mu_products: list[Tensor],
        state_steps: list[Tensor],
    ) -> bool:
        """Append the group's parameters with a gradient and their state to the lists; create the state
        on a parameter's first gradient (torch's keys, ``step`` and ``mu_product`` CPU scalar tensors).
        Returns whether a parameter is complex."""
        has_complex = False
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("NAdam does not support sparse gradients")
            has_complex |= torch.is_complex(p)
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype())
                state["mu_product"] = torch.tensor(1.0, dtype=_get_scalar_dtype())  # Π_0 = 1
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            mu_products.append(state["mu_product"])
            state_steps.append(state["step"])
        return has_complex

    def _step_group(self, group: dict) -> None:
        lists: tuple[list[Tensor], ...] = ([], [], [], [], [], [])
        has_complex = self._init_group(group, *lists)
        beta1, beta2 = group["betas"]
        nadam(
            *lists,
            decoupled_weight_decay=group["decoupled_weight_decay"],
            foreach=group["foreach"],
            has_complex=has_complex,
            maximize=group["maximize"],
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            momentum_decay=group["momentum_decay"],
            eps=group["eps"],
        )


@functional_doc("nadam")
def nadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    mu_products: list[Tensor],
    state_steps: list[Tensor],
    decoupled_weight_decay: bool = False,
    foreach: bool | None = None,
    capturable: bool = False,
    differentiable: bool = False,
    has_complex: bool = False,
    maximize: bool = False,
    *,
    beta1: float,
    beta2: float,
    lr: float | Tensor,
    weight_decay: float,
    momentum_decay: float,
    eps: float,
) -> None:
    refuse_unimplemented("nadam", dict(capturable=capturable, differentiable=differentiable))
    check_steps(state_steps)
    if not all(isinstance(t, Tensor) for t in mu_products):  # torch's message
        raise RuntimeError("API has changed, `mu_products` argument must contain a list of singleton tensors")
    step = _multi_tensor_nadam if _use_foreach(foreach, params) else _single_tensor_nadam
    step(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        mu_products,
        state_steps,
        has_complex=has_complex,
        beta1=beta1,
        beta2=beta2,
        lr=scalar(lr),
        weight_decay=weight_decay,
        momentum_decay=momentum_decay,
        eps=eps,
        decoupled_weight_decay=decoupled_weight_decay,
        maximize=maximize,
    )


def _momenta(t: float, beta1: float, momentum_decay: float) -> tuple[float, float]:
    """``μ_t = β1 (1 - ½ 0.96^{t ψ})`` and ``μ_{t+1}``."""
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
    return mu, mu_next


def _single_tensor_nadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    mu_products: list[Tensor],
    state_steps: list[Tensor],
    *,
    has_complex: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    momentum_decay: float,
    eps: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """The readable path: the equations, one parameter at a time."""
    one = torch.ones(())  # t ← t + 1 with a tensor operand: 3x cheaper than wrapping the 1 every time
    for i, p in enumerate(params):
        grad, exp_avg, exp_avg_sq, mu_product = grads[i], exp_avgs[i], exp_avg_sqs[i], mu_products[i]
        # t ← t + 1   (a CPU tensor, as in torch: reading it back is no device sync)
        t = state_steps[i].add_(one).item()
        if maximize:
            grad = -grad
        if weight_decay != 0:
            if decoupled_weight_decay:
                # θ ← (1 - ε λ) θ   (decoupled, NAdamW)
                p.mul_(1 - lr * weight_decay)
            else:
                # g ← g + λ θ   (L2 penalty)
                grad = grad.add(p, alpha=weight_decay)
        if torch.is_complex(p):  # real and imaginary parts as independent coordinates, like torch
            p, grad = torch.view_as_real(p), torch.view_as_real(grad)
            exp_avg, exp_avg_sq = torch.view_as_real(exp_avg), torch.view_as_real(exp_avg_sq)
        mu, mu_next = _momenta(t, beta1, momentum_decay)
        # Π_t = Π_{t-1} μ_t   (a tensor of the scalar dtype, as torch keeps it)
        product = mu_product.mul_(mu).item()
        # m_t = β1 m_{t-1} + (1 - β1) g_t
        exp_avg.lerp_(grad, 1 - beta1)
        # v_t = β2 v_{t-1} + (1 - β2) g_t ⊙ g_t
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        # √v̂_t + δ = √(v_t / (1 - β2^t)) + δ
        denom = exp_avg_sq.div(1 - beta2**t).sqrt_().add_(eps)
        # θ ← θ - ε (1 - μ_t) / (1 - Π_t) g_t / (√v̂_t + δ)          (the gradient's share of m̂_t)
        p.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - product))
        # θ ← θ - ε μ_{t+1} / (1 - Π_t μ_{t+1}) m_t / (√v̂_t + δ)   (the look-ahead momentum's share)
        p.addcdiv_(exp_avg, denom, value=(-lr * mu_next) / (1.0 - product * mu_next))


def _multi_tensor_nadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    mu_products: list[Tensor],
    state_steps: list[Tensor],
    *,
    has_complex: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    momentum_decay: float,
    eps: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """The fast path: the same equations as ``torch._foreach_*`` calls, per device and dtype (and on
    CPU per cache-sized chunk, :func:`~c147.optim._foreach.chunked`)."""
    if not params:
        return
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, exp_avgs, exp_avg_sqs, mu_products, state_steps]
    )
    for tensor_lists, _ in grouped.values():
        if has_complex:  # real and imaginary parts as independent coordinates, like torch
            _view_as_real(*tensor_lists[:4])
        for dev_params, dev_grads, dev_exp_avgs, dev_exp_avg_sqs, dev_mu_products, dev_steps in chunked(tensor_lists):
            # t ← t + 1   (a tensor operand: torch's CPU foreach would wrap a Python 1 once per tensor)
            torch._foreach_add_(dev_steps, torch.ones(()), alpha=1.0)
            if weight_decay != 0 and decoupled_weight_decay:
                # θ ← (1 - ε λ) θ
                torch._foreach_mul_(dev_params, 1 - lr * weight_decay)
            # g ← ±g + λ θ   (the L2 penalty, unless decoupled)
            dev_grads = foreach_grads(dev_grads, dev_params, 0 if decoupled_weight_decay else weight_decay, maximize)
            # m_t = β1 m_{t-1} + (1 - β1) g_t
            torch._foreach_lerp_(dev_exp_avgs, dev_grads, 1 - beta1)
            # v_t = β2 v_{t-1} + (1 - β2) g_t ⊙ g_t
            torch._foreach_mul_(dev_exp_avg_sqs, beta2)
            torch._foreach_addcmul_(dev_exp_avg_sqs, dev_grads, dev_grads, value=1 - beta2)
            ts = [s.item() for s in dev_steps]  # CPU scalars: no device sync
            mus, mu_nexts = zip(*(_momenta(t, beta1, momentum_decay) for t in ts), strict=True)
            # Π_t = Π_{t-1} μ_t
            torch._foreach_mul_(dev_mu_products, list(mus))
            products = [m.item() for m in dev_mu_products]
            # √v̂_t + δ = √v_t / √(1 - β2^t) + δ
            denoms = torch._foreach_sqrt(dev_exp_avg_sqs)
            torch._foreach_div_(denoms, [(1 - beta2**t) ** 0.5 for t in ts])
            torch._foreach_add_(denoms, eps)
            # θ ← θ - ε (1 - μ_t) / (1 - Π_t) g_t / (√v̂_t + δ)
            grad_steps = [-(lr * (1.0 - mu) / (1.0 - pi)) for mu, pi in zip(mus, products, strict=True)]
            torch._foreach_addcdiv_(dev_params, dev_grads, denoms, grad_steps)
            # θ ← θ - ε μ_{t+1} / (1 - Π_t μ_{t+1}) m_t / (√v̂_t + δ)
            avg_steps = [-(lr * mn / (1.0 - pi * mn)) for mn, pi in zip(mu_nexts, products, strict=True)]
            torch._foreach_addcdiv_(dev_params, dev_exp_avgs, denoms, avg_steps)
