"""What a run shows on the terminal: a progress bar, a model summary, and none of Lightning's chatter.

- :class:`ProgressBar`: Lightning's rich bar with 1-based epochs (``Epoch 2/2`` is the last of two), no
  ``v_num``, and its metrics as ``name=value`` pairs that wrap between pairs, never inside one.
- :class:`ModelSummary`: Lightning's rich summary table without its FLOPs column (all zeros: Lightning counts
  FLOPs only for a model given an ``example_input_array``) or its Mode column, the totals on one line.
- :func:`quiet_lightning`: Lightning's INFO lines printed once (not by its own handler as well as the root
  logger's), and its tips, hints and deprecation warnings about its own internals dropped where they start.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lightning.fabric.utilities.warnings import PossibleUserWarning
from lightning.pytorch.callbacks import RichModelSummary, RichProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import MetricsTextColumn
from lightning.pytorch.utilities.model_summary import get_human_readable_count


class _PairsColumn(MetricsTextColumn):
    """The metrics as ``name=value`` pairs (the training ones without their ``train/``): a pair holds no
    space, so a narrow terminal wraps the column between pairs."""

    def _generate_metrics_texts(self):
        for text in super()._generate_metrics_texts():
            yield text.removeprefix("train/").replace(": ", "=", 1)


class ProgressBar(RichProgressBar):
    """Lightning's :class:`~lightning.pytorch.callbacks.RichProgressBar` with 1-based epochs, no ``v_num``
    (the tail of the TensorBoard run's name), and metrics that wrap as whole ``name=value`` pairs."""

    def _init_progress(self, trainer) -> None:
        super()._init_progress(trainer)
        if self.progress is not None and type(self._metric_component) is MetricsTextColumn:  # ours in its place
            pairs = _PairsColumn(trainer, self.theme.metrics, "  ", self.theme.metrics_format)
            self.progress.columns = tuple(pairs if c is self._metric_component else c for c in self.progress.columns)
            self._metric_component = pairs

    def configure_columns(self, trainer) -> list:
        """The description, a shorter bar, the batch count and the time (no speed column): room for the metrics."""
        from lightning.pytorch.callbacks.progress.rich_progress import (
            BatchesProcessedColumn,
            CustomBarColumn,
            CustomTimeColumn,
        )
        from rich.progress import TextColumn

        return [TextColumn("[progress.description]{task.description}"),
                CustomBarColumn(bar_width=20, complete_style=self.theme.progress_bar,
                                finished_style=self.theme.progress_bar_finished,
                                pulse_style=self.theme.progress_bar_pulse),
                BatchesProcessedColumn(style=self.theme.batch_progress),
                CustomTimeColumn(style=self.theme.time)]

    def get_metrics(self, trainer, pl_module) -> dict[str, Any]:
        """The epoch's training loss and accuracy, then validation's (the best accuracy is in the summary)."""
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        items.pop("val/acc_best", None)
        return dict(sorted(items.items(), key=lambda kv: kv[0].startswith("val/")))

    def _get_train_description(self, current_epoch: int) -> str:
        last = self.trainer.max_epochs
        text = f"Epoch {current_epoch + 1}" + (f"/{last}" if last is not None and last > 0 else "")
        return f"{text:{len(self.validation_description)}}"  # as wide as "Validation": no flicker between them


class ModelSummary(RichModelSummary):
    """Lightning's :class:`~lightning.pytorch.callbacks.RichModelSummary` without the FLOPs and Mode columns, the
    totals in one line."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], total_flops: int,
                  **summarize_kwargs: Any) -> None:
        from rich import get_console
        from rich.table import Table

        columns = [(name, values) for name, values in summary_data if name not in ("FLOPs", "Mode")]
        names = dict(columns).get("Name", [])
        rows = [i for i, name in enumerate(names) if name.split(".")[0] == "net"] or range(len(names))
        columns = [(name, [values[i] for i in rows]) for name, values in columns]  # the network's layers only
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for name, _ in columns:
            numeric = name in ("Params", "Params per Device", "In sizes", "Out sizes")
            table.add_column(name, justify="right" if numeric else "left", style="dim" if name == " " else None)
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        frozen = total_parameters - trainable_parameters
        console.print(f"{get_human_readable_count(int(total_parameters))} parameters"
                      + (f" ({get_human_readable_count(int(frozen))} frozen)" if frozen else "")
                      + f", {model_size:.3g} MB")


class _DropTips(logging.Filter):
    """Lightning's advertisements ("💡 Tip: ... try installing litlogger")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_lightning(quiet: bool = True) -> None:
    """Lightning's records once, through the root logger's handlers, when it has some (a Hydra run's terminal
    and ``<run>/<task>.log``): the ``lightning`` package adds a stderr handler of its own whatever the root
    logger has, and so printed each INFO line twice.

    With ``quiet``, also drop where they start: its tips; the ``srun`` hint (it assumes a SLURM machine runs
    jobs under ``srun``); the warning that a resumed run's checkpoint folder is not empty (c147 refuses a used
    folder to a fresh run before Lightning starts); the hint that an epoch has fewer batches than
    ``log_every_n_steps`` (c147 logs its training metrics per epoch); and the deprecation warning that its own
    ``_pytree`` helper triggers in torch."""
    if logging.getLogger().handlers:
        # ``lightning`` adds its handler always; ``lightning.pytorch`` and ``lightning.fabric`` add theirs, and stop
        # propagating, when they are imported before the root logger has handlers: before Hydra sets it up, as when
        # the config checks import a ``_target_`` (c147-train debug=fast)
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
            logger = logging.getLogger(name)
            own = [h for h in logger.handlers if type(h) is logging.StreamHandler]
            for handler in own:
                logger.removeHandler(handler)
            if own and name != "lightning":
                logger.propagate = True
    if not quiet:
        return
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in rank_zero.filters):
        rank_zero.addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system",
                            category=PossibleUserWarning)
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty", category=UserWarning,
                            module=r"lightning\.pytorch\.callbacks\.model_checkpoint")
    warnings.filterwarnings("ignore", message=r"The number of training batches \(\d+\) is smaller than the logging",
                            category=PossibleUserWarning)
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            category=FutureWarning, module=r"lightning\.pytorch\.utilities\._pytree")
