"""Softmax cross-entropy and negative log-likelihood: twins of ``F.cross_entropy`` and ``F.nll_loss``.

The sheet: ``CE = -sum_i y_i log O(z_i)`` with ``O = softmax`` for many classes, i.e. ``-ln softmax_y(z)``
for a class index ``y``; ``cross_entropy(z, y) == nll_loss(log_softmax(z), y)``.

Both take ``reduction`` in ``'mean' | 'sum' | 'none'`` (and torch's deprecated ``size_average`` /
``reduce``), class ``weight`` and ``ignore_index`` as torch. Class weights are constants, as in torch:
passing them with ``requires_grad=True`` raises ``ValueError`` (torch raises ``RuntimeError``), except
with probability targets of ``cross_entropy``, where torch differentiates them and so do we.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.autograd import Function

from c147.functional._loss_checks import check_class_target, check_class_weight, check_constant
from c147.functional._reduction import reduce_loss, reduction_of, unreduce
from c147.functional.softmax import LogSoftmaxFunction, _acc, _finite_max, _logsumexp


def _class_dim(name: str, input: Tensor) -> int:
    if input.dim() < 1:
        raise ValueError(f"{name}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got {tuple(input.shape)}")
    return 0 if input.dim() == 1 else 1


def _picked(target: Tensor, weight: Tensor | None, ignore_index: int, cd: int, dtype: torch.dtype):
    """``(y, w_y)``: safe indices (ignored -> 0) unsqueezed at ``cd``, and each sample's class weight
    (0 when ignored); ``sum w_y`` is torch's normalizer for ``'mean'``."""
    valid = target != ignore_index
    y = torch.where(valid, target, 0).long()
    w_y = valid.to(dtype) if weight is None else weight[y] * valid
    return y.unsqueeze(cd), w_y


def _class_view(weight: Tensor, ndim: int, cd: int) -> Tensor:
    """``weight`` (C,) viewed to broadcast along the class dimension ``cd`` of an ``ndim``-D input."""
    return weight.view([-1 if i == cd else 1 for i in range(ndim)])


