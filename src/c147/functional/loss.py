"""Losses: twins of ``F.mse_loss`` and ``F.multi_margin_loss``, plus the sheet's balanced class weights.

The cross-entropies live beside this file: softmax cross-entropy and NLL in
:mod:`c147.functional.cross_entropy`, binary cross-entropy in :mod:`c147.functional.bce`.

The sheet:

    MSE = 1/2 sum_i (y_i - O(z_i))^2            (torch, and this file: mean_i (x_i - y_i)^2, no 1/2)
    hinge (SVM): max(0, 1 - y w^T x)            -> multiclass: sum_{j != y} max(0, margin - x_y + x_j)^p / C
    weight_c = total / (num_classes * n_c)      (the sheet garbles it; see ``class_weights``)

Every loss takes ``reduction`` in ``'mean' | 'sum' | 'none'`` (and torch's deprecated ``size_average`` /
``reduce``). The class weights of ``multi_margin_loss`` are constants, as in torch: passing them with
``requires_grad=True`` raises ``ValueError`` (torch raises ``RuntimeError``); ``mse_loss`` differentiates
its ``weight``.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torch.autograd import Function

from c147.functional._loss_checks import check_class_target, check_class_weight, check_constant
from c147.functional._reduction import reduce_loss, reduction_of, unreduce

# ---------------------------------------------------------------- mean squared error


class MSELossFunction(Function):
    """``l_n = w_n (x_n - y_n)^2``; ``dl/dx = 2 w (x - y) = -dl/dy``, ``dl/dw = (x - y)^2``.

    The weighted mean divides by ``sum w``, so ``dL/dw_n = ((x_n - y_n)^2 - L) / sum w``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y, g = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3), torch.tensor(1.0)
        >>> (ours,) = torch.autograd.grad(MSELossFunction.apply(x, y, None, "mean"), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.mse_loss(x, y), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, target: Tensor, weight: Tensor | None, reduction: str) -> Tensor:
        sq = (input - target).square_()  # (x - y)^2, in place on the fresh difference
        loss = sq if weight is None else sq * weight
        out = reduce_loss(loss, reduction, None if weight is None else weight.sum())
        ctx.save_for_backward(input, target, weight, out)
        ctx.reduction = reduction
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        input, target, weight, out = ctx.saved_tensors
        diff = input - target
        count = diff.numel() if weight is None else weight.sum()
        g = unreduce(grad, ctx.reduction, diff.shape, count)
        dw = None
        if ctx.needs_input_grad[2]:  # dl/dw = (x - y)^2, less L for the weighted mean
            dw = (g * (diff**2 - out if ctx.reduction == "mean" else diff**2)).sum_to_size(weight.shape)
        # dl/dx = -dl/dy = 2 w (x - y) dL/dl: in place on the fresh difference unless autograd records
        # (create_graph); a mean or a sum scales every element by the same 0-d 2 dL/dout (/ count)
        gw = g if ctx.reduction == "none" else grad if ctx.reduction == "sum" else grad / count
        gw = gw if weight is None else gw * weight
        if torch.is_grad_enabled():
            dx = 2 * diff * gw
        else:
            dx = diff.mul_(2 * gw) if gw.dim() == 0 else diff.mul_(gw).mul_(2)
        return (dx.sum_to_size(input.shape) if ctx.needs_input_grad[0] else None,
                -dx.sum_to_size(target.shape) if ctx.needs_input_grad[1] else None, dw, None)


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error ``mean_n w_n (x_n - y_n)^2`` (weighted: divided by ``sum w``). Twin of ``F.mse_loss``.

    The sheet's ``MSE = 1/2 sum (y - O(z))^2`` is another convention: it equals ``N/2`` times this.
    A ``target`` of another shape is broadcast against ``input`` with torch's warning.

    Raises:
        ValueError: a bad ``reduction``, shapes that do not broadcast, a ``weight`` not of the input's size.

    Shape:
        - Input: (*).
        - Target: (*), the input's shape (or broadcastable, with a warning).
        - Output: a scalar, or (*) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y = torch.randn(4, 3), torch.randn(4, 3)
        >>> torch.allclose(mse_loss(x, y), torch.nn.functional.mse_loss(x, y), atol=1e-6)
        True
    """
    reduction = reduction_of("mse_loss", reduction, size_average, reduce)
    if target.shape != input.shape:
        try:
            torch.broadcast_shapes(input.shape, target.shape)
        except RuntimeError:
            raise ValueError(f"mse_loss: expected a target broadcastable with the input's shape "
                             f"{tuple(input.shape)}, got {tuple(target.shape)}") from None
        warnings.warn(f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
                      "This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", stacklevel=2)
    if weight is not None and weight.shape != input.shape:
        raise ValueError(f"mse_loss: expected weight of the input's shape {tuple(input.shape)}, "
                         f"got {tuple(weight.shape)}")
    return MSELossFunction.apply(input, target, weight, reduction)


# ---------------------------------------------------------------- multiclass hinge (SVM) loss


class MultiMarginLossFunction(Function):
    """``l_n = w_y sum_{j != y} max(0, z_j)^p / C`` with ``z_j = margin - x_y + x_j`` (rows of ``x``: (N, C)).

    With ``h_j = [z_j > 0]`` (p = 1) or ``2 z_j [z_j > 0]`` (p = 2), for ``j != y``:
    ``dl/dx_j = w_y h_j / C`` and ``dl/dx_y = -sum_{j != y} w_y h_j / C``. At the kink ``z_j = 0`` the
    subgradient is 0, as torch's (strict ``z > 0``).

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y, g = torch.randn(4, 3, requires_grad=True), torch.tensor([0, 2, 1, 0]), torch.tensor(1.0)
        >>> (ours,) = torch.autograd.grad(MultiMarginLossFunction.apply(x, y, 2, 0.5, None, "mean"), x, g)
        >>> (theirs,) = torch.autograd.grad(torch.nn.functional.multi_margin_loss(x, y, p=2, margin=0.5), x, g)
        >>> torch.allclose(ours, theirs, atol=1e-6)
        True
    """

    @staticmethod
    def forward(ctx, input: Tensor, target: Tensor, p: int, margin: float, weight: Tensor | None,
                reduction: str) -> Tensor:
        c = input.shape[-1]
        x, y = input.reshape(-1, c), target.reshape(-1, 1).long()  # (N, C), (N, 1)
        z = margin - x.gather(1, y) + x
        h = torch.where(z > 0, z, 0).scatter(1, y, 0)  # the j = y term is left out
        if p == 2:
            h = h * h
        if weight is not None:
            h = h * weight[y]
        loss = h.sum(1).reshape(target.shape) / c
        ctx.save_for_backward(input, target, weight)
        ctx.p, ctx.margin, ctx.reduction = p, margin, reduction
        return reduce_loss(loss, reduction)

    @staticmethod
    def backward(ctx, grad: Tensor):
        input, target, weight = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        c = input.shape[-1]
        x, y = input.reshape(-1, c), target.reshape(-1, 1).long()
        z = ctx.margin - x.gather(1, y) + x
        active = (z > 0).scatter(1, y, False)
        h = active.to(input.dtype) if ctx.p == 1 else 2 * torch.where(active, z, 0)  # d max(0, z)^p / dz
        g = unreduce(grad, ctx.reduction, target.shape, target.numel()).reshape(-1, 1) / c
        if weight is not None:
            g = g * weight[y]
        dx = g * h  # dl/dx_j = w_y h_j / C
        dx = dx.scatter_add(1, y, -dx.sum(1, keepdim=True))  # dl/dx_y = -sum_{j != y} w_y h_j / C
        return dx.reshape(input.shape), None, None, None, None, None


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                      size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Multiclass hinge (SVM) loss ``w_y sum_{j != y} max(0, margin - x_y + x_j)^p / C`` on scores (C,) or
    (N, C). Twin of ``F.multi_margin_loss``; see :class:`MultiMarginLossFunction`.

    Raises:
        ValueError: a bad ``reduction``, ``p`` not 1 or 2, input or target shape, target dtype, ``weight``
            not (C,), a class index out of range.

    Shape:
        - Input: (N, C) or (C,), scores.
        - Target: (N,) or (), class indices in [0, C).
        - Output: a scalar, or (N,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> x, y, w = torch.randn(4, 3), torch.tensor([0, 2, 1, 0]), torch.tensor([1.0, 2.0, 0.5])
        >>> ours = multi_margin_loss(x, y, weight=w)
        >>> torch.allclose(ours, torch.nn.functional.multi_margin_loss(x, y, weight=w), atol=1e-6)
        True
    """
    name = "multi_margin_loss"
    reduction = reduction_of(name, reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError(f"{name}: only p == 1 and p == 2 supported, got p={p!r}")
    if input.dim() == 0:  # one score of one class, as torch: C = 1, so no j != y and a loss of 0
        input = input.reshape(1)
    if input.dim() not in (1, 2) or input.shape[-1] == 0:
        raise ValueError(f"{name}: expected input of shape (C,) or (N, C), got {tuple(input.shape)}")
    check_class_weight(name, weight, input.shape[-1])
    batch = (input.shape[0],) if input.dim() == 2 else ()
    if target.shape != batch and not (input.dim() == 1 and target.shape == (1,)):
        raise ValueError(f"{name}: expected target of shape {batch} (class indices), got {tuple(target.shape)}")
    check_class_target(name, input.reshape(-1, input.shape[-1]), target.reshape(-1), 1, None)
    check_constant(name, "weight", weight)
    return MultiMarginLossFunction.apply(input, target, p, margin, weight, reduction)


# ---------------------------------------------------------------- balanced class weights


def class_weights(targets_or_counts: Tensor, num_classes: int | None = None, *, counts: bool = False) -> Tensor:
    """The sheet's balanced class weights ``weight_c = total / (num_classes * n_c)``, for the ``weight``
    argument of :func:`cross_entropy`: every class then carries the same total weight ``total / num_classes``.

    Equals ``sklearn.utils.class_weight.compute_class_weight("balanced", ...)``. The sheet writes
    ``weight_c / num_samples = total / num_classes``, i.e. ``weight_c = n_c * total / num_classes``, which
    up-weights the majority class (see ``test_sheet_erratum_class_weight``).

    Args:
        targets_or_counts: integer class labels of any shape in [0, num_classes), or with ``counts=True``
            the number of samples per class (C,).
        num_classes: the number of classes (default: labels' max + 1, or the length of the counts).
        counts: read ``targets_or_counts`` as per-class counts.

    Returns:
        (C,) weights in the counts' floating dtype, else in the default float dtype.

    Raises:
        ValueError: bad labels or counts, or a class with no samples (its weight would be infinite).

    Shape:
        - Input: class labels of any shape, or (C,) counts with ``counts=True``.
        - Output: (C,).

    Example:
        >>> import torch
        >>> from sklearn.utils.class_weight import compute_class_weight
        >>> labels = torch.tensor([0, 0, 0, 1, 2, 2])
        >>> class_weights(labels)
        tensor([0.6667, 2.0000, 1.0000])
        >>> compute_class_weight("balanced", classes=labels.unique().numpy(), y=labels.numpy()).round(4).tolist()
        [0.6667, 2.0, 1.0]
        >>> torch.equal(class_weights(torch.tensor([3.0, 1.0, 2.0]), counts=True), class_weights(labels))
        True
    """
    name = "class_weights"
    t = targets_or_counts
    if counts:
        if t.dim() != 1 or (num_classes is not None and t.numel() != num_classes) or (t < 0).any():
            raise ValueError(f"{name}: expected non-negative counts of shape ({num_classes or 'C'},), "
                             f"got {tuple(t.shape)} {t.tolist()}")
        n_c = t
    else:
        if t.is_floating_point() or t.dtype == torch.bool or t.numel() == 0:
            raise ValueError(f"{name}: expected non-empty integer class labels, "
                             f"got {t.dtype} of shape {tuple(t.shape)}")
        k = int(t.max()) + 1 if num_classes is None else num_classes
        if t.min() < 0 or t.max() >= k:
            raise ValueError(f"{name}: expected labels in [0, {k - 1}], got values in [{int(t.min())}, {int(t.max())}]")
        n_c = torch.bincount(t.reshape(-1).long(), minlength=k)
    empty = (n_c == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"{name}: class(es) {empty} have no samples, so total / (num_classes * 0) is infinite")
    dtype = t.dtype if counts and t.is_floating_point() else torch.get_default_dtype()
    n_c = n_c.double()
    # weight_c = total / (num_classes * n_c)
    return (n_c.sum() / (n_c.numel() * n_c)).to(dtype)


__all__ = ["MSELossFunction", "MultiMarginLossFunction", "class_weights", "mse_loss", "multi_margin_loss"]
