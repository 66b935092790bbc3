"""``c147-experiment study=NAME``: experiments that show the sheet's claims, with figures.

Each study writes into its run folder (``outputs/experiment/runs/<time>/``):

Run one with ``c147-experiment study=NAME`` (``reduced=true`` for the quick version).

- ``figures/*.png`` and the same figures as TensorBoard images (``tensorboard/<study>/``);
- ``runs/<label>/``: the c147-train runs it made (each its own TensorBoard run), so
  ``tensorboard --logdir <run folder>`` shows their curves side by side with the study's figures;
- ``metrics.json``: the measured values and the study's headline claim with ``holds: true|false``.

``reduced=true`` makes every study small enough for the tests (fewer steps, epochs, runs); the claim is
checked the same way. The studies (``configs/study/<name>.yaml`` holds each one's settings):

- ``optimizer_paths``: SGD, momentum, Nesterov, Adagrad, RMSProp, RMSProp + momentum and Adam (c147's
  hand-written optimizers) on two 2-D surfaces, an ill-conditioned quadratic and Rosenbrock's valley:
  trajectories over the contour lines, loss against step. Claim: Adam ends lower than plain SGD on the
  quadratic in the same number of steps.
- ``init``: a deep tanh and a deep ReLU MLP at sigma=0.01, sigma=1, Xavier and He initialisation, one
  forward and backward pass over digits: each layer's activation and gradient spread. Claim: at sigma=0.01
  the last layer's activations have far smaller variance than with Xavier's initialisation.
- ``regularization``: an MLP on the digits with no regularizer, L2, L1, dropout, early stopping,
  augmentation and input noise: train/val gaps and first-layer weight distributions. Claim: L1 leaves more
  near-zero weights than L2.
- ``ensemble``: members over seeds, averaged (c147-ensemble's figures): error against ensemble size, the
  sheet's (1/K) v + ((K-1)/K) c beside the measured value. Claim: the ensemble beats its mean member.
- ``optimizers``: SGD, momentum, Nesterov, Adagrad, RMSProp, RMSProp + momentum and Adam training one MLP:
  loss curves side by side. Claim: momentum ends below plain SGD at the same learning rate.
- ``lr_decay``: a constant learning rate, step decay and cosine annealing. Claim: cosine ends below constant.
- ``batch_size``: batch (one step an epoch), minibatch (32) and stochastic (1) gradient descent: loss and
  seconds per epoch, training seconds to a target loss, and the gradient noise E||g_B - g||² against B.
  Claim: stochastic ends below batch in the same epochs.
- ``batchnorm``: a 3-hidden-layer MLP with and without batch norm over a range of learning rates (SGD with
  momentum). Claim: at the largest rate the plain network diverges and the batch-normed one trains.
- ``augmentation``: each named augmentation applied to four digits (a sample grid), and an MLP trained on 100
  digits with and without ``data.augment=[rotate,scale,noise,blur]``. Claim: augmentation narrows the
  train/val gap (it does; the val accuracy itself is lower here, 0.81 against 0.87 after 30 epochs: on 8x8
  digits these transforms cost more than they add).
- ``transfer``: LeNet-5 trained on digits 0-4, then 5-9 from 50 labelled images: from scratch, fine-tuned,
  convolutions frozen, only a new head on the learned trunk, the same head on the trunk untrained. Claim: the
  features transfer (head on the learned trunk far above the untrained one); fine-tuning and scratch are
  reported beside it (on these digits they tie: see c147.lit.transfer).
- ``multitask``: one MLP trunk with a digit head and a parity head, the parity loss weighted 0, 0.5 and 2, and
  the single-task digit network. Claim: a head learns when its loss is weighted, not when its weight is 0.
- ``label_smoothing``: cross-entropy with and without label smoothing 0.1. Claim: smoothing lowers the mean
  top softmax probability on the test split.
- ``class_weights``: an imbalanced training split (``data.class_keep``: five digits at a tenth, ratio 10)
  with and without ``loss.class_weights=balanced``: per-class recall. Claim: class weights raise the
  minority classes' recall.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from c147.app.argv import CONFIG_DIR
from c147.app.entry import Invocation, hydra_entry
from c147.app.runs import check_fresh, print_summary, write_metrics
from c147.lit.figures import new_figure, save_figure

PROG = "c147-experiment"


class Study:
    """What a study writes with: its folder, a TensorBoard writer, figures, and c147-train runs."""

    def __init__(self, cfg: DictConfig, run_dir: Path, writer) -> None:
        self.cfg, self.run_dir, self.writer = cfg, run_dir, writer
        self.reduced = bool(cfg.reduced)
        self.figures: list[str] = []

    def pick(self, full: Any, reduced: Any) -> Any:
        return reduced if self.reduced else full

    def figure(self, tag: str, fig) -> None:
        """Save ``fig`` as ``figures/<tag>.png`` and log it as the TensorBoard image ``figures/<tag>``."""
        save_figure(fig, self.run_dir / "figures" / f"{tag}.png", self.writer, f"figures/{tag}")
        self.figures.append(f"figures/{tag}.png")

    def train(self, label: str, *overrides: str) -> dict[str, Any]:
        """A c147-train run in ``runs/<label>`` named ``label`` (the study's ``train`` overrides first, then in
        the reduced mode its ``reduced_train`` ones)."""
        from c147.app.train import train

        # reduced: the study's own figures only, not every run's histograms and figures
        reduced = ([*self.cfg.study.get("reduced_train", []), "callbacks.histograms=null", "callbacks.figures=null"]
                   if self.reduced else [])
        args = [*self.cfg.study.get("train", []), *reduced, *overrides]
        cfg = compose("train", [f"paths.output_dir={self.run_dir / 'runs' / label}", f"name={label}",
                             f"paths.data_dir={self.cfg.paths.data_dir}", "trainer.enable_progress_bar=false",
                             "callbacks.model_summary=null", *args])
        return train(cfg, overrides=args)


def compose(config_name: str, overrides: list[str]) -> DictConfig:
    """A packaged config (``train``, ``ensemble``) with ``overrides``, inside a Hydra app (c147-experiment) or
    outside it (the tests)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        return hydra_compose(config_name, overrides)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return hydra_compose(config_name, overrides)


