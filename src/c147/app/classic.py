"""``c147-classic task=NAME``: the sheet's classical machine learning on a dataset, logged to TensorBoard.

The data module of ``c147-train`` (``data=digits`` by default: the same split and normalization) gives
the train / val / test splits; their images, at their native size (the digits' 8x8: 64 features, not
LeNet-5's 32x32) unless ``native_size=false``, are flattened into feature rows. The task's estimator is
fitted on the training split (KNN's K first chosen by cross-validation on it), scored on the three
splits, and the run folder gets:

- ``metrics.json``: accuracies, the chosen K, fit and predict times;
- ``tensorboard/``: the per-fold accuracy of every K (step = K) or the training loss per epoch, the
  final accuracies, the figures, and the hyperparameters (their metric columns: the final accuracies);
- ``accuracy_vs_k.png`` (KNN with ``select_k``), ``solvers.png`` (``compare_solvers=true``).

Hydra lives here (an entry point), never in the estimators.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from c147.app.entry import Invocation, hydra_entry
from c147.app.runs import check_fresh, print_summary, shown, tensorboard_line, write_metrics

if TYPE_CHECKING:  # torch takes seconds to import: not before the command line is known to be good
    import torch
    from torch import Tensor
    from torch.utils.data import Dataset

PROG = "c147-classic"


def features(dataset: Dataset, device: torch.device, dtype: torch.dtype, limit: int | None = None
             ) -> tuple[Tensor, Tensor]:
    """A split as (X, y): every sample flattened into one row of ``dtype`` on ``device``."""
    import torch
    from torch.utils.data import DataLoader

    n = len(dataset) if limit is None else min(limit, len(dataset))
    xs, ys = [], []
    for x, y in DataLoader(torch.utils.data.Subset(dataset, range(n)), batch_size=1024):
        xs.append(x.reshape(len(x), -1))
        ys.append(torch.as_tensor(y))
    return torch.cat(xs).to(device=device, dtype=dtype), torch.cat(ys).to(device)


def load_splits(cfg: DictConfig) -> dict[str, tuple[Tensor, Tensor]]:
    """The data module's train / val / test splits as feature rows (the training split capped at
    ``max_train_samples``)."""
    import torch
    from hydra.utils import get_class, instantiate

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda: expected a CUDA device, found none (use device=cpu)")
    device, dtype = torch.device(cfg.device), getattr(torch, cfg.dtype)
    native = getattr(get_class(cfg.data._target_), "native_size", None)
    size = {"image_size": native} if cfg.native_size and native and "image_size" in cfg.data else {}
    dm = instantiate(cfg.data, **size)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    cap = cfg.max_train_samples
    return {
        "train": features(dm.train_set, device, dtype, cap),
        "val": features(dm.val_set, device, dtype),
        "test": features(dm.test_set, device, dtype),
    }


def timed(fn, X: Tensor, y: Tensor) -> tuple[Any, float]:
    """``fn(X, y)`` and its wall time (after the device of ``X`` has finished)."""
    import torch

    start = time.perf_counter()
    out = fn(X, y)
    if X.is_cuda:
        torch.cuda.synchronize(X.device)
    return out, time.perf_counter() - start


def run_task(cfg: DictConfig, splits: dict[str, tuple[Tensor, Tensor]], run_dir: Path, writer) -> dict[str, Any]:
    """Choose, fit and score the task's estimator; log curves and figures to ``writer``."""
    from hydra.utils import instantiate

    from c147.classic import compare_solvers, plot_accuracy_vs_k, plot_solver_comparison, select_k

    task, (X, y) = cfg.task, splits["train"]
    metrics: dict[str, Any] = {}
    estimator_cfg = task.estimator
    if task.get("select_k"):
        result = select_k(X, y, ks=list(task.select_k), n_splits=task.n_splits)
        for k, scores, mean in zip(result.ks, result.scores.tolist(), result.mean.tolist(), strict=True):
            writer.add_scalar("cv/acc_mean", mean, k)
            for fold, score in enumerate(scores):
                writer.add_scalar(f"cv/acc_fold{fold}", score, k)
        figure = plot_accuracy_vs_k(result, run_dir / "accuracy_vs_k.png")
        add_png(writer, "cv/accuracy_vs_k", figure)
        metrics["k"] = result.best_k
        metrics["cv/acc_best"] = result.mean.max().item()
        estimator_cfg = OmegaConf.merge(estimator_cfg, {"n_neighbors": result.best_k})
    estimator = instantiate(estimator_cfg)
    _, metrics["fit_seconds"] = timed(estimator.fit, X, y)
    history = getattr(estimator, "history_", {"epoch": [], "loss": []})  # the gradient-trained models'
    for epoch, loss in zip(history["epoch"], history["loss"], strict=True):
        writer.add_scalar("train/loss", loss, epoch)
    for split, (Xs, ys) in splits.items():
        metrics[f"{split}/acc"], seconds = timed(estimator.score, Xs, ys)
        if split == "test":
            metrics["predict_seconds"] = seconds
    if task.get("compare_solvers"):
        model = task.name
        kwargs = {k: v for k, v in OmegaConf.to_container(task.estimator, resolve=True).items()
                  if k not in ("_target_", "lr", "solver", "epochs")}
        curves = compare_solvers(X, y, model=model, lr=dict(task.solver_lr), epochs=task.estimator.epochs, **kwargs)
        for solver, h in curves.items():
            for t, loss in zip(h["time"], h["loss"], strict=True):
                writer.add_scalar(f"solvers/{solver}_loss_vs_ms", loss, round(1000 * t))
            metrics[f"solvers/{solver}_final_loss"] = h["loss"][-1]
            metrics[f"solvers/{solver}_seconds"] = h["time"][-1]
        add_png(writer, "solvers/loss_vs_time", plot_solver_comparison(curves, run_dir / "solvers.png"))
    return metrics


