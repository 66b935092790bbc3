"""The end-to-end suite: the main job as a user runs it, ``c147-train`` in a process of its own, impl=c147 against
impl=torch, the two alternately (a burst of load hits both alike), the best of the rounds kept for each.

Three rows from the same runs: the whole process (what ``make train`` costs: imports, checks, data, training,
testing, figures, files), the training alone (Lightning's fit, ``fit_seconds`` in the run's ``metrics.json``; its
epochs per second in ``*_epochs_per_s``), and the rest (the whole process less the fit: start-up, testing,
writing). ``size=tiny`` runs ``debug=fast`` (one batch of each split): seconds, what the tests run.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from c147.bench.harness import Pair


@dataclass
class Case:
    family: str
    name: str


CASES = [
    Case("main job", "whole process"),
    Case("main job", "training (fit)"),
    Case("main job", "start-up, testing, files"),
]
FAMILIES = ["main job"]
IMAGES_PER_STEP: int | None = None
IMPLS = ("c147", "torch")


def command(impl: str, device: str, tiny: bool, run_dir: Path) -> list[str]:
    """``c147-train`` with this Python, quiet, into ``run_dir``: what the installed console script runs (its
    ``__main__`` named ``c147-train``: the script's end, :func:`c147.app.cli.finish`), also where the package is
    on PYTHONPATH without its scripts (the GPU machine)."""
    args = [f"impl={impl}", f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false"]
    if device.startswith("cuda"):
        args.append("trainer=gpu")
    if tiny:
        args.append("debug=fast")
    script = ("import sys, __main__; sys.argv[0] = __main__.__file__ = 'c147-train'; "
              "from c147.app.cli import train; sys.exit(train())")
    return [sys.executable, "-c", script, *args]


def one_run(impl: str, device: str, tiny: bool, folder: Path) -> dict[str, float]:
    """One whole-process run: its wall seconds, its fit seconds and epochs (from its metrics.json)."""
    run_dir = folder / f"{impl}-{len(list(folder.iterdir()))}"
    start = time.perf_counter()
    proc = subprocess.run(command(impl, device, tiny, run_dir), capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"c147-train impl={impl} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"wall": wall, "fit": metrics["fit_seconds"], "epochs": metrics["epochs"]}


@functools.cache
def measure(device: str, tiny: bool, rounds: int) -> dict[str, list[dict[str, float]]]:
    """``rounds`` runs of each impl, alternately (default size: after one warm-up run of each, which fills the
    file cache and compiles nothing the later runs reuse). Cached: the three rows share the runs."""
    runs: dict[str, list[dict[str, float]]] = {impl: [] for impl in IMPLS}
    with tempfile.TemporaryDirectory(prefix="c147-bench-e2e-") as tmp:
        folder = Path(tmp)
        if not tiny:
            for impl in IMPLS:
                one_run(impl, device, tiny, folder)
        for _ in range(rounds):
            for impl in IMPLS:
                runs[impl].append(one_run(impl, device, tiny, folder))
    return runs


def _best(runs: list[dict[str, float]], name: str) -> float:
    """The best (lowest) seconds of a row over the rounds."""
    if name == "whole process":
        return min(r["wall"] for r in runs)
    if name == "training (fit)":
        return min(r["fit"] for r in runs)
    return min(r["wall"] - r["fit"] for r in runs)


def closures(case: Case, device: str, dtype: torch.dtype, *, tiny: bool = False, compiled: bool = False,
             rounds: int = 3) -> Pair:
    """A row measured by whole processes (``Pair.measure``): milliseconds of ours and the twin, best of
    ``rounds``; the training row with its epochs per second. ``dtype`` and ``compiled`` are the main job's own
    (its config): the rows say how a user's run goes."""

    def measured() -> tuple[float, float, dict[str, float]]:
        runs = measure(device, tiny, rounds)
        ours, twin = (_best(runs[impl], case.name) for impl in IMPLS)
        extra: dict[str, float] = {}
        if case.name == "training (fit)":
            epochs = runs["c147"][0]["epochs"]
            extra = {"ours_epochs_per_s": epochs / ours, "twin_epochs_per_s": epochs / twin}
        return ours * 1e3, twin * 1e3, extra

    return Pair(lambda: None, lambda: None, "debug=fast" if tiny else "the default job", measure=measured)
