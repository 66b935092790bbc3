"""A run's parts from its composed config: the data module and the LightningModule (:func:`build`, shared by
``c147-train``, ``c147-eval``, ``c147-ensemble`` and the studies), and the checks of what Lightning would
accept and then do something surprising with.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from c147.app.argv import CONFIG_DIR
from c147.app.config_checks import check_config_types

if TYPE_CHECKING:  # Lightning takes seconds to import: not before the command line is known to be good
    import lightning as L
    import torch

    from c147.lit import Classifier

# the parts of the config shown in TensorBoard's hparams tab
HPARAM_KEYS = ("impl", "seed", "data", "model", "optim", "scheduler", "regularizer", "clip", "loss", "trainer",
               "finetune")
# the columns a user compares runs by: first in every run's hparams (scripts/tensorboard shows them first)
HPARAMS_FIRST = ("impl", "model", "optim", "optim/lr", "data/batch_size", "trainer/max_epochs", "seed")


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
    from hydra.utils import instantiate

    from c147.lit import Classifier
    from c147.lit.classifier import trainable
    from c147.lit.transfer import finetune

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
    import torch

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
    import torch
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


def hparams_of(cfg: DictConfig) -> dict[str, Any]:
    """The run's hparams, flat (``optim/lr``), with every key any option of a group has (``none`` where this
    run's option lacks it, or the group is off): every run has the same columns in TensorBoard.
    :data:`HPARAMS_FIRST` first, then the rest by name."""
    from c147.lit.logger import group_keys, hparams

    config = OmegaConf.to_container(cfg, resolve=True)
    groups = [k for k in HPARAM_KEYS if (Path(CONFIG_DIR) / k).is_dir()]
    flat = hparams(config, (*HPARAM_KEYS, "name", "tags"), group_keys(Path(CONFIG_DIR), groups), HPARAMS_FIRST)
    flat.pop("trainer/default_root_dir", None)  # the run folder, not a setting
    return flat


def check_config(cfg: DictConfig, types: bool = True) -> None:
    """What Lightning would accept and then do something surprising with, or fail on much later.

    Args:
        cfg: a composed train config.
        types: also every value's type and range, against the targets' signatures (False before Hydra, where
            :func:`~c147.app.argv.prepare` has checked them against the types table).
    """
    from c147.switch import check_impl

    check_impl(cfg.impl)
    if not isinstance(cfg.get("seed"), int) or isinstance(cfg.seed, bool):
        raise TypeError(f"seed: expected int, got {cfg.get('seed')!r}")
    if types:  # the values too (trainer.max_epochs >= 1, ...: config_checks.VALUE_RULES)
        check_config_types(cfg, keys=("trainer",), use_table=False)  # first: other keys interpolate max_epochs
        check_config_types(cfg, use_table=False)


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
