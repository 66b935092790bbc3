"""The op suite: forward + backward of every hand-written op against its twin.

Each case builds its inputs once and returns two closures running ``out = op(*inputs)``
and ``out.backward(grad)`` on ours and on the twin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

import c147.functional as C
from c147._compat import count_kernels
from c147.bench.harness import Pair, relative_error
from c147.nn import reference


@dataclass
class Case:
    family: str
    name: str
    ours: Callable[..., torch.Tensor]
    twin: Callable[..., torch.Tensor]
    shapes: Sequence[tuple[int, ...]]  # floating inputs, random normal
    kwargs: dict[str, Any] = field(default_factory=dict)
    # non-differentiable inputs (targets), given the device and the batch size
    extra: Callable[[torch.device, int], list[torch.Tensor]] | None = None
    memory_bound: bool = False
    random: bool = False  # draws random numbers (dropout): the two sides' outputs are not comparable


def _targets(classes: int) -> Callable[[torch.device, int], list[torch.Tensor]]:
    return lambda device, n: [torch.randint(0, classes, (n,), device=device)]


ACT = (32, 64, 32, 32)  # 2M elements: memory-bound activations
CASES: list[Case] = [
    Case("linear", "linear", C.linear, F.linear, [(512, 1024), (1024, 1024), (1024,)]),
    *[
        Case("activation", n, getattr(C, n), getattr(torch, n) if n in ("sigmoid", "tanh") else getattr(F, n),
             [ACT], memory_bound=True)
        for n in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus")
    ],
    Case("activation", "prelu", C.prelu, F.prelu, [ACT, (64,)], memory_bound=True),
    Case("activation", "maxout", C.maxout, reference.maxout, [ACT], kwargs=dict(pieces=2), memory_bound=True),
    Case("softmax", "softmax", C.softmax, F.softmax, [(1024, 1000)], kwargs=dict(dim=1), memory_bound=True),
    Case("softmax", "log_softmax", C.log_softmax, F.log_softmax, [(1024, 1000)], kwargs=dict(dim=1),
         memory_bound=True),
    Case("softmax", "logsumexp", C.logsumexp, torch.logsumexp, [(1024, 1000)], kwargs=dict(dim=1)),
    Case("loss", "cross_entropy", C.cross_entropy, F.cross_entropy, [(1024, 1000)], extra=_targets(1000)),
    Case("loss", "cross_entropy(label_smoothing)", C.cross_entropy, F.cross_entropy, [(1024, 1000)],
         kwargs=dict(label_smoothing=0.1), extra=_targets(1000)),
    Case("loss", "binary_cross_entropy_with_logits", C.binary_cross_entropy_with_logits,
         F.binary_cross_entropy_with_logits, [(1024, 1000), (1024, 1000)]),
    Case("loss", "mse_loss", C.mse_loss, F.mse_loss, [(1024, 1000), (1024, 1000)]),
    Case("loss", "multi_margin_loss", C.multi_margin_loss, F.multi_margin_loss, [(512, 100)],
         extra=_targets(100)),
    Case("dropout", "dropout", C.dropout, F.dropout, [ACT], kwargs=dict(p=0.5), memory_bound=True,
         random=True),
    Case("dropout", "dropout2d", C.dropout2d, F.dropout2d, [ACT], kwargs=dict(p=0.5), memory_bound=True,
         random=True),
    Case("conv", "conv2d LeNet C1", C.conv2d, F.conv2d, [(64, 1, 32, 32), (6, 1, 5, 5), (6,)]),
    Case("conv", "conv2d 3x3 64->64", C.conv2d, F.conv2d, [(16, 64, 32, 32), (64, 64, 3, 3), (64,)],
         kwargs=dict(padding=1)),
    Case("conv", "conv2d 3x3 stride 2", C.conv2d, F.conv2d, [(16, 32, 32, 32), (64, 32, 3, 3), (64,)],
         kwargs=dict(stride=2, padding=1)),
    Case("conv", "conv2d depthwise", C.conv2d, F.conv2d, [(16, 64, 32, 32), (64, 1, 3, 3)],
         kwargs=dict(padding=1, groups=64)),
    Case("pooling", "max_pool2d 2/2", C.max_pool2d, F.max_pool2d, [ACT], kwargs=dict(kernel_size=2)),
    Case("pooling", "max_pool2d 3/2 (AlexNet)", C.max_pool2d, F.max_pool2d, [ACT],
         kwargs=dict(kernel_size=3, stride=2)),
    Case("pooling", "avg_pool2d 2/2", C.avg_pool2d, F.avg_pool2d, [ACT], kwargs=dict(kernel_size=2)),
    Case("norm", "local_response_norm", C.local_response_norm, F.local_response_norm, [(16, 96, 27, 27)],
         kwargs=dict(size=5)),
]


def _batch_norm_case() -> Case:
    def make(fn):
        def run(x, weight, bias, running_mean, running_var):
            return fn(x, running_mean, running_var, weight, bias, training=True, momentum=0.1, eps=1e-5)

        return run

    return Case("norm", "batch_norm2d (train)", make(C.batch_norm), make(F.batch_norm), [ACT, (64,), (64,)],
                extra=lambda device, n: [torch.zeros(64, device=device), torch.ones(64, device=device)],
                memory_bound=True)


CASES.append(_batch_norm_case())
FAMILIES = sorted({c.family for c in CASES})
# what every suite declares (c147.app.bench): images a timed call processes, for a throughput column
IMAGES_PER_STEP: int | None = None  # one op a case: no images


TINY_BATCH = 2  # size=tiny: the leading (batch) dimension of the inputs, the rest as at default size


def _shapes(case: Case, tiny: bool) -> list[tuple[int, ...]]:
    """The case's input shapes; tiny: every input that shares the first input's batch size gets 2."""
    n = case.shapes[0][0]
    return [(TINY_BATCH, *s[1:]) if tiny and s[0] == n else tuple(s) for s in case.shapes]


def _forward_backward(fn, inputs, extra, kwargs, grad_seed: int = 1):
    """Outputs and input gradients of ``fn`` on copies of ``inputs``, for the accuracy columns."""
    xs = [x.detach().clone().requires_grad_() for x in inputs]
    out = fn(*xs, *extra, **kwargs)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(grad_seed), dtype=torch.float64)
    out.backward(g.to(device=out.device, dtype=out.dtype))
    return [out, *[x.grad for x in xs]]


def _errors(case: Case, ours, twin, inputs, extra) -> dict[str, float | None]:
    """Ours' and the twin's normwise errors against the twin in float64 (outputs and input gradients)."""
    if case.random:
        return {"ours_err": None, "twin_err": None}

    def copies(dtype=None):  # fresh running statistics for batch norm; float64 copies for the reference
        return [e.clone() if dtype is None or not e.is_floating_point() else e.to(dtype) for e in extra]

    ref = _forward_backward(case.twin, [x.double() for x in inputs], copies(torch.float64), case.kwargs)
    return {"ours_err": relative_error(_forward_backward(ours, inputs, copies(), case.kwargs), ref),
            "twin_err": relative_error(_forward_backward(twin, inputs, copies(), case.kwargs), ref)}


def closures(case: Case, device: str, dtype: torch.dtype, seed: int = 0, *, tiny: bool = False,
             compiled: bool = False) -> Pair:
    """Closures running forward + backward of ours and the twin (both ``torch.compile``d when
    ``compiled``; then also the twin eager, and the graph breaks in ours)."""
    torch.manual_seed(seed)
    inputs = [torch.randn(s, device=device, dtype=dtype) for s in _shapes(case, tiny)]
    if case.name == "binary_cross_entropy_with_logits":
        inputs[1] = torch.rand_like(inputs[1])  # probabilities as targets
    extra = case.extra(torch.device(device), inputs[0].shape[0]) if case.extra else []

    def make(fn):
        xs = [x.clone().requires_grad_() for x in inputs]
        out = fn(*xs, *extra, **case.kwargs)
        grad = torch.randn_like(out)

        def run():
            for x in xs:
                x.grad = None
            fn(*xs, *extra, **case.kwargs).backward(grad)

        return run

    ours_fn, twin_fn, breaks = case.ours, case.twin, None
    if compiled:
        torch._dynamo.reset()  # each case compiles afresh: no shape left from another case
        breaks = torch._dynamo.explain(case.ours)(*[x.clone().requires_grad_() for x in inputs], *extra,
                                                  **case.kwargs).graph_break_count
        ours_fn, twin_fn = torch.compile(case.ours), torch.compile(case.twin)
    ours_run, twin_run = make(ours_fn), make(twin_fn)
    kernels = None if compiled else (count_kernels(ours_run), count_kernels(twin_run))
    shape = " ".join("x".join(map(str, s)) for s in _shapes(case, tiny))
    bytes_moved = 0
    if case.memory_bound:  # forward reads x, writes y; backward reads dy and x (or y), writes dx: 5 passes
        bytes_moved = 5 * inputs[0].numel() * inputs[0].element_size()
    return Pair(ours_run, twin_run, shape, bytes_moved, twin_eager=make(case.twin) if compiled else None,
                graph_breaks=breaks, errors=_errors(case, ours_fn, twin_fn, inputs, extra),
                copy_elements=inputs[0].numel() if bytes_moved else None, kernels=kernels)
