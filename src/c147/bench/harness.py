"""Side-by-side timing of a hand-written piece and its built-in twin.

Both are timed in the same process, alternately, with ``torch.utils.benchmark`` (which
synchronizes CUDA), and the best of the rounds is kept for each, so a burst of load on the
machine hits both sides alike. Results are ratios ours / twin: below 1 means ours is faster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils import benchmark


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
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn})
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3


def compare(ours: Callable[[], Any], twin: Callable[[], Any], rounds: int = 3, min_run_time: float = 0.1):
    """Best-of-``rounds`` milliseconds per call of ``ours`` and ``twin``, measured alternately."""
    ours(), twin()  # warm-up: lazy init, allocator, kernel selection
    best_ours = best_twin = float("inf")
    for _ in range(rounds):
        best_ours = min(best_ours, _best_ms(ours, min_run_time))
        best_twin = min(best_twin, _best_ms(twin, min_run_time))
    return best_ours, best_twin


def copy_bandwidth_gbps(device: str, numel: int = 1 << 25) -> float:
    """Device copy bandwidth (GB/s): bytes read + written by ``dst.copy_(src)`` per second."""
    src = torch.empty(max(numel, 1024), device=device)
    dst = torch.empty_like(src)
    ms = _best_ms(lambda: dst.copy_(src), 0.2)
    return 2 * src.numel() * src.element_size() / (ms * 1e6)
