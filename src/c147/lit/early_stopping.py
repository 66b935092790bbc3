"""Early stopping, the sheet's "stop when the validation error starts to rise": Lightning's
``EarlyStopping`` (infrastructure, no concept of the sheet's to hand-write) with two additions.

What Lightning 2.6 does, read from its source: after every validation (not during the sanity check,
never under ``fast_dev_run``) it compares the monitored metric with the best so far; an improvement is
strictly better by more than ``min_delta`` (``current - min_delta < best`` for ``mode="min"``) and resets
a counter, anything else increments it, and when the counter reaches ``patience`` it sets
``trainer.should_stop`` and records ``stopped_epoch = trainer.current_epoch`` (0-based) and
``stopping_reason``. Training then ends after that epoch. It restores nothing: the weights in memory
are the last epoch's; c147-train tests the best checkpoint of ``ModelCheckpoint``, which therefore must
watch the same metric (train.py checks it). Its counter and best score are in every checkpoint, so a
resumed run continues them.

Additions: ``patience=None`` switches it off (the default callbacks hold the entry, so
``callbacks.early_stopping.patience=5`` turns it on), and a ``mode`` that contradicts the metric's name
(``val/loss`` with ``max``) is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason


def metric_mode(monitor: str) -> str | None:
    """The direction in which ``monitor`` improves, judged by its name: losses ``min``, accuracies ``max``."""
    name = monitor.rsplit("/", 1)[-1]
    if name.endswith("loss"):
        return "min"
    if name.startswith("acc"):
        return "max"
    return None


def check_mode(monitor: str, mode: str) -> None:
    """Refuse a ``mode`` that contradicts ``monitor`` (``ValueError``)."""
    expected = metric_mode(monitor)
    if expected is not None and mode != expected:
        raise ValueError(f"mode: expected {expected!r} for monitor {monitor!r}, got {mode!r}")


class EarlyStopping(LightningEarlyStopping):
    """Lightning's ``EarlyStopping``, off while ``patience`` is None.

    Args:
        monitor: the logged metric to watch (``val/acc``, ``val/loss``).
        mode: ``"max"`` for an accuracy, ``"min"`` for a loss.
        patience: validations without improvement before stopping; None: never stop.
        min_delta: the smallest change that counts as an improvement.
        **kwargs: Lightning's other arguments (``stopping_threshold``, ``verbose``, ...).

    Raises:
        ValueError: ``mode`` contradicts ``monitor``, or ``patience`` is not None or a positive integer.
    """

    def __init__(self, monitor: str = "val/acc", mode: str = "max", patience: int | None = None,
                 min_delta: float = 0.0, **kwargs: Any) -> None:
        check_mode(monitor, mode)
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience: expected a positive integer (or null: off), got {patience!r}")
        super().__init__(monitor=monitor, mode=mode, patience=patience or 0, min_delta=min_delta, **kwargs)
        self.enabled = patience is not None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled:
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.enabled:
            super().on_validation_end(trainer, pl_module)


def early_stopping(callbacks: Iterable[Any]) -> LightningEarlyStopping | None:
    """The early-stopping callback among ``callbacks`` that is switched on, if any."""
    return next((c for c in callbacks if isinstance(c, LightningEarlyStopping)
                 and getattr(c, "enabled", True)), None)


def stopped_epoch(trainer: L.Trainer) -> int | None:
    """The (0-based) epoch after which early stopping ended the run; None when it did not."""
    callback = early_stopping(trainer.callbacks)
    if callback is None or callback.stopping_reason == EarlyStoppingReason.NOT_STOPPED:
        return None
    return int(callback.stopped_epoch)


__all__ = ["EarlyStopping", "check_mode", "early_stopping", "metric_mode", "stopped_epoch"]
