"""The optimizer suite: time of one ``step()`` of ours against torch's, side by side.

Two workloads: about 10M parameters in 50 tensors (a mid-sized CNN) and 1,000 tensors of 100
elements (where per-tensor overhead dominates). Each optimizer is compared three ways: our
single-tensor path against torch's single-tensor path, our foreach path against torch's foreach
path, and our foreach path against torch's default (``foreach=None``: the single-tensor path on
the CPU, foreach on CUDA) -- the last row is the one the speed target is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

import c147.optim

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "SGD": dict(lr=1e-3, momentum=0.9, weight_decay=1e-4),
    "Adagrad": dict(lr=1e-3, weight_decay=1e-4),
    "RMSprop": dict(lr=1e-4, momentum=0.9),
    "Adam": dict(lr=1e-4, weight_decay=1e-4),
    "AdamW": dict(lr=1e-4),
}
WORKLOADS = {"10M in 50": [(200_000,)] * 50, "1000 x 100": [(10, 10)] * 1000}
PATHS = {  # row label -> (our foreach, torch's foreach)
    "single vs single": (False, False),
    "foreach vs foreach": (True, True),
    "foreach vs default": (True, None),
}


@dataclass
class Case:
    family: str  # the optimizer
    name: str
    workload: str
    ours_foreach: bool
    twin_foreach: bool | None
    kwargs: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(opt, f"{workload}: {label}", workload, ours, twin, kwargs)
    for opt, kwargs in OPTIMIZERS.items()
    for workload in WORKLOADS
    for label, (ours, twin) in PATHS.items()
]
FAMILIES = list(OPTIMIZERS)
# what every suite declares (c147.bench.run): images a timed call processes, for a throughput column
IMAGES_PER_STEP: int | None = None  # optimizer steps: no images


def closures(case: Case, device: str, dtype: torch.dtype, seed: int = 0):
    """``(ours, twin, shape, bytes_moved)``: closures doing one optimizer step each."""
    g = torch.Generator(device=device).manual_seed(seed)

    def make(cls, foreach):
        params = [torch.randn(s, device=device, dtype=dtype, generator=g).requires_grad_() for s in
                  WORKLOADS[case.workload]]
        for p in params:
            p.grad = torch.randn(p.shape, device=device, dtype=dtype, generator=g) * 1e-2
        opt = cls(params, foreach=foreach, **case.kwargs)
        return opt.step

    ours = make(getattr(c147.optim, case.family), case.ours_foreach)
    twin = make(getattr(torch.optim, case.family), case.twin_foreach)
    sizes = WORKLOADS[case.workload]
    return ours, twin, f"{len(sizes)} tensors", 0