def claim(statement: str, holds: bool, **values: Any) -> dict[str, Any]:
    return {"statement": statement, "holds": bool(holds), **values}


# ---------------------------------------------------------------------------------- optimizer_paths


def quadratic(p: torch.Tensor) -> torch.Tensor:
    """0.5 (x² + 100 y²): curvatures 1 and 100, condition number 100; minimum 0 at the origin."""
    return 0.5 * (p[..., 0] ** 2 + 100.0 * p[..., 1] ** 2)


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    """(1 - x)² + 100 (y - x²)²: a curved valley; minimum 0 at (1, 1)."""
    return (1 - p[..., 0]) ** 2 + 100.0 * (p[..., 1] - p[..., 0] ** 2) ** 2


SURFACES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], tuple[float, float], tuple[float, ...]]] = {
    # function, start, plot window (x0, x1, y0, y1)
    "quadratic": (quadratic, (-4.0, 0.6), (-4.5, 1.0, -1.0, 1.0)),
    "rosenbrock": (rosenbrock, (-1.5, 2.0), (-2.0, 1.6, -0.6, 2.6)),
}


def optimizer_table(surface: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The optimizers compared (c147.optim class name, arguments) on ``surface``. The SGD family's step is
    below the stability limit of the steepest direction (quadratic: curvature 100, so lr < 0.02, and
    Nesterov with momentum 0.9 needs lr x 100 < 1.36; Rosenbrock: curvature ~2000 near the start); the
    adaptive methods, whose steps do not scale with the curvature, take one rate each on both surfaces."""
    lr = {"quadratic": 0.012, "rosenbrock": 0.001}[surface]
    return {
        "sgd": ("SGD", {"lr": lr}),
        "momentum": ("SGD", {"lr": lr, "momentum": 0.9}),
        "nesterov": ("SGD", {"lr": lr, "momentum": 0.9, "nesterov": True}),
        "adagrad": ("Adagrad", {"lr": 0.5}),
        "rmsprop": ("RMSprop", {"lr": 0.03}),
        "rmsprop_momentum": ("RMSprop", {"lr": 0.003, "momentum": 0.9}),
        "adam": ("Adam", {"lr": 0.1}),
    }


def descend(f: Callable[[torch.Tensor], torch.Tensor], start: tuple[float, float], name: str,
            kwargs: dict[str, Any], steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``steps`` steps of the hand-written optimizer ``name`` on ``f`` from ``start`` (float64): the path
    (steps + 1 points) and the loss at each point."""
    import c147.optim

    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = getattr(c147.optim, name)([p], **kwargs)
    path, losses = [p.detach().clone()], []
    for _ in range(steps):
        opt.zero_grad()
        loss = f(p)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        path.append(p.detach().clone())
    losses.append(f(p).item())
    return torch.stack(path), torch.tensor(losses)


def optimizer_paths(s: Study) -> dict[str, Any]:
    steps = s.pick(s.cfg.study.steps, s.cfg.study.reduced_steps)
    final: dict[str, dict[str, float]] = {}
    for surface, (f, start, (x0, x1, y0, y1)) in SURFACES.items():
        fig = new_figure(11, 4.2)
        ax, ax_loss = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        gx, gy = torch.meshgrid(torch.linspace(x0, x1, 200, dtype=torch.float64),
                                torch.linspace(y0, y1, 200, dtype=torch.float64), indexing="xy")
        z = f(torch.stack([gx, gy], dim=-1))
        ax.contour(gx.numpy(), gy.numpy(), z.clamp_min(1e-6).log10().numpy(), levels=25, cmap="Greys",
                   linewidths=0.6)
        final[surface] = {}
        for name, (cls, kwargs) in optimizer_table(surface).items():
            path, losses = descend(f, start, cls, kwargs, steps)
            final[surface][name] = losses[-1].item()
            ax.plot(path[:, 0].numpy(), path[:, 1].numpy(), lw=1, marker=".", ms=2, label=name)
            ax_loss.semilogy(losses.clamp_min(1e-16).numpy(), lw=1.2, label=name)
            for step in range(0, steps + 1, max(1, steps // 50)):
                s.writer.add_scalar(f"{surface}/{name}", losses[step].item(), step)
        ax.set(xlim=(x0, x1), ylim=(y0, y1), title=f"{surface}: paths from {start} (contours: log10 f)",
               xlabel="x", ylabel="y")
        ax.legend(fontsize=7)
        ax_loss.set(title=f"{surface}: f against step", xlabel="step", ylabel="f")
        s.figure(f"paths_{surface}", fig)
    q = final["quadratic"]
    return {"steps": steps, "final_loss": final,
            "claim": claim("Adam reaches a lower loss than plain SGD on the ill-conditioned quadratic in the same "
                           "steps", q["adam"] < q["sgd"], adam=q["adam"], sgd=q["sgd"])}


# ---------------------------------------------------------------------------------- init


def layer_statistics(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor],
                                                                                        list[float]]:
    """One forward and backward pass: each hidden activation layer's outputs, and the standard deviation of
    each Linear layer's weight gradient (cross-entropy loss)."""
    from c147.models.options import ACTIVATIONS

    kinds = set(ACTIVATIONS.values())
    acts: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: acts.append(o.detach()))
             for m in net.modules() if type(m).__name__ in kinds]
    try:
        loss = torch.nn.functional.cross_entropy(net(x), y)
    finally:
        for h in hooks:
            h.remove()
    loss.backward()
    grads = [m.weight.grad.std().item() for m in net.modules() if isinstance(getattr(m, "weight", None),
                                                                             torch.Tensor) and m.weight.dim() == 2]
    return acts, grads


