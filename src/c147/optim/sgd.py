"""Stochastic gradient descent with momentum and Nesterov momentum, by hand: the twin of :class:`torch.optim.SGD`."""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT

from c147.optim._base import TwinOptimizer, check_lr, check_non_negative, refuse_unimplemented, scalar
from c147.optim._base import use_foreach as _use_foreach
from c147.optim._docs import functional_doc, shared_docs
from c147.optim._foreach import chunked, foreach_grads
from c147.optim._fused import ScalarCache, check_fused, compiled, run_packed, split, subset

__all__ = ["SGD", "sgd"]


@shared_docs
class SGD(TwinOptimizer):
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
        {params}
        lr: learning rate ``γ`` (the sheet's ``ε``).
        momentum: momentum factor ``μ`` (the sheet's ``α``).
        dampening: ``τ``, scales the gradient by ``1 - τ`` in the buffer from the second step on.
        weight_decay: L2 penalty ``λ``, added to the gradient before momentum.
        nesterov: Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
        {maximize}
        {foreach}
        {differentiable}
        {fused}

    {example}
    """

    example_hyper = "lr=0.1, momentum=0.9, nesterov=True"  # the docstring's example

    unimplemented = ("differentiable",)
    group_defaults = dict(nesterov=False, maximize=False, foreach=None, differentiable=False, fused=False)

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
        check_lr(lr)
        check_non_negative(momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        check_fused(fused, foreach, differentiable)
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

    def _init_group(
        self, group: dict, params: list[Tensor], grads: list[Tensor], momentum_buffer_list: list[Tensor | None]
    ) -> bool:
        """Append the group's parameters with a gradient, their gradients and momentum buffers (``None``
        before the first step with momentum) to the lists. Returns whether a gradient is sparse."""
        has_sparse_grad = False
        for p in group["params"]:
            if p.grad is None:
                continue
            params.append(p)
            grads.append(p.grad)
            has_sparse_grad |= p.grad.is_sparse
            if group["momentum"] != 0:
                momentum_buffer_list.append(self.state[p].get("momentum_buffer"))
        return has_sparse_grad

    def _step_group(self, group: dict) -> None:
        params, grads, momentum_buffer_list = [], [], []
        has_sparse_grad = self._init_group(group, params, grads, momentum_buffer_list)
        sgd(
            params,
            grads,
            momentum_buffer_list,
            has_sparse_grad=has_sparse_grad,
            foreach=group["foreach"],
            fused=group["fused"],
            weight_decay=group["weight_decay"],
            momentum=group["momentum"],
            lr=group["lr"],
            dampening=group["dampening"],
            nesterov=group["nesterov"],
            maximize=group["maximize"],
        )
        if group["momentum"] != 0:  # the buffers created on this step (b_1 = g_1) into the state
            for p, buf in zip(params, momentum_buffer_list, strict=True):
                self.state[p]["momentum_buffer"] = buf


@functional_doc("sgd", extra="""

    ``d_p_list`` are the gradients; ``momentum_buffer_list`` holds ``None`` for a parameter without a
    buffer yet (its first step with momentum), replaced in place by the new buffer. ``has_sparse_grad``:
    whether a gradient is sparse (then the single-tensor path runs: foreach kernels take no sparse
    tensors).""")
def sgd(
    params: list[Tensor],
    d_p_list: list[Tensor],
    momentum_buffer_list: list[Tensor | None],
    has_sparse_grad: bool = False,
    foreach: bool | None = None,
    fused: bool | None = None,
    grad_scale: Tensor | None = None,
    found_inf: Tensor | None = None,
    *,
    weight_decay: float,
    momentum: float,
    lr: float | Tensor,
    dampening: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    refuse_unimplemented("sgd", dict(grad_scale=grad_scale is not None, found_inf=found_inf is not None))
    if momentum != 0 and len(momentum_buffer_list) != len(params):
        raise ValueError(
            f"sgd: expected one momentum buffer (or None) per parameter, got {len(momentum_buffer_list)} "
            f"for {len(params)} parameters"
        )
    if fused:  # fused wins over foreach, as in torch
        if has_sparse_grad and params:  # torch's message
            raise RuntimeError("`_fused_sgd` does not support sparse gradients")
        step = _fused_sgd
    elif _use_foreach(foreach, params) and not has_sparse_grad:
        step = _multi_tensor_sgd
    else:
        step = _single_tensor_sgd
    step(
        params,
        d_p_list,
        momentum_buffer_list,
        weight_decay=weight_decay,
        momentum=momentum,
        lr=scalar(lr),
        dampening=dampening,
        nesterov=nesterov,
        maximize=maximize,
    )


def _single_tensor_sgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffer_list: list[Tensor | None],
    *,
    weight_decay: float,
    momentum: float,
    lr: float,
    dampening: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """One tensor at a time, the update written as the equations (also the path for sparse gradients)."""
    for i, param in enumerate(params):
        grad = grads[i]
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
        buf = momentum_buffer_list[i]
        if buf is None:
            # b_1 = g_1
            buf = momentum_buffer_list[i] = grad.detach().clone()
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


def _multi_tensor_sgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffer_list: list[Tensor | None],
    *,
    weight_decay: float,
    momentum: float,
    lr: float,
    dampening: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """The same update on lists of tensors, one ``torch._foreach_*`` call per line, per device and dtype
    (and on CPU per cache-sized chunk, :func:`~c147.optim._foreach.chunked`)."""
    if not params:
        return
    bufs = momentum_buffer_list if momentum != 0 else [None] * len(params)
    grouped = Optimizer._group_tensors_by_device_and_dtype([params, grads, bufs], with_indices=True)
    for (dev_params, dev_grads, dev_bufs), indices in grouped.values():
        for p_chunk, g_chunk, b_chunk, i_chunk in chunked([dev_params, dev_grads, dev_bufs, indices]):
            _sgd_chunk(
                p_chunk,
                g_chunk,
                b_chunk,
                i_chunk,
                momentum_buffer_list,
                weight_decay=weight_decay,
                momentum=momentum,
                lr=lr,
                dampening=dampening,
                nesterov=nesterov,
                maximize=maximize,
            )


def _sgd_chunk(
    dev_params: list[Tensor],
    dev_grads: list[Tensor],
    dev_bufs: list[Tensor | None],
    indices: list[int],
    momentum_buffer_list: list[Tensor | None],
    *,
    weight_decay: float,
    momentum: float,
    lr: float,
    dampening: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """:func:`_multi_tensor_sgd` on tensors of one device and dtype; a new buffer goes to
    ``momentum_buffer_list[indices[i]]``."""
    if momentum == 0:  # θ_t = θ_{t-1} - γ (±∇f + λ θ_{t-1}), the sign and λ folded into scalars
        if weight_decay != 0:
            # θ ← θ_{t-1} - γ λ θ_{t-1}  (in place: no list of g + λ θ to allocate)
            torch._foreach_add_(dev_params, dev_params, alpha=-lr * weight_decay)
        # θ_t = θ - γ ∇f  (θ + γ ∇f when maximize)
        torch._foreach_add_(dev_params, dev_grads, alpha=lr if maximize else -lr)
        return
    # g_t = ±∇f(θ_{t-1}) + λ θ_{t-1}
    dev_grads = foreach_grads(dev_grads, dev_params, weight_decay, maximize)
    if all(b is not None for b in dev_bufs):
        # b_t = μ b_{t-1} + (1 - τ) g_t
        torch._foreach_mul_(dev_bufs, momentum)
        torch._foreach_add_(dev_bufs, dev_grads, alpha=1 - dampening)
    else:  # a first step for some: b_1 = g_1 there
        dev_bufs = list(dev_bufs)
        for i, (g, b) in enumerate(zip(dev_grads, dev_bufs, strict=True)):
            if b is None:
                dev_bufs[i] = momentum_buffer_list[indices[i]] = g.detach().clone()
            else:
                b.mul_(momentum).add_(g, alpha=1 - dampening)
    if nesterov:
        # θ_t = θ_{t-1} - γ g_t - γ μ b_t
        torch._foreach_add_(dev_params, dev_grads, alpha=-lr)
        torch._foreach_add_(dev_params, dev_bufs, alpha=-lr * momentum)
    else:
        # θ_t = θ_{t-1} - γ b_t
        torch._foreach_add_(dev_params, dev_bufs, alpha=-lr)


@compiled
def sgd_kernel(
    param: Tensor,
    grad: Tensor,
    buf: Tensor | None,
    lr: Tensor,
    *,
    weight_decay: float,
    momentum: float,
    dampening: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """One SGD step of one (flat, real) tensor after its first (``buf`` exists when ``momentum != 0``),
    :func:`_single_tensor_sgd`'s lines, for ``torch.compile`` to fuse into one pass. ``lr``: a 0-d tensor, so
    a new lr is no recompilation."""
    if maximize:
        # g_t = -∇f(θ_{t-1})
        grad = -grad
    if weight_decay != 0:
        # g_t = g_t + λ θ_{t-1}
        grad = grad.add(param, alpha=weight_decay)
    if momentum != 0:
        assert buf is not None
        # b_t = μ b_{t-1} + (1 - τ) g_t
        buf.mul_(momentum).add_(grad, alpha=1 - dampening)
        # θ_t = θ_{t-1} - γ (g_t + μ b_t)  (nesterov), θ_{t-1} - γ b_t  (momentum)
        grad = grad.add(buf, alpha=momentum) if nesterov else buf
    # θ_t = θ_{t-1} - γ g_t
    param.sub_(grad * lr)


def _fused_sgd(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffer_list: list[Tensor | None],
    *,
    weight_decay: float,
    momentum: float,
    lr: float,
    dampening: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """c147's fused path: :func:`sgd_kernel`, compiled, on the parameters of at least ``FUSED_MIN_NUMEL``
    elements (c147.optim._fused) that have their momentum buffer, ``HORIZONTAL`` per call; the others (small ones,
    and first steps with momentum: ``b_1 = g_1``) in one :func:`_multi_tensor_sgd` call, on flat buffers
    (:func:`~c147.optim._fused.run_packed`) once the buffers exist."""
    if not params:
        return
    fused, rest = split(params, grads, *([momentum_buffer_list] if momentum != 0 else []))
    # a tensor weight decay (SGD takes one) as a number: the kernel specializes on it (λ = 0 or not)
    hyper = dict(weight_decay=scalar(weight_decay), momentum=momentum, dampening=dampening, nesterov=nesterov,
                 maximize=maximize)
    if rest:
        rest_params, rest_grads, rest_bufs = subset([params, grads, momentum_buffer_list], rest)
        if momentum != 0 and any(buf is None for buf in rest_bufs):  # a first step: b_1 = g_1, by the foreach path
            _multi_tensor_sgd(rest_params, rest_grads, rest_bufs, lr=lr, **hyper)
            for i, buf in zip(rest, rest_bufs, strict=True):  # back into the caller's list
                momentum_buffer_list[i] = buf
        else:  # (without momentum no state: the path ignores its buffer list)
            run = functools.partial(_multi_tensor_sgd, lr=lr, **hyper)
            run_packed(run, [rest_params, rest_grads, rest_bufs if momentum != 0 else []])
    scalars = ScalarCache()
    rows = []
    for _, (param, grad, *buf) in fused:
        rows.append(((param, grad, buf[0] if buf else None), scalars(param, None, lambda: (lr,))))
    sgd_kernel.many(rows, **hyper)
