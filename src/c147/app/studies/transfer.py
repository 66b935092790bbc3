"""``transfer``: LeNet-5 trained on digits 0-4, then 5-9 from 50 labelled images: from scratch, fine-tuned,
convolutions frozen, only a new head on the learned trunk, the same head on the trunk untrained.

Claim: the features transfer (the head on the learned trunk far above the untrained one); fine-tuning and scratch
are reported beside it (on these digits they tie: see :mod:`c147.lit.transfer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from c147._io import atomic_write
from c147.app.argv import quote
from c147.app.studies.harness import Study, claim
from c147.lit.figures import new_figure

# the trunk: LeNet-5 (c147-train's default model) on digits 0-4
TRUNK = ["data.classes=[0,1,2,3,4]", "trainer.max_epochs=15", "data.augment=[crop,rotate]"]
REDUCED_TRUNK = ["data.classes=[0,1,2,3,4]", "trainer.max_epochs=5"]
# the target task: digits 5-9 from 50 labelled images (c147.lit.transfer's table)
TARGET = ["data.classes=[5,6,7,8,9]", "data.train_samples=50", "data.batch_size=10", "~scheduler", "optim.lr=0.01",
          "trainer.max_epochs=30"]
REDUCED_TARGET = ["trainer.max_epochs=15"]
SEEDS, REDUCED_SEEDS = 3, 1
SCRATCH, FINE_TUNE, CONVOLUTIONS_FROZEN = "scratch", "fine_tune", "convolutions_frozen"
HEAD_ON_LEARNED, HEAD_ON_UNTRAINED = "head_on_learned_trunk", "head_on_untrained_trunk"
REDUCED_ARMS = [HEAD_ON_LEARNED, HEAD_ON_UNTRAINED]  # the claim's two


def arms(learned: str | Path, untrained: str | Path) -> dict[str, list[str]]:
    """Each arm's overrides on the target task, given the learned and the untrained trunk's checkpoints."""
    from_learned = [f"finetune.from={quote(learned)}", "finetune.new_head=true"]
    from_untrained = [f"finetune.from={quote(untrained)}", "finetune.new_head=true"]
    return {
        SCRATCH: [],
        FINE_TUNE: [*from_learned, "optim.lr=0.001"],
        CONVOLUTIONS_FROZEN: [*from_learned, "finetune.freeze=[features]"],  # the module named features
        HEAD_ON_LEARNED: [*from_learned, "finetune.freeze=features"],  # everything but the head
        HEAD_ON_UNTRAINED: [*from_untrained, "finetune.freeze=features"],
    }


def untrained_copy(ckpt: str | Path, out: Path) -> Path:
    """The c147-train checkpoint ``ckpt`` with its network's weights drawn afresh (the same config and shapes):
    the untrained trunk a learned one is compared with."""
    from c147.app.build import build
    from c147.lit.checkpoint import checkpoint_config

    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    torch.manual_seed(0)
    _, fresh = build(checkpoint_config(state))
    state["state_dict"] = fresh.state_dict()
    with atomic_write(out, "wb") as f:
        torch.save(state, f)
    return out


def train_arms(s: Study, chosen: dict[str, list[str]]) -> dict[str, list[float]]:
    """Each arm over the seeds (``runs/<arm>_seed<N>``): its test accuracies."""
    acc: dict[str, list[float]] = {}
    for label, overrides in chosen.items():
        for seed in range(s.pick(SEEDS, REDUCED_SEEDS)):
            run = s.train(f"{label}_seed{seed}", *TARGET, *s.pick([], REDUCED_TARGET), *overrides, f"seed={seed}")
            acc.setdefault(label, []).append(run["test/acc"])
    return acc


def draw(s: Study, acc: dict[str, list[float]], mean: dict[str, float]) -> None:
    """``figures/transfer``: each arm's mean test accuracy, its seeds as dots."""
    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    ax.bar(list(mean), list(mean.values()))
    for i, values in enumerate(acc.values()):
        ax.plot([i] * len(values), values, "k.", ms=4)
    ax.set(title="digits 5-9 from few labelled images: test accuracy (dots: seeds)", ylim=(0, 1.02))
    ax.tick_params(axis="x", labelrotation=20)
    s.figure("transfer", fig)


def run(s: Study) -> dict[str, Any]:
    """The trunk (``runs/trunk``), its untrained copy, every arm; the claim compares the two heads."""
    trunk = s.train("trunk", *s.pick(TRUNK, REDUCED_TRUNK))
    learned = trunk["best_checkpoint"]
    chosen = arms(learned, untrained_copy(learned, s.run_dir / "untrained_trunk.ckpt"))
    if s.reduced:
        chosen = {label: overrides for label, overrides in chosen.items() if label in REDUCED_ARMS}
    acc = train_arms(s, chosen)
    mean = {label: sum(v) / len(v) for label, v in acc.items()}
    draw(s, acc, mean)
    head, drawn = mean[HEAD_ON_LEARNED], mean[HEAD_ON_UNTRAINED]
    others = {label: mean[label] for label in (SCRATCH, FINE_TUNE) if label in mean}
    return {"trunk_test_acc": trunk["test/acc"], "test_acc": acc, "mean_test_acc": mean,
            "claim": claim("the features transfer: a head trained on the frozen trunk learned on digits 0-4 "
                           "classifies 5-9 better, by more than 0.15, than the same head on the trunk untrained",
                           head > drawn + 0.15, learned=head, untrained=drawn, **others)}