def init(s: Study) -> dict[str, Any]:
    from c147.data import DigitsDataModule
    from c147.models import mlp

    depth, width = s.pick((s.cfg.study.depth, s.cfg.study.width), (s.cfg.study.reduced_depth,
                                                                   s.cfg.study.reduced_width))
    dm = DigitsDataModule(image_size=8)
    dm.setup("fit")
    x, y = dm.train_set.tensors[0][:500], dm.train_set.tensors[1][:500]
    schemes = list(s.cfg.study.inits)
    stats: dict[str, dict[str, dict[str, list[float]]]] = {}
    fig = new_figure(11, 7)
    axes = {(a, k): fig.add_subplot(2, 2, 1 + i + 2 * j) for i, a in enumerate(s.cfg.study.activations)
            for j, k in enumerate(("activation std", "weight-gradient std"))}
    for act in s.cfg.study.activations:
        stats[act] = {}
        for scheme in schemes:
            torch.manual_seed(0)
            net = mlp(activation=act, init=scheme, hidden=[width] * depth, image_size=8)
            acts, grads = layer_statistics(net, x, y)
            stats[act][scheme] = {"activation_std": [a.std().item() for a in acts], "gradient_std": grads}
            for layer, a in enumerate(acts):
                s.writer.add_histogram(f"{act}/{scheme}/activation", a, layer)
            axes[(act, "activation std")].semilogy(range(1, depth + 1), stats[act][scheme]["activation_std"],
                                                   marker="o", label=scheme)
            axes[(act, "weight-gradient std")].semilogy(range(1, depth + 2), grads, marker="o", label=scheme)
        for kind in ("activation std", "weight-gradient std"):
            axes[(act, kind)].set(title=f"{act}: {kind} per layer", xlabel="layer", ylabel=kind)
            axes[(act, kind)].legend(fontsize=7)
    s.figure("layer_statistics", fig)
    small, xavier = (stats["tanh"][k]["activation_std"][-1] ** 2 for k in ("normal_0.01", "xavier_normal"))
    return {"depth": depth, "width": width, "statistics": stats,
            "claim": claim("sigma=0.01: the last tanh layer's activations have far smaller variance (under a "
                           "thousandth) than with Xavier's initialisation", small < 1e-3 * xavier,
                           variance_sigma_0_01=small, variance_xavier=xavier)}


