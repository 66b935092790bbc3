"""Adam (Kingma & Ba, 2015), by hand: the twin of :class:`torch.optim.Adam`."""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer, ParamsT

from c147._compat import _get_scalar_dtype, _view_as_real
from c147.optim._base import TwinOptimizer, check_lr, check_non_negative, check_steps, refuse_unimplemented, scalar
from c147.optim._base import use_foreach as _use_foreach
from c147.optim._docs import functional_doc, shared_docs
from c147.optim._foreach import chunked, foreach_grads
from c147.optim._fused import ScalarCache, check_fused, compiled, run_packed, split, step_counts, subset

__all__ = ["Adam", "adam"]


@shared_docs
class Adam(TwinOptimizer):
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
        {params}
        lr: learning rate ``ε``.
        betas: ``(β1, β2)``, decay rates of the first and second moment averages.
        eps: ``δ``, added to ``√v̂`` (outside the square root, like torch).
        weight_decay: L2 penalty ``λ`` (decoupled when ``decoupled_weight_decay``).
        amsgrad: use the running maximum of ``v_t`` (Reddi et al., 2018).
        {foreach}
        {maximize}
        {capturable}
        {differentiable}
        {fused}
        decoupled_weight_decay: AdamW's weight decay.

    {example}
    """

    example_hyper = "lr=0.1, amsgrad=True"  # the docstring's example

    unimplemented = ("capturable", "differentiable")
    group_defaults = dict(
        amsgrad=False,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    )

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
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
        check_lr(lr)
        check_non_negative(epsilon=eps)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        check_non_negative(weight_decay=weight_decay)
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
        check_fused(fused, foreach, differentiable)
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

    def _init_group(
        self,
        group: dict,
        params: list[Tensor],
        grads: list[Tensor],
        exp_avgs: list[Tensor],
        exp_avg_sqs: list[Tensor],
        max_exp_avg_sqs: list[Tensor],
        state_steps: list[Tensor],
    ) -> bool:
        """Append the group's parameters with a gradient and their state to the lists; create the state
        on a parameter's first gradient (torch's keys, ``step`` a CPU scalar tensor). Returns whether a
        parameter is complex."""
        has_complex = False
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("Adam does not support sparse gradients, please consider SparseAdam instead")
            has_complex |= torch.is_complex(p)
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=_get_scalar_dtype())
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if group["amsgrad"]:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
            state_steps.append(state["step"])
        return has_complex

    def _step_group(self, group: dict) -> None:
        lists: tuple[list[Tensor], ...] = ([], [], [], [], [], [])
        has_complex = self._init_group(group, *lists)
        beta1, beta2 = group["betas"]
        adam(
            *lists,
            foreach=group["foreach"],
            fused=group["fused"],
            has_complex=has_complex,
            decoupled_weight_decay=group["decoupled_weight_decay"],
            amsgrad=group["amsgrad"],
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"],
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
        )


@functional_doc(
    "adam",
    extra="""

    Example:
        >>> import torch
        >>> from torch.optim.adam import adam as torch_adam
        >>> def lists():  # a parameter, its gradient, and fresh state: m, v, (no v_max), step
        ...     return [torch.ones(3)], [torch.tensor([0.1, -1.0, 10.0])], [torch.zeros(3)], [torch.zeros(3)], [], [
        ...         torch.tensor(0.0)]
        >>> hyper = dict(amsgrad=False, beta1=0.9, beta2=0.999, lr=0.1, weight_decay=0.0, eps=1e-8, maximize=False)
        >>> ours, theirs = lists(), lists()
        >>> adam(*ours, **hyper)
        >>> torch_adam(*theirs, **hyper)
        >>> ours[0][0]  # the first step moves every coordinate by lr against its gradient's sign
        tensor([0.9000, 1.1000, 0.9000])
        >>> torch.equal(ours[0][0], theirs[0][0])
        True""",
)
def adam(
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
    decoupled_weight_decay: bool = False,
    *,
    amsgrad: bool,
    beta1: float | Tensor,
    beta2: float | Tensor,
    lr: float | Tensor,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    if fused and differentiable:  # torch's message
        raise RuntimeError("Adam with fused=True does not support differentiable=True")
    switches = dict(capturable=capturable, differentiable=differentiable)
    refuse_unimplemented("adam", dict(switches, grad_scale=grad_scale is not None, found_inf=found_inf is not None))
    check_steps(state_steps)
    if foreach is None:  # torch's default, except that a tensor lr keeps the single-tensor path
        foreach = _use_foreach(None, params) and not isinstance(lr, Tensor)
    elif foreach and not fused and isinstance(lr, Tensor):  # as torch (which supports it only with capturable=True)
        raise RuntimeError("lr as a Tensor is not supported for capturable=False and foreach=True")
    # fused wins over foreach, as in torch (its kernel takes the lr as a tensor in any case)
    step = _fused_adam if fused else _multi_tensor_adam if foreach else _single_tensor_adam
    step(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        max_exp_avg_sqs,
        state_steps,
        has_complex=has_complex,
        amsgrad=amsgrad,
        beta1=scalar(beta1),
        beta2=scalar(beta2),
        lr=scalar(lr),
        weight_decay=weight_decay,
        eps=eps,
        maximize=maximize,
        decoupled_weight_decay=decoupled_weight_decay,
    )


def _single_tensor_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    *,
    has_complex: bool,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """The readable path: the sheet's equations, one parameter at a time."""
    one = torch.ones(())  # t ← t + 1 with a tensor operand: 3x cheaper than wrapping the 1 every time
    for i, p in enumerate(params):
        grad, exp_avg, exp_avg_sq = grads[i], exp_avgs[i], exp_avg_sqs[i]
        # t ← t + 1   (a CPU tensor, as in torch: reading it back is no device sync)
        t = state_steps[i].add_(one).item()
        if maximize:
            grad = -grad
        if weight_decay != 0:
            if decoupled_weight_decay:
                # θ ← (1 - ε λ) θ   (decoupled, AdamW)
                p.mul_(1 - lr * weight_decay)
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
            v_max = max_exp_avg_sqs[i]
            v_max = torch.view_as_real(v_max) if torch.is_complex(v_max) else v_max
            # v_max = max(v_max, v_t), used in place of v_t below
            torch.maximum(v_max, exp_avg_sq, out=v_max)
            exp_avg_sq = v_max
        # √v̂_t + δ = √v_t / √(1 - β2^t) + δ
        denom = exp_avg_sq.sqrt().div_((1 - beta2**t) ** 0.5).add_(eps)
        # θ_t = θ_{t-1} - ε m̂_t / (√v̂_t + δ),  m̂_t = m_t / (1 - β1^t) folded into the scalar
        p.addcdiv_(exp_avg, denom, value=-(lr / (1 - beta1**t)))


