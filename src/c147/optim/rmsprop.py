"""RMSprop (Hinton's lecture 6e; centered: Graves, 2013), by hand: the twin of :class:`torch.optim.RMSprop`."""

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

__all__ = ["RMSprop", "rmsprop"]


@shared_docs
class RMSprop(TwinOptimizer):
    r"""RMSprop: Adagrad whose accumulator of squared gradients is an exponential moving average.

    The sheet's rules (``a`` is ``square_avg``, ``β`` is ``alpha``, ``ε`` is ``lr``, ``ν`` is ``eps``)::

        a = β a + (1 - β) g ⊙ g
        θ = θ - ε / (√a + ν) ⊙ g                       # momentum = 0

    RMSprop + momentum (``momentum = α > 0``)::

        V = α V - ε / (√a + ν) ⊙ g,   θ = θ + V

    which is torch's form with ``V = -ε b``: ``b = α b + g / (√a + ν)``, ``θ = θ - ε b`` (the buffer ``b``
    is ``momentum_buffer``; the two agree (up to rounding) while ``ε`` is constant; with a changing ``ε`` torch's form
    rescales the past steps by the new ``ε``).

    RMSprop + Nesterov momentum (``nesterov=True``, c147's extension: the sheet's "can also use nesterov";
    torch.optim.RMSprop has none). The sheet's Nesterov step, on the normalized gradient ``ĝ = g / (√a + ν)``::

        V' = V,   V = α V - ε ĝ,   θ = θ + V + α (V - V')

    Written with ``V = -ε b`` as above, ``θ += (1 + α) V - α V' = -ε ((1 + α) b - α b')``, and since
    ``b = α b' + ĝ``, ``(1 + α) b - α b' = α b + ĝ``: the look-ahead form torch's SGD uses for ``nesterov``::

        b = α b + g / (√a + ν),   θ = θ - ε (α b + g / (√a + ν))

    (equal to the sheet's while ``ε`` is constant, as above). It needs ``momentum > 0``.

    ``centered`` normalizes by an estimate of the standard deviation instead of the root mean square:
    ``ḡ = β ḡ + (1 - β) g``, ``√(a - ḡ ⊙ ḡ) + ν``.
    ``weight_decay`` adds ``λ θ`` to ``g``; ``maximize`` ascends. The sheet's ``β = 0.97`` is an example;
    torch's default ``alpha`` is 0.99. Like the sheet, ``ν`` sits outside the square root (TensorFlow puts
    it inside).

    Args:
        {params}
        lr: learning rate ``ε``.
        alpha: smoothing constant ``β`` of the average of squared gradients.
        eps: ``ν``, added to ``√a``.
        weight_decay: L2 penalty ``λ``.
        momentum: momentum factor ``α``.
        centered: normalize by the centered second moment (an estimate of the gradient's variance).
        {capturable}
        {foreach}
        {maximize}
        {differentiable}
        {fused}
            ``fused`` is c147's addition: torch.optim.RMSprop has no fused variant (keyword-only, after
            torch's arguments).
        nesterov: Nesterov momentum (needs ``momentum > 0``): c147's addition, keyword-only, last.

    {example}
    """

    example_hyper = "lr=0.01, momentum=0.9, centered=True"  # the docstring's example

    unimplemented = ("capturable", "differentiable")
    group_defaults = dict(
        momentum=0, centered=False, foreach=None, maximize=False, differentiable=False, capturable=False, fused=None,
        nesterov=False,  # c147's: absent from torch's state_dicts
    )

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
        *,
        fused: bool | None = None,  # c147's addition (torch.optim.RMSprop has none)
        nesterov: bool = False,  # c147's addition, the sheet's "can also use nesterov"
    ) -> None:
        check_lr(lr)
        check_non_negative(epsilon=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        if nesterov and momentum <= 0:
            raise ValueError(f"Nesterov momentum requires a momentum > 0, got momentum={momentum}")
        check_fused(fused, foreach, differentiable)
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
            fused=fused,
            nesterov=nesterov,
        )
        self._refuse_unimplemented(defaults)
        super().__init__(params, defaults)

    def _init_group(
        self,
        group: dict,
        params: list[Tensor],
        grads: list[Tensor],
        square_avgs: list[Tensor],
        grad_avgs: list[Tensor],
        momentum_buffer_list: list[Tensor],
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
                raise RuntimeError("RMSprop does not support sparse gradients")
            has_complex |= torch.is_complex(p)
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.zeros((), dtype=_get_scalar_dtype())
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["momentum"] > 0:
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if group["centered"]:
                    state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            square_avgs.append(state["square_avg"])
            state_steps.append(state["step"])
            if group["momentum"] > 0:
                momentum_buffer_list.append(state["momentum_buffer"])
            if group["centered"]:
                grad_avgs.append(state["grad_avg"])
        return has_complex

    def _step_group(self, group: dict) -> None:
        lists: tuple[list[Tensor], ...] = ([], [], [], [], [], [])
        has_complex = self._init_group(group, *lists)
        rmsprop(
            *lists,
            foreach=group["foreach"],
            maximize=group["maximize"],
            has_complex=has_complex,
            fused=group["fused"],
            lr=group["lr"],
            alpha=group["alpha"],
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            momentum=group["momentum"],
            centered=group["centered"],
            nesterov=group["nesterov"],
        )


@functional_doc("rmsprop", extra="""

    ``grad_avgs`` is empty unless ``centered``, ``momentum_buffer_list`` empty unless ``momentum > 0``.
    ``fused``, ``nesterov``: c147's additions (keyword-only, after torch's arguments), as in :class:`RMSprop`.""")
def rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    grad_avgs: list[Tensor],
    momentum_buffer_list: list[Tensor],
    state_steps: list[Tensor],
    foreach: bool | None = None,
    maximize: bool = False,
    differentiable: bool = False,
    capturable: bool = False,
    has_complex: bool = False,
    *,
    lr: float | Tensor,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    fused: bool | None = None,
    nesterov: bool = False,
) -> None:
    if fused and differentiable:  # the message torch's fused functionals give
        raise RuntimeError("rmsprop with fused=True does not support differentiable=True")
    refuse_unimplemented("rmsprop", dict(differentiable=differentiable, capturable=capturable))
    check_steps(state_steps)
    if fused:  # fused wins over foreach, as in torch's other optimizers
        step = _fused_rmsprop
    elif _use_foreach(foreach, params):
        step = _multi_tensor_rmsprop
    else:
        step = _single_tensor_rmsprop
    step(
        params,
        grads,
        square_avgs,
        grad_avgs,
        momentum_buffer_list,
        state_steps,
        maximize=maximize,
        has_complex=has_complex,
        lr=scalar(lr),
        alpha=alpha,
        eps=eps,
        weight_decay=weight_decay,
        momentum=momentum,
        centered=centered,
        nesterov=nesterov,
    )


