"""``batchnorm``: a 3-hidden-layer MLP with and without batch norm over a range of learning rates (SGD with
momentum 0.9).

Claim: at the largest rate the plain network diverges and the batch-normed one trains.
"""

from __future__ import annotations

from typing import Any

from c147.app.studies.harness import Comparison, Study, claim, compare, finals
from c147.lit.figures import new_figure

PLAIN, BN = "plain", "bn"
RATES = [0.01, 0.05, 0.2, 0.5]
REDUCED_RATES = [0.5]  # the claim's rate


def label(kind: str, lr: float) -> str:
    """The run of ``kind`` (:data:`PLAIN` or :data:`BN`) at learning rate ``lr``: ``plain_0.5``, ``bn_0.5``."""
    return f"{kind}_{lr:g}"


COMPARISON = Comparison(
    # SGD at optim/sgd.yaml's momentum 0.9 and no schedule (each run keeps its rate); the only other difference:
    # BatchNorm1d before each activation
    train=["model=mlp", "model.hidden=[64,64,64]", "data.image_size=8", "optim=sgd", "~scheduler"],
    settings={label(kind, lr): [f"optim.lr={lr}", *(["model.batch_norm=true"] if kind == BN else [])]
              for lr in RATES for kind in (PLAIN, BN)},
    epochs=8, reduced_epochs=3, reduced_settings=[label(kind, lr) for lr in REDUCED_RATES for kind in (PLAIN, BN)])


def run(s: Study) -> dict[str, Any]:
    """Every run's curves (``figures/curves``), val accuracy against the rate (``figures/accuracy_vs_lr``); the
    claim at the largest rate."""
    runs, epochs = compare(s, COMPARISON, ("train/loss", "val/acc"))
    rates = s.pick(RATES, REDUCED_RATES)
    fig = new_figure(5.5, 4)
    ax = fig.add_subplot()
    for kind in (PLAIN, BN):
        ax.semilogx(rates, [runs[label(kind, r)]["val/acc"] for r in rates], marker="o",
                    label="with batch norm" if kind == BN else "without")
    ax.set(title=f"val accuracy after {epochs} epochs against the learning rate (SGD, momentum 0.9)",
           xlabel="learning rate", ylabel="val accuracy", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    s.figure("accuracy_vs_lr", fig)
    top = max(rates)
    plain, bn = runs[label(PLAIN, top)]["val/acc"], runs[label(BN, top)]["val/acc"]
    return {"epochs": epochs, "runs": finals(runs),
            "claim": claim(f"batch norm trains at a learning rate ({top:g}) where the plain network does not: its val "
                           f"accuracy is higher by more than 0.3", bn > plain + 0.3, bn=bn, plain=plain)}
