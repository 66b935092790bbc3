"""The output head and loss of a classifier, chosen by name: what each loss needs from class-index targets.

=================  =====================  ==============================  ============================
``name``           criterion (``impl``)   targets it gets                 the sheet
=================  =====================  ==============================  ============================
``cross_entropy``  ``CrossEntropyLoss``   class indices                   softmax output, -ln p_y
``multi_margin``   ``MultiMarginLoss``    class indices                   multiclass SVM (hinge)
``mse``            ``MSELoss``            one-hot rows                    linear output, squared error
``bce``            ``BCEWithLogitsLoss``  one-hot rows                    sigmoid outputs, one-vs-rest
=================  =====================  ==============================  ============================

The network's outputs stay raw scores in every case (BCE applies the sigmoid inside its stable
``with_logits`` form), so the predicted class is always their argmax. MSE: the sheet's
``1/2 sum_n ||y_n - f(x_n)||^2`` is torch's ``reduction="mean"`` times ``N * C / 2`` (``reduction="sum"``:
times 1/2); the factor rescales the gradient, i.e. the learning rate, and leaves the minimiser alone.

Class weights (``cross_entropy`` and ``multi_margin``, the losses with a per-class ``weight``):
``"balanced"`` is ``weight_c = total / (num_classes * n_c)`` over the training split
(:func:`c147.functional.class_weights`, the sheet's formula corrected), or an explicit list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from c147.functional import class_weights as balanced_weights
from c147.switch import lookup

# name -> (criterion class, target form, takes class weights)
LOSSES = {
    "cross_entropy": ("CrossEntropyLoss", "index", True),
    "multi_margin": ("MultiMarginLoss", "index", True),
    "mse": ("MSELoss", "one_hot", False),
    "bce": ("BCEWithLogitsLoss", "one_hot", False),
}


class ClassificationLoss(nn.Module):
    """``criterion(scores, targets)`` with the class-index targets turned into what ``criterion`` needs.

    Args:
        name: one of :data:`LOSSES`.
        impl: ``"c147"`` (hand-written criterion) or ``"torch"``.
        class_weights: ``None``, ``"balanced"`` (needs ``class_counts``) or one weight per class.
        num_classes: the number of classes (for one-hot targets and to check the weights).
        class_counts: (C,) training samples per class, for ``"balanced"``.
        **kwargs: passed to the criterion (``label_smoothing``, ``margin``, ``p``, ``reduction``, ...).

    Raises:
        ValueError: an unknown name, weights for a loss that takes none, a list of the wrong length or
            with a weight <= 0, ``"balanced"`` without counts.

    Example:
        >>> import torch
        >>> loss = ClassificationLoss("mse", num_classes=3)
        >>> scores, y = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([0])
        >>> float(loss(scores, y))  # one-hot target [1, 0, 0]: no error
        0.0
    """

    def __init__(self, name: str = "cross_entropy", impl: str = "c147",
                 class_weights: str | list[float] | None = None, num_classes: int | None = None,
                 class_counts: Tensor | None = None, **kwargs: Any) -> None:
        super().__init__()
        if name not in LOSSES:
            raise ValueError(f"loss.name: expected one of {', '.join(LOSSES)}, got {name!r}")
        criterion, self.target, weighted = LOSSES[name]
        self.name, self.num_classes = name, num_classes
        weight = self._weights(class_weights, weighted, num_classes, class_counts)
        if weight is not None:
            kwargs["weight"] = weight
        self.criterion = lookup("nn", criterion, impl)(**kwargs)

    def _weights(self, spec: Any, weighted: bool, num_classes: int | None, counts: Tensor | None) -> Tensor | None:
        if spec is None:
            return None
        if not weighted:
            raise ValueError(f"loss.class_weights: loss {self.name!r} takes none (only "
                             f"{', '.join(k for k, v in LOSSES.items() if v[2])} do), got {spec!r}")
        if spec == "balanced":
            if counts is None:
                raise ValueError("loss.class_weights: 'balanced' needs the training split's class counts")
            return balanced_weights(torch.as_tensor(counts, dtype=torch.get_default_dtype()), counts=True)
        if isinstance(spec, str) or not isinstance(spec, Sequence) or not all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0 for w in spec):
            raise ValueError(f"loss.class_weights: expected 'balanced' or a list of positive numbers, got {spec!r}")
        if num_classes is not None and len(spec) != num_classes:
            raise ValueError(f"loss.class_weights: expected {num_classes} weights (one per class), got {len(spec)}")
        return torch.tensor([float(w) for w in spec], dtype=torch.get_default_dtype())

    def forward(self, scores: Tensor, target: Tensor) -> Tensor:
        if self.target == "one_hot" and target.dim() == scores.dim() - 1:  # class indices -> one-hot rows
            target = nn.functional.one_hot(target, scores.shape[1]).to(scores.dtype)  # (N, C)
        return self.criterion(scores, target)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, target={self.target!r}"


__all__ = ["LOSSES", "ClassificationLoss"]
