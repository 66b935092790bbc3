"""``regularization``: an MLP on the digits with no regularizer, L2, L1, dropout, early stopping, augmentation and
input noise: train/val gaps and first-layer weight distributions.

Claim: L1 leaves more near-zero weights than L2.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from c147.app.studies.harness import Comparison, Study, claim, train_all
from c147.lit.figures import new_figure

NONE, L2, L1 = "none", "l2", "l1"
COMPARISON = Comparison(
    # a wide MLP on the native 8x8 digits, plain SGD with momentum: L1's subgradient steps can reach zero, while
    # Adam's normalized steps keep every weight moving by about lr
    train=["model=mlp", "model.hidden=[256]", "data.image_size=8", "optim=sgd", "optim.lr=0.05", "~scheduler"],
    settings={
        NONE: [],
        L2: ["regularizer=l2", "regularizer.l2=0.001"],
        L1: ["regularizer=l1", "regularizer.l1=0.001"],
        "dropout": ["model.dropout=0.5"],
        "early_stopping": ["callbacks.early_stopping.patience=3"],
        "augmentation": ["data.augment=[rotate,scale]"],  # no crop: it pads by 4, half of an 8x8 digit
        "noise": ["model.noise.input=0.3"],
    },
    epochs=20, reduced_epochs=4, reduced_settings=[NONE, L2, L1])
# |w| below this counts as zero
NEAR_ZERO = 1.0e-3


def near_zero_fraction(weight: torch.Tensor, threshold: float) -> float:
    """The fraction of ``weight``'s entries with magnitude below ``threshold``."""
    return (weight.abs() < threshold).double().mean().item()


def first_weight(ckpt: str | Path) -> torch.Tensor:
    """The first 2-D weight of the network in the c147-train checkpoint ``ckpt``."""
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    return next(v for k, v in state.items() if k.startswith("net.") and k.endswith("weight") and v.dim() == 2)


def draw(s: Study, results: dict[str, dict[str, float]], weights: dict[str, torch.Tensor]) -> None:
    """``figures/regularization``: each run's train/val gap, and its first-layer |w| histogram."""
    fig = new_figure(11, 4)
    ax_gap, ax_w = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    labels = list(results)
    ax_gap.bar(labels, [results[k]["gap"] for k in labels])
    ax_gap.set(title="train accuracy - val accuracy (last epoch)", ylabel="gap")
    ax_gap.tick_params(axis="x", labelrotation=30)
    for label in labels:
        w = weights[label].flatten().abs().clamp_min(1e-8).log10()
        ax_w.hist(w.numpy(), bins=80, histtype="step", label=label)
    ax_w.axvline(math.log10(NEAR_ZERO), color="k", lw=0.8, ls="--")
    ax_w.set(title="first-layer |w| (log10); dashed: near zero", xlabel="log10 |w|", ylabel="weights")
    ax_w.legend(fontsize=7)
    s.figure("regularization", fig)


def run(s: Study) -> dict[str, Any]:
    """Every regularizer's run; the claim compares L1's and L2's near-zero first-layer weights."""
    runs, epochs = train_all(s, COMPARISON)
    weights = {label: first_weight(m["last_checkpoint"]) for label, m in runs.items()}
    results = {label: {"train_acc": m["train/acc"], "val_acc": m["val/acc"], "test_acc": m["test/acc"],
                       "gap": m["train/acc"] - m["val/acc"],
                       "near_zero": near_zero_fraction(weights[label], NEAR_ZERO)} for label, m in runs.items()}
    draw(s, results, weights)
    l1, l2 = results[L1]["near_zero"], results[L2]["near_zero"]
    return {"epochs": epochs, "near_zero_threshold": NEAR_ZERO, "results": results,
            "claim": claim(f"L1 leaves more near-zero (|w| < {NEAR_ZERO:g}) first-layer weights than L2", l1 > l2,
                           l1=l1, l2=l2)}