# ---------------------------------------------------------------------------------- regularization


def near_zero_fraction(weight: torch.Tensor, threshold: float) -> float:
    return (weight.abs() < threshold).double().mean().item()


def first_weight(ckpt: str | Path) -> torch.Tensor:
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    return next(v for k, v in state.items() if k.startswith("net.") and k.endswith("weight") and v.dim() == 2)


def regularization(s: Study) -> dict[str, Any]:
    settings = {k: list(v) for k, v in s.cfg.study.settings.items()}
    if s.reduced:
        settings = {k: v for k, v in settings.items() if k in s.cfg.study.reduced_settings}
    epochs = s.pick(s.cfg.study.epochs, s.cfg.study.reduced_epochs)
    threshold = float(s.cfg.study.near_zero)
    results: dict[str, dict[str, float]] = {}
    weights: dict[str, torch.Tensor] = {}
    for label, overrides in settings.items():
        m = s.train(label, f"trainer.max_epochs={epochs}", *overrides)
        weights[label] = first_weight(m["last_checkpoint"])
        results[label] = {"train_acc": m["train/acc"], "val_acc": m["val/acc"], "test_acc": m["test/acc"],
                          "gap": m["train/acc"] - m["val/acc"],
                          "near_zero": near_zero_fraction(weights[label], threshold)}
    fig = new_figure(11, 4)
    ax_gap, ax_w = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    labels = list(results)
    ax_gap.bar(labels, [results[k]["gap"] for k in labels])
    ax_gap.set(title="train accuracy - val accuracy (last epoch)", ylabel="gap")
    ax_gap.tick_params(axis="x", labelrotation=30)
    for label in labels:
        w = weights[label].flatten().abs().clamp_min(1e-8).log10()
        ax_w.hist(w.numpy(), bins=80, histtype="step", label=label)
    ax_w.axvline(math.log10(threshold), color="k", lw=0.8, ls="--")
    ax_w.set(title="first-layer |w| (log10); dashed: near zero", xlabel="log10 |w|", ylabel="weights")
    ax_w.legend(fontsize=7)
    s.figure("regularization", fig)
    l1, l2 = results["l1"]["near_zero"], results["l2"]["near_zero"]
    return {"epochs": epochs, "near_zero_threshold": threshold, "results": results,
            "claim": claim(f"L1 leaves more near-zero (|w| < {threshold:g}) first-layer weights than L2", l1 > l2,
                           l1=l1, l2=l2)}


# ---------------------------------------------------------------------------------- ensemble


def ensemble(s: Study) -> dict[str, Any]:
    from c147.app.ensemble import ensemble as combine

    k = s.pick(s.cfg.study.members, s.cfg.study.reduced_members)
    runs = [s.train(f"seed{seed}", f"seed={seed}") for seed in range(k)]
    result = combine(compose("ensemble", [f"paths.output_dir={s.run_dir / 'ensemble'}",
                                       "runs=[" + ",".join(r["run_dir"] for r in runs) + "]"]))
    fig = new_figure(11, 4)
    ax_k, ax_m = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax_k.plot(range(1, k + 1), result["ensemble_error_vs_k"], marker="o", label="ensemble of the first k")
    ax_k.axhline(result["mean_member_error"], color="k", ls="--", lw=0.8, label="mean member")
    ax_k.set(title="test error against ensemble size", xlabel="k", ylabel="test error")
    ax_k.legend(fontsize=7)
    ax_m.bar(["(1/K) v + ((K-1)/K) c", "measured"], [result["formula"], result["measured"]])
    ax_m.set(title=f"squared error of the average (K={k})")
    s.figure("ensemble", fig)
    return {"members": k, **{key: result[key] for key in ("member_errors", "mean_member_error", "ensemble_error",
                                                         "ensemble_error_vs_k", "error_correlation", "v", "c",
                                                         "formula", "measured")},
            "claim": claim("the ensemble's test error is below its mean member's",
                           result["ensemble_error"] < result["mean_member_error"],
                           ensemble=result["ensemble_error"], mean_member=result["mean_member_error"])}


# ---------------------------------------------------------------------------------- class_weights


