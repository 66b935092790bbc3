"""``c147-train``: fit a network with Lightning, configured by Hydra, logged to TensorBoard.

Resume: ``c147-train ckpt_path=<run>/checkpoints/last.ckpt`` (or ``ckpt_path=last`` from inside a run
folder) continues that run in its own folder, with its own config, the same TensorBoard run and
best-checkpoint tracking; a deterministic run resumed this way ends with the same weights and metrics
as one never interrupted. Values may change on resume (``trainer.max_epochs=30`` to train longer);
config groups may not. A checkpoint that is not its run's ``last.ckpt`` (``epoch_007.ckpt``) branches
into a new run folder, so no later checkpoint of the original run is overwritten.

SIGINT (Ctrl-C) or SIGTERM saves ``last.ckpt`` at the current step, writes ``metrics.json`` with
``"interrupted": true``, prints the command that resumes, and exits 130 / 143.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from c147.checkpoint import checkpoint_config, epochs_done, read_checkpoint, run_folder_of
from c147.cli import (
    DDP_ARGV,
    Invocation,
    check_config_types,
    check_fresh,
    config_groups,
    ddp_process_command,
    hydra_entry,
    override_value,
    print_summary,
    quote,
    remove_failed_run,
    split_override,
    user_errors,
    write_metrics,
)
from c147.switch import check_impl
from c147.transfer import finetune

if TYPE_CHECKING:  # Lightning takes seconds to import: not before the command line is known to be good
    import lightning as L

    from c147.lit import Classifier

PROG = "c147-train"
# the parts of the config shown in TensorBoard's hparams tab
HPARAM_KEYS = ("impl", "seed", "data", "model", "optim", "scheduler", "regularizer", "clip", "loss", "trainer",
               "finetune")


def build(cfg: DictConfig, stage: str = "fit", data: DictConfig | None = None) -> tuple[L.LightningDataModule,
                                                                                       Classifier]:
    """Data module and LightningModule from a composed config (``c147-train``'s, and ``c147-eval``'s
    for the config stored in a checkpoint).

    Everything a user can get wrong in the config surfaces here, before training: unknown
    arguments, bad values (the optimizer and scheduler are built once to check them), and
    missing datasets.

    Args:
        cfg: the run's config.
        stage: the data module's setup stage, ``"fit"`` or ``"test"``.
        data: another data config in place of ``cfg.data`` (``c147-eval data=...``).
    """
    from c147.lit import Classifier
    from c147.lit.classifier import trainable

    datamodule = instantiate(data if data is not None else cfg.data)
    datamodule.prepare_data()
    datamodule.setup(stage)
    task_classes = list(getattr(datamodule, "task_classes", [datamodule.num_classes]))
    multitask = cfg.model.get("_target_") == "c147.models.multitask"
    if multitask and len(task_classes) < 2:
        raise ValueError("model=multitask: needs a second label on the data (data.second_label=parity|at_least_5)")
    if not multitask and len(task_classes) > 1:
        raise ValueError(f"data.second_label: a second task needs model=multitask (got model "
                         f"{cfg.model.get('_target_')}); or data.second_label=null")
    net = instantiate(
        cfg.model,
        num_classes=datamodule.num_classes,
        in_channels=datamodule.in_channels,
        image_size=datamodule.image_size,
        **({"task_classes": task_classes} if multitask else {}),
    )
    finetune_cfg = cfg.get("finetune")
    if finetune_cfg:
        finetune(net, OmegaConf.to_container(finetune_cfg, resolve=True), load=stage == "fit")
    loss = instantiate(cfg.loss, **_loss_arguments(cfg, datamodule))
    if multitask and cfg.loss.get("class_weights") is not None:
        raise ValueError("loss.class_weights: not supported with model=multitask (one loss serves every task)")
    optimizer = instantiate(cfg.optim)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    regularizer = instantiate(cfg.regularizer) if cfg.get("regularizer") else None
    grad_clip = instantiate(cfg.clip) if cfg.get("clip") else None
    check = optimizer(trainable(net))  # raises ValueError on bad hyperparameters
    if scheduler is not None:
        scheduler(check)
    model = Classifier(
        net,
        loss,
        optimizer,
        scheduler,
        num_classes=datamodule.num_classes,
        task_names=list(getattr(datamodule, "task_names", [])) or None,
        regularizer=regularizer,
        grad_clip=grad_clip,
        config=OmegaConf.to_container(cfg, resolve=True),
        run_config=_run_config(cfg),
        compile=bool(cfg.get("compile", False)),
    )
    return datamodule, model


def _loss_arguments(cfg: DictConfig, datamodule: L.LightningDataModule) -> dict[str, Any]:
    """What a :class:`~c147.lit.ClassificationLoss` learns from the data: the number of classes and, for
    ``class_weights=balanced``, the training split's class counts (none for the plain criterion of a
    checkpoint written before the ``loss`` group existed)."""
    if not cfg.get("loss"):
        raise ValueError("loss: expected a loss (loss=cross_entropy|mse|bce|multi_margin), got none")
    if cfg.loss.get("_target_") != "c147.lit.ClassificationLoss":
        return {}
    args: dict[str, Any] = {"num_classes": datamodule.num_classes}
    if cfg.loss.get("class_weights") == "balanced":
        args["class_counts"] = torch.bincount(_train_labels(datamodule), minlength=datamodule.num_classes)
    return args


def _train_labels(datamodule: L.LightningDataModule) -> torch.Tensor:
    """The class labels of the training split (set up for it if needed: c147-eval sets up only the test split)."""
    from torch.utils.data import Subset, TensorDataset

    if getattr(datamodule, "train_set", None) is None:
        datamodule.setup("fit")
    dataset = datamodule.train_set
    if isinstance(dataset, TensorDataset):
        labels = dataset.tensors[1].long()
        return labels[:, 0] if labels.dim() == 2 else labels  # (N, tasks) with a second label: the main task
    if isinstance(dataset, Subset) and hasattr(dataset.dataset, "targets"):  # torchvision's: no image decoding
        return torch.as_tensor(dataset.dataset.targets)[torch.as_tensor(dataset.indices)].long()
    return torch.as_tensor([int(dataset[i][1]) for i in range(len(dataset))])


def _run_config(cfg: DictConfig) -> dict[str, Any]:
    """The config with its interpolations, for a resumed run; the data folder made absolute, since
    ``c147-train ckpt_path=last`` runs from inside the run folder."""
    config = OmegaConf.to_container(cfg, resolve=False)
    if "paths" in cfg and cfg.paths.get("data_dir"):
        config["paths"]["data_dir"] = str(Path(cfg.paths.data_dir).absolute())
    return config


def _hparams(cfg: DictConfig) -> dict[str, Any]:
    """The run's hparams, flat (``optim/lr``), with every key any option of a group has (``none`` where this
    run's option lacks it, or the group is off): every run has the same columns in TensorBoard."""
    from c147.cli import CONFIG_DIR
    from c147.lit.insight import group_keys, hparams

    config = OmegaConf.to_container(cfg, resolve=True)
    groups = [k for k in HPARAM_KEYS if (Path(CONFIG_DIR) / k).is_dir()]
    return hparams(config, (*HPARAM_KEYS, "name", "tags"), group_keys(Path(CONFIG_DIR), groups))