def add_png(writer, tag: str, path: Path) -> None:
    """A saved PNG as a TensorBoard image."""
    import torch
    from matplotlib.image import imread

    image = torch.from_numpy(imread(path)[..., :3].copy())  # (H, W, 3) floats in [0, 1]
    writer.add_image(tag, image, dataformats="HWC")


def classic(cfg: DictConfig, inv: Invocation | None = None) -> dict[str, Any]:
    """Run one task; write ``metrics.json`` and TensorBoard events; return the metrics."""
    from torch.utils.tensorboard import SummaryWriter

    from c147.lit.logger import log_session

    inv = inv or Invocation(prog=PROG)
    run_dir = Path(cfg.paths.output_dir)
    with inv.user_errors(run_dir):
        check_fresh(run_dir, "metrics.json", "tensorboard")
        if cfg.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: expected float32 or float64, got {cfg.dtype!r}")
        splits = load_splits(cfg)
        run_dir.mkdir(parents=True, exist_ok=True)
        with SummaryWriter(log_dir=str(run_dir / "tensorboard")) as writer:
            metrics = run_task(cfg, splits, run_dir, writer)
            for key in ("train/acc", "val/acc", "test/acc"):
                writer.add_scalar(key, metrics[key], 0)
            hparams = {k: v for k, v in OmegaConf.to_container(cfg.task.estimator, resolve=True).items()
                       if isinstance(v, int | float | str | bool)}
            log_session(writer, {"task": cfg.task.name, **hparams})  # metric columns: the accuracies above
    n = {split: len(y) for split, (_, y) in splits.items()}
    metrics.update(task=cfg.task.name, samples=n, features=splits["train"][0].shape[1])
    write_metrics(run_dir, metrics)
    data = f"{n['train']} / {n['val']} / {n['test']} samples, {metrics['features']} features"
    print_summary(f"{PROG} task={cfg.task.name}", {"data (train / val / test)": data,
                                                   **{k: v for k, v in metrics.items()
                                                      if k not in ("task", "samples", "features")},
                                                   "run folder": shown(run_dir),
                                                   "TensorBoard": tensorboard_line(run_dir)})
    return metrics


main = hydra_entry(PROG, "classic", classic)


if __name__ == "__main__":
    main()
