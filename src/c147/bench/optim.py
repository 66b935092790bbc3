"""The optimizer suite: time of one ``step()`` of ours against torch's, side by side.

Two workloads: about 10M parameters in 50 tensors (a mid-sized CNN) and 1,000 tensors of 100
elements (where per-tensor overhead dominates). Each optimizer is compared four ways: our
single-tensor path against torch's single-tensor path, our foreach path against torch's foreach
path, our foreach path against torch's default (``foreach=None``: the single-tensor path on
the CPU, foreach on CUDA) -- the row the CPU speed target is about -- and our fused path (the
single-tensor equations compiled by inductor, one loop over memory per parameter) against torch's
fused kernels (RMSprop, which torch has no fused form of: against torch's foreach path; NAdam, which
neither side has a fused form of: no fused row). The rows of the large workload also report the step's
bytes (reads + writes of parameters, gradients and state) as a share of the measured copy bandwidth:
the roofline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

import c147.optim
from c147.bench.harness import Pair, relative_error

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "SGD": dict(lr=1e-3, momentum=0.9, weight_decay=1e-4),
    "Adagrad": dict(lr=1e-3, weight_decay=1e-4),
    "RMSprop": dict(lr=1e-4, momentum=0.9),
    "Adam": dict(lr=1e-4, weight_decay=1e-4),
    "AdamW": dict(lr=1e-4),
    "NAdam": dict(lr=1e-4, weight_decay=1e-4),
}
WORKLOADS = {"10M in 50": [(200_000,)] * 50, "1000 x 100": [(10, 10)] * 1000}
TINY = {"10M in 50": [(1 << 16,)] * 2, "1000 x 100": [(10, 10)] * 10}  # size=tiny (one tensor past the fused
# path's size threshold)
PATHS = {  # row label -> (our path, torch's path): "single" (foreach=False), "foreach", "default", "fused"
    "single vs single": ("single", "single"),
    "foreach vs foreach": ("foreach", "foreach"),
    "foreach vs default": ("foreach", "default"),
    "fused vs fused": ("fused", "fused"),
}
# tensors each step reads + writes, per parameter element: p, g and the state read; p and the state written
PASSES = {"SGD": 5, "Adagrad": 5, "RMSprop": 7, "Adam": 7, "AdamW": 7, "NAdam": 7}


@dataclass
class Case:
    family: str  # the optimizer
    name: str
    workload: str
    ours_path: str
    twin_path: str
    kwargs: dict[str, Any] = field(default_factory=dict)


NO_FUSED_TWIN = ("RMSprop",)  # torch has no fused form of these: their fused row is against torch's foreach
NO_FUSED = ("NAdam",)  # neither side has a fused form: no fused row


def _case(opt: str, workload: str, label: str, ours: str, twin: str) -> Case:
    if twin == "fused" and opt in NO_FUSED_TWIN:
        label, twin = "fused vs foreach", "foreach"
    return Case(opt, f"{workload}: {label}", workload, ours, twin, OPTIMIZERS[opt])


CASES = [_case(opt, workload, label, ours, twin) for opt in OPTIMIZERS for workload in WORKLOADS
         for label, (ours, twin) in PATHS.items() if not (ours == "fused" and opt in NO_FUSED)]
FAMILIES = list(OPTIMIZERS)
# what every suite declares (c147.app.bench): images a timed call processes, for a throughput column
IMAGES_PER_STEP: int | None = None  # optimizer steps: no images


def _switches(path: str) -> dict[str, Any]:
    return {"single": dict(foreach=False), "foreach": dict(foreach=True), "default": dict(foreach=None),
            "fused": dict(fused=True)}[path]


def _params(shapes, device: str, dtype: torch.dtype, seed: int, as_dtype: torch.dtype | None = None):
    """Parameters with gradients, the same for a given seed and dtype; ``as_dtype``: those values converted
    (the float64 reference starts from the very numbers the timed sides start from)."""
    g = torch.Generator(device=device).manual_seed(seed)
    params = [torch.randn(s, device=device, dtype=dtype, generator=g) for s in shapes]
    grads = [torch.randn(p.shape, device=device, dtype=dtype, generator=g) * 1e-2 for p in params]
    params = [p.to(as_dtype or dtype).requires_grad_() for p in params]
    for p, grad in zip(params, grads, strict=True):
        p.grad = grad.to(as_dtype or dtype)
    return params


def closures(case: Case, device: str, dtype: torch.dtype, seed: int = 0, *, tiny: bool = False,
             compiled: bool = False) -> Pair:
    """Closures doing one optimizer step each. ``compiled`` changes nothing here: the fused rows are the
    compiled path. The accuracy columns compare each side's parameters after two steps with torch's
    single-tensor path in float64."""
    shapes = (TINY if tiny else WORKLOADS)[case.workload]

    def make(cls, path, as_dtype=None):
        params = _params(shapes, device, dtype, seed, as_dtype)
        return params, cls(params, **_switches(path), **case.kwargs)

    ours_params, ours = make(getattr(c147.optim, case.family), case.ours_path)
    twin_params, twin = make(getattr(torch.optim, case.family), case.twin_path)
    ref_params, ref = make(getattr(torch.optim, case.family), "single", torch.float64)
    for opt in (ours, twin, ref):  # two steps: the state's first update and a step that reads it
        opt.step()
        opt.step()
    errors = {"ours_err": relative_error(ours_params, ref_params),
              "twin_err": relative_error(twin_params, ref_params)}
    numel = sum(math.prod(s) for s in shapes)
    # the roofline share for the large workload only (the small one is all per-tensor overhead)
    bytes_moved = PASSES[case.family] * numel * torch.empty((), dtype=dtype).element_size() if numel > 1 << 20 else 0
    return Pair(ours.step, twin.step, f"{len(shapes)} tensors", bytes_moved, errors=errors, copy_elements=numel)
