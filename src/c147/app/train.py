"""``c147-train``: fit a network with Lightning, configured by Hydra, logged to TensorBoard.

:func:`train` in its steps: :func:`plan` (a fresh run, or a :class:`~c147.app.resume.Resume`; the config
checked), :func:`assemble` (data, model, callbacks, loggers, trainer), :func:`fit_and_test`, and
:func:`finish` (hparams with the final metrics, ``metrics.json``, the summary table) or, when the run is
stopped, :func:`report_interrupt` / :func:`report_non_finite`.

SIGINT (Ctrl-C) or SIGTERM saves ``last.ckpt`` at the current step, writes ``metrics.json`` with
``"interrupted": true``, prints the command that resumes, and exits 130 / 143. Resuming:
:mod:`c147.app.resume`. A SLURM job that was requeued (preempted: SIGTERM, then requeued) resumes by itself from
its run's own ``last.ckpt`` (:func:`requeued_checkpoint`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict

from c147.app.argv import config_groups
from c147.app.build import build, check_config, check_monitors, hparams_of
from c147.app.entry import Invocation, hydra_entry, is_verbose
from c147.app.resume import Resume, prepare_resume
from c147.app.runs import check_fresh, print_summary, remove_failed_run, shown, tensorboard_line, write_metrics

if TYPE_CHECKING:  # Lightning takes seconds to import: not before the command line is known to be good
    import lightning as L

    from c147.lit import Classifier, RunGuard

PROG = "c147-train"


def task_overrides() -> list[str]:
    """This invocation's command-line overrides (empty outside a Hydra run)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


# ---------------------------------------------------------------------------------- the steps


def requeued_checkpoint(cfg: DictConfig) -> Path | None:
    """In a SLURM job started again after a requeue (``SLURM_RESTART_COUNT`` > 0: preempted, or requeued at its
    time limit) without a ``ckpt_path``: its run folder's own ``last.ckpt``, if the first start saved one."""
    if cfg.get("ckpt_path") or int(os.environ.get("SLURM_RESTART_COUNT") or 0) < 1:
        return None
    last = Path(cfg.paths.output_dir).resolve() / "checkpoints" / "last.ckpt"
    return last if last.is_file() else None


def plan(cfg: DictConfig, overrides: list[str], inv: Invocation) -> DictConfig:
    """The config this run trains with: the checkpoint's own for a resume (:class:`Resume`), checked, with
    its TensorBoard name chosen; a fresh run (or a branch from an older checkpoint) needs an unused folder.
    A requeued SLURM job continues its run in place (:func:`requeued_checkpoint`), its command line unchanged."""
    requeued = requeued_checkpoint(cfg)
    if requeued is not None:
        with open_dict(cfg):
            cfg.ckpt_path = str(requeued)
        overrides = []  # the same job's command line: nothing to change
    resume = Resume.plan(cfg, overrides, config_groups(inv.config_dirs))
    if resume is not None:
        cfg = resume.config
    if resume is None or not resume.in_place:
        check_fresh(Path(cfg.paths.output_dir))
    check_config(cfg)
    if cfg.get("name") is None and "name" in cfg and resume is None:
        from c147.lit.logger import run_name

        with open_dict(cfg):  # kept in the checkpoint's config: a resumed run logs to the same TensorBoard run
            cfg.name = run_name(OmegaConf.to_container(cfg, resolve=True), overrides)
    return cfg


@dataclass
class Run:
    """What :func:`assemble` builds: everything :func:`fit_and_test` needs."""

    cfg: DictConfig
    run_dir: Path
    datamodule: L.LightningDataModule
    model: Classifier
    trainer: L.Trainer
    guard: RunGuard
    best: Any = None  # the best-checkpoint callback (None when checkpointing is off)
    last: Any = None  # the LastCheckpoint callback
    metrics: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float | None = None


