"""A run's name and hparams in TensorBoard, and the TensorBoard logger.

- :func:`run_name`: ``<model>-<impl>-<optimizer>-lr<lr>`` and the command line's other overrides.
- :func:`hparams` / :func:`group_keys`: the same hparams columns in every run (``none`` where a run lacks a key),
  a config group as one column of its choice (``optim: Adam``), never ``_target_``.
- :func:`log_session`: a run's hparams for TensorBoard's HParams tab, whose metric columns are the run's own
  curves' last values (``test/acc``): no second copy of the metrics under another prefix.
- :class:`TensorBoardLogger`: Lightning's, without the ``epoch`` scalar it adds to every log call (the
  first card a user saw, above the losses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger as _TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

# ---------------------------------------------------------------------------------- names and hparams

# overrides already said by the name's first part, or that say nothing about what the run is
_UNNAMED = ("model", "impl", "optim", "optim.lr", "name", "tags", "paths.", "hydra.", "ckpt_path",
            "trainer.enable_progress_bar", "callbacks.model_summary", "callbacks.progress_bar", "verbose")
MAX_NAME = 120


def run_name(cfg: Mapping[str, Any], overrides: Sequence[str] = ()) -> str:
    """The run's TensorBoard name: ``<model>-<impl>-<optimizer>-lr<lr>`` then the command line's other
    overrides (``lenet5-c147-adam-lr0.002,regularizer=l2,seed=1``); ``/`` becomes ``_`` and quotes go, so it
    is one folder name; at most 120 characters (a longer one ends in ``...``)."""
    model = str(cfg["model"].get("_target_", "model")).rsplit(".", 1)[-1]
    optim = cfg.get("optim") or {}
    parts = [model, str(cfg.get("impl", "")), str(optim.get("name", "none")).lower()]
    if optim.get("lr") is not None:
        parts.append(f"lr{optim['lr']:g}")
    extra = []
    for arg in overrides:
        key = arg.lstrip("+~").split("=", 1)[0]
        if not any(key == u or (u.endswith(".") and key.startswith(u)) for u in _UNNAMED):
            extra.append(arg)
    name = "-".join(p for p in parts if p) + ("," + ",".join(extra) if extra else "")
    name = re.sub(r"[\"']", "", name).replace("/", "_").replace(" ", "")
    return name if len(name) <= MAX_NAME else name[:MAX_NAME - 3] + "..."


# a config group's keys that say which option it is (folded into one column named after the group), and its
# impl (every group's is ${impl}: the top-level column says it once)
_FOLDED = ("_target_", "name", "kind", "_partial_", "impl")


def _choice(node: Mapping[str, Any]) -> Any:
    """The option a config group holds: its ``name`` (``Adam``), else its ``_target_``'s last part (``lenet5``)."""
    if node.get("name") is not None:
        return node["name"]
    target = node.get("_target_")
    return str(target).rsplit(".", 1)[-1] if target is not None else None


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
        return out if out or not prefix else {prefix[:-1]: "none"}
    return {prefix[:-1]: node}


def _hparam_value(value: Any) -> Any:
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def hparams(config: Mapping[str, Any], keys: Sequence[str], every: Mapping[str, set[str]],
            first: Sequence[str] = ()) -> dict[str, Any]:
    """The flat hparams of a run (``optim/lr``, ``regularizer/l2``, ...): ``config``'s ``keys``, and every key
    in ``every`` (the union over a group's options) that this run lacks as ``"none"``, so that every run has
    the same columns in TensorBoard's hparams table. A group's option is one column named after the group
    (``optim: Adam``, ``model: lenet5``, ``clip: none``) in place of its ``_target_``, ``name`` and ``kind``;
    its ``impl`` is the top-level ``impl``.
    Lists become their text (``[0.9, 0.999]``). The keys in ``first`` come first, then the rest by name."""
    flat: dict[str, Any] = {}
    for key in keys:
        value = config.get(key)
        if not isinstance(value, Mapping) and key not in every:
            flat[key] = value
            continue
        own = _flatten(value, f"{key}/") if isinstance(value, Mapping) else {}
        for sub in every.get(key, ()):
            own.setdefault(f"{key}/{sub}", None)
        flat[key] = _choice(value) if isinstance(value, Mapping) else value
        flat.update({k: v for k, v in own.items() if k.rsplit("/", 1)[-1] not in _FOLDED})
    order = [k for k in first if k in flat] + sorted(k for k in flat if k not in first)
    return {k: _hparam_value(flat[k]) for k in order}


def group_keys(config_dir: Path, groups: Sequence[str]) -> dict[str, set[str]]:
    """For each config group, the union of the flat keys of its options (``configs/<group>/*.yaml``)."""
    from omegaconf import OmegaConf

    out: dict[str, set[str]] = {}
    for group in groups:
        keys: set[str] = set()
        for path in sorted((config_dir / group).glob("*.yaml")):
            node = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
            if isinstance(node, dict):
                node.pop("defaults", None)
                keys |= {k for k in _flatten(node) if k.rsplit("/", 1)[-1] not in _FOLDED}
        out[group] = keys
    return out


def log_session(writer: Any, params: Mapping[str, Any]) -> None:
    """``params`` as the run's HParams session (its start and its success), to ``writer`` (a
    ``torch.utils.tensorboard.SummaryWriter``: a Lightning TensorBoard logger's ``experiment``).

    The HParams tab reads a metric column as the last value of that scalar in the run, so the run's curves
    (``test/acc``, ``val/acc_best``) are its metrics as they are: no copy under a prefix, which would be a
    Time Series group of single points above the curves. No experiment summary either: TensorBoard uses one
    run's for every run, so ``scripts/tensorboard`` writes one over all the runs it serves
    (:mod:`c147.app.tensorboard_view`), and without it TensorBoard builds one from the sessions."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    from c147._compat import tensorboard_file_writer

    _, start, end = hparams_summary(dict(params), {})
    file_writer = tensorboard_file_writer(writer)
    file_writer.add_summary(start)
    file_writer.add_summary(end)
    writer.flush()


class TensorBoardLogger(_TensorBoardLogger):
    """Lightning's TensorBoard logger without the ``epoch`` scalar Lightning adds to every log call (the first
    card in TensorBoard, above the losses; the step axis already says where a value was logged)."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = {k: v for k, v in metrics.items() if k != "epoch"}
        if metrics:
            super().log_metrics(metrics, step)
