"""The LightningModule that trains any c147 network as a classifier."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MaxMetric, MeanMetric, Metric
from torchmetrics.classification import MulticlassAccuracy

from c147.lit.checkpoint import CONFIG_KEY, RANK_METRICS_KEY, RUN_CONFIG_KEY
from c147.nn.regularize import Regularizer

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


def trainable(net: nn.Module) -> list[torch.nn.Parameter]:
    """The parameters an optimizer gets: the frozen ones (``finetune.freeze``) left out."""
    return [p for p in net.parameters() if p.requires_grad]


def multitask_loss(losses: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Multitask learning's objective: the weighted sum ``sum_t w_t L_t`` of the tasks' losses."""
    if len(losses) != len(weights):
        raise ValueError(f"model.loss_weights: expected {len(losses)} weights (one per task), got {len(weights)}")
    return sum(w * loss for w, loss in zip(weights, losses, strict=True))


def _gather(value: torch.Tensor) -> torch.Tensor:
    """Every process's ``value``, stacked by rank (torch.distributed's own all-gather: Lightning's
    ``all_gather`` goes through a differentiable one that torch deprecates, and warns)."""
    out = [torch.empty_like(value) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(out, value.contiguous())
    return torch.stack(out)


class Classifier(L.LightningModule):
    """Cross-entropy style classification around ``net``.

    Logs ``train/loss``, ``train/acc``, ``train/lr``, ``val/loss``, ``val/acc``, ``val/acc_best``,
    ``test/loss`` and ``test/acc`` (torchmetrics, epoch-level). A loss is the mean over the epoch's
    samples (each batch's mean weighted by its size), so it does not depend on how they are batched.
    Under DDP every logged value is over all processes: the torchmetrics sum their states across
    processes before computing, the plain values (``train/lr``, ``train/penalty``,
    ``train/grad_norm``) are averaged with ``sync_dist``.

    Args:
        net: the network, mapping a batch of inputs to class scores (N, num_classes).
        loss: the criterion, called as ``loss(scores, targets)`` with class-index targets; a
            :class:`~c147.lit.ClassificationLoss` turns them into what its loss needs (one-hot rows for
            ``mse`` and ``bce``). Accuracy is always the argmax of the scores.
        optimizer: a partial taking the parameters (Hydra's ``_partial_: true``).
        scheduler: optional partial taking the optimizer.
        num_classes: number of classes, for the accuracy metrics.
        scheduler_monitor: metric a ``ReduceLROnPlateau`` scheduler watches.
        regularizer: optional weight and activity penalties (added to the loss, logged as
            ``train/penalty``) and max-norm constraint (applied after every optimizer step).
        grad_clip: optional partial taking the parameters and clipping their gradients before each
            optimizer step (``clip_grad_norm_`` or ``clip_grad_value_``); a returned total norm is
            logged as ``train/grad_norm``.
        config: the run's composed config as a plain dict; stored in every checkpoint so that
            ``c147-eval`` can rebuild the run from the checkpoint alone.
        run_config: the same config with its interpolations kept (``${paths.output_dir}``), stored too:
            a resumed run continues with it wherever its folder now is.
        task_names: the names of a multitask network's tasks (``train/loss_<name>``).
        compile: ``torch.compile`` the network's forward and the loss in place (``nn.Module.compile``:
            parameter names and checkpoints stay as they are); the first batches of each shape compile.
    """

    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        num_classes: int = 10,
        scheduler_monitor: str = "val/loss",
        regularizer: Regularizer | None = None,
        grad_clip: Callable[[Iterable[torch.nn.Parameter]], Any] | None = None,
        config: dict | None = None,
        run_config: dict | None = None,
        task_names: Sequence[str] | None = None,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_monitor = scheduler_monitor
        self.regularizer = regularizer
        if regularizer is not None:  # its activity penalty's hooks on the net (none when it is off)
            regularizer.attach(net)
        self.grad_clip = grad_clip
        self.config = config
        self.run_config = run_config
        if compile:
            net.compile()
            loss.compile()
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.val_acc_best = MaxMetric()
        # in every checkpoint, so that a resumed run continues them: the best validation accuracy so far,
        # and a training epoch's running means when the run stopped in its middle
        for metric in self._persistent_metrics().values():
            metric.persistent(True)
        # multitask (a net with ``forward_tasks``): per-task losses and accuracies, ``{stage}/loss_{task}``
        self.task_classes = list(getattr(net, "task_classes", None) or [])
        self.task_names = list(task_names or [f"task{t}" for t in range(len(self.task_classes))])
        if self.task_classes and len(self.task_names) != len(self.task_classes):
            raise ValueError(f"model.task_classes: the network has {len(self.task_classes)} heads, the data "
                             f"{len(self.task_names)} labels ({', '.join(self.task_names)})")
        self.task_metrics = nn.ModuleDict({
            f"{stage}_{kind}_{t}": (MulticlassAccuracy(k, average="micro") if kind == "acc" else MeanMetric())
            for stage in ("train", "val", "test") for kind in ("acc", "loss")
            for t, k in enumerate(self.task_classes)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _multitask_step(self, x: torch.Tensor, y: torch.Tensor, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.net.forward_tasks(x)
        losses = [self.loss(s, y[:, t]) for t, s in enumerate(scores)]
        for t, (s, loss) in enumerate(zip(scores, losses, strict=True)):
            name = self.task_names[t]
            self.task_metrics[f"{stage}_loss_{t}"](loss, len(x))
            self.task_metrics[f"{stage}_acc_{t}"](s.argmax(dim=1), y[:, t])
            self.log(f"{stage}/loss_{name}", self.task_metrics[f"{stage}_loss_{t}"], on_step=False, on_epoch=True)
            self.log(f"{stage}/acc_{name}", self.task_metrics[f"{stage}_acc_{t}"], on_step=False, on_epoch=True)
        return multitask_loss(losses, self.net.loss_weights), scores[0].argmax(dim=1)

    @staticmethod
    def _main(y: torch.Tensor) -> torch.Tensor:
        """The main task's labels (column 0 of (N, tasks) labels)."""
        return y[:, 0] if y.dim() == 2 else y

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str = "train") -> tuple[torch.Tensor,
                                                                                          torch.Tensor]:
        x, y = batch
        if self.task_classes:
            return self._multitask_step(x, y if y.dim() == 2 else y[:, None], stage)
        scores = self(x)
        if isinstance(scores, tuple):  # GoogLeNet in training: (logits, *auxiliary logits)
            scores, *aux = scores
            weight = getattr(self.net, "aux_weight", None)  # the net says its auxiliary outputs' share of the loss
            if weight is None:
                raise TypeError(f"{type(self.net).__name__} returns auxiliary outputs in training but has no "
                                f"aux_weight (their share of the loss)")
            loss = self.loss(scores, y) + weight * sum(self.loss(a, y) for a in aux if a is not None)
            return loss, scores.argmax(dim=1)
        return self.loss(scores, y), scores.argmax(dim=1)

    def on_train_start(self) -> None:
        # what validation sanity checks accumulated must not count (val/acc_best is restored on resume)
        self.val_loss.reset()
        self.val_acc.reset()
        if self.trainer.fit_loop.restarted_mid_epoch:  # Lightning calls no on_train_epoch_start then
            self._log_lr()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, preds = self._step(batch, "train")
        self.train_loss(loss, len(batch[1]))  # weighted by the batch size: the mean over samples
        self.train_acc(preds, self._main(batch[1]))
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        penalty = self.regularizer.penalty(self.net) if self.regularizer is not None else None
        if penalty is None:
            return loss
        self.log("train/penalty", penalty, on_step=False, on_epoch=True, sync_dist=True)
        return loss + penalty

    def on_before_optimizer_step(self, optimizer) -> None:
        if self.grad_clip is not None:
            norm = self.grad_clip(self.parameters())
            if norm is not None:
                self.log("train/grad_norm", norm, on_step=False, on_epoch=True, sync_dist=True)

    def optimizer_step(self, *args, **kwargs) -> None:
        super().optimizer_step(*args, **kwargs)
        # right after the step (not in on_train_batch_end, which runs after callbacks that may checkpoint)
        if self.regularizer is not None:
            self.regularizer.constrain(self.net)

    def on_train_epoch_start(self) -> None:
        # an epoch's running sums start at zero (a checkpoint saved at the end of the last one still holds its own);
        # a run resumed mid-epoch keeps its checkpoint's: Lightning does not call this hook then
        self.train_loss.reset()
        self.train_acc.reset()
        self._log_lr()

    def _log_lr(self) -> None:
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.log("train/lr", float(lr), on_step=False, on_epoch=True, sync_dist=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, preds = self._step(batch, "val")
        self.val_loss(loss, len(batch[1]))
        self.val_acc(preds, self._main(batch[1]))
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a check of the code, not a result: it must not be the best
            return
        self.val_acc_best(self.val_acc.compute())
        # the metrics' compute() is already over every process (torchmetrics syncs their states)
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True, sync_dist=True)

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Returns the main task's predicted classes: the ``outputs`` of callbacks' ``on_test_batch_end``
        (:class:`~c147.lit.monitors.Figures` counts them without a second forward pass)."""
        loss, preds = self._step(batch, "test")
        self.test_loss(loss, len(batch[1]))
        self.test_acc(preds, self._main(batch[1]))
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)
        return preds

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(trainable(self))
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        # Lightning recognises torch's ReduceLROnPlateau by class; ours (same name) needs saying
        on_plateau = type(scheduler).__name__ == "ReduceLROnPlateau"
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.scheduler_monitor, "interval": "epoch",
                             "reduce_on_plateau": on_plateau},
        }

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CONFIG_KEY] = self.config
        if self.run_config is not None:
            checkpoint[RUN_CONFIG_KEY] = self.run_config
        if self._trainer is not None and self.trainer.world_size > 1:
            # DDP: every process saves (the first writes); the running metrics it carries are those of all the
            # processes (summed counts and losses, the highest best), as one process's run would have them
            state = checkpoint["state_dict"]
            # and each process's own, which a resume on as many processes continues: its sums then add up in the
            # order of an uninterrupted run's, to the same bits
            checkpoint[RANK_METRICS_KEY] = {f"{name}.{k}": _gather(v.detach()).cpu()
                                            for name, metric in self._persistent_metrics().items()
                                            for k, v in metric.metric_state.items()}
            for name, metric in self._persistent_metrics().items():
                with metric.sync_context():
                    state.update({f"{name}.{k}": v.detach().clone() for k, v in metric.metric_state.items()})

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        world = self.trainer.world_size if self._trainer is not None else 1
        ranks = checkpoint.get(RANK_METRICS_KEY) or {}
        if world > 1 and ranks and all(len(v) == world for v in ranks.values()):  # as many processes: their own
            checkpoint["state_dict"].update({k: v[self.trainer.global_rank] for k, v in ranks.items()})
        elif world > 1 and self.trainer.global_rank > 0:
            # DDP: the checkpoint's running sums are everyone's (on_save_checkpoint); they are counted once, by
            # the first process, and the others start theirs from zero (their sum over processes is then right)
            state = checkpoint["state_dict"]
            for name, metric in self._persistent_metrics().items():
                if name != "val_acc_best":  # a maximum: the same on every process
                    metric.reset()
                    state.update({f"{name}.{k}": v.detach().clone() for k, v in metric.metric_state.items()})

    def _persistent_metrics(self) -> dict[str, Metric]:
        """The metrics every checkpoint carries (by attribute name): see ``__init__``."""
        return {"train_loss": self.train_loss, "train_acc": self.train_acc, "val_acc_best": self.val_acc_best}
