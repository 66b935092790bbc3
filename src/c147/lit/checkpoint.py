"""Reading c147 checkpoints: one place that says what a good one is and what is wrong with a bad one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

# the entries c147-train adds to Lightning's checkpoint (c147.lit)
CONFIG_KEY = "c147_config"  # the run's config, resolved: what c147-eval rebuilds
RUN_CONFIG_KEY = "c147_run_config"  # the same, interpolations kept: what a resumed run continues with
PROGRESS_KEY = "c147_progress"  # epochs finished, global step, whether the run was interrupted
RANK_METRICS_KEY = "c147_rank_metrics"  # DDP: each process's running metric states (stacked by rank)


def read_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """The checkpoint at ``path``, memory-mapped (a VGG's 1.5 GB is not read to check it).

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: not a readable PyTorch checkpoint (truncated, another format), or not one written
            by ``c147-train`` (no config inside). The message names ``key``, the config key it came from.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{key}: checkpoint not found: {path.absolute()}")
    if not path.is_file():
        raise ValueError(f"{key}: expected a checkpoint file, got the folder {path.absolute()}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        reason = " ".join(str(e).split())[:200]
        raise ValueError(f"{key}: {path} is not a readable PyTorch checkpoint (truncated or another format: "
                         f"{type(e).__name__}: {reason})") from None
    if not isinstance(state, dict) or not state.get(CONFIG_KEY):
        raise ValueError(f"{key}: {path} is not a checkpoint written by c147-train (it has no '{CONFIG_KEY}' entry)")
    return state


def net_weights(state_dict: dict[str, Any]) -> dict[str, Any]:
    """The network's entries of a Classifier checkpoint's ``state_dict``, without the ``net.`` prefix."""
    return {k[len("net."):]: v for k, v in state_dict.items() if k.startswith("net.")}


def weight_mismatch(want: dict[str, Any], weights: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """What stops ``weights`` from loading into a network whose state_dict is ``want``: the keys missing,
    the unexpected ones, and those of another shape (each in ``want``'s or ``weights``' order)."""
    missing = [k for k in want if k not in weights]
    unexpected = [k for k in weights if k not in want]
    shapes = [k for k in want if k in weights and weights[k].shape != want[k].shape]
    return missing, unexpected, shapes


# targets that moved since a checkpoint could have been written: its stored config still names the old path
MOVED_TARGETS = {
    "c147.lit.insight.TensorBoardLogger": "c147.lit.logger.TensorBoardLogger",
    "c147.lit.insight.EpochTimer": "c147.lit.monitors.EpochTimer",
    "c147.lit.insight.Histograms": "c147.lit.monitors.Histograms",
    "c147.lit.insight.Figures": "c147.lit.monitors.Figures",
    "c147.regularize.Regularizer": "c147.nn.regularize.Regularizer",
}


def _moved(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: MOVED_TARGETS.get(v, v) if k == "_target_" else _moved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_moved(v) for v in node]
    return node


def checkpoint_config(state: dict[str, Any], resolved: bool = True) -> DictConfig:
    """The run config stored in a checkpoint: resolved (paths as they were), or with its
    interpolations (``paths.output_dir: ${hydra:runtime.output_dir}``) when there is such a copy; targets
    that have moved since (:data:`MOVED_TARGETS`) under their new names."""
    key = RUN_CONFIG_KEY if not resolved and state.get(RUN_CONFIG_KEY) else CONFIG_KEY
    return OmegaConf.create(_moved(state[key]))


def epochs_done(state: dict[str, Any]) -> int | None:
    """How many whole epochs the checkpoint's run had trained (None for checkpoints that don't say)."""
    progress = state.get(PROGRESS_KEY)
    return int(progress["epochs_done"]) if progress else None