def _multi_tensor_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    *,
    has_complex: bool,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """The fast path: the same equations as ``torch._foreach_*`` calls, per device and dtype (and on
    CPU per cache-sized chunk, :func:`~c147.optim._foreach.chunked`)."""
    if not params:
        return
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps]
    )
    for tensor_lists, _ in grouped.values():
        if has_complex:  # real and imaginary parts as independent coordinates, like torch
            _view_as_real(*tensor_lists[:4], *tensor_lists[4:5] if amsgrad else [])
        for dev_params, dev_grads, dev_exp_avgs, dev_exp_avg_sqs, dev_max_exp_avg_sqs, dev_steps in chunked(
            tensor_lists
        ):
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
            del dev_grads
            if amsgrad:
                # v_max = max(v_max, v_t)
                torch._foreach_maximum_(dev_max_exp_avg_sqs, dev_exp_avg_sqs)
                dev_exp_avg_sqs = dev_max_exp_avg_sqs
            step_sizes, bias_correction2_sqrts = _bias_corrections(dev_steps, lr, beta1, beta2)
            # √v̂_t + δ = √v_t / √(1 - β2^t) + δ
            denoms = torch._foreach_sqrt(dev_exp_avg_sqs)
            torch._foreach_div_(denoms, bias_correction2_sqrts)
            torch._foreach_add_(denoms, eps)
            # θ_t = θ_{t-1} - ε m̂_t / (√v̂_t + δ),  m̂_t = m_t / (1 - β1^t) folded into the scalar
            torch._foreach_addcdiv_(dev_params, dev_exp_avgs, denoms, step_sizes)


