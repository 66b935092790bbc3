"""``lr_decay``: a constant learning rate, step decay and cosine annealing.

Claim: cosine ends below constant.
"""

from __future__ import annotations

from typing import Any

from c147.app.studies.harness import Comparison, Study, compare, lower_final

CONSTANT, STEP, COSINE = "constant", "step", "cosine"
COMPARISON = Comparison(
    # one MLP, Adam at a rate too large to settle (0.03: the loss bounces around the minimum), three schedules:
    # constant, step decay (halve every 5 epochs), cosine annealing to 0
    train=["model=mlp", "model.hidden=[64]", "data.image_size=8", "optim.lr=0.03"],
    settings={CONSTANT: ["~scheduler"], STEP: ["scheduler=step"], COSINE: ["scheduler=cosine"]},
    epochs=20, reduced_epochs=3, reduced_settings=[CONSTANT, COSINE])


def run(s: Study) -> dict[str, Any]:
    """Each schedule's loss and learning rate (``figures/curves``); the claim compares cosine with constant."""
    return lower_final(*compare(s, COMPARISON, ("train/loss", "train/lr")), COSINE, CONSTANT,
                       "annealing the learning rate (cosine) ends at a lower training loss than keeping it constant")
