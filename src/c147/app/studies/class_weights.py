"""``class_weights``: an imbalanced training split (``data.class_keep``: five digits at a tenth, ratio 10) with and
without ``loss.class_weights=balanced``: per-class recall.

Claim: class weights raise the minority classes' recall.
"""

from __future__ import annotations

from typing import Any

from c147.app.studies.harness import Comparison, Study, claim, probabilities_on_test_split, train_all
from c147.lit.figures import new_figure

# digits 0-4 keep a tenth of their training samples: a ratio of 10 to the others
MINORITY = [0, 1, 2, 3, 4]
FRACTION = 0.1
NUM_CLASSES = 10
KEEP = "data.class_keep={" + ",".join(f"{c}:{FRACTION}" for c in MINORITY) + "}"
UNWEIGHTED, BALANCED = "unweighted", "balanced"
COMPARISON = Comparison(
    train=["model=mlp", "model.hidden=[64]", "data.image_size=8"],
    settings={UNWEIGHTED: [KEEP], BALANCED: [KEEP, "loss.class_weights=balanced"]},
    epochs=10, reduced_epochs=3)


def recalls(run: dict[str, Any], num_classes: int) -> list[float]:
    """Per-class recall on the test split of a run's best checkpoint."""
    probs, y = probabilities_on_test_split(run)
    pred = probs.argmax(1)
    return [((pred == c) & (y == c)).sum().item() / max((y == c).sum().item(), 1) for c in range(num_classes)]


def draw(s: Study, recall: dict[str, list[float]]) -> None:
    """``figures/recall``: each run's test recall per digit, side by side."""
    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    width = 0.4
    for i, label in enumerate(recall):
        ax.bar([c + (i - 0.5) * width for c in range(NUM_CLASSES)], recall[label], width=width, label=label)
    ax.set(title=f"test recall per digit; digits {MINORITY} kept at {FRACTION} in training",
           xlabel="digit", ylabel="recall", xticks=range(NUM_CLASSES), ylim=(0, 1.05))
    ax.legend(fontsize=8)
    s.figure("recall", fig)


def run(s: Study) -> dict[str, Any]:
    """Both runs' per-class recall; the claim on the minority classes' mean."""
    runs, epochs = train_all(s, COMPARISON)
    recall = {label: recalls(run, NUM_CLASSES) for label, run in runs.items()}
    draw(s, recall)
    mean = {label: sum(r[c] for c in MINORITY) / len(MINORITY) for label, r in recall.items()}
    return {"epochs": epochs, "minority": MINORITY, "recall": recall,
            "claim": claim("class weights raise the minority classes' mean recall", mean[BALANCED] > mean[UNWEIGHTED],
                           balanced=mean[BALANCED], unweighted=mean[UNWEIGHTED])}