class CrossEntropyFunction(Function):
    """Softmax cross-entropy ``l_n = -sum_j q_nj ln softmax_j(z_n)`` against a target distribution ``q_n``:

    * class index ``y``: ``q = (1 - e) w_y onehot(y) + (e / C) w`` (0 when ``y == ignore_index``),
    * class probabilities ``t``: ``q = w * ((1 - e) t + e / C)``,

    (``e``: label smoothing, ``w``: class weights, 1 if none). With ``LSE`` computed stably,
    ``l_n = s_n LSE(z_n) - q_n . z_n`` where ``s_n = sum_j q_nj``, and the closed-form gradients are

        dl_n/dz_n = s_n softmax(z_n) - q_n        (= softmax(z) - onehot(y) without weights or smoothing)
        dl_n/dt_nj = -(1 - e) w_j ln softmax_j(z_n),   dl_n/dw_j = -((1 - e) t_nj + e / C) ln softmax_j(z_n).

    ``'mean'`` divides by ``sum_n w_{y_n}`` over non-ignored samples (class indices: torch's weighted mean,
    applied to the smoothing term too) or by the number of samples (probabilities), as torch does.

    Class indices (fast path, ``m = max_j z_j``): one temporary holds ``z - m`` and then ``u = e^{z - m}``
    (in place), with ``S = sum_j u_j``: ``-ln softmax_y(z) = ln S - (z_y - m)``; the smoothing term
    ``sum_j w_j (ln S - (z_j - m))`` needs ``sum_j w_j (z_j - m)`` only. Saved: the input and the (N,)
    ``m`` and ``S``, not ``u`` (as much memory as torch's saved log-probabilities, for three in-place passes
    more in the backward, which recomputes ``u`` in the gradient's own buffer, scales it to
    ``(s_n / S_n) u - (e / C) w`` times ``dL/dl_n`` and adds ``-(1 - e) w_y dL/dl_n`` at the class).
    Under ``create_graph`` (double backward) the backward is the textbook composition through
    ``log_softmax`` above.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y, g = torch.randn(4, 3, requires_grad=True), torch.tensor([0, 2, 1, 0]), torch.tensor(1.0)
        >>> w = torch.tensor([1.0, 2.0, 0.5])
        >>> (ours,) = torch.autograd.grad(CrossEntropyFunction.apply(x, y, w, -100, "mean", 0.1), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.cross_entropy(x, y, w, label_smoothing=0.1), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, reduction: str,
                label_smoothing: float) -> Tensor:
        cd = 0 if input.dim() == 1 else 1
        c, eps = input.shape[cd], label_smoothing
        x = _acc(input)  # float16 / bfloat16 in float32, rounded once at the end (to the dtype torch gives)
        dtype = functools.reduce(torch.promote_types, [t.dtype for t in (input, target, weight)
                                             if t is not None and t.is_floating_point()])
        wv = None if weight is None else _class_view(weight, input.dim(), cd)
        ctx.ignore_index, ctx.reduction, ctx.label_smoothing = ignore_index, reduction, label_smoothing
        if target.is_floating_point():
            lse = _logsumexp(x, cd, keepdim=True)
            q = target if eps == 0 else (1 - eps) * target + eps / c
            loss = ((q if wv is None else q * wv) * (lse - x)).sum(cd)
            count = loss.numel()
            ctx.save_for_backward(input, target, weight)
            return reduce_loss(loss, reduction, count).to(dtype)
        y, w_y = _picked(target, weight, ignore_index, cd, x.dtype)
        m = _finite_max(x, cd)
        shifted = x - m
        picked = shifted.gather(cd, y).squeeze(cd)  # z_y - m
        # sum_j w_j (z_j - m), before shifted turns into u = e^{z - m}
        smooth = None if eps == 0 else (shifted.sum(cd) if wv is None else (shifted * wv).sum(cd))
        total = shifted.exp_().sum(cd, keepdim=True)  # S = sum_j u_j
        log_total = total.log().squeeze(cd)
        loss = (1 - eps) * w_y * (log_total - picked)
        if eps > 0:  # (e / C) sum_j w_j (ln S - (z_j - m))
            loss = loss + (eps / c) * ((c if weight is None else weight.sum()) * log_total - smooth)
        loss = torch.where(target != ignore_index, loss, 0)
        ctx.save_for_backward(input, target, weight, m, total)
        return reduce_loss(loss, reduction, w_y.sum()).to(dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        input, target, weight, *saved = ctx.saved_tensors
        cd = 0 if input.dim() == 1 else 1
        c, eps, reduction = input.shape[cd], ctx.label_smoothing, ctx.reduction
        wv = 1 if weight is None else _class_view(weight, input.dim(), cd)
        dz = dt = dw = None
        if target.is_floating_point():
            log_p = LogSoftmaxFunction.apply(input, cd)  # differentiable, for double backward
            g = unreduce(grad, reduction, log_p.shape[:cd] + log_p.shape[cd + 1:], log_p.numel() / c).unsqueeze(cd)
            smoothed = target if eps == 0 else (1 - eps) * target + eps / c
            q = smoothed * wv
            if ctx.needs_input_grad[0]:  # dl/dz = s softmax(z) - q
                dz = g * (q.sum(cd, keepdim=True) * log_p.exp() - q)
            if ctx.needs_input_grad[1]:  # dl/dt_j = -(1 - e) w_j ln p_j
                dt = -(1 - eps) * g * wv * log_p
            if ctx.needs_input_grad[2]:  # dl/dw_j = -((1 - e) t_j + e / C) ln p_j
                dw = -(g * smoothed * log_p).sum([i for i in range(input.dim()) if i != cd])
            return dz, dt, dw, None, None, None
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        y, w_y = _picked(target, weight, ctx.ignore_index, cd, input.dtype)
        g = unreduce(grad, reduction, target.shape, w_y.sum())
        valid = (target != ctx.ignore_index).to(input.dtype)
        total_w = c if weight is None else weight.sum()
        s = (1 - eps) * w_y + (eps / c) * total_w * valid  # s_n = sum_j q_nj
        # dl/dz = s softmax(z) - (1 - e) w_y onehot(y) - (e / C) w
        scatter = -((1 - eps) * g * w_y).unsqueeze(cd)
        smooth = None if eps == 0 else -((eps / c) * g * valid).unsqueeze(cd) * wv
        if torch.is_grad_enabled():  # create_graph: the textbook composition, differentiable
            dz = (g * s).unsqueeze(cd) * LogSoftmaxFunction.apply(input, cd).exp()
            dz = dz.scatter_add(cd, y, scatter)
            return (dz if smooth is None else dz + smooth), None, None, None, None, None
        # softmax(z) = u / S with u = e^{z - m} recomputed as in the forward, in the gradient's buffer:
        # one pass writes s softmax(z) - (e / C) w, then the class entries
        m, total = saved
        u = (_acc(input) - m).exp_()
        coef = (g * s).unsqueeze(cd).to(u.dtype).div_(total)
        dz = u.mul_(coef) if smooth is None else torch.addcmul(smooth.to(u.dtype), u, coef, out=u)
        return dz.scatter_add_(cd, y, scatter.to(u.dtype)).to(input.dtype), None, None, None, None, None


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy ``-ln softmax_y(z)`` of logits (C,), (N, C) or (N, C, d1, ...).
    Twin of ``F.cross_entropy``; see :class:`CrossEntropyFunction` for the math.

    ``target`` is class indices (input's shape less the class dim, ``ignore_index`` allowed) or class
    probabilities (input's shape, floating).

    Raises:
        ValueError: a bad ``reduction``, input or target shape, target dtype, ``weight`` not (C,), a class
            index out of range, ``label_smoothing`` outside [0, 1], ``ignore_index >= 0`` with probabilities.

    Shape:
        - Input: (C,), (N, C) or (N, C, d1, ...), logits.
        - Target: class indices of the input's shape less the class dim, (), (N,) or (N, d1, ...), in [0, C); or
          probabilities of the input's shape.
        - Output: a scalar, or the target's shape (less the class dim) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y = torch.randn(4, 3, 5), torch.tensor([[0, 2, 1, 0, 1]] * 4)
        >>> cross_entropy(x, y, reduction="none").shape
        torch.Size([4, 5])
        >>> theirs = torch.nn.functional.cross_entropy(x, y, label_smoothing=0.1)
        >>> torch.allclose(cross_entropy(x, y, label_smoothing=0.1), theirs, atol=1e-6)
        True
    """
    name = "cross_entropy"
    reduction = reduction_of(name, reduction, size_average, reduce)
    cd = _class_dim(name, input)
    check_class_weight(name, weight, input.shape[cd])
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: expected label_smoothing in [0.0, 1.0], got {label_smoothing}")
    if target.shape == input.shape:
        if not target.is_floating_point():
            raise ValueError(f"{name}: expected floating class probabilities as a target of the input's shape, "
                             f"got {target.dtype}")
        if ignore_index >= 0:
            raise ValueError(f"{name}: ignore_index is not supported for class probabilities, got {ignore_index}")
    else:
        check_class_target(name, input, target, cd, ignore_index, f" or {tuple(input.shape)} (probabilities)")
        check_constant(name, "weight", weight)
    return CrossEntropyFunction.apply(input, target, weight, ignore_index, reduction, label_smoothing)


