"""``optimizer_paths``: c147's hand-written SGD, momentum, Nesterov, Adagrad, RMSProp, RMSProp + momentum, RMSProp +
Nesterov momentum, Adam and NAdam on two 2-D surfaces, an ill-conditioned quadratic and Rosenbrock's valley:
trajectories over the contour lines, loss against step.

Claim: Adam ends lower than plain SGD on the quadratic in the same number of steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from c147.app.studies.harness import Study, claim
from c147.lit.figures import new_figure

STEPS = 200
REDUCED_STEPS = 60
QUADRATIC, ROSENBROCK = "quadratic", "rosenbrock"
SGD, ADAM = "sgd", "adam"


def quadratic(p: torch.Tensor) -> torch.Tensor:
    """0.5 (x² + 100 y²): curvatures 1 and 100, condition number 100; minimum 0 at the origin."""
    return 0.5 * (p[..., 0] ** 2 + 100.0 * p[..., 1] ** 2)


def rosenbrock(p: torch.Tensor) -> torch.Tensor:
    """(1 - x)² + 100 (y - x²)²: a curved valley; minimum 0 at (1, 1)."""
    return (1 - p[..., 0]) ** 2 + 100.0 * (p[..., 1] - p[..., 0] ** 2) ** 2


SURFACES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], tuple[float, float], tuple[float, ...]]] = {
    # function, start, plot window (x0, x1, y0, y1)
    QUADRATIC: (quadratic, (-4.0, 0.6), (-4.5, 1.0, -1.0, 1.0)),
    ROSENBROCK: (rosenbrock, (-1.5, 2.0), (-2.0, 1.6, -0.6, 2.6)),
}


def optimizer_table(surface: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The optimizers compared (c147.optim class name, arguments) on ``surface``. The SGD family's step is
    below the stability limit of the steepest direction (quadratic: curvature 100, so lr < 0.02, and
    Nesterov with momentum 0.9 needs lr x 100 < 1.36; Rosenbrock: curvature ~2000 near the start); the
    adaptive methods, whose steps do not scale with the curvature, take one rate each on both surfaces."""
    lr = {QUADRATIC: 0.012, ROSENBROCK: 0.001}[surface]
    return {
        SGD: ("SGD", {"lr": lr}),
        "momentum": ("SGD", {"lr": lr, "momentum": 0.9}),
        "nesterov": ("SGD", {"lr": lr, "momentum": 0.9, "nesterov": True}),
        "adagrad": ("Adagrad", {"lr": 0.5}),
        "rmsprop": ("RMSprop", {"lr": 0.03}),
        "rmsprop_momentum": ("RMSprop", {"lr": 0.003, "momentum": 0.9}),
        "rmsprop_nesterov": ("RMSprop", {"lr": 0.003, "momentum": 0.9, "nesterov": True}),
        ADAM: ("Adam", {"lr": 0.1}),
        "nadam": ("NAdam", {"lr": 0.1}),
    }


def descend(f: Callable[[torch.Tensor], torch.Tensor], start: tuple[float, float], name: str,
            kwargs: dict[str, Any], steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``steps`` steps of the hand-written optimizer ``name`` on ``f`` from ``start`` (float64): the path
    (steps + 1 points) and the loss at each point."""
    import c147.optim

    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = getattr(c147.optim, name)([p], **kwargs)
    path, losses = [p.detach().clone()], []
    for _ in range(steps):
        opt.zero_grad()
        loss = f(p)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        path.append(p.detach().clone())
    losses.append(f(p).item())
    return torch.stack(path), torch.tensor(losses)


def surface_figure(s: Study, surface: str, steps: int) -> dict[str, float]:
    """``figures/paths_<surface>``: every optimizer's path over the contours of ``log10 f``, and ``f`` against
    step (also TensorBoard scalars ``<surface>/<optimizer>``). Returns each optimizer's final loss."""
    f, start, (x0, x1, y0, y1) = SURFACES[surface]
    fig = new_figure(11, 4.2)
    ax, ax_loss = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    gx, gy = torch.meshgrid(torch.linspace(x0, x1, 200, dtype=torch.float64),
                            torch.linspace(y0, y1, 200, dtype=torch.float64), indexing="xy")
    z = f(torch.stack([gx, gy], dim=-1))
    ax.contour(gx.numpy(), gy.numpy(), z.clamp_min(1e-6).log10().numpy(), levels=25, cmap="Greys", linewidths=0.6)
    final = {}
    for name, (cls, kwargs) in optimizer_table(surface).items():
        path, losses = descend(f, start, cls, kwargs, steps)
        final[name] = losses[-1].item()
        ax.plot(path[:, 0].numpy(), path[:, 1].numpy(), lw=1, marker=".", ms=2, label=name)
        ax_loss.semilogy(losses.clamp_min(1e-16).numpy(), lw=1.2, label=name)
        for step in range(0, steps + 1, max(1, steps // 50)):
            s.writer.add_scalar(f"{surface}/{name}", losses[step].item(), step)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), title=f"{surface}: paths from {start} (contours: log10 f)",
           xlabel="x", ylabel="y")
    ax.legend(fontsize=7)
    ax_loss.set(title=f"{surface}: f against step", xlabel="step", ylabel="f")
    s.figure(f"paths_{surface}", fig)
    return final


def run(s: Study) -> dict[str, Any]:
    """Every optimizer on every surface; the claim on the quadratic."""
    steps = s.pick(STEPS, REDUCED_STEPS)
    final = {surface: surface_figure(s, surface, steps) for surface in SURFACES}
    q = final[QUADRATIC]
    return {"steps": steps, "final_loss": final,
            "claim": claim("Adam reaches a lower loss than plain SGD on the ill-conditioned quadratic in the same "
                           "steps", q[ADAM] < q[SGD], adam=q[ADAM], sgd=q[SGD])}
