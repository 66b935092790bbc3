"""``c147-ensemble runs=[...]`` or ``multirun=...``: average several trained networks and check the sheet's
ensemble error formula on the result.

Each member is rebuilt from its checkpoint as ``c147-eval`` does (the checkpoint's own config, its own data
config) and run over the test split; the members must share that split. With the softmax probabilities
p_i (N x C) of the K members and the one-hot labels Y, the per-sample errors are e_i = p_i - Y, and

    v = mean_i E[||e_i||²],   c = mean_{i != j} E[e_i · e_j],   measured = E[||(1/K) Σ_i e_i||²]

(E: the mean over the test samples). Expanding ||Σ_i e_i||² gives measured = (1/K) v + ((K-1)/K) c exactly
(:func:`c147.theory.ensembles.ensemble_squared_error`): the sheet's formula, here with the sample moments.
The classification errors (0/1) are reported beside it: each member's, their mean, the ensemble's (the
argmax of the averaged probabilities), and the mean pairwise (Pearson) correlation of the members'
0/1 error indicators.

Members trained with ``model=multitask`` are averaged on every task: the figures above for the main task
(the digit), and the same figures for each other task under ``tasks.<name>`` in metrics.json (``parity/``
in TensorBoard).

Bagging: members trained with ``data.bootstrap=true`` and different ``seed=`` each see their own bootstrap
resample of the training split (``c147-train -m seed=0,1,2,3,4 data.bootstrap=true``).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from c147.app.entry import Invocation, hydra_entry
from c147.app.runs import check_fresh, print_summary, shown, sweep_job_folders, tensorboard_line, write_metrics

if TYPE_CHECKING:  # torch takes seconds to import: not before the command line is known to be good
    import torch

PROG = "c147-ensemble"
# data keys that change how a member trained, never which samples its test split holds (``seed``: only when a
# ``split_seed`` fixes the split; a member trained before split_seed existed split its data by ``seed``)
TRAINING_ONLY = ("bootstrap", "augment", "batch_size", "num_workers")
CHECKPOINTS = ("best", "last")


# ---------------------------------------------------------------------------------- members


def member_folders(cfg: DictConfig) -> list[Path]:
    """The members' run folders: ``cfg.runs``, or the numbered subfolders of ``cfg.multirun`` in order.

    Raises:
        ValueError: neither or both given, fewer than two members, the same run twice.
        FileNotFoundError / NotADirectoryError: a folder that is not there.
    """
    runs, multirun = cfg.get("runs") or [], cfg.get("multirun")
    if isinstance(runs, str):
        runs = [runs]
    if not isinstance(runs, (list, ListConfig)):
        raise TypeError(f"runs: expected a list of run folders, got {runs!r}")
    if runs and multirun:
        raise ValueError("runs, multirun: expected one of them, got both")
    if multirun:
        sweep = Path(str(multirun))
        if not sweep.is_dir():
            raise FileNotFoundError(f"multirun: expected a c147-train -m sweep folder, got {sweep.absolute()} "
                                    "(not a folder)")
        folders = sweep_job_folders(sweep)
        if not folders:
            raise ValueError(f"multirun: expected numbered member folders (0, 1, ...) in {sweep}, found none")
    else:
        folders = [Path(str(r)) for r in runs]
    if len(folders) < 2:
        raise ValueError(f"runs: expected at least two runs to combine (runs=[A,B,...] or multirun=DIR), "
                         f"got {len(folders)}")
    for folder in folders:
        if not folder.is_dir():
            raise NotADirectoryError(f"runs: expected a c147-train run folder, got {folder.absolute()} (not a folder)")
    seen = [f.resolve() for f in folders]
    if len(set(seen)) != len(seen):
        twice = next(f for f in folders if seen.count(f.resolve()) > 1)
        raise ValueError(f"runs: {twice} is listed twice; an ensemble's members are different runs")
    return folders


def member_checkpoint(run: Path, which: str) -> Path:
    """The checkpoint of ``run`` to use: its best one (the one its own test used) or ``last.ckpt``.

    Raises:
        FileNotFoundError: the run has no such checkpoint.
    """
    if which == "last":
        path = run / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise FileNotFoundError(f"runs: {run} has no checkpoints/last.ckpt (not a c147-train run folder?)")
        return path
    metrics = run / "metrics.json"
    best = OmegaConf.load(metrics).get("best_checkpoint") if metrics.is_file() else None
    if not best:
        raise FileNotFoundError(f"runs: {run} has no best checkpoint (metrics.json's best_checkpoint: an unfinished "
                                f"run, or one without checkpoints); checkpoint=last uses checkpoints/last.ckpt")
    path = run / "checkpoints" / Path(best).name  # where the run folder is now (it may have moved)
    if not path.is_file():
        raise FileNotFoundError(f"runs: {run}'s best checkpoint {Path(best).name} is not in {run / 'checkpoints'}")
    return path


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _flat(value, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): node}


def check_same_data(runs: list[Path], configs: list[DictConfig]) -> None:
    """The members' data configs agree on everything that decides the test split.

    Raises:
        ValueError: naming the first differing key and the two runs' values.
    """

    def split_keys(cfg: DictConfig) -> dict[str, Any]:
        data = _flat(OmegaConf.to_container(cfg.data, resolve=True))
        ignore = set(TRAINING_ONLY) | ({"seed"} if data.get("split_seed") is not None else set())
        return {k: v for k, v in data.items() if k.split(".")[0] not in ignore}

    first = split_keys(configs[0])
    for run, cfg in zip(runs[1:], configs[1:], strict=True):
        other = split_keys(cfg)
        for key in sorted(set(first) | set(other)):
            a, b = first.get(key, "<absent>"), other.get(key, "<absent>")
            if a != b:
                raise ValueError(f"data.{key}: the members must share one test split; {runs[0]} has {a!r}, "
                                 f"{run} has {b!r}")


def member_probabilities(run_cfg: DictConfig, state: dict, ckpt: Path, device: str) -> dict[str, tuple[
        torch.Tensor, torch.Tensor]]:
    """A member's softmax probabilities on its test split (N x C, float64) and the split's labels (N), per task:
    ``{"": (p, y)}`` for a one-task network; for a ``model=multitask`` one, the main task under ``""`` and each
    other task under its name (``{"": ..., "parity": ...}``)."""
    import torch

    from c147.app.build import build
    from c147.app.eval import load_weights

    datamodule, model = build(run_cfg, stage="test")
    load_weights(model, state["state_dict"], ckpt)
    net = model.net.to(device).eval()
    names = [""] + list(getattr(datamodule, "task_names", []))[1:]
    probs: list[list[torch.Tensor]] = [[] for _ in names]
    labels = []
    with torch.no_grad():
        for x, y in datamodule.test_dataloader():
            scores = net.forward_tasks(x.to(device)) if len(names) > 1 else (net(x.to(device)),)
            for t, s in enumerate(scores):
                probs[t].append(torch.softmax(s.double(), dim=1).cpu())
            labels.append(y if y.dim() == 2 else y[:, None])
    y = torch.cat(labels)
    return {name: (torch.cat(p), y[:, t]) for t, (name, p) in enumerate(zip(names, probs, strict=True))}


# ---------------------------------------------------------------------------------- the figures


def error_correlation(wrong: torch.Tensor) -> float:
    """The mean over member pairs of the Pearson correlation of their 0/1 error indicators (K x N); pairs
    where a member errs on all or none of the samples (no variance) are left out; NaN if none is left."""
    import torch

    values = []
    for i, j in itertools.combinations(range(wrong.shape[0]), 2):
        a, b = wrong[i].double(), wrong[j].double()
        if a.std() > 0 and b.std() > 0:
            values.append(torch.corrcoef(torch.stack([a, b]))[0, 1].item())
    return sum(values) / len(values) if values else math.nan


def ensemble_figures(probs: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Everything c147-ensemble reports, from the members' probabilities (K x N x C) and the labels (N).

    Returns:
        ``member_errors`` (0/1 test error of each member), ``mean_member_error``, ``ensemble_error``,
        ``error_correlation``, ``v``, ``c``, ``formula`` ((1/K) v + ((K-1)/K) c), ``measured``
        (E[||ē||²]), ``member_squared_errors`` (E[||e_i||²]) and ``ensemble_error_vs_k`` (the error of the
        average of the first k members, k = 1..K).
    """
    import torch

    from c147.theory.ensembles import ensemble_squared_error

    k, n, classes = probs.shape
    errors = probs - torch.nn.functional.one_hot(labels, classes).to(probs)  # e_i = p_i - y: (K, N, C)
    gram = torch.einsum("inc,jnc->ij", errors, errors) / n  # E[e_i · e_j]: (K, K)
    squared = gram.diagonal()  # E[||e_i||²]
    v = squared.mean().item()
    c = ((gram.sum() - squared.sum()) / (k * (k - 1))).item()
    measured = errors.mean(0).pow(2).sum(1).mean().item()  # E[||(1/K) Σ e_i||²]
    wrong = probs.argmax(2) != labels  # (K, N)
    member_errors = wrong.double().mean(1).tolist()
    vs_k = [(probs[:m].mean(0).argmax(1) != labels).double().mean().item() for m in range(1, k + 1)]
    return {
        "member_errors": member_errors,
        "mean_member_error": sum(member_errors) / k,
        "ensemble_error": vs_k[-1],
        "ensemble_error_vs_k": vs_k,
        "error_correlation": error_correlation(wrong),
        "member_squared_errors": squared.tolist(),
        "v": v,
        "c": c,
        "formula": ensemble_squared_error(v, c, k),
        "measured": measured,
    }


