"""``label_smoothing``: cross-entropy with and without label smoothing 0.1.

Claim: smoothing lowers the mean top softmax probability on the test split.
"""

from __future__ import annotations

from typing import Any

from c147.app.studies.harness import Comparison, Study, claim, compare, finals, probabilities_on_test_split
from c147.lit.figures import new_figure

NONE, SMOOTHED = "none", "smoothed"
COMPARISON = Comparison(
    train=["model=mlp", "model.hidden=[64]", "data.image_size=8"],
    # hard targets, and label smoothing 0.1 (the true class gets 0.91, every other 0.01)
    settings={NONE: [], SMOOTHED: ["loss.label_smoothing=0.1"]},
    epochs=10, reduced_epochs=3)


def confidence(run: dict[str, Any]) -> float:
    """The mean largest softmax probability over the test split, from the run's best checkpoint."""
    probs, _ = probabilities_on_test_split(run)
    return probs.max(1).values.mean().item()


def run(s: Study) -> dict[str, Any]:
    """Both runs' curves (``figures/curves``) and confidence (``figures/confidence``); the claim compares them."""
    runs, epochs = compare(s, COMPARISON, ("train/loss", "val/acc"))
    conf = {label: confidence(run) for label, run in runs.items()}
    fig = new_figure(5, 4)
    ax = fig.add_subplot()
    ax.bar(list(conf), list(conf.values()))
    ax.set(title="mean top softmax probability on the test split", ylim=(0, 1.05))
    s.figure("confidence", fig)
    return {"epochs": epochs, "runs": finals(runs), "confidence": conf,
            "claim": claim("label smoothing (0.1) lowers the network's confidence on the test split",
                           conf[SMOOTHED] < conf[NONE], smoothed=conf[SMOOTHED], none=conf[NONE])}
