"""``init``: a deep tanh and a deep ReLU MLP at sigma=0.01, sigma=1, Xavier and He initialisation, one forward and
backward pass over 500 digits: each layer's activation and gradient spread.

Claim: at sigma=0.01 the last layer's activations have far smaller variance than with Xavier's initialisation.
"""

from __future__ import annotations

from typing import Any

import torch

from c147.app.studies.harness import Study, claim
from c147.lit.figures import new_figure

DEPTH, WIDTH = 10, 256
REDUCED_DEPTH, REDUCED_WIDTH = 6, 64
TANH = "tanh"
ACTIVATIONS = [TANH, "relu"]
SMALL, XAVIER = "normal_0.01", "xavier_normal"
INITS = [SMALL, "normal_1", XAVIER, "kaiming_normal"]
SAMPLES = 500
KINDS = ("activation std", "weight-gradient std")


def layer_statistics(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor],
                                                                                        list[float]]:
    """One forward and backward pass: each hidden activation layer's outputs, and the standard deviation of
    each Linear layer's weight gradient (cross-entropy loss)."""
    from c147.models.options import ACTIVATIONS as LAYERS

    kinds = set(LAYERS.values())
    acts: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: acts.append(o.detach()))
             for m in net.modules() if type(m).__name__ in kinds]
    try:
        loss = torch.nn.functional.cross_entropy(net(x), y)
    finally:
        for h in hooks:
            h.remove()
    loss.backward()
    grads = [m.weight.grad.std().item() for m in net.modules() if isinstance(getattr(m, "weight", None),
                                                                             torch.Tensor) and m.weight.dim() == 2]
    return acts, grads


def run(s: Study) -> dict[str, Any]:
    """Every activation under every initialisation: ``figures/layer_statistics`` and the claim on tanh."""
    from c147.data import DigitsDataModule
    from c147.models import mlp

    depth, width = s.pick((DEPTH, WIDTH), (REDUCED_DEPTH, REDUCED_WIDTH))
    dm = DigitsDataModule(image_size=8)
    dm.setup("fit")
    x, y = dm.train_set.tensors[0][:SAMPLES], dm.train_set.tensors[1][:SAMPLES]
    stats: dict[str, dict[str, dict[str, list[float]]]] = {}
    fig = new_figure(11, 7)
    axes = {(a, k): fig.add_subplot(2, 2, 1 + i + 2 * j) for i, a in enumerate(ACTIVATIONS)
            for j, k in enumerate(KINDS)}
    for act in ACTIVATIONS:
        stats[act] = {}
        for scheme in INITS:
            torch.manual_seed(0)
            net = mlp(activation=act, init=scheme, hidden=[width] * depth, image_size=8)
            acts, grads = layer_statistics(net, x, y)
            stats[act][scheme] = {"activation_std": [a.std().item() for a in acts], "gradient_std": grads}
            for layer, a in enumerate(acts):
                s.writer.add_histogram(f"{act}/{scheme}/activation", a, layer)
            axes[(act, KINDS[0])].semilogy(range(1, depth + 1), stats[act][scheme]["activation_std"], marker="o",
                                           label=scheme)
            axes[(act, KINDS[1])].semilogy(range(1, depth + 2), grads, marker="o", label=scheme)
        for kind in KINDS:
            axes[(act, kind)].set(title=f"{act}: {kind} per layer", xlabel="layer", ylabel=kind)
            axes[(act, kind)].legend(fontsize=7)
    s.figure("layer_statistics", fig)
    small, xavier = (stats[TANH][k]["activation_std"][-1] ** 2 for k in (SMALL, XAVIER))
    return {"depth": depth, "width": width, "statistics": stats,
            "claim": claim("sigma=0.01: the last tanh layer's activations have far smaller variance (under a "
                           "thousandth) than with Xavier's initialisation", small < 1e-3 * xavier,
                           variance_sigma_0_01=small, variance_xavier=xavier)}
