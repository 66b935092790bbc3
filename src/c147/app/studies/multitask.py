"""``multitask``: one MLP trunk with a digit head and a parity head (``model=multitask data.second_label=parity``),
the parity loss weighted 0, 0.5 and 2 (loss = L_digit + w L_parity), and the single-task digit network.

Claim: a head learns when its loss is weighted, not when its weight is 0.
"""

from __future__ import annotations

from typing import Any

from c147.app.studies.harness import Comparison, Study, claim, compare
from c147.lit.figures import new_figure

SINGLE = "single"
WEIGHTS = [0.0, 0.5, 2.0]
REDUCED_WEIGHTS = [0.0, 2.0]  # the claim's: unweighted, and the largest weight


def parity(w: float) -> str:
    """The run whose parity loss has weight ``w``: ``parity_0``, ``parity_0.5``, ``parity_2``."""
    return f"parity_{w:g}"


COMPARISON = Comparison(
    train=["data.image_size=8"],  # the MLP at its default widths, alone or as the trunk
    settings={SINGLE: ["model=mlp"],
              **{parity(w): ["model=multitask", "model.backbone=mlp", "data.second_label=parity",
                             f"model.loss_weights=[1.0,{w}]"] for w in WEIGHTS}},
    epochs=10, reduced_epochs=3, reduced_settings=[parity(w) for w in REDUCED_WEIGHTS])


def draw(s: Study, runs: dict[str, dict[str, Any]], weights: list[float]) -> None:
    """``figures/multitask``: both heads' test accuracy against w, the single-task network's as a line."""
    fig = new_figure(5.5, 4)
    ax = fig.add_subplot()
    for key, name in (("test/acc", "digit"), ("test/acc_parity", "parity")):
        ax.plot(weights, [runs[parity(w)][key] for w in weights], marker="o", label=f"{name} head")
    if SINGLE in runs:
        ax.axhline(runs[SINGLE]["test/acc"], color="k", ls="--", lw=0.8, label="single-task digit net")
    ax.set(title="test accuracy against the parity loss weight w (loss = L_digit + w L_parity)",
           xlabel="w", ylabel="test accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    s.figure("multitask", fig)


def run(s: Study) -> dict[str, Any]:
    """Every run's curves (``figures/curves``) and test accuracies; the claim on the parity head."""
    runs, epochs = compare(s, COMPARISON, ("val/acc", "val/acc_parity"))
    weights = s.pick(WEIGHTS, REDUCED_WEIGHTS)
    draw(s, runs, weights)
    off, on = runs[parity(0.0)]["test/acc_parity"], runs[parity(max(weights))]["test/acc_parity"]
    return {"epochs": epochs, "runs": {label: {k: v for k, v in run.items() if k.startswith("test/")}
                                       for label, run in runs.items()},
            "claim": claim("the weighted sum trains each head it weights: the parity head learns (test accuracy "
                           "over 0.9) with weight > 0 and stays near chance (under 0.7) with weight 0",
                           on > 0.9 and off < 0.7, parity_weighted=on, parity_unweighted=off)}