def _single_tensor_rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    grad_avgs: list[Tensor],
    momentum_buffer_list: list[Tensor],
    state_steps: list[Tensor],
    *,
    maximize: bool,
    has_complex: bool,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    nesterov: bool,
) -> None:
    """The readable path: the sheet's equations, one parameter at a time."""
    one = torch.ones(())  # t ← t + 1 with a tensor operand: 3x cheaper than wrapping the 1 every time
    for i, p in enumerate(params):
        grad, square_avg = grads[i], square_avgs[i]
        # t ← t + 1   (kept for torch's state_dict; RMSprop has no bias correction)
        state_steps[i].add_(one)
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
            grad_avg = grad_avgs[i]
            grad_avg = torch.view_as_real(grad_avg) if complex_param else grad_avg
            # ḡ = β ḡ + (1 - β) g
            grad_avg.lerp_(grad, 1 - alpha)
            # √(a - ḡ ⊙ ḡ) + ν
            avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
        else:
            # √a + ν
            avg = square_avg.sqrt().add_(eps)
        if momentum > 0:
            buf = momentum_buffer_list[i]
            buf = torch.view_as_real(buf) if complex_param else buf
            # b = α b + g / (√a + ν)      (the sheet's V = α V - ε g / (√a + ν) is V = -ε b)
            buf.mul_(momentum).addcdiv_(grad, avg)
            if nesterov:
                # θ = θ - ε (α b + g / (√a + ν))   (the sheet's θ = θ + V + α (V - V'))
                p.add_(buf.mul(momentum).addcdiv_(grad, avg), alpha=-lr)
            else:
                # θ = θ - ε b                 (the sheet's θ = θ + V)
                p.add_(buf, alpha=-lr)
        else:
            # θ = θ - ε / (√a + ν) ⊙ g
            p.addcdiv_(grad, avg, value=-lr)


