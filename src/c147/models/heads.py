"""The output layer ("head") of each model family that transfer learning and multitask nets build on."""

from __future__ import annotations

from torch import nn

# model class name -> the Sequential whose last layer is the head
HEADS = {"LeNet5": "classifier", "MLP": "net"}


def head_name(net: nn.Module) -> str:
    """The qualified name of ``net``'s output layer (``classifier.6`` for LeNet-5).

    Raises:
        ValueError: a model family without a known head.
    """
    kind = type(net).__name__
    if kind not in HEADS:
        raise ValueError(f"finetune: the head of {kind} is not known (fine-tuning supports "
                         f"{', '.join(HEADS)}: model=lenet5|mlp)")
    parent = HEADS[kind]
    return f"{parent}.{len(getattr(net, parent)) - 1}"


__all__ = ["HEADS", "head_name"]
