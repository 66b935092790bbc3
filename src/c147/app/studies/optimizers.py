"""``optimizers``: SGD, momentum, Nesterov, Adagrad, RMSProp, RMSProp + momentum, RMSProp + Nesterov momentum, Adam
and NAdam training one MLP: loss curves side by side.

Claim: momentum ends below plain SGD at the same learning rate.
"""

from __future__ import annotations

from typing import Any

from c147.app.studies.harness import Comparison, Study, compare, lower_final

SGD, MOMENTUM = "sgd", "momentum"
COMPARISON = Comparison(
    # one MLP on the native 8x8 digits at constant learning rates: the optimizers' own differences, no schedule's
    train=["model=mlp", "model.hidden=[64]", "data.image_size=8", "~scheduler"],
    settings={
        SGD: ["optim=sgd", "optim.lr=0.01", "optim.momentum=0.0"],
        MOMENTUM: ["optim=sgd", "optim.lr=0.01", "optim.momentum=0.9"],
        "nesterov": ["optim=sgd", "optim.lr=0.01", "optim.momentum=0.9", "optim.nesterov=true"],
        "adagrad": ["optim=adagrad"],
        "rmsprop": ["optim=rmsprop"],
        "rmsprop_momentum": ["optim=rmsprop", "optim.lr=0.0003", "optim.momentum=0.9"],
        # c147's RMSprop only (torch's has no nesterov); "++": rmsprop.yaml may leave the key out
        "rmsprop_nesterov": ["optim=rmsprop", "optim.lr=0.0003", "optim.momentum=0.9", "++optim.nesterov=true"],
        "adam": ["optim=adam"],
        "nadam": ["optim=nadam"],
    },
    epochs=15, reduced_epochs=2, reduced_settings=[SGD, MOMENTUM])


def run(s: Study) -> dict[str, Any]:
    """Every optimizer's curves (``figures/curves``); the claim compares momentum with plain SGD."""
    return lower_final(*compare(s, COMPARISON, ("train/loss", "val/acc")), MOMENTUM, SGD,
                       "SGD with momentum 0.9 reaches a lower training loss than plain SGD at the same learning rate "
                       "and epochs")
