"""Adagrad (Duchi, Hazan & Singer, 2011), by hand: the twin of :class:`torch.optim.Adagrad`."""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT

from c147._compat import _get_scalar_dtype
from c147.optim._base import TwinOptimizer, check_lr, check_non_negative, check_steps, refuse_unimplemented, scalar
from c147.optim._base import use_foreach as _use_foreach
from c147.optim._docs import functional_doc, shared_docs
from c147.optim._foreach import chunked, foreach_grads
from c147.optim._fused import ScalarCache, check_fused, compiled, run_packed, split, step_counts, subset

__all__ = ["Adagrad", "adagrad"]


@shared_docs
class Adagrad(TwinOptimizer):
    r"""Adagrad: the learning rate of each coordinate divided by the root of its running sum of squared gradients.

    The sheet's rule, completed (``a`` the running sum of squares, ``ε`` the learning rate, ``ν`` = eps)::

        a = a + g ⊙ g
        θ = θ - ε / (√a + ν) ⊙ g

    torch's rule, implemented here (``γ`` = lr, ``η`` = lr_decay, ``λ`` = weight decay, ``τ`` = initial
    accumulator value)::

        a_0 = τ
        g_t = ∇f(θ_{t-1}) + λ θ_{t-1}                  # (-∇f when maximize)
        γ̃_t = γ / (1 + (t - 1) η)
        a_t = a_{t-1} + g_t ⊙ g_t                      # state["sum"]
        θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν)

    "If we've already stepped far in one direction, we'll step less in that direction in the future."

    Where the sheet is wrong (tests/optim/test_adagrad.py, ``test_sheet_erratum_adagrad_update``): its later
    box ``α ← α + g_t;  θ ← θ + ε / α g_t`` accumulates signed gradients (not their squares), has no square
    root and steps *up* the gradient: it is not Adagrad (on ``θ²/2`` it climbs away from the minimum).

    Like torch, the state (``step``, ``sum``) of every parameter is created when the optimizer is built, with
    the constructor's ``initial_accumulator_value`` for every group; a parameter added later with
    :meth:`add_param_group` gets its state on its first gradient, from ``defaults``. ``step`` counts the
    steps in which the parameter had a gradient.

    Args:
        {params}
        lr: learning rate ``γ`` (the sheet's ``ε``).
        lr_decay: ``η``, the learning rate at step ``t`` is ``γ / (1 + (t - 1) η)``.
        weight_decay: L2 penalty ``λ``, added to the gradient.
        initial_accumulator_value: ``τ``, the starting value of the sum of squares.
        eps: ``ν``, added to ``√a`` (outside the square root, like torch).
        {foreach}
        {maximize}
        {differentiable}
        {fused}

    {example}
    """

    example_hyper = "lr=0.1, lr_decay=0.01"  # the docstring's example

    unimplemented = ("differentiable",)
    group_defaults = dict(foreach=None, maximize=False, differentiable=False, fused=None)

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_lr(lr)
        check_non_negative(lr_decay=lr_decay, weight_decay=weight_decay)
        check_non_negative(initial_accumulator_value=initial_accumulator_value, epsilon=eps)
        check_fused(fused, foreach, differentiable)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        self._refuse_unimplemented(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                _init_state(self.state[p], p, initial_accumulator_value)

    def share_memory(self) -> None:
        """Move every ``sum`` tensor to shared memory (for Hogwild-style multiprocessing), like torch."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()

    def _init_group(
        self,
        group: dict,
        params: list[Tensor],
        grads: list[Tensor],
        state_sums: list[Tensor],
        state_steps: list[Tensor],
    ) -> tuple[bool, bool]:
        """Append the group's parameters with a gradient and their state to the lists; the state of a
        parameter added after construction is created here, from ``defaults`` (torch's rule). Returns
        whether a gradient is sparse and whether a parameter is complex."""
        has_sparse_grad, has_complex = False, False
        for p in group["params"]:
            if p.grad is None:
                continue
            has_sparse_grad |= p.grad.is_sparse
            has_complex |= torch.is_complex(p)
            state = self.state[p]
            if len(state) == 0:
                _init_state(state, p, self.defaults["initial_accumulator_value"])
            params.append(p)
            grads.append(p.grad)
            state_sums.append(state["sum"])
            state_steps.append(state["step"])
        return has_sparse_grad, has_complex

    def _step_group(self, group: dict) -> None:
        lists: tuple[list[Tensor], ...] = ([], [], [], [])
        has_sparse_grad, has_complex = self._init_group(group, *lists)
        adagrad(
            *lists,
            has_sparse_grad=has_sparse_grad,
            foreach=group["foreach"],
            fused=group["fused"],
            has_complex=has_complex,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            lr_decay=group["lr_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
        )


@functional_doc("adagrad", extra="""

    ``state_sums`` are the running sums of squared gradients, ``state_steps`` the step counts (CPU
    scalar tensors). ``has_sparse_grad``: whether a gradient is sparse (then the single-tensor path
    runs: foreach kernels take no sparse tensors).""")
def adagrad(
    params: list[Tensor],
    grads: list[Tensor],
    state_sums: list[Tensor],
    state_steps: list[Tensor],
    fused: bool | None = None,
    grad_scale: Tensor | None = None,
    found_inf: Tensor | None = None,
    has_sparse_grad: bool = False,
    foreach: bool | None = None,
    differentiable: bool = False,
    has_complex: bool = False,
    *,
    lr: float | Tensor,
    weight_decay: float,
    lr_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    if fused and params:  # torch's messages (torch refuses complex parameters too; c147 takes them)
        if has_sparse_grad:
            raise RuntimeError("`fused` does not support sparse grad or complex param")
        if differentiable:
            raise RuntimeError("adagrad with fused=True does not support differentiable=True")
    switches = dict(differentiable=differentiable)
    refuse_unimplemented("adagrad", dict(switches, grad_scale=grad_scale is not None, found_inf=found_inf is not None))
    check_steps(state_steps)
    if fused:  # fused wins over foreach, as in torch
        step = _fused_adagrad
    elif _use_foreach(foreach, params) and not has_sparse_grad:
        step = _multi_tensor_adagrad
    else:
        step = _single_tensor_adagrad
    step(
        params,
        grads,
        state_sums,
        state_steps,
        has_complex=has_complex,
        lr=lr,
        weight_decay=weight_decay,
        lr_decay=lr_decay,
        eps=eps,
        maximize=maximize,
    )


def _single_tensor_adagrad(
    params: list[Tensor],
    grads: list[Tensor],
    state_sums: list[Tensor],
    state_steps: list[Tensor],
    *,
    has_complex: bool,
    lr: float | Tensor,
    weight_decay: float,
    lr_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """One tensor at a time, the update written as the equations (also the path for sparse gradients)."""
    lr_now = scalar(lr)  # γ̃ when η = 0
    for param, grad, state_sum, step_t in zip(params, grads, state_sums, state_steps, strict=True):
        # t = t + 1
        step_t += 1
        if maximize:
            # g_t = -∇f(θ_{t-1})  (ascend)
            grad = -grad
        if weight_decay != 0:
            if grad.is_sparse:
                raise RuntimeError("weight_decay option is not compatible with sparse gradients")
            # g_t = g_t + λ θ_{t-1}
            grad = grad.add(param, alpha=weight_decay)
        # γ̃_t = γ / (1 + (t - 1) η)  (no read of t when η = 0)
        clr = _decayed_lr(lr, step_t, lr_decay) if lr_decay != 0 else lr_now
        if grad.is_sparse:
            _sparse_update(param, grad, state_sum, clr, eps)
            continue
        if torch.is_complex(param):  # real and imaginary parts are separate coordinates
            param, grad, state_sum = (torch.view_as_real(t) for t in (param, grad, state_sum))
        # a_t = a_{t-1} + g_t ⊙ g_t
        state_sum.addcmul_(grad, grad)
        # θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν)
        param.addcdiv_(grad, state_sum.sqrt().add_(eps), value=-clr)


def _multi_tensor_adagrad(
    params: list[Tensor],
    grads: list[Tensor],
    state_sums: list[Tensor],
    state_steps: list[Tensor],
    *,
    has_complex: bool,
    lr: float | Tensor,
    weight_decay: float,
    lr_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """The same update on lists of tensors, one ``torch._foreach_*`` call per line, per device and dtype
    (and on CPU per cache-sized chunk, :func:`~c147.optim._foreach.chunked`)."""
    if not params:
        return
    grouped = Optimizer._group_tensors_by_device_and_dtype([params, grads, state_sums, state_steps])
    for lists, _ in grouped.values():
        for dev_params, dev_grads, dev_sums, dev_steps in chunked(lists):
            # t = t + 1  (steps are CPU scalars: a tensor 1 takes the fast overload, a Python 1 is wrapped per step)
            torch._foreach_add_(dev_steps, torch.tensor(1.0), alpha=1.0)
            if has_complex and dev_params[0].is_complex():  # real and imaginary parts are separate coordinates
                dev_params, dev_grads, dev_sums = (
                    [torch.view_as_real(t) for t in ts] for ts in (dev_params, dev_grads, dev_sums)
                )
            # g_t = ±∇f(θ_{t-1}) + λ θ_{t-1}
            dev_grads = foreach_grads(dev_grads, dev_params, weight_decay, maximize)
            # a_t = a_{t-1} + g_t ⊙ g_t
            torch._foreach_addcmul_(dev_sums, dev_grads, dev_grads)
            # √a_t + ν
            std = torch._foreach_sqrt(dev_sums)
            torch._foreach_add_(std, eps)
            # θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν),  γ̃_t = γ / (1 + (t - 1) η)
            if lr_decay == 0:
                torch._foreach_addcdiv_(dev_params, dev_grads, std, value=-scalar(lr))
            else:
                minus_clr = [-_decayed_lr(lr, t, lr_decay) for t in dev_steps]
                torch._foreach_addcdiv_(dev_params, dev_grads, std, minus_clr)


@compiled
def adagrad_kernel(
    param: Tensor, grad: Tensor, state_sum: Tensor, minus_clr: Tensor, *, weight_decay: float, eps: float,
    maximize: bool,
) -> None:
    """One Adagrad step of one (flat, real) tensor, :func:`_single_tensor_adagrad`'s lines, for ``torch.compile``
    to fuse into one pass. ``minus_clr = -γ / (1 + (t - 1) η)``: a 0-d tensor, so a new lr or step is no
    recompilation."""
    if maximize:
        # g_t = -∇f(θ_{t-1})
        grad = -grad
    if weight_decay != 0:
        # g_t = g_t + λ θ_{t-1}
        grad = grad.add(param, alpha=weight_decay)
    # a_t = a_{t-1} + g_t ⊙ g_t
    state_sum.addcmul_(grad, grad)
    # θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν)   (addcdiv_ takes no tensor value: the product written out)
    param.add_(grad / (state_sum.sqrt() + eps) * minus_clr)


def _fused_adagrad(
    params: list[Tensor],
    grads: list[Tensor],
    state_sums: list[Tensor],
    state_steps: list[Tensor],
    *,
    has_complex: bool,
    lr: float | Tensor,
    weight_decay: float,
    lr_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """c147's fused path: :func:`adagrad_kernel`, compiled, on the parameters of at least ``FUSED_MIN_NUMEL``
    elements, ``HORIZONTAL`` per call (c147.optim._fused); the others in one :func:`_multi_tensor_adagrad` call, on
    flat buffers (:func:`~c147.optim._fused.run_packed`)."""
    if not params:
        return
    fused, rest = split(params, grads, state_sums)
    hyper = dict(lr=lr, weight_decay=weight_decay, lr_decay=lr_decay, eps=eps, maximize=maximize)
    if rest:
        run = functools.partial(_multi_tensor_adagrad, has_complex=has_complex, **hyper)
        run_packed(run, subset([params, grads, state_sums, state_steps], rest), steps_at=3)
    scalars = ScalarCache()
    rows = []
    for (i, (param, grad, state_sum)), t in zip(fused, step_counts(state_steps, [i for i, _ in fused]), strict=True):
        # -γ̃_t = -γ / (1 + (t - 1) η)
        minus_clr = scalars(param, t, lambda i=i: (-_decayed_lr(lr, state_steps[i], lr_decay),))
        rows.append(((param, grad, state_sum), minus_clr))
    adagrad_kernel.many(rows, weight_decay=weight_decay, eps=eps, maximize=maximize)


def _init_state(state: dict[str, Tensor], p: Tensor, initial_accumulator_value: float) -> None:
    """``step = 0`` (a CPU scalar of torch's scalar dtype) and ``sum = τ`` (``τ + τi`` for complex ``p``)."""
    state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype())
    tau = initial_accumulator_value
    fill = complex(tau, tau) if p.is_complex() else tau
    state["sum"] = torch.full_like(p, fill, memory_format=torch.preserve_format)


def _sparse_update(param: Tensor, grad: Tensor, state_sum: Tensor, clr: float, eps: float) -> None:
    """The update on the rows a sparse gradient touches (an ``nn.Embedding(sparse=True)`` gradient)."""
    grad = grad.coalesce()  # the update is not linear in g: each index once (so the indices below are valid)
    indices, values = grad._indices(), grad._values()
    # a_t = a_{t-1} + g_t ⊙ g_t  (on the touched entries)
    state_sum.add_(torch.sparse_coo_tensor(indices, values.pow(2), grad.size(), check_invariants=False))
    # √a_t + ν  (on the touched entries)
    std = state_sum.sparse_mask(grad)._values().sqrt_().add_(eps)
    # θ_t = θ_{t-1} - γ̃_t g_t / (√a_t + ν)
    param.add_(torch.sparse_coo_tensor(indices, values / std, grad.size(), check_invariants=False), alpha=-clr)


def _decayed_lr(lr: float | Tensor, step: Tensor, lr_decay: float) -> float:
    """γ̃_t = γ / (1 + (t - 1) η), computed in lr's own precision when lr is a tensor, as torch does."""
    clr = lr / (1 + (step.item() - 1) * lr_decay)
    return clr.item() if isinstance(clr, Tensor) else clr
