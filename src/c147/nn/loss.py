"""Loss modules, twins of ``torch.nn``'s ``MSELoss``, ``BCELoss``, ``BCEWithLogitsLoss``,
``CrossEntropyLoss``, ``NLLLoss`` and ``MultiMarginLoss``: same arguments, defaults, buffers
(``weight``, ``pos_weight``, registered even when ``None``, as torch does) and ``repr``; ``forward``
calls the hand-written losses of :mod:`c147.functional.loss`, :mod:`~c147.functional.bce` and
:mod:`~c147.functional.cross_entropy`.
"""

from __future__ import annotations

from torch import Tensor, nn

from c147._compat import legacy_get_string
from c147.functional.bce import binary_cross_entropy, binary_cross_entropy_with_logits
from c147.functional.cross_entropy import cross_entropy, nll_loss
from c147.functional.loss import mse_loss, multi_margin_loss


class _Loss(nn.Module):
    """Holds ``reduction`` (from torch's deprecated ``size_average`` / ``reduce`` when given)."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = legacy_get_string(size_average, reduce)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    """A loss with a per-class ``weight`` buffer."""

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """``mean_n (x_n - y_n)^2`` (the sheet's ``1/2 sum`` is ``N/2`` times this).

    Shape:
        - Input: input (*), target (*) of the same shape.
        - Output: a scalar, or (*) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> x, y = torch.randn(4, 3), torch.randn(4, 3)
        >>> torch.allclose(MSELoss()(x, y), torch.nn.MSELoss()(x, y), atol=1e-6)
        True
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """``-w [y ln x + (1 - y) ln(1 - x)]`` on probabilities.

    Shape:
        - Input: input (*) in [0, 1], target (*) of the same shape.
        - Output: a scalar, or (*) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> x, y = torch.rand(4, 3), torch.rand(4, 3)
        >>> torch.allclose(BCELoss()(x, y), torch.nn.BCELoss()(x, y), atol=1e-6)
        True
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """``-w [p y ln sigma(x) + (1 - y) ln(1 - sigma(x))]`` on logits, with ``pos_weight`` ``p``.

    Shape:
        - Input: input (*) of logits, target (*) of the same shape.
        - Output: a scalar, or (*) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> x, y = torch.randn(4, 3), torch.rand(4, 3)
        >>> torch.allclose(BCEWithLogitsLoss()(x, y), torch.nn.BCEWithLogitsLoss()(x, y), atol=1e-6)
        True
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_cross_entropy_with_logits(input, target, self.weight, pos_weight=self.pos_weight,
                                                reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy ``-ln softmax_y(z)`` with class weights, ``ignore_index`` and label smoothing.

    Shape:
        - Input: input (N, C) or (C,) of scores, target (N,) class indices or (N, C) probabilities.
        - Output: a scalar, or (N,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> x, y = torch.randn(4, 3), torch.tensor([0, 2, 1, 0])
        >>> torch.allclose(CrossEntropyLoss()(x, y), torch.nn.CrossEntropyLoss()(x, y), atol=1e-6)
        True
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood ``-w_y x_y`` of log-probabilities (after :class:`c147.nn.softmax.LogSoftmax`).

    Shape:
        - Input: input (N, C) of log-probabilities, target (N,) class indices.
        - Output: a scalar, or (N,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> x, y = torch.randn(4, 3).log_softmax(1), torch.tensor([0, 2, 1, 0])
        >>> torch.allclose(NLLLoss()(x, y), torch.nn.NLLLoss()(x, y), atol=1e-6)
        True
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multiclass hinge (SVM) loss ``w_y sum_{j != y} max(0, margin - x_y + x_j)^p / C``.

    Shape:
        - Input: input (N, C) or (C,) of scores, target (N,) or () class indices.
        - Output: a scalar, or (N,) with ``reduction='none'``.

    Example:
        >>> import torch
        >>> x, y = torch.randn(4, 3), torch.tensor([0, 2, 1, 0])
        >>> torch.allclose(MultiMarginLoss()(x, y), torch.nn.MultiMarginLoss()(x, y), atol=1e-6)
        True
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                 size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p == 1 and p == 2 supported, got p={p!r}")
        if weight is not None and weight.dim() != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got {weight.dim()}D instead")
        self.p = p
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return multi_margin_loss(input, target, p=self.p, margin=self.margin, weight=self.weight,
                                 reduction=self.reduction)


__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "MultiMarginLoss", "NLLLoss"]