def log_tensorboard(folder: Path, figures: dict[str, Any], prefix: str = "") -> None:
    """The figures as TensorBoard scalars: per member (step = member index), per ensemble size (step = k),
    and the totals (step = K); tags start with ``prefix`` (a multitask member's other task: ``parity/``)."""
    from torch.utils.tensorboard import SummaryWriter

    k = len(figures["member_errors"])
    with SummaryWriter(str(folder)) as writer:
        pairs = zip(figures["member_errors"], figures["member_squared_errors"], strict=True)
        for i, (err, sq) in enumerate(pairs):
            writer.add_scalar(f"{prefix}member/test_error", err, i)
            writer.add_scalar(f"{prefix}member/squared_error", sq, i)
        for m, err in enumerate(figures["ensemble_error_vs_k"], start=1):
            writer.add_scalar(f"{prefix}ensemble/test_error_vs_k", err, m)
        for key in ("ensemble_error", "mean_member_error", "error_correlation", "v", "c", "formula", "measured"):
            writer.add_scalar(f"{prefix}ensemble/{key}", figures[key], k)


# ---------------------------------------------------------------------------------- the job


def check_checkpoint_choice(inv: Invocation, cfg: DictConfig) -> None:
    """``checkpoint=best|last`` (before Hydra too: nothing imported)."""
    if cfg.checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint: expected best or last, got {cfg.checkpoint!r}")


