"""Multitask learning: one trunk shared by several heads, trained on a weighted sum of the tasks' losses.

The trunk is a backbone (LeNet-5 or the MLP) without its output layer; head 0 is the backbone's own output
layer (the main task: ``forward`` returns its scores, so evaluation, ``val/acc`` and ensembles see a plain
classifier), and every further task gets a Linear head on the same features.
``c147.lit.Classifier`` calls :meth:`MultitaskNet.forward_tasks` and optimizes
``sum_t loss_weights[t] * L_t``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn as torch_nn

from c147.models.heads import HEADS, head_name
from c147.models.lenet import lenet5
from c147.models.mlp import mlp
from c147.switch import layers

BACKBONES = {"lenet5": lenet5, "mlp": mlp}


class SharedFeatures(torch_nn.Module):
    """Where the backbone's output layer was: passes the shared features on to the heads."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class MultitaskNet(torch_nn.Module):
    """A trunk and one head per task.

    Args:
        backbone: a network of a family in :data:`c147.lit.transfer.HEADS`, built for the main task.
        task_classes: classes per task, the main task's first (it must be the backbone's output size).
        loss_weights: one weight per task, the coefficients of the summed loss.
        impl: ``"c147"`` or ``"torch"``, for the extra heads' layers.

    Shape:
        - Input: the backbone's.
        - Output: (N, task_classes[0]); :meth:`forward_tasks` gives one (N, task_classes[t]) per task.
    """

    def __init__(self, backbone: torch_nn.Module, task_classes: Sequence[int], loss_weights: Sequence[float],
                 impl: str = "c147") -> None:
        super().__init__()
        task_classes, loss_weights = [int(k) for k in task_classes], [float(w) for w in loss_weights]
        if len(task_classes) < 2:
            raise ValueError(f"model.task_classes: a multitask network needs at least 2 tasks, got {task_classes}")
        if len(loss_weights) != len(task_classes):
            raise ValueError(f"model.loss_weights: expected {len(task_classes)} weights (one per task), "
                             f"got {len(loss_weights)}")
        if any(w < 0 for w in loss_weights) or not any(w > 0 for w in loss_weights):
            raise ValueError(f"model.loss_weights: expected non-negative weights, one at least positive, "
                             f"got {loss_weights}")
        parent, index = head_name(backbone).rsplit(".", 1)
        trunk_seq = getattr(backbone, parent)
        head = trunk_seq[int(index)]
        if head.out_features != task_classes[0]:
            raise ValueError(f"model.task_classes: the backbone has {head.out_features} outputs, "
                             f"the main task {task_classes[0]} classes")
        trunk_seq[int(index)] = SharedFeatures()
        nn = layers(impl)
        self.trunk = backbone
        self.heads = torch_nn.ModuleList([head] + [nn.Linear(head.in_features, k) for k in task_classes[1:]])
        self.task_classes, self.loss_weights = task_classes, loss_weights

    def forward_tasks(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = self.trunk(x)
        return tuple(head(z) for head in self.heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads[0](self.trunk(x))  # the main task's scores


def multitask(impl: str = "c147", num_classes: int = 10, in_channels: int = 1, image_size: int = 32,
              backbone: str = "lenet5", loss_weights: Sequence[float] = (1.0, 0.5),
              task_classes: Sequence[int] | None = None) -> MultitaskNet:
    """A :class:`MultitaskNet` over ``backbone`` (``"lenet5"`` or ``"mlp"``, default options); without
    ``task_classes`` (c147-train passes the data's), every task after the main one has 2 classes."""
    if backbone not in BACKBONES:
        raise ValueError(f"model.backbone: expected one of {', '.join(BACKBONES)}, got {backbone!r}")
    if task_classes is None:
        task_classes = [num_classes] + [2] * (len(loss_weights) - 1)
    net = BACKBONES[backbone](impl=impl, num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    assert type(net).__name__ in HEADS
    return MultitaskNet(net, task_classes, loss_weights, impl=impl)
