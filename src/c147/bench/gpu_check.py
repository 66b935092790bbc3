"""``scripts/gpu-check``: on a CUDA machine, what c147 has to prove there, in one command and one table.

1. the CUDA tests (``pytest -k cuda``: the tests marked ``cuda`` and the device-parametrized ``[cuda]``
   cases),
2. ``c147-bench`` of the ops, optim and models suites on cuda: eager and compiled, float32 and bfloat16,
3. one epoch of VGG-11 on 32x32 digits with impl=c147 and with impl=torch,

then one table: each step's result against its target and its seconds. Everything runs through
``python -m`` (no console script needed: the wheels-only setups of GPU images work), each step in its
own process, its output under ``--out`` (default ``outputs/gpu-check/<time>``). A step left when the
time budget (``--budget``, seconds, default 450) is spent is listed as skipped. Exit status 1 when a
step failed, 2 without CUDA.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

# (suite, compiled, dtype, families or None): the bench runs, in the order they run
BENCH_PLAN = [
    ("ops", False, "float32", None),
    ("optim", False, "float32", None),
    ("models", False, "float32", None),
    ("ops", True, "float32", None),
    ("models", True, "float32", None),
    ("ops", False, "bfloat16", None),
    ("models", False, "bfloat16", None),
    ("ops", True, "bfloat16", ["activation", "softmax", "norm"]),
]
BENCH_ARGS = ["rounds=2", "min_run_time=0.05"]


def _run(args: list[str], log: Path, timeout: float) -> tuple[int, float, str]:
    """Run ``args``; stdout and stderr into ``log``. Returns (status, seconds, output)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=max(timeout, 1))
        status, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
        status, output = 124, f"timed out after {timeout:.0f} s\n{e.stdout or ''}{e.stderr or ''}"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(output)
    return status, time.perf_counter() - start, output


def _tests(out: Path, timeout: float) -> dict:
    status, seconds, output = _run([sys.executable, "-m", "pytest", "-q", "-k", "cuda", "-p", "no:cacheprovider",
                                    "tests"], out / "tests.log", timeout)
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)", output)}
    result = ", ".join(f"{n} {k}" for k, n in counts.items() if k != "deselected") or output.strip()[-200:]
    return {"step": "CUDA tests (pytest -k cuda)", "result": result, "ok": status == 0, "seconds": seconds}


def _bench(out: Path, suite: str, compiled: bool, dtype: str, families, timeout: float) -> dict:
    folder = out / f"bench-{suite}-{'compiled' if compiled else 'eager'}-{dtype}"
    args = [sys.executable, "-m", "c147.app.bench", f"suite={suite}", "device=cuda", f"compile={str(compiled).lower()}",
            f"dtype={dtype}", *BENCH_ARGS, f"hydra.run.dir={folder}"]
    if families:
        args.append(f"families=[{','.join(families)}]")
    status, seconds, output = _run(args, out / f"{folder.name}.log", timeout)
    label = f"c147-bench {suite}, {'compiled' if compiled else 'eager'}, {dtype}" + (
        f" ({', '.join(families)})" if families else "")
    if status != 0:
        return {"step": label, "result": f"failed (status {status}): {output.strip().splitlines()[-1:]}",
                "ok": False, "seconds": seconds}
    from c147.bench.targets import summary_line

    data = json.loads((folder / "results.json").read_text())
    rows = data["results"]
    notes = [summary_line(s).split(": ", 1)[1] for s in data["summary"]]
    breaks = sum(r["graph_breaks"] or 0 for r in rows)
    inexact = [r["name"] for r in rows if r.get("close") is False]
    result = "; ".join(notes) + (f"; graph breaks in ours: {breaks}" if compiled else "") + (
        f"; less accurate than the twin: {', '.join(inexact)}" if inexact else "")
    return {"step": label, "result": result, "ok": not inexact, "seconds": seconds,
            "device": data["meta"]["device_name"], "torch": data["meta"]["torch"]}


def _vgg_epoch(out: Path, timeout: float) -> dict:
    seconds_of = {}
    total = 0.0
    for impl in ("c147", "torch"):
        folder = out / f"vgg11-{impl}"
        args = [sys.executable, "-m", "c147.app.train", "model=vgg11", "data=digits", "data.image_size=32",
                "trainer=gpu",
                "trainer.max_epochs=1", f"impl={impl}", "test=false", "trainer.enable_progress_bar=false",
                "callbacks.histograms=null", "callbacks.figures=null", f"hydra.run.dir={folder}"]
        status, seconds, output = _run(args, out / f"{folder.name}.log", timeout / 2)
        total += seconds
        if status != 0:
            return {"step": "VGG-11, one epoch, 32x32 digits", "ok": False, "seconds": total,
                    "result": f"impl={impl} failed (status {status}): {output.strip().splitlines()[-1:]}"}
        seconds_of[impl] = json.loads((folder / "metrics.json").read_text())["fit_seconds"]
    ratio = seconds_of["c147"] / seconds_of["torch"]
    return {"step": "VGG-11, one epoch, 32x32 digits", "ok": True, "seconds": total,
            "result": f"fit {seconds_of['c147']:.1f} s (c147) vs {seconds_of['torch']:.1f} s (torch): {ratio:.2f}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu-check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/gpu-check") / time.strftime("%Y-%m-%d_%H-%M-%S"))
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for everything (default 450)")
    parser.add_argument("--skip-tests", action="store_true", help="only the benchmarks and the VGG epoch")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: error: CUDA is not available here (torch.cuda.is_available() is False)", file=sys.stderr)
        return 2
    if args.out.exists():
        print(f"gpu-check: error: {args.out} exists; refusing to overwrite it", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True)
    deadline = time.perf_counter() + args.budget
    steps = ([] if args.skip_tests else [("CUDA tests (pytest -k cuda)", lambda t: _tests(args.out, t))])
    steps += [(f"c147-bench {s}, {'compiled' if c else 'eager'}, {d}",
               lambda t, s=s, c=c, d=d, f=f: _bench(args.out, s, c, d, f, t)) for s, c, d, f in BENCH_PLAN]
    steps.append(("VGG-11, one epoch, 32x32 digits", lambda t: _vgg_epoch(args.out, t)))
    results = []
    for label, step in steps:
        left = deadline - time.perf_counter()
        if left < 10:
            results.append({"step": label, "result": "skipped: the time budget is spent", "ok": None, "seconds": 0.0})
            continue
        results.append(step(left))
        print(f"{results[-1]['step']}: {results[-1]['result']} ({results[-1]['seconds']:.0f} s)", flush=True)
    _print(results, torch)
    (args.out / "gpu-check.json").write_text(json.dumps(results, indent=2))
    return 1 if any(r["ok"] is False for r in results) else 0


def _print(results: list[dict], torch) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"gpu-check: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
                        f"CUDA {torch.version.cuda}")
    for col in ("step", "result", "s"):
        table.add_column(col, justify="right" if col == "s" else "left")
    for r in results:
        style = {True: "green", False: "red"}.get(r["ok"], "yellow")
        table.add_row(Text(r["step"]), Text(r["result"], style=style), f"{r['seconds']:.0f}")  # as written
    Console(width=200).print(table)


if __name__ == "__main__":
    sys.exit(main())