def ensemble(cfg: DictConfig, inv: Invocation | None = None) -> dict[str, Any]:
    """Load the members, check they share the test split, average them, write and print the figures."""
    import torch

    from c147.lit.checkpoint import checkpoint_config, read_checkpoint

    inv = inv or Invocation(prog=PROG)
    run_dir = Path(cfg.paths.output_dir)
    with inv.user_errors(run_dir):
        check_fresh(run_dir, "metrics.json", "tensorboard")
        check_checkpoint_choice(inv, cfg)
        runs = member_folders(cfg)
        ckpts = [member_checkpoint(run, cfg.checkpoint) for run in runs]
        states = [read_checkpoint(path, key="runs") for path in ckpts]
        configs = [checkpoint_config(state) for state in states]
        check_same_data(runs, configs)
        import lightning as L  # seconds to import: after the checks that need none of it

        outputs = []
        for ckpt, state, run_cfg in zip(ckpts, states, configs, strict=True):
            L.seed_everything(int(run_cfg.get("seed", 0)), verbose=False)
            out = member_probabilities(run_cfg, state, ckpt, str(cfg.device))
            if outputs and not torch.equal(out[""][1], outputs[0][""][1]):
                raise ValueError(f"data: {ckpt}'s test split holds other samples than {ckpts[0]}'s; the members must "
                                 f"share one test split")
            outputs.append(out)
    # the main task's figures, and (members trained with model=multitask) each other task's under tasks.<name>
    per_task = {name: ensemble_figures(torch.stack([o[name][0] for o in outputs]), outputs[0][name][1])
                for name in outputs[0]}
    figures = per_task.pop("")
    labels = outputs[0][""][1]
    k = len(runs)
    metrics = {"members": [str(r) for r in runs], "checkpoints": [str(p.resolve()) for p in ckpts], "k": k,
               "test_samples": len(labels), **figures, **({"tasks": per_task} if per_task else {}),
               "run_dir": str(run_dir)}
    run_dir.mkdir(parents=True, exist_ok=True)
    log_tensorboard(run_dir / "tensorboard", figures)
    for name, task_figures in per_task.items():
        log_tensorboard(run_dir / "tensorboard", task_figures, prefix=f"{name}/")
    write_metrics(run_dir, metrics)
    rows: dict[str, Any] = {f"member {i} ({run.parent.name}/{run.name}) test error": err
                            for i, (run, err) in enumerate(zip(runs, figures["member_errors"], strict=True))}
    rows.update({
        "mean member test error": figures["mean_member_error"],
        f"ensemble of {k} test error": figures["ensemble_error"],
        "mean pairwise error correlation": figures["error_correlation"],
        "v = mean_i E(||e_i||^2)": figures["v"],
        "c = mean_(i!=j) E(e_i . e_j)": figures["c"],
        "the sheet: (1/K) v + ((K-1)/K) c": figures["formula"],
        "measured E(||mean_i e_i||^2)": figures["measured"],
    })
    for name, task_figures in per_task.items():
        rows.update({f"{name}: mean member test error": task_figures["mean_member_error"],
                     f"{name}: ensemble of {k} test error": task_figures["ensemble_error"],
                     f"{name}: the sheet's formula / measured": f"{task_figures['formula']:.4f} / "
                                                                f"{task_figures['measured']:.4f}"})
    rows.update({
        "run folder": shown(run_dir),
        "TensorBoard": tensorboard_line(run_dir),
    })
    print_summary(f"{PROG}: {k} members, e_i = softmax_i - onehot(y)", rows)
    return metrics


main = hydra_entry(PROG, "ensemble", ensemble, extra=check_checkpoint_choice)


if __name__ == "__main__":
    main()
