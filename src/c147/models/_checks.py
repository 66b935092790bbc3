"""The argument checks every model shares: the sizes of its input and output, and its dropout probabilities."""

from __future__ import annotations


def check_model_arguments(num_classes: int, in_channels: int, name: str | None = None, **dropouts: float) -> None:
    """Check a model's shared arguments: ``num_classes`` and ``in_channels`` positive, and each probability of
    ``dropouts`` (by its argument's name: ``dropout=0.5``, ``dropout_aux=0.7``) in [0, 1].

    Args:
        num_classes: outputs of the last layer.
        in_channels: channels of the input.
        name: the model's name, to start each message with (``"AlexNet: num_classes must be positive, got 0"``);
            None for none.
        **dropouts: the model's dropout probabilities, named as its arguments.

    Raises:
        ValueError: the first argument out of range, in the order above.

    Example:
        >>> check_model_arguments(10, 3, dropout=0.5)
        >>> check_model_arguments(10, 0, "AlexNet")
        Traceback (most recent call last):
        ...
        ValueError: AlexNet: in_channels must be positive, got 0
    """
    prefix = f"{name}: " if name else ""
    if num_classes < 1:
        raise ValueError(f"{prefix}num_classes must be positive, got {num_classes}")
    if in_channels < 1:
        raise ValueError(f"{prefix}in_channels must be positive, got {in_channels}")
    for argument, p in dropouts.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{prefix}{argument} must be in [0, 1], got {p}")
