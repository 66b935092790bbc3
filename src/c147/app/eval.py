"""``c147-eval ckpt_path=...``: test a checkpoint written by ``c147-train``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from c147.app.argv import split_override
from c147.app.build import build
from c147.app.entry import Invocation, hydra_entry, is_verbose
from c147.app.runs import check_fresh, print_summary, shown, write_metrics

if TYPE_CHECKING:
    import torch

    from c147.lit import Classifier

PROG = "c147-eval"


def load_checkpoint(ckpt_path: str | Path) -> tuple[DictConfig, dict]:
    """A c147 checkpoint, read once: its training config and the whole checkpoint dict.

    Raises:
        FileNotFoundError: no file at ``ckpt_path``.
        ValueError: the file is not a checkpoint written by ``c147-train``.
    """
    from c147.lit.checkpoint import checkpoint_config, read_checkpoint

    state = read_checkpoint(ckpt_path)
    return checkpoint_config(state), state


def load_weights(model: Classifier, state_dict: dict[str, torch.Tensor], ckpt_path: str | Path) -> None:
    """The checkpoint's network weights into ``model.net``; a mismatch is one ``ValueError`` naming
    the first differing entries, not a dump of every key."""
    from c147.lit.checkpoint import net_weights, weight_mismatch

    weights, want = net_weights(state_dict), model.net.state_dict()
    missing, unexpected, shapes = weight_mismatch(want, weights)
    if missing or unexpected or shapes:
        first = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                 else f"{shapes[0]} has shape {tuple(weights[shapes[0]].shape)}, the network's is "
                      f"{tuple(want[shapes[0]].shape)}")
        raise ValueError(f"ckpt_path: the weights in {ckpt_path} do not fit the network its config builds "
                         f"({type(model.net).__name__}): {first}")
    model.net.load_state_dict(weights)


def evaluate(cfg: DictConfig, inv: Invocation | None = None) -> dict[str, Any]:
    """Rebuild the checkpoint's run (its data unless ``cfg.data`` is set), test it, write metrics."""
    import lightning as L
    from hydra.utils import instantiate

    from c147.lit.progress import ProgressBar, quiet_lightning

    quiet_lightning(not is_verbose(cfg))
    inv = inv or Invocation(prog=PROG)
    run_dir = Path(cfg.paths.output_dir)
    with inv.user_errors(run_dir):
        check_fresh(run_dir)
        run_cfg, checkpoint = load_checkpoint(cfg.ckpt_path)
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule, model = build(run_cfg, stage="test", data=cfg.data if cfg.get("data") else None)
        load_weights(model, checkpoint["state_dict"], cfg.ckpt_path)  # the file is read once, above
        bar = [ProgressBar()] if cfg.trainer.get("enable_progress_bar", True) else []  # c147-train's bar
        trainer: L.Trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, callbacks=bar)
    trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics["checkpoint"] = str(Path(cfg.ckpt_path).resolve())
    if trainer.is_global_zero:
        write_metrics(run_dir, metrics)
        print_summary("c147-eval", {"test accuracy": metrics.get("test/acc", float("nan")),
                                    "checkpoint": shown(metrics["checkpoint"]), "run folder": shown(run_dir)})
    return metrics


def check_ckpt_path(inv: Invocation, cfg: DictConfig) -> None:
    """Before Hydra: the checkpoint to evaluate exists and is a c147-train checkpoint."""
    for arg in inv.overrides:
        kv = split_override(arg)
        if kv and kv[0] == "ckpt_path":
            from c147.lit.checkpoint import read_checkpoint

            read_checkpoint(kv[1].strip("'\""))
            return
    raise ValueError("ckpt_path: expected the checkpoint to evaluate, e.g. "
                     "c147-eval ckpt_path=outputs/train/runs/<time>/checkpoints/last.ckpt")


main = hydra_entry(PROG, "eval", evaluate, extra=check_ckpt_path)


if __name__ == "__main__":
    main()