# ---------------------------------------------------------------------------------- checks


def check_config(cfg: DictConfig) -> None:
    """What Lightning would accept and then do something surprising with, or fail on much later."""
    check_impl(cfg.impl)
    if not isinstance(cfg.get("seed"), int) or isinstance(cfg.seed, bool):
        raise TypeError(f"seed: expected int, got {cfg.get('seed')!r}")
    check_config_types(cfg, keys=("trainer",))  # first: other keys interpolate trainer.max_epochs
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is not None and (not isinstance(max_epochs, int) or isinstance(max_epochs, bool)
                                   or (max_epochs < 1 and max_epochs != -1)):
        raise ValueError(f"trainer.max_epochs: expected a positive integer (or -1: no limit), got {max_epochs!r}")
    check_config_types(cfg)


def check_monitors(callbacks: list) -> None:
    """Early stopping and the best checkpoint watch one metric: testing uses that checkpoint, and it must be
    the best by the metric that decided when to stop."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from c147.lit import LastCheckpoint
    from c147.lit.early_stopping import check_mode, early_stopping

    best = [c for c in callbacks if isinstance(c, ModelCheckpoint) and not isinstance(c, LastCheckpoint)]
    for c in best:
        if c.monitor is not None:
            try:
                check_mode(c.monitor, c.mode)
            except ValueError as e:
                raise ValueError(f"callbacks.model_checkpoint.{e}") from None
    stopper = early_stopping(callbacks)
    if stopper is not None and best and best[0].monitor != stopper.monitor:
        raise ValueError(f"callbacks.early_stopping.monitor: expected the best checkpoint's metric "
                         f"{best[0].monitor!r} (callbacks.model_checkpoint.monitor: testing uses that checkpoint), "
                         f"got {stopper.monitor!r}; set both, or use callbacks=early_stopping (val/loss)")


def _script_launcher(trainer: L.Trainer) -> Any:
    """The trainer's launcher if Lightning will start the other DDP processes by running the command line
    again (DDP on one machine, not under SLURM or torchrun, which start them themselves); else None."""
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = getattr(trainer.strategy, "launcher", None)
    if (isinstance(launcher, _SubprocessScriptLauncher) and launcher.num_processes > 1
            and not launcher.cluster_environment.creates_processes_externally):
        return launcher
    return None


def _main_is_c147_train() -> bool:
    """Whether this process runs ``c147-train`` (or ``python -m c147.train``): the command Lightning repeats."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    return (spec.name == "c147.train") if spec is not None else Path(sys.argv[0]).name in ("c147-train", "train.py")


