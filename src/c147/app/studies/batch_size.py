"""``batch_size``: batch (one step an epoch), minibatch (32) and stochastic (1) gradient descent: loss and seconds
per epoch, training seconds to a target loss, and the gradient noise E||g_B - g||² against B.

Claim: stochastic ends below batch in the same epochs.
"""

from __future__ import annotations

from typing import Any

import torch

from c147.app.studies.harness import Comparison, Study, compare, lower_final
from c147.lit.figures import new_figure

BATCH, MINIBATCH, STOCHASTIC = "batch", "minibatch", "stochastic"
COMPARISON = Comparison(
    # plain SGD at one rate, no schedule: the batch size is all that differs
    train=["model=mlp", "model.hidden=[64]", "data.image_size=8", "optim=sgd", "optim.lr=0.02", "optim.momentum=0.0",
           "~scheduler"],
    settings={
        BATCH: ["data.batch_size=2000"],  # the whole training split
        MINIBATCH: ["data.batch_size=32"],
        STOCHASTIC: ["data.batch_size=1"],
    },
    epochs=5, reduced_epochs=1, reduced_settings=[BATCH, STOCHASTIC],
    reduced_train=["data.train_samples=150"])  # batch 1: 150 steps, not 1,168
# the seconds-to-target figure: training time until an epoch's mean loss is at most this
TARGET_LOSS = 1.0
NOISE_BATCH_SIZES = [1, 8, 32, 128]
NOISE_DRAWS, REDUCED_NOISE_DRAWS = 50, 10


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


def seconds_to_target(run: dict[str, Any], target: float) -> float | None:
    """Wall seconds of training until the first epoch whose mean loss is at most ``target`` (None: never)."""
    loss, seconds = run["curves"]["train/loss"], run["curves"]["walltime/epoch_seconds"]
    hit = next((i for i, v in enumerate(loss) if v <= target), None)
    return None if hit is None else sum(seconds[:hit + 1])


def draw(s: Study, noise: dict[int, float], to_target: dict[str, float | None]) -> None:
    """``figures/noise_and_time``: the gradient noise against B beside 1/B, and each run's seconds to target."""
    fig = new_figure(11, 4)
    ax_n, ax_t = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax_n.loglog(list(noise), list(noise.values()), marker="o", label="measured")
    ax_n.loglog(list(noise), [noise[1] / b for b in noise], ls="--", color="k", lw=0.8, label="E at B=1, / B")
    ax_n.set(title="gradient noise E||g_B - g||^2 at the initial weights", xlabel="batch size B", ylabel="noise")
    ax_n.legend(fontsize=8)
    ax_t.bar(list(to_target), [t if t is not None else 0 for t in to_target.values()])
    for i, t in enumerate(to_target.values()):
        if t is None:
            ax_t.text(i, 0, "not reached", ha="center", va="bottom", fontsize=8)
    ax_t.set(title=f"training seconds until the epoch's mean loss <= {TARGET_LOSS:g}", ylabel="seconds")
    s.figure("noise_and_time", fig)


def run(s: Study) -> dict[str, Any]:
    """Each batch size's curves (``figures/curves``), the noise and the time to target; the claim compares
    stochastic with batch."""
    runs, epochs = compare(s, COMPARISON, ("train/loss", "walltime/epoch_seconds"))
    out = lower_final(runs, epochs, STOCHASTIC, BATCH, "in the same epochs, stochastic gradient descent (batch 1: one "
                      "step per example) reaches a lower training loss than batch gradient descent (one step per "
                      "epoch)")
    to_target = {label: seconds_to_target(run, TARGET_LOSS) for label, run in runs.items()}
    noise = gradient_noise(NOISE_BATCH_SIZES, draws=s.pick(NOISE_DRAWS, REDUCED_NOISE_DRAWS))
    draw(s, noise, to_target)
    return {**out, "gradient_noise": {str(b): v for b, v in noise.items()}, "target_loss": TARGET_LOSS,
            "seconds_to_target": to_target}
