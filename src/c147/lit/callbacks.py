"""Callbacks that make a run safe to stop and resume.

- :class:`LastCheckpoint`: ``last.ckpt`` is the end of the latest training epoch (Lightning's
  ``save_last`` with a monitor writes it only when a top-k checkpoint is written, so it can be many
  epochs old); the best-by-validation checkpoint is a separate ``ModelCheckpoint``.
- :class:`RunGuard`: stores the global RNG states and the run's progress in every checkpoint and
  restores them on resume; turns SIGINT / SIGTERM into a checkpoint of the current step and a clean
  stop; stops on a non-finite loss before it reaches the weights.
- :class:`AtomicCheckpointIO`: every checkpoint file written whole or not at all (a SIGKILL mid-save leaves the
  previous one).
"""

from __future__ import annotations

import io
import math
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins import TorchCheckpointIO

from c147._io import atomic_write

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}  # the shell's 128 + signal number
# test hook: "POINT:FILE" makes RunGuard touch FILE at POINT of the fit and wait there for a signal
PAUSE_ENV = "C147_TEST_PAUSE_AT"
PAUSE_POINTS = ("setup", "first_batch", "mid_epoch", "validation", "test")


class LastCheckpoint(ModelCheckpoint):
    """Writes ``<dirpath>/last.ckpt`` at the end of every training epoch (after its validation), over
    the previous one; :class:`RunGuard` also writes it at the step where a run is interrupted.

    Args:
        dirpath: the run's checkpoint folder.
        filename: the file's name without ``.ckpt``.
    """

    def __init__(self, dirpath: str | Path, filename: str = "last") -> None:
        super().__init__(dirpath=dirpath, filename=filename, monitor=None, save_top_k=1, save_last=False,
                         save_on_train_epoch_end=True, auto_insert_metric_name=False, enable_version_counter=False)

    @property
    def path(self) -> Path:
        return Path(self.dirpath) / f"{self.filename}{self.FILE_EXTENSION}"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, each file written whole or not at all (:func:`c147._io.atomic_write`).

    Lightning's own writes into the system's temporary folder and moves the file into place: across filesystems
    (a node's local ``/tmp``, run folders on shared storage, as on most clusters) a move is a copy into the
    checkpoint's own path, and a kill halfway leaves it truncated. A remote path (``s3://``) is left to Lightning.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)  # all of it serialized before the file is opened
        with atomic_write(path, "wb") as f:
            f.write(buffer.getbuffer())


def last_checkpoint(trainer: L.Trainer) -> LastCheckpoint | None:
    """The trainer's :class:`LastCheckpoint` callback, if it has one."""
    return next((c for c in trainer.checkpoint_callbacks if isinstance(c, LastCheckpoint)), None)


class TrainingInterrupted(Exception):
    """The run stopped on a signal.

    Attributes:
        signum: the signal.
        checkpoint: the checkpoint to resume from (``None`` when there is none).
        saved_now: whether ``checkpoint`` holds the step where the run stopped (else an earlier one).
        epoch, step: where the run stopped.
    """

    def __init__(self, signum: int, checkpoint: Path | None, epoch: int, step: int, saved_now: bool) -> None:
        self.signum, self.checkpoint, self.epoch, self.step, self.saved_now = signum, checkpoint, epoch, step, saved_now
        super().__init__(f"{signal.Signals(signum).name} in epoch {epoch + 1}, step {step}")  # 1-based, as the bar

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT.get(signal.Signals(self.signum), 128 + self.signum)


class NonFiniteLoss(Exception):
    """The training loss became NaN or infinite; the weights were not updated with it."""


def rng_states() -> dict[str, Any]:
    """The global RNG states a run draws from: Python's, NumPy's, torch's CPU and CUDA generators."""
    # plain ints, strings and tensors only: loadable with torch.load(weights_only=True), as Lightning does
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {"python": random.getstate(), "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                    gauss), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned."""
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RunGuard(Callback):
    """Exact resume, clean interrupts, and a stop on a non-finite loss.

    Checkpoints get ``c147_rng`` (the global RNG states: dropout draws from them) and ``c147_progress``
    (epochs finished, global step, whether the run was interrupted). A run resumed from one restores
    the RNG states before its first step, so it draws the same masks as an uninterrupted run.

    Inside :meth:`catch_signals`, the first SIGINT or SIGTERM only sets a flag; at the end of the
    current training step (or validation) the run saves ``last.ckpt`` and raises
    :class:`TrainingInterrupted`. A second signal stops at once (``KeyboardInterrupt``).

    Test hook: with ``C147_TEST_PAUSE_AT=POINT:FILE`` in the environment the run touches ``FILE`` at ``POINT``
    and waits there until a signal comes, so that a test interrupts a real run at a known moment. The points:
    ``setup`` (Lightning's start of the fit), ``first_batch`` (before it), ``mid_epoch`` (before the second
    batch of the second epoch), ``validation`` (before the first batch after the sanity check), ``test``.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.epochs_done = 0
        self._fitting = False
        self._handlers: dict[int, Any] = {}  # catch_signals' handler per signal, while it is active
        point, _, file = os.environ.get(PAUSE_ENV, "").partition(":")
        self._pause_at = (point, file) if point in PAUSE_POINTS and file else None

    # ------------------------------------------------------------------ signals

    @contextmanager
    def catch_signals(self, trainer: L.Trainer, signums=(signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
        """Install the handlers for the duration of the block (restoring the previous ones after).

        While fitting, the first signal sets a flag; outside fitting (setup, testing), or a second
        signal, raises :class:`TrainingInterrupted` at once, naming the newest checkpoint on disk.
        """
        previous = {s: signal.getsignal(s) for s in signums}

        def handler(signum, frame):
            if self.signum is not None or not self._fitting:
                self.signum = signum
                raise TrainingInterrupted(signum, self._last_on_disk(trainer), trainer.current_epoch,
                                          trainer.global_step, saved_now=False)
            self.signum = signum

        for s in signums:
            signal.signal(s, handler)
        self._handlers = {s: handler for s in signums}
        try:
            yield
        finally:
            self._handlers = {}
            for s, h in previous.items():
                signal.signal(s, h)

    def _pause(self, point: str, trainer: L.Trainer) -> None:
        """The test hook (the class docstring): at ``point``, touch the file and wait for a signal. Under DDP the
        first process alone waits (the others wait for it in the step's collectives), so that a signal to it
        alone, as ``kill <pid>`` sends, goes on: a waiting process that no signal reaches would hang the run."""
        if self._pause_at is None or self._pause_at[0] != point or not trainer.is_global_zero:
            return
        file, self._pause_at = self._pause_at[1], None  # once
        Path(file).touch()
        while self.signum is None:  # outside fitting, the signal raises in here
            time.sleep(0.01)

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            self._pause("setup", trainer)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0 and trainer.current_epoch == 0:
            self._pause("first_batch", trainer)
        elif batch_idx == 1 and trainer.current_epoch == 1:
            self._pause("mid_epoch", trainer)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._pause("validation", trainer)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._pause("test", trainer)

    def _last_on_disk(self, trainer: L.Trainer) -> Path | None:
        last = last_checkpoint(trainer)
        return last.path if last is not None and last.path.is_file() else None

    def on_fit_start(self, trainer, pl_module) -> None:
        self._fitting = True

    def _own_handlers(self) -> None:
        # Lightning installs its own SIGTERM handler after on_fit_start (calling ours after it), and acts on it
        # at the next validation batch with its SIGTERMException: an exit with status 0, no checkpoint, no
        # metrics.json. Ours alone, then, from the sanity check on (Lightning puts the handlers of before the
        # fit back when it ends)
        if threading.current_thread() is threading.main_thread():
            for s, handler in self._handlers.items():
                signal.signal(s, handler)

    def on_sanity_check_start(self, trainer, pl_module) -> None:
        self._own_handlers()

    def on_train_start(self, trainer, pl_module) -> None:
        self._own_handlers()  # a fit without a sanity check

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._fitting = False

    @staticmethod
    def _on_any_process(trainer: L.Trainer, value: int) -> int:
        """The largest of the processes' ``value`` (DDP: they must agree on stopping, or those going on
        would wait forever in the next collective); ``value`` itself on one process."""
        if trainer.world_size <= 1:
            return value
        flag = torch.tensor(value, dtype=torch.long, device=trainer.strategy.root_device)
        return int(trainer.strategy.reduce(flag, reduce_op="max"))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        signum = self._on_any_process(trainer, self.signum or 0)  # a signal to any process stops them all
        if not signum:
            return
        self.signum = signum
        self._fitting = False  # a second signal while saving stops at once
        last = last_checkpoint(trainer)
        if last is not None:
            trainer.save_checkpoint(last.path, weights_only=False)  # all of it, as LastCheckpoint's
        raise TrainingInterrupted(self.signum, last.path if last is not None else None, trainer.current_epoch,
                                  trainer.global_step, saved_now=last is not None)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # runs before the checkpoint callbacks' hooks (Lightning orders those last), so the epoch's
        # last.ckpt records it; a signal that came during validation stops the run after that save
        self.epochs_done = trainer.current_epoch + 1
        if self.signum is not None:
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module) -> None:
        self._fitting = False
        if self.signum is not None:  # stopped after the epoch's last.ckpt (see on_train_epoch_end)
            raise TrainingInterrupted(self.signum, self._last_on_disk(trainer), trainer.current_epoch,
                                      trainer.global_step, saved_now=True)

    # ------------------------------------------------------------------ non-finite loss

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        value = float(loss.detach())
        if self._on_any_process(trainer, int(not math.isfinite(value))):  # DDP: one process's loss stops all
            what = f"is {value}" if not math.isfinite(value) else "of another process is not finite"
            raise NonFiniteLoss(
                f"the training loss {what} in epoch {trainer.current_epoch + 1}, step {trainer.global_step} "
                f"(batch {trainer.fit_loop.epoch_loop.batch_idx + 1} of the epoch); the weights were not updated"
            )

    # ------------------------------------------------------------------ checkpoint contents

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint["c147_rng"] = rng_states()
        checkpoint["c147_progress"] = {
            "epochs_done": self.epochs_done,
            "global_step": trainer.global_step,
            "interrupted": self.signum is not None,
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        progress = checkpoint.get("c147_progress") or {}
        self.epochs_done = int(progress.get("epochs_done", checkpoint.get("epoch", 0)))
        if checkpoint.get("c147_rng"):
            set_rng_states(checkpoint["c147_rng"])