def check_distributed(cfg: DictConfig, trainer: L.Trainer) -> None:
    """What DDP cannot do, said before it starts (rather than a hang or a traceback in another process).

    Raises:
        ValueError: torch's SyncBatchNorm on the CPU; processes to be started from a program that is not
            ``c147-train`` (``train()`` called from Python, a joblib or submitit_local job).
    """
    if (cfg.trainer.get("sync_batchnorm") and cfg.impl == "torch" and trainer.world_size > 1
            and trainer.strategy.root_device.type == "cpu"):
        raise ValueError("trainer.sync_batchnorm=true with impl=torch: torch.nn.SyncBatchNorm runs on GPUs only "
                         "(it refuses CPU tensors); got the CPU. Use impl=c147 (c147.nn.SyncBatchNorm works on the "
                         "CPU with gloo) or trainer.accelerator=gpu")
    launcher = _script_launcher(trainer)
    if launcher is not None and not _main_is_c147_train():
        raise ValueError(f"trainer.devices={launcher.num_processes} with strategy=ddp: Lightning starts the other "
                         f"processes by running c147-train's command line again, and this process is not "
                         f"c147-train (train() from Python, or a joblib / submitit_local job); run c147-train "
                         f"trainer=ddp ... itself, or train in one process (trainer.devices=1)")


