"""``depth``: a 20-hidden-layer sigmoid MLP with and without identity shortcuts (``model.residual``), trained on
the 8x8 digits with the default optimizer (Adam) and schedule: training loss and the first layer's gradient norm.

The sheet's "vanishing gradient => architecture" (l.376): in the plain stack the gradient reaching the first
layer is a product of one Jacobian per layer, each at most 1/4 (the sigmoid's slope) times the weights, so it
shrinks geometrically with depth and the first layers do not learn; with ``h + f(h)`` every block also passes
the gradient through unchanged.

Claim: the residual network trains where the plain one stalls: a lower final training loss (the plain one stays
near chance, ln 10 = 2.30) and a first-layer gradient norm a million times larger.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback

from c147.app.studies.harness import Comparison, Study, claim, curve, finals, train_all
from c147.lit.figures import new_figure

PLAIN, RESIDUAL = "plain", "residual"
DEPTH, WIDTH = 20, 64
REDUCED_DEPTH, REDUCED_SAMPLES = 10, 512  # the reduced mode: half the layers, the first 512 training digits
GRAD_NORM = "train/first_layer_grad_norm"
TAGS = ("train/loss", GRAD_NORM, "val/acc")
GRAD_RATIO = 1e6  # the claim: the residual net's first-layer gradient norm over the plain one's, at least

COMPARISON = Comparison(
    # the defaults (Adam, the cosine schedule, torch's initialisation); sigmoid: the sheet's vanishing gradient.
    # The only difference between the two: an identity shortcut around each of hidden layers 2..20
    train=["model=mlp", f"model.hidden=[{','.join([str(WIDTH)] * DEPTH)}]", "model.activation=sigmoid",
           "data.image_size=8", f"+callbacks.first_layer_grad_norm._target_={__name__}.FirstLayerGradNorm"],
    settings={PLAIN: [], RESIDUAL: ["model.residual=true"]},
    epochs=10, reduced_epochs=3,
    reduced_train=[f"model.hidden=[{','.join([str(WIDTH)] * REDUCED_DEPTH)}]", f"data.train_samples={REDUCED_SAMPLES}"])


class FirstLayerGradNorm(Callback):
    """Logs the L2 norm of the first weight matrix's gradient (the first parameter of two or more dimensions),
    each optimizer step's averaged over the epoch, as ``train/first_layer_grad_norm``."""

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        weight = next(p for p in pl_module.parameters() if p.dim() >= 2)
        if weight.grad is not None:
            pl_module.log(GRAD_NORM, weight.grad.detach().norm(), on_step=False, on_epoch=True)


def run(s: Study) -> dict[str, Any]:
    """Both networks' training loss, first-layer gradient norm and val accuracy by epoch (``figures/curves``);
    the claim on their final values."""
    runs, epochs = train_all(s, COMPARISON)
    depth = s.pick(DEPTH, REDUCED_DEPTH)
    fig = new_figure(16.5, 4)
    for i, tag in enumerate(TAGS):
        ax = fig.add_subplot(1, len(TAGS), i + 1)
        for label, r in runs.items():
            r.setdefault("curves", {})[tag] = values = curve(r, tag)
            draw = ax.plot if tag == "val/acc" else ax.semilogy
            draw(range(1, len(values) + 1), values, marker=".", label=f"{label} ({depth} sigmoid layers)")
        ax.set(title=tag, xlabel="epoch", ylabel=tag)
        ax.legend(fontsize=7)
    s.figure("curves", fig)
    loss = {label: runs[label]["train/loss"] for label in (PLAIN, RESIDUAL)}
    grad = {label: runs[label]["curves"][GRAD_NORM][-1] for label in (PLAIN, RESIDUAL)}
    holds = loss[RESIDUAL] < loss[PLAIN] and grad[RESIDUAL] > GRAD_RATIO * grad[PLAIN]
    return {"epochs": epochs, "depth": depth, "width": WIDTH, "runs": finals(runs),
            "first_layer_grad_norm": grad,
            "claim": claim(f"with identity shortcuts a {depth}-layer sigmoid MLP trains where the plain one stalls: "
                           f"a lower final training loss, and a last-epoch first-layer gradient norm more than "
                           f"{GRAD_RATIO:g} times the plain one's", holds,
                           residual_loss=loss[RESIDUAL], plain_loss=loss[PLAIN],
                           residual_grad_norm=grad[RESIDUAL], plain_grad_norm=grad[PLAIN])}
