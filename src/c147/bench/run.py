"""``c147-bench``: hand-written pieces against their built-in twins, side by side, as ratios."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import torch
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from c147.cli import check_fresh, hydra_entry, remove_failed_run, user_errors

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


SUITES = ("ops", "optim", "models")


def _suite(name: str):
    """The suite module ``name``: it declares ``CASES``, ``FAMILIES``, ``IMAGES_PER_STEP`` and
    ``closures(case, device, dtype)``."""
    if name not in SUITES:
        raise ValueError(f"unknown benchmark suite {name!r}; expected one of {SUITES}")
    return importlib.import_module(f"c147.bench.{name}")


def run(cfg: DictConfig) -> list[dict]:
    """Run the benchmark described by ``cfg``; print a table, write ``results.json``."""
    with user_errors("c147-bench", cleanup=lambda: remove_failed_run(Path(cfg.paths.output_dir))):
        suite = _suite(cfg.suite)
        if cfg.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {cfg.dtype!r}")
        if cfg.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device {cfg.device!r} asked for, but CUDA is not available here")
        families = list(cfg.families) if cfg.get("families") else suite.FAMILIES
        unknown = sorted(set(families) - set(suite.FAMILIES))
        if unknown:
            raise ValueError(f"unknown families {unknown}; expected some of {suite.FAMILIES}")
        out_dir = Path(cfg.paths.output_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        results_path = out_dir / "results.json"
        check_fresh(out_dir, results_path.name)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    dtype = DTYPES[cfg.dtype]
    # torch.utils.benchmark imports cpp_extension, which may log about CUDA_HOME: not before the checks
    from c147.bench.harness import Result, compare, copy_bandwidth_gbps

    copy_gbps = copy_bandwidth_gbps(cfg.device)  # large tensors: main memory
    rows: list[dict] = []
    table = Table(title=f"c147-bench {cfg.suite}: {cfg.device} {cfg.dtype}, torch {torch.__version__}, "
                        f"{torch.get_num_threads()} threads, copy {copy_gbps:.1f} GB/s")
    for col in ("family", "case", "shapes", "ours ms", "twin ms", "ours / twin", "ours % copy bw"):
        table.add_column(col, justify="right" if "ms" in col or "/" in col or "%" in col else "left")
    for case in suite.CASES:
        if case.family not in families:
            continue
        ours, twin, shape, bytes_moved = suite.closures(case, cfg.device, dtype)
        ours_ms, twin_ms = compare(ours, twin, rounds=cfg.rounds, min_run_time=cfg.min_run_time)
        result = Result(cfg.suite, case.family, case.name, shape, ours_ms, twin_ms, bytes_moved)
        # memory-bound cases against a float32 copy of the input's size (bytes_moved = 5 passes over it),
        # so caches help both alike
        row = result.as_dict(copy_bandwidth_gbps(cfg.device, bytes_moved // (5 * 4)) if bytes_moved else None)
        if suite.IMAGES_PER_STEP:  # throughput, for the suites that process images
            row["ours_images_per_s"] = suite.IMAGES_PER_STEP / ours_ms * 1e3
            row["twin_images_per_s"] = suite.IMAGES_PER_STEP / twin_ms * 1e3
        rows.append(row)
        frac = row.get("ours_fraction_of_copy_bw")
        table.add_row(case.family, case.name, shape, f"{ours_ms:.3f}", f"{twin_ms:.3f}", f"{result.ratio:.2f}",
                      f"{100 * frac:.0f}%" if frac else "")
    Console(width=160).print(table)
    meta = {"device": cfg.device, "device_name": torch.cuda.get_device_name() if cfg.device.startswith("cuda")
            else "cpu", "dtype": cfg.dtype, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "copy_gbps": copy_gbps}
    results_path.write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    print(f"results: {results_path}")
    return rows


main = hydra_entry("c147-bench", "bench", run)


if __name__ == "__main__":
    main()