@contextmanager
def ddp_processes(trainer: L.Trainer, run_dir: Path, overrides: list[str]) -> Iterator[None]:
    """While the first process fits: the command line of the DDP processes Lightning starts
    (:func:`c147.cli.ddp_process_command`, in the environment they inherit)."""
    if _script_launcher(trainer) is None or os.environ.get("LOCAL_RANK", "0") != "0":  # nothing to start
        yield
        return
    # what the launcher sets in this process's environment (a LOCAL_RANK left behind would make the next run
    # of a sweep believe its processes are started by someone else, and wait for them)
    keys = (DDP_ARGV, "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
    before = {k: os.environ.get(k) for k in keys}
    os.environ[DDP_ARGV] = json.dumps(ddp_process_command(run_dir.absolute(), overrides))
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()  # its other processes have ended with the run
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def resumed_config(cfg: DictConfig, state: dict[str, Any], overrides: list[str]) -> DictConfig:
    """The config a resumed run continues with: the checkpoint's own, in this invocation's run folder,
    with the command line's value overrides applied (``trainer.max_epochs=30``).

    Raises:
        ValueError: an override that would change the run's structure (``model=mlp``, ``+key``,
            ``~key``) or names a key the run's config does not have.
    """
    run_cfg = checkpoint_config(state, resolved=False)
    with open_dict(run_cfg):
        run_cfg.paths.output_dir = str(cfg.paths.output_dir)
        run_cfg.ckpt_path = str(Path(cfg.ckpt_path).resolve())
    groups = config_groups()
    for arg in overrides:
        kv = split_override(arg)
        key = kv[0] if kv else arg.lstrip("+~").split("=")[0]
        if key == "ckpt_path" or key.startswith("hydra."):
            continue
        if kv is None or key in groups:
            raise ValueError(f"'{arg}': a resumed run keeps its own config; only values may change "
                             f"(e.g. trainer.max_epochs=30). To train something else, start a new run")
        if OmegaConf.select(run_cfg, key, default="<missing>") == "<missing>":
            raise ValueError(f"'{arg}': the resumed run's config has no key '{key}'")
        OmegaConf.update(run_cfg, key, override_value(arg), merge=False)
    OmegaConf.set_struct(run_cfg, True)
    return run_cfg


def check_resumable(cfg: DictConfig, state: dict[str, Any]) -> None:
    done, max_epochs = epochs_done(state), cfg.trainer.get("max_epochs")
    if done is not None and max_epochs not in (None, -1) and done >= max_epochs:
        raise ValueError(f"ckpt_path: the run already trained {done} epochs (trainer.max_epochs={max_epochs}), "
                         f"nothing to resume; to train longer: {PROG} ckpt_path={cfg.ckpt_path} "
                         f"trainer.max_epochs={done + max(1, done // 2)}")


def task_overrides() -> list[str]:
    """This invocation's command-line overrides (empty outside a Hydra run)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


# ---------------------------------------------------------------------------------- training


def _metrics(trainer: L.Trainer) -> dict[str, float]:
    """The trainer's logged metrics as plain floats."""
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def _stopped(run_dir: Path, metrics: dict[str, Any], **info: Any) -> None:
    metrics.update(info)
    metrics["run_dir"] = str(run_dir)
    write_metrics(run_dir, metrics)


def train(cfg: DictConfig, overrides: list[str] | None = None) -> dict[str, Any]:
    """Fit, test the best checkpoint, log hparams with the final metrics, write ``metrics.json``.

    Args:
        cfg: the composed train config. With ``ckpt_path`` set the run resumes from that checkpoint
            with the checkpoint's own config (see the module docstring).
        overrides: the value overrides to apply to a resumed run's config (default: the command line's).

    Returns:
        The final metrics (``test/acc``, ``val/acc_best``, ...), plus the run folder.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    from c147.lit import LastCheckpoint, NonFiniteLoss, RunGuard, TrainingInterrupted
    from c147.lit.callbacks import last_checkpoint
    from c147.lit.early_stopping import stopped_epoch

    run_dir = Path(cfg.paths.output_dir)
    with user_errors(PROG, cleanup=lambda: remove_failed_run(run_dir)):
        state = None
        if cfg.get("ckpt_path"):
            state = read_checkpoint(cfg.ckpt_path)
            cfg = resumed_config(cfg, state, task_overrides() if overrides is None else overrides)
            check_resumable(cfg, state)
            resume = Path(cfg.ckpt_path)
            if resume.parent.name != "checkpoints" or resume.parent.parent != run_dir.resolve():
                check_fresh(run_dir)  # branching into a new folder
        else:
            check_fresh(run_dir)
        check_config(cfg)
        if cfg.get("name") is None and "name" in cfg and state is None:
            from c147.lit.insight import run_name

            with open_dict(cfg):  # kept in the checkpoint's config: a resumed run logs to the same TensorBoard run
                cfg.name = run_name(OmegaConf.to_container(cfg, resolve=True),
                                    task_overrides() if overrides is None else overrides)
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule, model = build(cfg)
        guard = RunGuard()
        callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c] + [guard]
        loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
        # no checkpoint callback configured: no checkpoints (Lightning would add its own default one)
        checkpointing = any(isinstance(c, ModelCheckpoint) for c in callbacks)
        check_monitors(callbacks)
        extra: dict[str, Any] = {} if checkpointing else {"enable_checkpointing": False}
        if cfg.trainer.get("sync_batchnorm") and cfg.impl == "c147":  # ours: c147.nn.SyncBatchNorm
            from c147.lit.distributed import SyncBatchNormPlugin

            extra["plugins"] = [SyncBatchNormPlugin()]
        trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **extra)
        check_distributed(cfg, trainer)
    state = None  # the memory-mapped checkpoint: Lightning reads it again

    best_callback = next((c for c in trainer.checkpoint_callbacks
                          if isinstance(c, ModelCheckpoint) and not isinstance(c, LastCheckpoint)), None)
    last_callback = last_checkpoint(trainer)
    start, fit_seconds, best = time.perf_counter(), None, ""
    try:
        with guard.catch_signals(trainer), ddp_processes(trainer, run_dir, task_overrides()):
            trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
            fit_seconds = time.perf_counter() - start
            metrics = _metrics(trainer)
            stopped = stopped_epoch(trainer)  # now: testing a checkpoint restores the callbacks' state from it
            best = best_callback.best_model_path if best_callback is not None else ""
            if cfg.get("test"):
                trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
                metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
    except TrainingInterrupted as e:
        name = signal.Signals(e.signum).name
        if not trainer.is_global_zero:  # DDP: the first process writes and tells
            raise SystemExit(e.exit_code) from None
        if fit_seconds is not None:  # while testing: training is complete, nothing to resume
            tested = best or (str(last_callback.path) if last_callback is not None else "")
            _stopped(run_dir, metrics, interrupted=True, signal=name, epoch=e.epoch, global_step=e.step,
                     fit_seconds=fit_seconds, best_checkpoint=best, stage="test")
            print(f"{PROG}: interrupted by {name} while testing; training had finished"
                  + (f"; test it with: c147-eval ckpt_path={tested}" if tested else ""), file=sys.stderr)
            raise SystemExit(e.exit_code) from None
        resume = f"{PROG} ckpt_path={e.checkpoint}" if e.checkpoint else None
        _stopped(run_dir, _metrics(trainer), interrupted=True, signal=name,
                 epoch=e.epoch, global_step=e.step, checkpoint=str(e.checkpoint or ""), resume_command=resume or "",
                 fit_seconds=time.perf_counter() - start, stage="fit")
        where = ("saved " if e.saved_now else "newest checkpoint ") + str(e.checkpoint) if e.checkpoint else \
            "no checkpoint (checkpointing is off)"
        print(f"{PROG}: interrupted by {name} at epoch {e.epoch}, step {e.step}; {where}"
              + (f"; resume with: {resume}" if resume else ""), file=sys.stderr)
        raise SystemExit(e.exit_code) from None
    except NonFiniteLoss as e:
        if not trainer.is_global_zero:
            raise SystemExit(1) from None
        good = last_callback.path if last_callback is not None and last_callback.path.is_file() else None
        _stopped(run_dir, _metrics(trainer), interrupted=False,
                 error=str(e), checkpoint=str(good or ""))
        hint = f"; the last good checkpoint is {good} (resume: {PROG} ckpt_path={good})" if good else ""
        print(f"{PROG}: error: {e}{hint}", file=sys.stderr)
        raise SystemExit(1) from None

    metrics.update(fit_seconds=fit_seconds, epochs=trainer.current_epoch, global_step=trainer.global_step,
                   stopped_epoch=stopped,
                   best_checkpoint=best, interrupted=False,
                   last_checkpoint=str(last_callback.path) if last_callback is not None else "",
                   resumed_from=str(cfg.get("ckpt_path") or ""))
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            final = {f"hparams/{k.replace('/', '_')}": v for k, v in metrics.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool)
                     and (k.startswith(("test/", "val/", "train/")) or k in ("fit_seconds", "epochs"))}
            logger.log_hyperparams(_hparams(cfg), metrics=final)
            logger.finalize("success")
    if trainer.is_global_zero:
        write_metrics(run_dir, metrics)
        print_summary(
            f"c147-train: {cfg.model._target_.rsplit('.', 1)[-1]} on {cfg.data._target_.rsplit('.', 1)[-1]}",
            {
                "test accuracy": metrics.get("test/acc", float("nan")),
                "best val accuracy": metrics.get("val/acc_best", float("nan")),
                "training time (s)": fit_seconds,
                "impl": cfg.impl,
                "run name": str(cfg.get("name") or ""),
                "run folder": str(run_dir),
                "TensorBoard": f"tensorboard --logdir {run_dir}",
            },
        )
    metrics["run_dir"] = str(run_dir)
    return metrics


# ---------------------------------------------------------------------------------- entry point


def prepare_resume(inv: Invocation) -> None:
    """Before Hydra: check ``ckpt_path`` and, for a run's own ``last.ckpt``, point Hydra at that run's
    folder (without rewriting its ``.hydra`` files)."""
    for i, arg in enumerate(inv.overrides):
        kv = split_override(arg)
        if not kv or kv[0] != "ckpt_path":
            continue
        value = override_value(arg)
        if value is None:
            return
        path = Path(str(value))
        if str(value) == "last":
            path = Path.cwd() / "checkpoints" / "last.ckpt"
            if not path.is_file():
                raise FileNotFoundError(f"ckpt_path=last: no checkpoints/last.ckpt in the current folder {Path.cwd()}; "
                                        f"run it from inside a run folder (outputs/train/runs/<time>) or give a path")
        state = read_checkpoint(path)
        path = path.resolve()
        # the resumed config and whether there is anything to resume: checked now, in a second, not after
        # Lightning's import (train() checks the same again)
        probe = OmegaConf.create({"paths": {"output_dir": str(path.parent)}, "ckpt_path": str(path)})
        check_resumable(resumed_config(probe, state, inv.overrides), state)
        inv.overrides[i] = f"ckpt_path={quote(path)}"
        inv.resume = path
        run = run_folder_of(path)
        if run is not None and inv.run_dir is None and path == run / "checkpoints" / "last.ckpt":
            inv.run_dir, inv.resume_in_place, inv.created = run, True, False
            inv.overrides += [f"hydra.run.dir={quote(run)}", "hydra.output_subdir=null"]
        return


def _task(cfg: DictConfig) -> float | None:
    torch.set_float32_matmul_precision("highest")
    metrics = train(cfg)
    value = metrics.get(cfg.get("optimized_metric") or "")
    return float(value) if value is not None else None


main = hydra_entry(PROG, "train", _task, extra=prepare_resume)


if __name__ == "__main__":
    main()
