"""Early stopping, the sheet's "Stopping early: return model with lowest validation error, train until the
error is unchanged", hand-written as a plain Lightning callback. Its twin is Lightning's
``lightning.pytorch.callbacks.EarlyStopping`` (the reference in tests/lit/test_early_stopping.py: on scripted
metric sequences both stop after the same epoch); c147 does not use it.

The rule, after every validation of a fit (not during the sanity check, never under ``fast_dev_run``):

- compare the monitored metric with the best so far: an improvement is strictly better by more than
  ``min_delta`` (``current + min_delta < best`` for ``mode="min"``, ``current - min_delta > best`` for
  ``"max"``, in the metric's dtype as Lightning computes it; an equal value is no improvement);
- an improvement records the metric (and the weights) and resets the counter; anything else grows it;
- when the counter reaches ``patience``, ``trainer.should_stop``: training ends after this epoch, and
  ``stopped_epoch`` is its (0-based) number;
- when training ends (stopped or not), the weights of the best validation are copied back into the module
  (``restore_best_weights=True``, the default: the sheet's "return model with lowest validation error").

As Lightning's: ``patience`` counts validations (one per epoch unless ``val_check_interval`` or
``check_val_every_n_epoch`` say otherwise); with ``check_finite`` (default) a NaN or infinite metric stops
the run at once (``stopping_reason`` NON_FINITE_METRIC; the best weights are still restored), without it
such a value is no improvement (NaN compares false); a metric missing from the logs is an error; with DDP one
process's stop stops all. Its state (best score and epoch, counter, stopped epoch, reason, and the best
weights when it restores them) is in every checkpoint under Lightning's state key, with Lightning's names, so
a resumed run continues the count, and the twins load each other's state.

Differences from Lightning's, on purpose: the check runs when the validation ends (Lightning checks at the
training epoch's end when validating once per epoch: the same moment's metrics, the same stop; here the
checkpoint written after the validation already holds that epoch's count); ``patience=None`` switches it off
(the default callbacks hold the entry, so ``callbacks.early_stopping.patience=5`` turns it on); a ``mode``
that contradicts the metric's name (``val/loss`` with ``max``) or a negative ``min_delta`` is refused;
loading a checkpoint keeps the ``patience`` given here (Lightning takes the checkpoint's), so a resumed run
can be given more; no ``stopping_threshold`` / ``divergence_threshold`` (not the sheet's rule). The best
weights are a CPU copy of ``state_dict()`` (parameters and buffers, not the optimizer's state), so a
checkpoint holds one more copy of the model; c147-train also tests the best checkpoint of
``ModelCheckpoint``, which therefore must watch the same metric (app/build.py ``check_monitors``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.rank_zero import rank_zero_warn


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


class EarlyStopping(L.Callback):
    """Stop when the monitored validation metric has not improved for ``patience`` validations, and give
    back the weights of the best one; off while ``patience`` is None. The rule: the module docstring.

    Args:
        monitor: the logged metric to watch (``val/acc``, ``val/loss``).
        min_delta: how much better than the best a value must be to count as an improvement (>= 0).
        patience: validations without improvement before stopping; None: never stop (off).
        mode: ``"max"`` for an accuracy, ``"min"`` for a loss.
        check_finite: stop at once when the metric is NaN or infinite (Lightning's argument and default).
        restore_best_weights: when training ends, load the weights of the best validation back into the module.

    Attributes:
        best_score: the best value so far (a tensor: ±inf before the first validation).
        best_epoch: the epoch of ``best_score`` (None before the first improvement).
        wait_count: validations since the last improvement.
        stopped_epoch: the epoch after which the rule stopped training; 0 while it has not.
        stopping_reason: Lightning's ``EarlyStoppingReason`` (NOT_STOPPED, PATIENCE_EXHAUSTED, NON_FINITE_METRIC).
        best_weights: a CPU copy of the module's ``state_dict()`` at ``best_epoch`` (None without restoring).

    Raises:
        ValueError: ``mode`` is not min / max or contradicts ``monitor``, ``patience`` is not None or a positive
            integer, or ``min_delta`` is negative.
    """

    def __init__(self, monitor: str = "val/acc", min_delta: float = 0.0, patience: int | None = None,
                 mode: str = "max", check_finite: bool = True, restore_best_weights: bool = True) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        check_mode(monitor, mode)
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience: expected a positive integer (or null: off), got {patience!r}")
        if not (isinstance(min_delta, (int, float)) and min_delta >= 0):
            raise ValueError(f"min_delta: expected a number >= 0, got {min_delta!r}")
        self.monitor, self.min_delta, self.patience, self.mode = monitor, float(min_delta), patience, mode
        self.check_finite, self.restore_best_weights = check_finite, restore_best_weights
        self.enabled = patience is not None
        self.best_score = torch.tensor(math.inf if mode == "min" else -math.inf)
        self.best_epoch: int | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.wait_count = 0
        self.stopped_epoch = 0
        self.stopping_reason = EarlyStoppingReason.NOT_STOPPED
        self.stopping_reason_message: str | None = None

    @property
    def state_key(self) -> str:
        # Lightning's key (the class's name, monitor, mode): the twins read each other's checkpoints
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    # ------------------------------------------------------------------ the rule

    def improved(self, current: torch.Tensor) -> bool:
        """Whether ``current`` is strictly better than the best by more than ``min_delta``."""
        best = self.best_score.to(current.device)
        if self.mode == "min":
            return bool(current + self.min_delta < best)
        return bool(current - self.min_delta > best)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (not self.enabled or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING
                or trainer.fast_dev_run):
            return
        logs = trainer.callback_metrics
        if self.monitor not in logs:
            raise RuntimeError(f"early stopping: the monitored metric {self.monitor!r} was not logged; "
                               f"logged: {', '.join(logs) or 'nothing'}")
        current = torch.as_tensor(logs[self.monitor]).detach().squeeze()
        should_stop = False
        if self.check_finite and not torch.isfinite(current):
            should_stop, self.stopping_reason = True, EarlyStoppingReason.NON_FINITE_METRIC
            self.stopping_reason_message = f"{self.monitor} = {current.item()} is not finite"
        elif self.improved(current):
            # a new best: remember it (and the weights that gave it), start counting again
            self.best_score, self.best_epoch, self.wait_count = current.cpu(), trainer.current_epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in pl_module.state_dict().items()}
        else:
            self.wait_count += 1
            if self.wait_count >= self.patience:
                should_stop, self.stopping_reason = True, EarlyStoppingReason.PATIENCE_EXHAUSTED
                self.stopping_reason_message = (f"{self.monitor} did not improve in {self.wait_count} validations; "
                                                f"best {self.best_score.item():.4g} in epoch {self.best_epoch}")
        # stop every DDP process if any of them stops
        should_stop = trainer.strategy.reduce_boolean_decision(should_stop, all=False)
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop:
            self.stopped_epoch = trainer.current_epoch

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.enabled and self.restore_best_weights):
            return
        if self.best_weights is None:
            if self.best_epoch is not None:  # resumed from a checkpoint without them (Lightning's callback)
                rank_zero_warn(f"early stopping: no weights of the best epoch ({self.best_epoch}) to restore; "
                               "the module keeps the last epoch's")
            return
        pl_module.load_state_dict(self.best_weights)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {
            # Lightning's names (its load_state_dict reads these)
            "wait_count": self.wait_count,
            "stopped_epoch": self.stopped_epoch,
            "best_score": self.best_score,
            "patience": self.patience,
            "stopping_reason": self.stopping_reason.value,
            "stopping_reason_message": self.stopping_reason_message,
            # c147's
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # the patience stays the one given to the constructor (Lightning's takes the checkpoint's)
        self.wait_count = int(state_dict["wait_count"])
        self.stopped_epoch = int(state_dict["stopped_epoch"])
        self.best_score = torch.as_tensor(state_dict["best_score"]).detach().cpu()
        self.stopping_reason = EarlyStoppingReason(state_dict.get("stopping_reason",
                                                                  EarlyStoppingReason.NOT_STOPPED.value))
        self.stopping_reason_message = state_dict.get("stopping_reason_message")
        self.best_epoch = state_dict.get("best_epoch")
        self.best_weights = state_dict.get("best_weights") if self.restore_best_weights else None


def early_stopping(callbacks: Iterable[Any]) -> EarlyStopping | LightningEarlyStopping | None:
    """The early-stopping callback among ``callbacks`` that is switched on, c147's or its twin, if any."""
    return next((c for c in callbacks if isinstance(c, (EarlyStopping, LightningEarlyStopping))
                 and getattr(c, "enabled", True)), None)


def stopped_epoch(trainer: L.Trainer) -> int | None:
    """The (0-based) epoch after which early stopping ended the run; None when it did not."""
    callback = early_stopping(trainer.callbacks)
    if callback is None or callback.stopping_reason == EarlyStoppingReason.NOT_STOPPED:
        return None
    return int(callback.stopped_epoch)


__all__ = ["EarlyStopping", "check_mode", "early_stopping", "metric_mode", "stopped_epoch"]
