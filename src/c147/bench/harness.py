"""Side-by-side timing of a hand-written piece and its built-in twin.

Both are timed in the same process, alternately, with ``torch.utils.benchmark`` (which
synchronizes CUDA), and the best of the rounds is kept for each, so a burst of load on the
machine hits both sides alike. Results are ratios ours / twin: below 1 means ours is faster.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch


@dataclass
class Pair:
    """What a suite hands the runner for one case: the two timed closures and what is known about them."""

    ours: Callable[[], Any]
    twin: Callable[[], Any]
    shape: str
    bytes_moved: int = 0  # for memory-bound cases: bytes read + written by one call
    twin_eager: Callable[[], Any] | None = None  # compiled runs: the twin uncompiled
    graph_breaks: int | None = None  # compiled runs: graph breaks in ours (target 0)
    errors: dict[str, float | None] = field(default_factory=dict)  # ours_err, twin_err against float64
    copy_elements: int | None = None  # memory-bound rows: the float32 copy the bandwidth share is measured by
    kernels: tuple[int, int] | None = None  # eager ops: operators one call of ours and of the twin runs
    # whole-process rows (suite e2e): measured by the suite itself, () -> (ours ms, twin ms, extra columns);
    # ``ours`` and ``twin`` are then not timed
    measure: Callable[[], tuple[float, float, dict[str, float]]] | None = None


def relative_error(values: Iterable[torch.Tensor], references: Iterable[torch.Tensor]) -> float:
    """The largest normwise error ``max|a - r| / max|r|`` over pairs of tensors (the reference in float64)."""
    worst = 0.0
    for a, r in zip(values, references, strict=True):
        r = r.detach().double()
        scale = r.abs().max().item() if r.numel() else 0.0
        diff = (a.detach().double() - r).abs().max().item() if r.numel() else 0.0
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def close_enough(ours_err: float, twin_err: float, dtype: torch.dtype) -> bool:
    """Ours is as accurate as the twin: within 4x the twin's own error against float64, or a few units
    in the last place when the twin is exact. No fixed tolerance: the twin's error is what the dtype and
    the case's reduction sizes allow on this machine's kernels."""
    return ours_err <= max(4 * twin_err, 16 * torch.finfo(dtype).eps)


@dataclass
class Result:
    """One row of a benchmark table."""

    suite: str
    family: str
    name: str
    shape: str
    ours_ms: float
    twin_ms: float
    bytes_moved: int = 0  # for memory-bound cases: bytes read + written by forward + backward

    @property
    def ratio(self) -> float:
        return self.ours_ms / self.twin_ms

    def as_dict(self, copy_gbps: float | None = None) -> dict[str, Any]:
        row = asdict(self) | {"ratio": self.ratio}
        if self.bytes_moved and copy_gbps:
            row["ours_fraction_of_copy_bw"] = self.bytes_moved / (self.ours_ms * 1e6) / copy_gbps
            row["twin_fraction_of_copy_bw"] = self.bytes_moved / (self.twin_ms * 1e6) / copy_gbps
        return row


def _best_ms(fn: Callable[[], Any], min_run_time: float) -> float:
    from torch.utils import benchmark  # imports cpp_extension, which may log about CUDA_HOME: only when timing

    # torch's Timer runs the statement on 1 thread unless told otherwise: the process's setting (``threads``)
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def compare(ours: Callable[[], Any], twin: Callable[[], Any], rounds: int = 3, min_run_time: float = 0.1):
    """Best-of-``rounds`` milliseconds per call of ``ours`` and ``twin``, measured alternately."""
    ours(), twin()  # warm-up: lazy init, allocator, kernel selection
    best_ours = best_twin = float("inf")
    for _ in range(rounds):
        best_ours = min(best_ours, _best_ms(ours, min_run_time))
        best_twin = min(best_twin, _best_ms(twin, min_run_time))
    return best_ours, best_twin


def time_ms(fn: Callable[[], Any], min_run_time: float = 0.1) -> float:
    """Milliseconds per call of ``fn`` alone, after a warm-up call (compiled runs: the twin eager)."""
    fn()
    return _best_ms(fn, min_run_time)


def device_name(device: str) -> str:
    """The machine a run's ratios belong to: the GPU's name, or the CPU's model (Linux's ``/proc/cpuinfo``, else
    what ``platform`` knows). Which kernels torch picks differs by vendor (float32 ``expm1`` took 1.2 ms beyond a
    copy on 2M floats on an Intel Xeon, 11-13 ms on an AMD EPYC), so a comparison across machines says so."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


@functools.cache
def copy_bandwidth_gbps(device: str, numel: int = 1 << 25) -> float:
    """Device copy bandwidth (GB/s): bytes read + written by ``dst.copy_(src)`` per second; measured once per
    device and size in a process (the rows of one size share it)."""
    src = torch.empty(max(numel, 1024), device=device)
    dst = torch.empty_like(src)
    ms = _best_ms(lambda: dst.copy_(src), 0.2)
    return 2 * src.numel() * src.element_size() / (ms * 1e6)
