"""What every study runs on: its folder, TensorBoard writer and figures (:class:`Study`), c147-train runs
compared side by side (:class:`Comparison`, :func:`compare`), and the claim a study returns (:func:`claim`).

A study module holds its settings as data at its top and a ``run(s: Study) -> dict`` that returns its
measurements and ``"claim"``; :mod:`c147.app.studies.command` writes them into ``metrics.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from c147.app.argv import CONFIG_DIR
from c147.lit.figures import new_figure, save_figure

# every run a study makes: its output is the study's summary, not a progress bar and a model table per run
RUN_QUIET = ["trainer.enable_progress_bar=false", "callbacks.model_summary=null"]
# the reduced mode: the study's own figures only, not every run's histograms and figures
REDUCED_QUIET = ["callbacks.histograms=null", "callbacks.figures=null"]
# what a compared run reports in metrics.json (its curves stay in its own TensorBoard run)
FINAL_KEYS = ("train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "fit_seconds")


class Study:
    """What a study writes with: its folder, a TensorBoard writer, figures, and c147-train runs.

    Attributes:
        cfg: the command's config (``study``, ``reduced``, ``paths``).
        run_dir: the study's folder.
        writer: a ``SummaryWriter`` into ``<run_dir>/tensorboard/<study>``.
        reduced: the quick version the tests run.
        figures: the PNG files written so far, relative to ``run_dir``.
        trained: each c147-train run's label and the overrides it was given (metrics.json's record).
    """

    def __init__(self, cfg: DictConfig, run_dir: Path, writer: Any) -> None:
        self.cfg, self.run_dir, self.writer = cfg, run_dir, writer
        self.reduced = bool(cfg.reduced)
        self.figures: list[str] = []
        self.trained: dict[str, list[str]] = {}

    def pick(self, full: Any, reduced: Any) -> Any:
        """``reduced`` in the reduced mode, else ``full``."""
        return reduced if self.reduced else full

    def figure(self, tag: str, fig: Any) -> None:
        """Save ``fig`` as ``figures/<tag>.png`` and log it as the TensorBoard image ``figures/<tag>``."""
        save_figure(fig, self.run_dir / "figures" / f"{tag}.png", self.writer, f"figures/{tag}")
        self.figures.append(f"figures/{tag}.png")

    def train(self, label: str, *overrides: str, base: Sequence[str] = (),
              reduced_base: Sequence[str] = ()) -> dict[str, Any]:
        """A c147-train run in ``runs/<label>``, named ``label`` (its own TensorBoard run).

        Args:
            label: the run's folder and name.
            *overrides: this run's overrides, applied last.
            base: the overrides every run of the study shares, applied first.
            reduced_base: the reduced mode's extra overrides, applied after ``base``.

        Returns:
            c147-train's metrics of the run (``c147.app.train.train``).
        """
        from c147.app.train import train

        args = [*base, *([*reduced_base, *REDUCED_QUIET] if self.reduced else []), *overrides]
        self.trained[label] = args
        cfg = compose("train", [f"paths.output_dir={self.run_dir / 'runs' / label}", f"name={label}",
                                f"paths.data_dir={self.cfg.paths.data_dir}", *RUN_QUIET, *args])
        return train(cfg, overrides=args)


def compose(config_name: str, overrides: list[str]) -> DictConfig:
    """A packaged config (``train``, ``ensemble``) with ``overrides``, inside a Hydra app (c147-study) or
    outside it (the tests)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(config_name, overrides)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return hydra_compose(config_name, overrides)


def claim(statement: str, holds: bool, **values: Any) -> dict[str, Any]:
    """A study's headline claim: the sentence, whether it holds on this output, and the values compared."""
    return {"statement": statement, "holds": bool(holds), **values}


@dataclass(frozen=True)
class Comparison:
    """c147-train runs side by side: labelled overrides on a shared base, each trained for the same epochs.

    Attributes:
        train: the overrides every run shares.
        settings: each run's label and its own overrides.
        epochs: ``trainer.max_epochs`` of every run.
        reduced_epochs: the same in the reduced mode.
        reduced_settings: the labels the reduced mode runs (empty: all of them).
        reduced_train: the reduced mode's extra shared overrides.
    """

    train: Sequence[str]
    settings: dict[str, Sequence[str]]
    epochs: int
    reduced_epochs: int
    reduced_settings: Sequence[str] = ()
    reduced_train: Sequence[str] = ()


def train_all(s: Study, c: Comparison) -> tuple[dict[str, dict[str, Any]], int]:
    """Train each of ``c.settings`` (in the reduced mode, ``c.reduced_settings``); each run's metrics by
    label, and the epochs."""
    keep = c.reduced_settings if s.reduced and c.reduced_settings else tuple(c.settings)
    chosen = [label for label in c.settings if label in keep]
    epochs = s.pick(c.epochs, c.reduced_epochs)
    runs = {label: s.train(label, f"trainer.max_epochs={epochs}", *c.settings[label], base=c.train,
                           reduced_base=c.reduced_train) for label in chosen}
    return runs, epochs


def curve(run: dict[str, Any], tag: str) -> list[float]:
    """A scalar's values, epoch by epoch, read back from the run's TensorBoard event files ([] where the run
    lacks it)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # not a line per event file read
    (folder,) = [p for p in (Path(run["run_dir"]) / "tensorboard").iterdir() if p.is_dir()]
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def compare(s: Study, c: Comparison, tags: tuple[str, ...] = ("train/loss", "val/acc")
            ) -> tuple[dict[str, dict[str, Any]], int]:
    """:func:`train_all`, then ``tags`` epoch by epoch, one line per run, as ``figures/curves``. Returns each
    run's metrics with its ``curves``, and the epochs."""
    runs, epochs = train_all(s, c)
    for run in runs.values():
        run["curves"] = {tag: curve(run, tag) for tag in tags}
    fig = new_figure(5.5 * len(tags), 4)
    for i, tag in enumerate(tags):
        ax = fig.add_subplot(1, len(tags), i + 1)
        for label, run in runs.items():
            values = run["curves"][tag]
            draw = ax.semilogy if tag.endswith("loss") else ax.plot
            draw(range(1, len(values) + 1), values, marker=".", label=label)
        ax.set(title=tag, xlabel="epoch", ylabel=tag)
        ax.legend(fontsize=7)
    s.figure("curves", fig)
    return runs, epochs


def finals(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each run's final metrics (:data:`FINAL_KEYS`), by label."""
    return {label: {k: run[k] for k in FINAL_KEYS if k in run} for label, run in runs.items()}


def lower_final(runs: dict[str, dict[str, Any]], epochs: int, better: str, worse: str, statement: str
                ) -> dict[str, Any]:
    """The result of compared runs whose claim is: run ``better`` ends at a lower training loss than run
    ``worse``."""
    low, high = runs[better]["train/loss"], runs[worse]["train/loss"]
    return {"epochs": epochs, "runs": finals(runs), "claim": claim(statement, low < high, **{better: low, worse: high})}


def probabilities_on_test_split(run: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The softmax probabilities of a run's best checkpoint on its test split, and the labels (c147-ensemble's
    :func:`~c147.app.ensemble.member_probabilities`: the run rebuilt as c147-eval does)."""
    from c147.app.ensemble import member_probabilities
    from c147.lit.checkpoint import checkpoint_config, read_checkpoint

    ckpt = Path(run["best_checkpoint"])
    state = read_checkpoint(ckpt)
    return member_probabilities(checkpoint_config(state), state, ckpt, "cpu")[""]