class NLLLossFunction(Function):
    """``l_n = -w_{y_n} x_{n, y_n}`` on log-probabilities (0 when ignored); ``dl_n/dx_nj = -w_{y_n} [j = y_n]``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(4, 3).log_softmax(1).requires_grad_()
        >>> y, g = torch.tensor([0, 2, 1, 0]), torch.tensor(1.0)
        >>> (ours,) = torch.autograd.grad(NLLLossFunction.apply(x, y, None, 1, "mean"), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.nll_loss(x, y, ignore_index=1), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int, reduction: str) -> Tensor:
        cd = 0 if input.dim() == 1 else 1
        y, w_y = _picked(target, weight, ignore_index, cd, input.dtype)
        loss = torch.where(target != ignore_index, -w_y * input.gather(cd, y).squeeze(cd), 0)
        ctx.save_for_backward(input, target, weight)
        ctx.ignore_index, ctx.reduction = ignore_index, reduction
        return reduce_loss(loss, reduction, w_y.sum())

    @staticmethod
    def backward(ctx, grad: Tensor):
        input, target, weight = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        cd = 0 if input.dim() == 1 else 1
        y, w_y = _picked(target, weight, ctx.ignore_index, cd, input.dtype)
        g = unreduce(grad, ctx.reduction, target.shape, w_y.sum())
        dx = torch.zeros_like(input).scatter(cd, y, -(g * w_y).unsqueeze(cd))  # -w_y at the target class
        return dx, None, None, None, None


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood ``-w_y x_y`` of log-probabilities (C,), (N, C) or (N, C, d1, ...). Twin of
    ``F.nll_loss``: ``cross_entropy(z, y) == nll_loss(log_softmax(z, 1), y)``.

    Raises:
        ValueError: a bad ``reduction``, input or target shape, target dtype, ``weight`` not (C,), a class
            index out of range.

    Shape:
        - Input: (C,), (N, C) or (N, C, d1, ...), log-probabilities.
        - Target: (), (N,) or (N, d1, ...), class indices in [0, C).
        - Output: a scalar, or the target's shape with ``reduction='none'``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y = torch.randn(4, 3).log_softmax(1), torch.tensor([0, 2, 1, 0])
        >>> w = torch.tensor([1.0, 2.0, 0.5])
        >>> torch.allclose(nll_loss(x, y, w), torch.nn.functional.nll_loss(x, y, w), atol=1e-6)
        True
    """
    name = "nll_loss"
    reduction = reduction_of(name, reduction, size_average, reduce)
    cd = _class_dim(name, input)
    check_class_weight(name, weight, input.shape[cd])
    check_class_target(name, input, target, cd, ignore_index)
    check_constant(name, "weight", weight)
    return NLLLossFunction.apply(input, target, weight, ignore_index, reduction)


__all__ = ["CrossEntropyFunction", "NLLLossFunction", "cross_entropy", "nll_loss"]