def test_probabilities(run: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The softmax probabilities of a run's best checkpoint on its test split, and the labels (c147-ensemble's
    :func:`~c147.app.ensemble.member_probabilities`: the run rebuilt as c147-eval does)."""
    from c147.app.ensemble import member_probabilities
    from c147.lit.checkpoint import checkpoint_config, read_checkpoint

    ckpt = Path(run["best_checkpoint"])
    state = read_checkpoint(ckpt)
    return member_probabilities(checkpoint_config(state), state, ckpt, "cpu")[""]


def recalls(run: dict[str, Any], num_classes: int) -> list[float]:
    """Per-class recall on the test split of a run's best checkpoint."""
    probs, y = test_probabilities(run)
    pred = probs.argmax(1)
    return [((pred == c) & (y == c)).sum().item() / max((y == c).sum().item(), 1) for c in range(num_classes)]


def class_weights(s: Study) -> dict[str, Any]:
    minority = [int(c) for c in s.cfg.study.minority]
    keep = "{" + ",".join(f"{c}:{s.cfg.study.fraction}" for c in minority) + "}"
    epochs = s.pick(s.cfg.study.epochs, s.cfg.study.reduced_epochs)
    out: dict[str, list[float]] = {}
    for label, extra in (("unweighted", []), ("balanced", ["loss.class_weights=balanced"])):
        run = s.train(label, f"data.class_keep={keep}", f"trainer.max_epochs={epochs}", *extra)
        out[label] = recalls(run, 10)
    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    width = 0.4
    for i, label in enumerate(out):
        ax.bar([c + (i - 0.5) * width for c in range(10)], out[label], width=width, label=label)
    ax.set(title=f"test recall per digit; digits {minority} kept at {s.cfg.study.fraction} in training",
           xlabel="digit", ylabel="recall", xticks=range(10), ylim=(0, 1.05))
    ax.legend(fontsize=8)
    s.figure("recall", fig)
    mean = {label: sum(r[c] for c in minority) / len(minority) for label, r in out.items()}
    return {"epochs": epochs, "minority": minority, "recall": out,
            "claim": claim("class weights raise the minority classes' mean recall",
                           mean["balanced"] > mean["unweighted"], balanced=mean["balanced"],
                           unweighted=mean["unweighted"])}


# ---------------------------------------------------------------------------------- runs compared


def curve(run: dict[str, Any], tag: str) -> list[float]:
    """A scalar's values, epoch by epoch, read back from the run's TensorBoard event files."""
    import logging

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # not a line per event file read
    (folder,) = [p for p in (Path(run["run_dir"]) / "tensorboard").iterdir() if p.is_dir()]
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []  # [] where a run lacks it


def compare(s: Study, tags: tuple[str, ...] = ("train/loss", "val/acc")) -> tuple[dict[str, dict[str, Any]], int]:
    """Train each of the study's ``settings`` (label: overrides; ``reduced_settings`` names the reduced
    mode's) for the study's epochs; draw ``tags`` epoch by epoch, one line per run, as ``figures/curves``.
    Returns each run's metrics with its curves, and the epochs."""
    settings = {k: list(v) for k, v in s.cfg.study.settings.items()}
    if s.reduced and s.cfg.study.get("reduced_settings"):
        settings = {k: v for k, v in settings.items() if k in s.cfg.study.reduced_settings}
    epochs = s.pick(s.cfg.study.epochs, s.cfg.study.reduced_epochs)
    runs: dict[str, dict[str, Any]] = {}
    for label, overrides in settings.items():
        run = s.train(label, f"trainer.max_epochs={epochs}", *overrides)
        run["curves"] = {tag: curve(run, tag) for tag in tags}
        runs[label] = run
    fig = new_figure(5.5 * len(tags), 4)
    for i, tag in enumerate(tags):
        ax = fig.add_subplot(1, len(tags), i + 1)
        for label, run in runs.items():
            values = run["curves"][tag]
            (ax.semilogy if tag.endswith("loss") else ax.plot)(range(1, len(values) + 1), values, marker=".",
                                                                 label=label)
        ax.set(title=tag, xlabel="epoch", ylabel=tag)
        ax.legend(fontsize=7)
    s.figure("curves", fig)
    return runs, epochs