def assemble(cfg: DictConfig, run_dir: Path) -> Run:
    """Seed, then build the data module, the model, the callbacks (with the run guard), the loggers and the
    trainer; what Lightning or DDP would refuse late is refused here."""
    import lightning as L
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import ModelCheckpoint, ModelSummary, ProgressBar

    from c147.app.ddp import check_distributed
    from c147.lit import LastCheckpoint, RunGuard
    from c147.lit.callbacks import AtomicCheckpointIO, last_checkpoint
    from c147.lit.progress import quiet_lightning

    quiet_lightning(not is_verbose(cfg))
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, model = build(cfg)
    guard = RunGuard()
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c] + [guard]
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a progress bar callback then
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    check_monitors(callbacks)
    extra: dict[str, Any] = {"plugins": [AtomicCheckpointIO()]}  # checkpoints written whole or not at all
    if not any(isinstance(c, ModelCheckpoint) for c in callbacks):  # else Lightning adds its own default one
        extra["enable_checkpointing"] = False
    if any(isinstance(c, ModelSummary) for c in callbacks):  # ours: Lightning need not look for a default one
        extra["enable_model_summary"] = False
    if cfg.trainer.get("sync_batchnorm") and cfg.impl == "c147":  # ours: c147.nn.SyncBatchNorm
        from c147.lit.distributed import SyncBatchNormPlugin

        extra["plugins"].append(SyncBatchNormPlugin())
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)
    check_distributed(cfg, trainer)
    # in the trainer's precision (64-true: float64) before a resumed run's checkpoint loads into it: Lightning
    # restores the weights before it converts the model, and float64 weights would pass through float32
    model = trainer.precision_plugin.convert_module(model)
    best = next((c for c in trainer.checkpoint_callbacks
                 if isinstance(c, ModelCheckpoint) and not isinstance(c, LastCheckpoint)), None)
    return Run(cfg, run_dir, datamodule, model, trainer, guard, best, last_checkpoint(trainer))


def fit_and_test(run: Run, overrides: list[str], inv: Invocation) -> None:
    """Fit (from the checkpoint when resuming), then test the best checkpoint; the metrics land in ``run``."""
    from c147.app.ddp import ddp_processes
    from c147.lit.early_stopping import stopped_epoch

    trainer, start = run.trainer, time.perf_counter()
    with run.guard.catch_signals(trainer), ddp_processes(trainer, run.run_dir, overrides, inv.config_dirs):
        trainer.fit(run.model, datamodule=run.datamodule, ckpt_path=run.cfg.get("ckpt_path"))
        run.fit_seconds = time.perf_counter() - start
        run.metrics = _metrics(trainer)
        # now: testing a checkpoint restores the callbacks' state from it
        run.metrics["stopped_epoch"] = stopped_epoch(trainer)
        best = run.best.best_model_path if run.best is not None else ""
        run.metrics["best_checkpoint"] = best
        if run.cfg.get("test"):
            trainer.test(run.model, datamodule=run.datamodule, ckpt_path=best or None, verbose=False)
            run.metrics.update({k: v for k, v in _metrics(trainer).items() if k.startswith("test/")})


