"""``c147-eval ckpt_path=...``: test a checkpoint written by ``c147-train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from c147.cli import CONFIG_DIR, check_fresh, print_summary, user_errors, write_metrics
from c147.lit import Classifier


def load_checkpoint(ckpt_path: str | Path) -> tuple[DictConfig, dict]:
    """A c147 checkpoint, read once: its training config and the whole checkpoint dict.

    Raises:
        FileNotFoundError: no file at ``ckpt_path``.
        ValueError: the file is not a checkpoint written by ``c147-train``.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path.resolve()}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise ValueError(f"{path} is not a PyTorch checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not state.get("c147_config"):
        raise ValueError(f"{path} is not a c147-train checkpoint (no 'c147_config' entry)")
    return OmegaConf.create(state["c147_config"]), state


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Rebuild the checkpoint's run (its data unless ``cfg.data`` is set), test it, write metrics."""
    run_dir = Path(cfg.paths.output_dir)
    with user_errors("c147-eval"):
        check_fresh(run_dir)
        run_cfg, checkpoint = load_checkpoint(cfg.ckpt_path)
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule = instantiate(cfg.data if cfg.get("data") else run_cfg.data)
        datamodule.prepare_data()
        datamodule.setup("test")
        net = instantiate(
            run_cfg.model,
            num_classes=datamodule.num_classes,
            in_channels=datamodule.in_channels,
            image_size=datamodule.image_size,
        )
        model = Classifier(net, instantiate(run_cfg.loss), instantiate(run_cfg.optim),
                           num_classes=datamodule.num_classes, config=OmegaConf.to_container(run_cfg))
        trainer: L.Trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    model.load_state_dict(checkpoint["state_dict"])  # the file is read once, above
    trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics["checkpoint"] = str(Path(cfg.ckpt_path).resolve())
    if trainer.is_global_zero:
        write_metrics(run_dir, metrics)
        print_summary("c147-eval", {"test accuracy": metrics.get("test/acc", float("nan")),
                                    "checkpoint": metrics["checkpoint"], "run folder": str(run_dir)})
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    """Console entry point ``c147-eval``."""
    evaluate(cfg)


if __name__ == "__main__":
    main()