def _finals(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    keys = ("train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "fit_seconds")
    return {label: {k: run[k] for k in keys if k in run} for label, run in runs.items()}


def lower_final(runs: dict[str, dict[str, Any]], epochs: int, better: str, worse: str, statement: str
                ) -> dict[str, Any]:
    """The result of compared runs (:func:`compare`) whose claim is: run ``better`` ends at a lower training
    loss than run ``worse``."""
    low, high = runs[better]["train/loss"], runs[worse]["train/loss"]
    return {"epochs": epochs, "runs": _finals(runs),
            "claim": claim(statement, low < high, **{better: low, worse: high})}


def optimizers(s: Study) -> dict[str, Any]:
    return lower_final(*compare(s, ("train/loss", "val/acc")), "momentum", "sgd",
                       "SGD with momentum 0.9 reaches a lower training loss than plain SGD at the same learning rate "
                       "and epochs")


def lr_decay(s: Study) -> dict[str, Any]:
    return lower_final(*compare(s, ("train/loss", "train/lr")), "cosine", "constant",
                       "annealing the learning rate (cosine) ends at a lower training loss than keeping it constant")


def gradient_noise(batch_sizes: list[int], draws: int = 50, seed: int = 0) -> dict[int, float]:
    """E ||g_B - g||²: how far a minibatch gradient g_B (batch size B, drawn without replacement) is from the
    full-batch gradient g, for the study's MLP at its initial weights on the digits' training split (mean of
    ``draws`` minibatches). For B much smaller than the split it falls as 1/B."""
    from c147.data import DigitsDataModule
    from c147.models import mlp

    dm = DigitsDataModule(image_size=8)
    dm.setup("fit")
    x, y = dm.train_set.tensors
    torch.manual_seed(seed)
    net = mlp(hidden=[64], image_size=8)

    def grad(idx: torch.Tensor) -> torch.Tensor:
        net.zero_grad()
        torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
        return torch.cat([p.grad.flatten() for p in net.parameters()])

    full = grad(torch.arange(len(y)))
    generator = torch.Generator().manual_seed(seed)
    return {b: sum((grad(torch.randperm(len(y), generator=generator)[:b]) - full).square().sum().item()
                   for _ in range(draws)) / draws for b in batch_sizes}


def batch_size(s: Study) -> dict[str, Any]:
    runs, epochs = compare(s, ("train/loss", "time/epoch_seconds"))
    out = lower_final(runs, epochs, "stochastic", "batch", "in the same epochs, stochastic gradient descent (batch "
                      "1: one step per example) reaches a lower training loss than batch gradient descent (one step "
                      "per epoch)")
    target = float(s.cfg.study.target_loss)
    to_target = {}
    for label, run in runs.items():  # wall seconds of training until the epoch whose mean loss is below target
        loss, seconds = run["curves"]["train/loss"], run["curves"]["time/epoch_seconds"]
        hit = next((i for i, v in enumerate(loss) if v <= target), None)
        to_target[label] = None if hit is None else sum(seconds[:hit + 1])
    noise = gradient_noise([1, 8, 32, 128], draws=s.pick(50, 10))
    fig = new_figure(11, 4)
    ax_n, ax_t = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax_n.loglog(list(noise), list(noise.values()), marker="o", label="measured")
    ax_n.loglog(list(noise), [noise[1] / b for b in noise], ls="--", color="k", lw=0.8, label="E at B=1, / B")
    ax_n.set(title="gradient noise E||g_B - g||^2 at the initial weights", xlabel="batch size B", ylabel="noise")
    ax_n.legend(fontsize=8)
    labels = list(to_target)
    ax_t.bar(labels, [t if t is not None else 0 for t in to_target.values()])
    for i, t in enumerate(to_target.values()):
        if t is None:
            ax_t.text(i, 0, "not reached", ha="center", va="bottom", fontsize=8)
    ax_t.set(title=f"training seconds until the epoch's mean loss <= {target:g}", ylabel="seconds")
    s.figure("noise_and_time", fig)
    return {**out, "gradient_noise": {str(b): v for b, v in noise.items()}, "target_loss": target,
            "seconds_to_target": to_target}


def confidence(run: dict[str, Any]) -> float:
    """The mean largest softmax probability over the test split, from the run's best checkpoint."""
    probs, _ = test_probabilities(run)
    return probs.max(1).values.mean().item()


def label_smoothing(s: Study) -> dict[str, Any]:
    runs, epochs = compare(s, ("train/loss", "val/acc"))
    conf = {label: confidence(run) for label, run in runs.items()}
    fig = new_figure(5, 4)
    ax = fig.add_subplot()
    ax.bar(list(conf), list(conf.values()))
    ax.set(title="mean top softmax probability on the test split", ylim=(0, 1.05))
    s.figure("confidence", fig)
    return {"epochs": epochs, "runs": _finals(runs), "confidence": conf,
            "claim": claim("label smoothing (0.1) lowers the network's confidence on the test split",
                           conf["smoothed"] < conf["none"], smoothed=conf["smoothed"], none=conf["none"])}


def batchnorm(s: Study) -> dict[str, Any]:
    """The settings are ``plain_<lr>`` and ``bn_<lr>``: the same MLP without and with batch norm."""
    runs, epochs = compare(s, ("train/loss", "val/acc"))
    rates = sorted({float(label.split("_", 1)[1]) for label in runs})
    fig = new_figure(5.5, 4)
    ax = fig.add_subplot()
    for kind in ("plain", "bn"):
        ax.semilogx(rates, [runs[f"{kind}_{r:g}"]["val/acc"] for r in rates], marker="o",
                    label="with batch norm" if kind == "bn" else "without")
    ax.set(title=f"val accuracy after {epochs} epochs against the learning rate (SGD, momentum 0.9)",
           xlabel="learning rate", ylabel="val accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    s.figure("accuracy_vs_lr", fig)
    top = max(rates)
    plain, bn = runs[f"plain_{top:g}"]["val/acc"], runs[f"bn_{top:g}"]["val/acc"]
    return {"epochs": epochs, "runs": _finals(runs),
            "claim": claim(f"batch norm trains at a learning rate ({top:g}) where the plain network does not: its val "
                           f"accuracy is higher by more than 0.3", bn > plain + 0.3, bn=bn, plain=plain)}


def augmentation_samples(s: Study) -> None:
    """``figures/samples``: four training digits (32x32) and, row by row, each named augmentation of them as
    training sees it (the data module's own ``augment_batch``: in pixel space), drawn on one [0, 1] scale."""
    from c147.data import DigitsDataModule
    from c147.data.augment.random import AUGMENTATIONS
    from c147.lit.figures import image_grid_figure

    dm = DigitsDataModule(image_size=32)
    dm.setup("fit")
    x = dm.train_set.tensors[0][:4]
    mean, std = (v[0] for v in dm.pixel_stats)
    rows, titles = [x], ["original"] * 4
    for name in AUGMENTATIONS:
        augmented = DigitsDataModule(image_size=32, augment=[name])
        augmented.setup("fit")
        rows.append(augmented.augment_batch(x.clone(), torch.Generator().manual_seed(0)))
        titles += [name] * 4
    images = torch.cat(rows) * std + mean  # back to pixels
    fig = image_grid_figure(images, titles, "each augmentation (data.augment=[NAME]) of four training digits",
                            value_range=(0.0, 1.0))
    s.figure("samples", fig)


def augmentation(s: Study) -> dict[str, Any]:
    augmentation_samples(s)
    runs, epochs = compare(s, ("train/acc", "val/acc"))
    gap = {label: run["train/acc"] - run["val/acc"] for label, run in runs.items()}
    return {"epochs": epochs, "runs": _finals(runs), "gap": gap,
            "claim": claim("augmentation narrows the gap between training and validation accuracy on a small "
                           "training split", gap["augmented"] < gap["none"], augmented=gap["augmented"],
                           none=gap["none"], val_acc_augmented=runs["augmented"]["val/acc"],
                           val_acc_none=runs["none"]["val/acc"])}


def untrained_copy(ckpt: str | Path, out: Path) -> Path:
    """The c147-train checkpoint ``ckpt`` with its network's weights drawn afresh (the same config and shapes):
    the untrained trunk a learned one is compared with."""
    from c147.app.build import build
    from c147.lit.checkpoint import checkpoint_config

    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    torch.manual_seed(0)
    _, fresh = build(checkpoint_config(state))
    state["state_dict"] = fresh.state_dict()
    torch.save(state, out)
    return out


def transfer(s: Study) -> dict[str, Any]:
    """A trunk trained on digits 0-4, then digits 5-9 from a few labelled images: each arm of
    ``study.arms`` (``TRUNK`` / ``UNTRAINED`` stand for the two checkpoints), over ``study.seeds``."""
    trunk = s.train("trunk", "data.classes=[0,1,2,3,4]", *s.pick(s.cfg.study.trunk, s.cfg.study.reduced_trunk))
    learned = trunk["best_checkpoint"]
    untrained = untrained_copy(learned, s.run_dir / "untrained_trunk.ckpt")
    arms = {k: list(v) for k, v in s.cfg.study.arms.items()}
    if s.reduced:
        arms = {k: v for k, v in arms.items() if k in s.cfg.study.reduced_arms}
    seeds = range(s.pick(s.cfg.study.seeds, 1))
    acc: dict[str, list[float]] = {}
    for label, overrides in arms.items():
        overrides = [o.replace("TRUNK", f"'{learned}'").replace("UNTRAINED", f"'{untrained}'") for o in overrides]
        for seed in seeds:
            run = s.train(f"{label}_seed{seed}", "data.classes=[5,6,7,8,9]", *s.cfg.study.target,
                          *(s.cfg.study.reduced_target if s.reduced else []), *overrides, f"seed={seed}")
            acc.setdefault(label, []).append(run["test/acc"])
    mean = {label: sum(v) / len(v) for label, v in acc.items()}
    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    ax.bar(list(mean), list(mean.values()))
    for i, values in enumerate(acc.values()):
        ax.plot([i] * len(values), values, "k.", ms=4)
    ax.set(title="digits 5-9 from few labelled images: test accuracy (dots: seeds)", ylim=(0, 1.02))
    ax.tick_params(axis="x", labelrotation=20)
    s.figure("transfer", fig)
    head, drawn = mean["head_on_learned_trunk"], mean["head_on_untrained_trunk"]
    return {"trunk_test_acc": trunk["test/acc"], "test_acc": acc, "mean_test_acc": mean,
            "claim": claim("the features transfer: a head trained on the frozen trunk learned on digits 0-4 "
                           "classifies 5-9 better, by more than 0.15, than the same head on the trunk untrained",
                           head > drawn + 0.15, learned=head, untrained=drawn,
                           **({"scratch": mean["scratch"], "fine_tune": mean["fine_tune"]} if "scratch" in mean
                              and "fine_tune" in mean else {}))}


def multitask(s: Study) -> dict[str, Any]:
    """One trunk with a digit head and a parity head (``model=multitask data.second_label=parity``) under loss
    weights ``[1, w]``, and the single-task network beside it."""
    runs, epochs = compare(s, ("val/acc", "val/acc_parity"))
    weights = sorted(float(label.split("_", 1)[1]) for label in runs if label.startswith("parity_"))
    fig = new_figure(5.5, 4)
    ax = fig.add_subplot()
    for key, name in (("test/acc", "digit"), ("test/acc_parity", "parity")):
        ax.plot(weights, [runs[f"parity_{w:g}"][key] for w in weights], marker="o", label=f"{name} head")
    if "single" in runs:
        ax.axhline(runs["single"]["test/acc"], color="k", ls="--", lw=0.8, label="single-task digit net")
    ax.set(title="test accuracy against the parity loss weight w (loss = L_digit + w L_parity)",
           xlabel="w", ylabel="test accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    s.figure("multitask", fig)
    off, on = runs["parity_0"]["test/acc_parity"], runs[f"parity_{max(weights):g}"]["test/acc_parity"]
    return {"epochs": epochs, "runs": {label: {k: v for k, v in run.items() if k.startswith("test/")}
                                       for label, run in runs.items()},
            "claim": claim("the weighted sum trains each head it weights: the parity head learns (test accuracy "
                           "over 0.9) with weight > 0 and stays near chance (under 0.7) with weight 0",
                           on > 0.9 and off < 0.7, parity_weighted=on, parity_unweighted=off)}


STUDIES: dict[str, Callable[[Study], dict[str, Any]]] = {
    "optimizer_paths": optimizer_paths, "init": init, "regularization": regularization, "ensemble": ensemble,
    "class_weights": class_weights, "optimizers": optimizers, "lr_decay": lr_decay, "batch_size": batch_size,
    "label_smoothing": label_smoothing, "batchnorm": batchnorm, "augmentation": augmentation, "transfer": transfer,
    "multitask": multitask,
}


# ---------------------------------------------------------------------------------- the job


def experiment(cfg: DictConfig, inv: Invocation | None = None) -> dict[str, Any]:
    """Run ``cfg.study``; write figures, TensorBoard events and metrics.json; print the claim."""
    inv = inv or Invocation(prog=PROG)
    import time

    from torch.utils.tensorboard import SummaryWriter

    run_dir = Path(cfg.paths.output_dir)
    with inv.user_errors(run_dir):
        check_fresh(run_dir, "metrics.json", "figures", "runs")
        name = cfg.study.get("name")
        if name not in STUDIES:
            raise ValueError(f"study.name: expected one of {', '.join(STUDIES)}, got {name!r}")
        run_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with SummaryWriter(str(run_dir / "tensorboard" / name)) as writer:
            study = Study(cfg, run_dir, writer)
            result = STUDIES[name](study)
            writer.add_text("claim", f"{result['claim']['statement']}: "
                                     f"{'holds' if result['claim']['holds'] else 'does NOT hold'}", 0)
    metrics = {"study": name, "reduced": bool(cfg.reduced), **result, "figures": study.figures,
               "seconds": time.perf_counter() - start, "run_dir": str(run_dir),
               "config": OmegaConf.to_container(cfg.study, resolve=True)}
    write_metrics(run_dir, metrics)
    c = result["claim"]
    print_summary(f"{PROG} study={name}", {
        "claim": c["statement"], "holds": c["holds"],
        **{k: v for k, v in c.items() if k not in ("statement", "holds")},
        "seconds": metrics["seconds"], "figures": ", ".join(study.figures), "run folder": str(run_dir),
        "TensorBoard": f"tensorboard --logdir {run_dir}"})
    return metrics


main = hydra_entry(PROG, "study", experiment)


if __name__ == "__main__":
    main()