def report_interrupt(run: Run, e: Any, start: float, inv: Invocation) -> None:
    """A signal stopped the run: ``metrics.json`` says where, the terminal says how to resume; exit 130 / 143.
    A run folder this invocation made is removed when it holds nothing to resume or look at (no checkpoint, no
    finished epoch)."""
    name = signal.Signals(e.signum).name
    if not run.trainer.is_global_zero:  # DDP: the first process writes and tells
        raise SystemExit(e.exit_code) from None
    if run.fit_seconds is not None:  # while testing: training is complete, nothing to resume
        best = run.metrics.get("best_checkpoint", "")
        tested = best or (str(run.last.path) if run.last is not None else "")
        _stopped(run, run.metrics, interrupted=True, signal=name, epoch=e.epoch, global_step=e.step,
                 fit_seconds=run.fit_seconds, best_checkpoint=best, stage="test")
        print(f"{PROG}: interrupted by {name} while testing; training had finished"
              + (f"; test it with: c147-eval ckpt_path={tested}" if tested else ""), file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    if e.checkpoint is None and run.guard.epochs_done == 0 and inv.created:
        remove_failed_run(run.run_dir)
        print(f"{PROG}: interrupted by {name} in epoch {e.epoch + 1}, step {e.step}, before the first checkpoint; "
              f"removed {run.run_dir}", file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    resume = f"{PROG} ckpt_path={e.checkpoint}" if e.checkpoint else None
    _stopped(run, _metrics(run.trainer), interrupted=True, signal=name, epoch=e.epoch, global_step=e.step,
             checkpoint=str(e.checkpoint or ""), resume_command=resume or "",
             fit_seconds=time.perf_counter() - start, stage="fit")
    where = ("saved " if e.saved_now else "newest checkpoint ") + str(e.checkpoint) if e.checkpoint else \
        "no checkpoint (checkpointing is off)"
    print(f"{PROG}: interrupted by {name} in epoch {e.epoch + 1}, step {e.step}; {where}"
          + (f"; resume with: {resume}" if resume else ""), file=sys.stderr)
    raise SystemExit(e.exit_code) from None


def report_non_finite(run: Run, e: Exception) -> None:
    """A NaN or infinite loss stopped the run before the weights took it: name the last good checkpoint; exit 1."""
    if not run.trainer.is_global_zero:
        raise SystemExit(1) from None
    good = run.last.path if run.last is not None and run.last.path.is_file() else None
    _stopped(run, _metrics(run.trainer), interrupted=False, error=str(e), checkpoint=str(good or ""))
    hint = f"; the last good checkpoint is {good} (resume: {PROG} ckpt_path={good})" if good else ""
    print(f"{PROG}: error: {e}{hint}", file=sys.stderr)
    raise SystemExit(1) from None


def finish(run: Run) -> dict[str, Any]:
    """The hparams with the final metrics to TensorBoard, ``metrics.json``, the summary table."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from c147.lit.logger import log_session

    cfg, trainer, metrics = run.cfg, run.trainer, run.metrics
    metrics.update(fit_seconds=run.fit_seconds, epochs=trainer.current_epoch, global_step=trainer.global_step,
                   interrupted=False, last_checkpoint=str(run.last.path) if run.last is not None else "",
                   resumed_from=str(cfg.get("ckpt_path") or ""))
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            params = hparams_of(cfg)
            logger.log_hyperparams(params)  # hparams.yaml beside the events
            if trainer.is_global_zero:  # the metric columns: the curves' last values (test/acc, val/acc_best)
                log_session(logger.experiment, params)
            logger.finalize("success")
    if trainer.is_global_zero:
        write_metrics(run.run_dir, metrics)
        print_summary(
            f"c147-train: {cfg.model._target_.rsplit('.', 1)[-1]} on {cfg.data._target_.rsplit('.', 1)[-1]}",
            {
                "test accuracy": metrics.get("test/acc", float("nan")),
                "best val accuracy": metrics.get("val/acc_best", float("nan")),
                "training time (s)": run.fit_seconds,
                "impl": cfg.impl,
                "run name": str(cfg.get("name") or ""),
                "run folder": shown(run.run_dir),
                "TensorBoard": tensorboard_line(run.run_dir),
            },
        )
    metrics["run_dir"] = str(run.run_dir)
    return metrics


def _metrics(trainer: L.Trainer) -> dict[str, float]:
    """The trainer's logged metrics as plain floats."""
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def _stopped(run: Run, metrics: dict[str, Any], **info: Any) -> None:
    metrics.update(info)
    metrics["run_dir"] = str(run.run_dir)
    write_metrics(run.run_dir, metrics)


# ---------------------------------------------------------------------------------- the command


def train(cfg: DictConfig, overrides: list[str] | None = None, inv: Invocation | None = None) -> dict[str, Any]:
    """Fit, test the best checkpoint, log hparams with the final metrics, write ``metrics.json``.

    Args:
        cfg: the composed train config. With ``ckpt_path`` set the run resumes from that checkpoint
            with the checkpoint's own config (:mod:`c147.app.resume`).
        overrides: the command line's overrides: the run's name, the values a resumed run changes, the
            command line of DDP's other processes (default: Hydra's, empty outside a Hydra run).
        inv: the console script's invocation (default: a call from Python, whose folders are kept).

    Returns:
        The final metrics (``test/acc``, ``val/acc_best``, ...), plus the run folder.
    """
    from c147.lit import NonFiniteLoss, TrainingInterrupted

    inv = inv or Invocation(prog=PROG)
    overrides = task_overrides() if overrides is None else overrides
    run_dir = Path(cfg.paths.output_dir)
    with inv.user_errors(run_dir):
        cfg = plan(cfg, overrides, inv)
        run = assemble(cfg, run_dir)
    start = time.perf_counter()
    try:
        fit_and_test(run, task_overrides(), inv)
    except TrainingInterrupted as e:
        report_interrupt(run, e, start, inv)
    except NonFiniteLoss as e:
        report_non_finite(run, e)
    return finish(run)


def _task(cfg: DictConfig, inv: Invocation) -> float | None:
    import torch

    torch.set_float32_matmul_precision("highest")
    metrics = train(cfg, inv=inv)
    value = metrics.get(cfg.get("optimized_metric") or "")
    return float(value) if value is not None else None


def prepare_train(inv: Invocation, cfg: DictConfig) -> None:
    """Before Hydra (the types already checked): the config's values (:func:`~c147.app.build.check_config`),
    then ``ckpt_path`` (:func:`~c147.app.resume.prepare_resume`)."""
    check_config(cfg, types=False)
    prepare_resume(inv, cfg)


main = hydra_entry(PROG, "train", _task, extra=prepare_train)


if __name__ == "__main__":
    main()
