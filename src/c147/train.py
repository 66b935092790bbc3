"""``c147-train``: fit a network with Lightning, configured by Hydra, logged to TensorBoard."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from c147.cli import CONFIG_DIR, check_fresh, print_summary, user_errors, write_metrics
from c147.lit import Classifier
from c147.switch import check_impl, fallbacks

# the parts of the config shown in TensorBoard's hparams tab
HPARAM_KEYS = ("impl", "seed", "data", "model", "optim", "scheduler", "regularizer", "clip", "loss", "trainer")


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, Classifier]:
    """Data module and LightningModule from a composed config.

    Everything a user can get wrong in the config surfaces here, before training: unknown
    arguments, bad values (the optimizer and scheduler are built once to check them), and
    missing datasets.
    """
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    net = instantiate(
        cfg.model,
        num_classes=datamodule.num_classes,
        in_channels=datamodule.in_channels,
        image_size=datamodule.image_size,
    )
    loss = instantiate(cfg.loss)
    optimizer = instantiate(cfg.optim)
    scheduler = instantiate(cfg.scheduler) if cfg.get("scheduler") else None
    regularizer = instantiate(cfg.regularizer) if cfg.get("regularizer") else None
    grad_clip = instantiate(cfg.clip) if cfg.get("clip") else None
    check = optimizer(net.parameters())  # raises ValueError on bad hyperparameters
    if scheduler is not None:
        scheduler(check)
    model = Classifier(
        net,
        loss,
        optimizer,
        scheduler,
        num_classes=datamodule.num_classes,
        regularizer=regularizer,
        grad_clip=grad_clip,
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    return datamodule, model


def _hparams(cfg: DictConfig) -> dict[str, Any]:
    return {k: OmegaConf.to_container(cfg[k], resolve=True) if isinstance(cfg[k], DictConfig) else cfg[k]
            for k in HPARAM_KEYS if k in cfg}


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test the best checkpoint, log hparams with the final metrics, write ``metrics.json``.

    Returns:
        The final metrics (``test/acc``, ``val/acc_best``, ...), plus the run folder.
    """
    run_dir = Path(cfg.paths.output_dir)
    with user_errors("c147-train"):
        check_impl(cfg.impl)
        check_fresh(run_dir)
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule, model = build(cfg)
        callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
        loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
        trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    fit_seconds = time.perf_counter() - start
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}

    checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
    best = checkpoint.best_model_path if checkpoint is not None else ""
    if cfg.get("test"):
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})

    metrics.update(fit_seconds=fit_seconds, epochs=trainer.current_epoch, best_checkpoint=best)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            final = {f"hparams/{k.replace('/', '_')}": v for k, v in metrics.items()
                     if k in ("test/acc", "val/acc_best", "test/loss")}
            logger.log_hyperparams(_hparams(cfg), metrics=final)
            logger.finalize("success")
    if trainer.is_global_zero:
        write_metrics(run_dir, metrics)
        builtins = fallbacks() if cfg.impl == "c147" else []
        print_summary(
            f"c147-train: {cfg.model._target_.rsplit('.', 1)[-1]} on {cfg.data._target_.rsplit('.', 1)[-1]}",
            {
                "test accuracy": metrics.get("test/acc", float("nan")),
                "best val accuracy": metrics.get("val/acc_best", float("nan")),
                "training time (s)": fit_seconds,
                "impl": cfg.impl + (f" ({len(builtins)} parts still built-in)" if builtins else ""),
                "run folder": str(run_dir),
                "TensorBoard": f"tensorboard --logdir {run_dir}",
            },
        )
    metrics["run_dir"] = str(run_dir)
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Console entry point ``c147-train``."""
    torch.set_float32_matmul_precision("highest")
    metrics = train(cfg)
    value = metrics.get(cfg.get("optimized_metric") or "")
    return float(value) if value is not None else None


if __name__ == "__main__":
    main()