def _multi_tensor_rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    grad_avgs: list[Tensor],
    momentum_buffer_list: list[Tensor],
    state_steps: list[Tensor],
    *,
    maximize: bool,
    has_complex: bool,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    nesterov: bool,
) -> None:
    """The fast path: the same equations as ``torch._foreach_*`` calls, per device and dtype (and on
    CPU per cache-sized chunk, :func:`~c147.optim._foreach.chunked`)."""
    if not params:
        return
    grouped = Optimizer._group_tensors_by_device_and_dtype(
        [params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps]
    )
    for tensor_lists, _ in grouped.values():
        if has_complex:  # real and imaginary parts as independent coordinates, like torch
            _view_as_real(*(tensors for tensors in tensor_lists[:5] if tensors))
        for dev_params, dev_grads, dev_square_avgs, dev_grad_avgs, dev_bufs, dev_steps in chunked(tensor_lists):
            # t ← t + 1   (a tensor operand: torch's CPU foreach would wrap a Python 1 once per tensor)
            torch._foreach_add_(dev_steps, torch.ones(()), alpha=1.0)
            # g ← ±g + λ θ
            dev_grads = foreach_grads(dev_grads, dev_params, weight_decay, maximize)
            # a = β a + (1 - β) g ⊙ g
            torch._foreach_mul_(dev_square_avgs, alpha)
            torch._foreach_addcmul_(dev_square_avgs, dev_grads, dev_grads, value=1 - alpha)
            if centered:
                # ḡ = β ḡ + (1 - β) g
                torch._foreach_lerp_(dev_grad_avgs, dev_grads, 1 - alpha)
                # √(a - ḡ ⊙ ḡ) + ν
                avgs = torch._foreach_addcmul(dev_square_avgs, dev_grad_avgs, dev_grad_avgs, value=-1)
                torch._foreach_sqrt_(avgs)
            else:
                # √a + ν
                avgs = torch._foreach_sqrt(dev_square_avgs)
            torch._foreach_add_(avgs, eps)
            if momentum > 0:
                # b = α b + g / (√a + ν)
                torch._foreach_mul_(dev_bufs, momentum)
                torch._foreach_addcdiv_(dev_bufs, dev_grads, avgs)
                if nesterov:
                    # θ = θ - ε (α b + g / (√a + ν))
                    steps = torch._foreach_mul(dev_bufs, momentum)
                    torch._foreach_addcdiv_(steps, dev_grads, avgs)
                    torch._foreach_add_(dev_params, steps, alpha=-lr)
                else:
                    # θ = θ - ε b
                    torch._foreach_add_(dev_params, dev_bufs, alpha=-lr)
            else:
                # θ = θ - ε / (√a + ν) ⊙ g
                torch._foreach_addcdiv_(dev_params, dev_grads, avgs, value=-lr)


@compiled
def rmsprop_kernel(
    p: Tensor,
    grad: Tensor,
    square_avg: Tensor,
    grad_avg: Tensor | None,
    buf: Tensor | None,
    lr: Tensor,
    *,
    maximize: bool,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    nesterov: bool,
) -> None:
    """One RMSprop step of one (flat, real) tensor, :func:`_single_tensor_rmsprop`'s lines, for
    ``torch.compile`` to fuse into one pass. ``lr``: a 0-d tensor, so a new lr is no recompilation."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        # g ← g + λ θ
        grad = grad.add(p, alpha=weight_decay)
    # a = β a + (1 - β) g ⊙ g
    square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
    if centered:
        assert grad_avg is not None
        # ḡ = β ḡ + (1 - β) g
        grad_avg.lerp_(grad, 1 - alpha)
        # √(a - ḡ ⊙ ḡ) + ν
        avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt() + eps
    else:
        # √a + ν
        avg = square_avg.sqrt() + eps
    if momentum > 0:
        assert buf is not None
        # b = α b + g / (√a + ν)
        buf.mul_(momentum).addcdiv_(grad, avg)
        if nesterov:
            # θ = θ - ε (α b + g / (√a + ν))
            p.sub_((buf * momentum + grad / avg) * lr)
        else:
            # θ = θ - ε b
            p.sub_(buf * lr)
    else:
        # θ = θ - ε / (√a + ν) ⊙ g   (addcdiv_ takes no tensor value: the product written out)
        p.sub_(grad / avg * lr)


def _fused_rmsprop(
    params: list[Tensor],
    grads: list[Tensor],
    square_avgs: list[Tensor],
    grad_avgs: list[Tensor],
    momentum_buffer_list: list[Tensor],
    state_steps: list[Tensor],
    *,
    maximize: bool,
    has_complex: bool,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    nesterov: bool,
) -> None:
    """c147's fused path: :func:`rmsprop_kernel`, compiled, on the parameters of at least ``FUSED_MIN_NUMEL``
    elements, ``HORIZONTAL`` per call (c147.optim._fused); the others in one :func:`_multi_tensor_rmsprop` call, on
    flat buffers (:func:`~c147.optim._fused.run_packed`)."""
    if not params:
        return
    state = [lst for lst in (square_avgs, grad_avgs, momentum_buffer_list) if lst]
    fused, rest = split(params, grads, *state)
    hyper = dict(maximize=maximize, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                 centered=centered, nesterov=nesterov)
    if rest:
        lists = [params, grads, square_avgs, grad_avgs, momentum_buffer_list, state_steps]
        run = functools.partial(_multi_tensor_rmsprop, has_complex=has_complex, lr=lr, **hyper)
        run_packed(run, subset(lists, rest), steps_at=5)
    step_counts(state_steps, [i for i, _ in fused])  # t ← t + 1   (kept for torch's state_dict)
    scalars = ScalarCache()
    rows = []
    for _, (p, grad, square_avg, *more) in fused:
        grad_avg = more.pop(0) if centered else None
        buf = more.pop(0) if momentum > 0 else None
        rows.append(((p, grad, square_avg, grad_avg, buf), scalars(p, None, lambda: (lr,))))
    rmsprop_kernel.many(rows, **hyper)
