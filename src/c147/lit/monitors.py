"""Logging callbacks: what a run shows in TensorBoard beyond its curves (``callbacks.<name>`` in the train
config; ``callbacks.figures=null`` turns one off).

TensorBoard's Time Series groups cards by the tag's first part, sorts the groups by name and opens the first
two: the curves' groups (``test/``, ``train/``, ``val/``) must come first, so these callbacks' tags sort after
``val/`` (``walltime/``, ``visual/``) or are off until asked for (the histograms).

- :class:`EpochTimer`: ``walltime/epoch_seconds`` and ``walltime/examples_per_second`` per training epoch.
- :class:`Histograms`: off by default (``callbacks.histograms.every_n_epochs=N`` turns it on); per layer, the
  weights (end of each epoch), the gradients (the epoch's first step) and the activations (every layer's
  output on the first validation batch).
- :class:`Figures`: after testing, the confusion matrix and a grid of misclassified test images (predicted /
  true label); after fitting, the first layer's filters (a convolution's kernels, or a linear layer's rows
  shown as images). Logged as TensorBoard images ``visual/<name>`` and saved as ``figures/<name>.png`` in the
  run folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger as _TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import nn

from c147.lit.figures import confusion_figure, first_layer_images, image_grid_figure, save_figure


def _as_input(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` in the dtype of ``module``'s parameters (``trainer.precision=64-true`` makes them float64 and
    converts batches only inside the step, not for a callback's own forward pass: the activation histograms)."""
    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), x.dtype)
    return x.to(dtype) if x.is_floating_point() else x


def _writer(trainer: Trainer):
    """The TensorBoard SummaryWriter of the run's first TensorBoard logger (None without one)."""
    for logger in trainer.loggers:
        if isinstance(logger, _TensorBoardLogger):
            return logger.experiment
    return None


# ---------------------------------------------------------------------------------- callbacks