@compiled
def adam_kernel(
    p: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    max_exp_avg_sq: Tensor | None,
    decay: Tensor,
    step_size: Tensor,
    bias_correction2_sqrt: Tensor,
    *,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """One Adam step of one (flat, real) tensor, :func:`_single_tensor_adam`'s lines, for ``torch.compile`` to
    fuse into one pass. ``decay = 1 - ε λ``, ``step_size = -ε / (1 - β1^t)``, ``bias_correction2_sqrt =
    √(1 - β2^t)``: 0-d tensors, so a new lr or step is no recompilation."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            # θ ← (1 - ε λ) θ
            p.mul_(decay)
        else:
            # g ← g + λ θ
            grad = grad.add(p, alpha=weight_decay)
    # m_t = β1 m_{t-1} + (1 - β1) g_t
    exp_avg.lerp_(grad, 1 - beta1)
    # v_t = β2 v_{t-1} + (1 - β2) g_t ⊙ g_t
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    if amsgrad:
        assert max_exp_avg_sq is not None
        # v_max = max(v_max, v_t)
        max_exp_avg_sq.copy_(torch.maximum(max_exp_avg_sq, exp_avg_sq))
        exp_avg_sq = max_exp_avg_sq
    # √v̂_t + δ = √v_t / √(1 - β2^t) + δ
    denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + eps
    # θ_t = θ_{t-1} - ε m̂_t / (√v̂_t + δ)   (addcdiv_ takes no tensor value: the product written out)
    p.add_(exp_avg / denom * step_size)


def _fused_adam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    state_steps: list[Tensor],
    *,
    has_complex: bool,
    amsgrad: bool,
    beta1: float,
    beta2: float,
    lr: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """c147's fused path: :func:`adam_kernel`, compiled, on the parameters of at least ``FUSED_MIN_NUMEL``
    elements, ``HORIZONTAL`` per call (c147.optim._fused); the others in one :func:`_multi_tensor_adam` call, on flat
    buffers (:func:`~c147.optim._fused.run_packed`)."""
    if not params:
        return
    lists = [params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps]
    fused, rest = split(params, grads, exp_avgs, exp_avg_sqs, *([max_exp_avg_sqs] if amsgrad else []))
    hyper = dict(beta1=beta1, beta2=beta2, lr=lr, weight_decay=weight_decay, eps=eps, maximize=maximize)
    if rest:
        run = functools.partial(
            _multi_tensor_adam, has_complex=has_complex, amsgrad=amsgrad,
            decoupled_weight_decay=decoupled_weight_decay, **hyper,
        )
        run_packed(run, subset(lists, rest), steps_at=5)
    scalars = ScalarCache()
    rows = []
    for (_, views), t in zip(fused, step_counts(state_steps, [i for i, _ in fused]), strict=True):
        p, grad, exp_avg, exp_avg_sq, *max_exp_avg_sq = views
        # (decay, step_size, bias_correction2_sqrt), one tuple for the parameters at the same step
        per_step = scalars(p, t, lambda t=t: (1 - lr * weight_decay, -(lr / (1 - beta1**t)), (1 - beta2**t) ** 0.5))
        rows.append(((p, grad, exp_avg, exp_avg_sq, max_exp_avg_sq[0] if amsgrad else None), per_step))
    adam_kernel.many(rows, amsgrad=amsgrad, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps,
                     maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)


def _bias_corrections(
    steps: list[Tensor], lr: float, beta1: float, beta2: float
) -> tuple[float | list[float], float | list[float]]:
    """``-ε / (1 - β1^t)`` and ``√(1 - β2^t)`` per tensor; one scalar each when every ``t`` is the same."""
    ts = [s.item() for s in steps]  # CPU scalars: no device sync
    if ts.count(ts[0]) == len(ts):
        t = ts[0]
        return -(lr / (1 - beta1**t)), (1 - beta2**t) ** 0.5
    return [-(lr / (1 - beta1**t)) for t in ts], [(1 - beta2**t) ** 0.5 for t in ts]
