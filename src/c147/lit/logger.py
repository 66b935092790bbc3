"""A run's name and hparams in TensorBoard, and the TensorBoard logger.

- :func:`run_name`: ``<model>-<impl>-<optimizer>-lr<lr>`` and the command line's other overrides.
- :func:`hparams` / :func:`group_keys`: the same hparams columns in every run (``none`` where a run lacks a key).
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
            "trainer.enable_progress_bar", "callbacks.model_summary")
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


def hparams(config: Mapping[str, Any], keys: Sequence[str], every: Mapping[str, set[str]]) -> dict[str, Any]:
    """The flat hparams of a run (``optim/lr``, ``regularizer/l2``, ...): ``config``'s ``keys``, and every key
    in ``every`` (the union over a group's options) that this run lacks as ``"none"``, so that every run has
    the same columns in TensorBoard's hparams table. Lists become their text (``[0.9, 0.999]``)."""
    flat: dict[str, Any] = {}
    for key in keys:
        value = config.get(key)
        if not isinstance(value, Mapping) and key not in every:
            flat[key] = value
            continue
        own = _flatten(value, f"{key}/") if isinstance(value, Mapping) else {}
        for sub in every.get(key, ()):
            own.setdefault(f"{key}/{sub}", None)
        flat.update({k: v for k, v in (own or {key: value}).items() if not k.endswith("/_partial_")})
    return {k: _hparam_value(v) for k, v in sorted(flat.items())}


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
                node.pop("_partial_", None)
                keys |= set(_flatten(node))
        out[group] = keys
    return out


class TensorBoardLogger(_TensorBoardLogger):
    """Lightning's TensorBoard logger without the ``epoch`` scalar Lightning adds to every log call (the first
    card in TensorBoard, above the losses; the step axis already says where a value was logged)."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = {k: v for k, v in metrics.items() if k != "epoch"}
        if metrics:
            super().log_metrics(metrics, step)