class EpochTimer(Callback):
    """Logs ``walltime/epoch_seconds`` (wall time of the training epoch, validation excluded) and
    ``walltime/examples_per_second`` (training examples over that time) once per epoch."""

    def __init__(self) -> None:
        self._start = 0.0
        self._examples = 0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start, self._examples = time.perf_counter(), 0

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # a run resumed mid-epoch gets no on_train_epoch_start (Lightning): time the rest of the epoch
        self.on_train_epoch_start(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._examples += len(batch[0])

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        seconds = time.perf_counter() - self._start
        # over processes (DDP): the slowest one's time, and every process's examples
        pl_module.log("walltime/epoch_seconds", seconds, on_step=False, on_epoch=True, sync_dist=True, reduce_fx="max")
        pl_module.log("walltime/examples_per_second", self._examples / max(seconds, 1e-9), on_step=False, on_epoch=True,
                      sync_dist=True, reduce_fx="sum")


_SKIP = (nn.Dropout, nn.Flatten, nn.Identity)


def _layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The leaf modules whose outputs are worth a histogram (not dropout, flatten, identity)."""
    return [(n, m) for n, m in net.named_modules()
            if n and not list(m.children()) and not isinstance(m, _SKIP)
            and type(m).__name__ not in ("Dropout", "Flatten", "Identity", "GaussianNoise")]


class Histograms(Callback):
    """Per-layer histograms every ``every_n_epochs`` epochs: ``weight/<param>`` at the end of the epoch,
    ``grad/<param>`` of the epoch's first optimizer step, ``activation/<layer>.<kind>`` (the layer's output on
    the first validation batch, in eval mode: ``activation/features.1.ReLU``). Steps are epochs.
    ``every_n_epochs=None``: none (a layer's three histograms are cards of their own, dozens for a VGG)."""

    def __init__(self, every_n_epochs: int | None = None, weights: bool = True, gradients: bool = True,
                 activations: bool = True) -> None:
        if every_n_epochs is not None and (not isinstance(every_n_epochs, int) or isinstance(every_n_epochs, bool)
                                           or every_n_epochs < 1):
            raise ValueError(f"callbacks.histograms.every_n_epochs: expected a positive integer (or null: off), "
                             f"got {every_n_epochs!r}")
        self.every_n_epochs, self.weights, self.gradients, self.activations = (every_n_epochs, weights, gradients,
                                                                               activations)
        self._grads_due = False
        self._batch: torch.Tensor | None = None

    def _due(self, trainer: Trainer) -> bool:
        return (self.every_n_epochs is not None and trainer.is_global_zero and _writer(trainer) is not None
                and not trainer.sanity_checking and trainer.current_epoch % self.every_n_epochs == 0)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._grads_due = self.gradients and self._due(trainer)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self._grads_due:
            self._grads_due = False
            writer = _writer(trainer)
            for name, p in pl_module.named_parameters():
                if p.grad is not None:
                    writer.add_histogram(f"grad/{name}", p.grad.detach().float().cpu(), trainer.current_epoch)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.activations and batch_idx == 0 and self._batch is None and self._due(trainer):
            self._batch = batch[0].detach()

    @torch.no_grad()
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not (self.activations and self._batch is not None and self._due(trainer)):
            return
        writer, outputs, hooks = _writer(trainer), {}, []
        net = getattr(pl_module, "net", pl_module)
        kinds = {name: type(module).__name__ for name, module in _layers(net)}
        for name, module in _layers(net):
            hooks.append(module.register_forward_hook(
                lambda m, i, o, name=name: outputs.setdefault(name, o) if isinstance(o, torch.Tensor) else None))
        try:
            pl_module(_as_input(pl_module, self._batch))
        finally:
            for h in hooks:
                h.remove()
        for name, out in outputs.items():
            writer.add_histogram(f"activation/{name}.{kinds[name]}", out.detach().float().cpu(),
                                 trainer.current_epoch)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.weights and self._due(trainer):
            writer = _writer(trainer)
            for name, p in pl_module.named_parameters():
                writer.add_histogram(f"weight/{name}", p.detach().float().cpu(), trainer.current_epoch)


# ---------------------------------------------------------------------------------- figures


class Figures(Callback):
    """After testing: ``confusion_matrix`` and ``misclassified`` (up to ``max_images`` misclassified test
    images titled predicted / true), from the predicted classes the module's ``test_step`` returns
    (:class:`~c147.lit.Classifier`'s); after fitting: ``first_layer`` (the first layer's filters). Each is the
    TensorBoard image ``visual/<name>`` and ``<name>.png`` in ``dirpath``."""

    def __init__(self, dirpath: str | Path, max_images: int = 24) -> None:
        self.dirpath = Path(dirpath)
        self.max_images = max_images
        self.confusion: torch.Tensor | None = None  # the last test's counts (rows: true, columns: predicted)
        self._reset()

    def _reset(self) -> None:
        self._counts: torch.Tensor | None = None
        self._wrong: list[tuple[torch.Tensor, int, int]] = []

    def _emit(self, trainer: Trainer, tag: str, fig) -> None:
        save_figure(fig, self.dirpath / f"{tag}.png", _writer(trainer), f"visual/{tag}", trainer.global_step)

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._reset()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        x, y = batch[0], batch[1]
        y = y[:, 0] if y.dim() == 2 else y  # a multitask batch: the main task
        pred, c = outputs, trainer.datamodule.num_classes  # the test step's predictions (Classifier.test_step)
        counts = torch.bincount((y * c + pred).cpu(), minlength=c * c).reshape(c, c)
        self._counts = counts if self._counts is None else self._counts + counts
        images = x.dim() == 4 and min(x.shape[-2:]) >= 4  # not the 2-D points of data=synthetic (N x 2 x 1 x 1)
        for i in (pred != y).nonzero().flatten().tolist() if images else []:
            if len(self._wrong) < self.max_images:
                self._wrong.append((x[i].detach().cpu(), int(pred[i]), int(y[i])))

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.world_size > 1:  # DDP: each process counted its own share of the test split
            c = trainer.datamodule.num_classes
            local = self._counts if self._counts is not None else torch.zeros(c, c, dtype=torch.long)
            self._counts = trainer.strategy.reduce(local.to(pl_module.device), reduce_op="sum").cpu()
        if self._counts is None or not trainer.is_global_zero:
            return
        self.confusion = self._counts
        self._emit(trainer, "confusion_matrix", confusion_figure(self._counts))
        if self._wrong:
            images = torch.stack([w[0] for w in self._wrong])
            titles = [f"{p} / {t}" for _, p, t in self._wrong]
            self._emit(trainer, "misclassified", image_grid_figure(images, titles, "predicted / true"))

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        dm = trainer.datamodule
        images = first_layer_images(getattr(pl_module, "net", pl_module), getattr(dm, "in_channels", 1),
                                    getattr(dm, "image_size", 0))
        if images is not None:
            self._emit(trainer, "first_layer", image_grid_figure(images, title="first-layer filters",
                                                                 cmap="RdBu_r"))
