"""``c147-bench``: hand-written pieces against their built-in twins, side by side, as ratios.

Writes into the run folder: ``results.json`` (meta, one row per case, one summary per suite),
``results.csv`` (the rows), ``ratios.png`` (a bar chart of the ratios against their targets) and
``tensorboard/`` (the ratios as scalars, the chart as an image, the table as text).
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from c147._io import atomic_write
from c147.app.entry import Invocation, hydra_entry
from c147.app.runs import cell, check_fresh

DTYPES = ("float32", "float64", "bfloat16")  # torch dtypes by name
SUITES = ("ops", "optim", "models", "e2e")
ALL = ("ops", "optim", "models")  # suite=all: the suites timed inside this process (e2e runs c147-train itself)
SIZES = ("default", "tiny")
OUTPUTS = ("results.json", "results.csv", "ratios.png", "tensorboard")
# results.csv: one line per case, these columns (README: "c147-bench output")
COLUMNS = ("suite", "family", "name", "shape", "compiled", "ours_ms", "twin_ms", "ratio", "target", "bandwidth_target",
           "target_kind", "meets_target", "twin_eager_ms", "ours_vs_twin_eager", "graph_breaks", "ours_err",
           "twin_err", "close", "ours_kernels", "twin_kernels", "bytes_moved", "ours_fraction_of_copy_bw",
           "twin_fraction_of_copy_bw", "ours_images_per_s", "twin_images_per_s", "ours_epochs_per_s",
           "twin_epochs_per_s", "ratio_then", "ratio_change")


def _suite(name: str):
    """The suite module ``name``: it declares ``CASES``, ``FAMILIES``, ``IMAGES_PER_STEP`` and
    ``closures(case, device, dtype, tiny=, compiled=)`` returning a :class:`~c147.bench.harness.Pair`."""
    if name not in SUITES:
        raise ValueError(f"unknown benchmark suite {name!r}; expected one of {SUITES} or 'all'")
    return importlib.import_module(f"c147.bench.{name}")


def check_names(cfg: DictConfig) -> None:
    """The suite, dtype, size and compile values (before Hydra too: nothing imported)."""
    if cfg.suite != "all" and cfg.suite not in SUITES:
        raise ValueError(f"unknown benchmark suite {cfg.suite!r}; expected one of {SUITES} or 'all'")
    if cfg.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {cfg.dtype!r}")
    if cfg.size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {cfg.size!r}")
    if not isinstance(cfg.compile, bool):
        raise ValueError(f"compile must be true or false, got {cfg.compile!r}")


def _check(cfg: DictConfig) -> tuple[list[str], list[str] | None]:
    import torch

    check_names(cfg)
    suites = list(ALL) if cfg.suite == "all" else [cfg.suite]
    modules = [_suite(s) for s in suites]
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r} asked for, but CUDA is not available here")
    families = list(cfg.families) if cfg.get("families") else None
    if families:
        known = sorted({f for m in modules for f in m.FAMILIES})
        unknown = sorted(set(families) - set(known))
        if unknown:
            raise ValueError(f"unknown families {unknown}; expected some of {known}")
    return suites, families


def read_results(path: str | Path) -> dict[str, Any]:
    """An earlier run's ``results.json`` (or its run folder) for ``compare=``; a ValueError saying what was
    expected where it is missing or is something else."""
    given = Path(path)
    file = given / "results.json" if given.is_dir() else given
    if not file.is_file():
        raise ValueError(f"compare: no results.json at {str(path)!r}; expected an earlier c147-bench run's "
                         "results.json or its folder")
    try:
        data = json.loads(file.read_text())
        rows = data["results"]
        if not all({"suite", "family", "name", "ratio"} <= set(r) for r in rows):
            raise KeyError("suite, family, name, ratio in every row")
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"compare: {file} is not a c147-bench results.json ({type(e).__name__}: {e})") from None
    return data


def _case(row: dict[str, Any]) -> tuple:
    return row["suite"], row["family"], row["name"], bool(row.get("compiled"))


def add_then(rows: list[dict], then: list[dict]) -> list[dict]:
    """Each row's ratio in the earlier run (``ratio_then``) and now / then (``ratio_change``: < 1, ours got faster
    against the twin), matched by suite, family, case and compiled; the rows only in one run get none."""
    earlier = {_case(r): r["ratio"] for r in then}
    for row in rows:
        old = earlier.get(_case(row))
        row["ratio_then"] = old
        row["ratio_change"] = None if old is None else row["ratio"] / old
    return rows


def _compare_table(rows: list[dict], then: dict[str, Any], source: str, console, machine: str) -> None:
    """Each case's ratio then and now, and one line: the geometric mean of now / then over the cases in both; a
    line more when the earlier run names another machine (``machine``: this run's, :func:`device_name`)."""
    from rich.table import Table

    meta = then.get("meta", {})
    table = Table(title="c147-bench compare: ours / twin then and now")
    for col in ("suite", "family", "case", "then", "now", "now / then"):
        table.add_column(col, justify="left" if col in ("suite", "family", "case") else "right")
    for r in rows:
        change = r.get("ratio_change")
        style = "" if change is None else "green" if change < 0.95 else "red" if change > 1.05 else ""
        text = "" if change is None else f"[{style}]{change:.2f}[/]" if style else f"{change:.2f}"
        table.add_row(cell(r["suite"]), cell(r["family"]), cell(r["name"]), _fmt(r.get("ratio_then"), ".2f"),
                      f"{r['ratio']:.2f}", text)
    console.print(table)
    console.print(f"then: {source} ({meta.get('device_name', '?')}, torch {meta.get('torch', '?')}, size "
                  f"{meta.get('size', '?')})", markup=False, highlight=False)
    # (results.json files written before the CPU's model was recorded say "cpu": no machine named, no line)
    if meta.get("device_name") not in (None, "cpu", machine):
        console.print(f"then ran on {meta['device_name']}, now on {machine}: a change of ratio there is the "
                      "machines' as well as the code's", markup=False, highlight=False)
    both = [r["ratio_change"] for r in rows if r.get("ratio_change")]
    now_only = sum(r.get("ratio_then") is None for r in rows)
    then_only = len({_case(r) for r in then["results"]} - {_case(r) for r in rows})
    mean = math.exp(sum(math.log(c) for c in both) / len(both)) if both else None
    line = (f"compare: {len(both)} cases in both runs, geometric mean of now / then {mean:.2f} (< 1: ours got "
            "faster against the twin)" if both else "compare: no case in both runs")
    extra = [f"{n} only {when}" for n, when in ((now_only, "now"), (then_only, "then")) if n]
    console.print(line + (f"; {', '.join(extra)}" if extra else ""))


def _style(row: dict[str, Any]) -> str:
    return {True: "green", False: "red"}.get(row.get("meets_target"), "")


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def run(cfg: DictConfig, inv: Invocation | None = None) -> list[dict]:
    """Run the benchmark described by ``cfg``; print the table and the summary, write the outputs."""
    import torch
    from rich.console import Console
    from rich.table import Table

    inv = inv or Invocation(prog="c147-bench")
    out_dir = Path(cfg.paths.output_dir)
    with inv.user_errors(out_dir):
        suites, families = _check(cfg)
        then = read_results(cfg.compare) if cfg.get("compare") else None
        out_dir.mkdir(parents=True, exist_ok=True)
        check_fresh(out_dir, *OUTPUTS)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    from c147.bench import targets as T
    from c147.bench.harness import Result, close_enough, compare, copy_bandwidth_gbps, device_name, time_ms

    dtype, compiled, tiny = getattr(torch, cfg.dtype), bool(cfg.compile), cfg.size == "tiny"
    copy_gbps = copy_bandwidth_gbps(cfg.device)  # large tensors: main memory
    machine = device_name(cfg.device)
    console = Console(width=220)
    rows: list[dict] = []
    summaries: list[dict] = []
    for suite_name in suites:
        suite = _suite(suite_name)
        targets = T.targets_for(suite_name, cfg.device, compiled)
        mode = "compiled (ours compiled / twin compiled)" if compiled else "eager"
        table = Table(title=f"c147-bench {suite_name}, {mode}: {cfg.device} ({machine}) {cfg.dtype}, "
                            f"torch {torch.__version__}, "
                            f"{torch.get_num_threads()} threads, copy {copy_gbps:.1f} GB/s")
        headers = ["family", "case", "shapes", "ours ms", "twin ms", "ours / twin", "target"]
        if compiled:
            headers += ["twin eager ms", "ours / twin eager", "graph breaks"]
        headers += ["ours err", "twin err", "ours % copy bw"]
        counted = suite_name == "ops" and not compiled  # the ops suite counts kernels when eager (ops.closures)
        if counted:
            headers += ["kernels ours / twin"]
        for col in headers:
            table.add_column(col, justify="left" if col in ("family", "case", "shapes") else "right")
        suite_rows = []
        for case in suite.CASES:
            if families is not None and case.family not in families:
                continue
            extra = {"rounds": cfg.rounds} if suite_name == "e2e" else {}
            pair = suite.closures(case, cfg.device, dtype, tiny=tiny, compiled=compiled, **extra)
            if pair.measure is not None:  # whole processes, timed by the suite
                ours_ms, twin_ms, columns = pair.measure()
            else:
                ours_ms, twin_ms = compare(pair.ours, pair.twin, rounds=cfg.rounds, min_run_time=cfg.min_run_time)
                columns = {}
            result = Result(suite_name, case.family, case.name, pair.shape, ours_ms, twin_ms, pair.bytes_moved)
            # memory-bound rows against a float32 copy of their size, so that caches help both alike
            row = result.as_dict(copy_bandwidth_gbps(cfg.device, pair.copy_elements) if pair.bytes_moved else None)
            row["compiled"] = compiled
            row.update(columns)
            if suite.IMAGES_PER_STEP:  # throughput, for the suites that process images
                batch = int(pair.shape.split("x")[0])
                row["ours_images_per_s"] = batch / ours_ms * 1e3
                row["twin_images_per_s"] = batch / twin_ms * 1e3
            if pair.twin_eager is not None:
                eager_ms = time_ms(pair.twin_eager, cfg.min_run_time)  # ours is timed above
                row["twin_eager_ms"], row["ours_vs_twin_eager"] = eager_ms, ours_ms / eager_ms
            row["graph_breaks"] = pair.graph_breaks
            if pair.kernels is not None:
                row["ours_kernels"], row["twin_kernels"] = pair.kernels
            row.update(pair.errors)
            if row.get("ours_err") is not None:
                row["close"] = close_enough(row["ours_err"], row["twin_err"], dtype)
            T.judge(row, targets)
            suite_rows.append(row)
            cells = [cell(case.family), cell(case.name), cell(pair.shape), f"{ours_ms:.3f}", f"{twin_ms:.3f}",
                     f"[{_style(row)}]{row['ratio']:.2f}[/]" if _style(row) else f"{row['ratio']:.2f}",
                     _target_text(row)]
            if compiled:
                cells += [_fmt(row.get("twin_eager_ms"), ".3f"), _fmt(row.get("ours_vs_twin_eager"), ".2f"),
                          "" if pair.graph_breaks is None else str(pair.graph_breaks)]
            frac = row.get("ours_fraction_of_copy_bw")
            cells += [_fmt(row.get("ours_err"), ".1e") + ("" if row.get("close", True) else " [red]![/]"),
                      _fmt(row.get("twin_err"), ".1e"), f"{100 * frac:.0f}%" if frac else ""]
            if counted:
                cells.append("{} / {}".format(*pair.kernels))
            table.add_row(*cells)
        console.print(table)
        summary = T.summary(suite_name, suite_rows, targets)
        console.print(T.summary_line(summary))
        rows += suite_rows
        summaries.append(summary)
    meta = {"device": cfg.device, "device_name": machine, "dtype": cfg.dtype, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "copy_gbps": copy_gbps, "compiled": compiled, "size": cfg.size}
    if then is not None:
        add_then(rows, then["results"])
        _compare_table(rows, then, cfg.compare, console, machine)
        meta["compared_with"] = str(cfg.compare)
    _outputs(out_dir, rows, summaries, meta)
    print(f"results: {out_dir / 'results.json'} (also results.csv, ratios.png, tensorboard/)")
    return rows


def _met(row: dict[str, Any]) -> str:
    return {True: "yes", False: "no"}.get(row["meets_target"], "")


def _target_text(row: dict[str, Any]) -> str:
    parts = [] if row["target"] is None else [f"<= {row['target']:g}"]
    if row.get("bandwidth_target") is not None:
        parts.append(f">= {100 * row['bandwidth_target']:.0f}% bw")
    return ", ".join(parts)


def _chart(rows: list[dict], meta: dict[str, Any]):
    """A horizontal bar per case: ours / twin on a log axis, green where the target is met, red where
    missed, grey without one; a tick at each row's ratio target, the line at 1 where both are as fast."""
    from c147.lit.figures import new_figure

    fig = new_figure(9, 0.22 * len(rows) + 1.6)
    ax = fig.add_subplot()
    labels = [f"{r['suite']}: {r['family']} {r['name']}" if r['family'] not in r['name'] else
              f"{r['suite']}: {r['name']}" for r in rows]
    ys = list(range(len(rows)))[::-1]
    colours = [{True: "tab:green", False: "tab:red"}.get(r.get("meets_target"), "tab:grey") for r in rows]
    ax.barh(ys, [r["ratio"] - 1 for r in rows], color=colours, left=1)  # from 1: left of it ours is faster
    for y, r in zip(ys, rows, strict=True):
        if r["target"] is not None:
            ax.plot([r["target"]] * 2, [y - 0.4, y + 0.4], color="black", linewidth=1.5)
    ax.axvline(1.0, color="black", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ratios = [r["ratio"] for r in rows] + [r["target"] for r in rows if r["target"] is not None]
    ticks = [2.0**k for k in range(math.floor(math.log2(min(ratios))), math.ceil(math.log2(max(ratios))) + 1)]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xticks([], minor=True)
    ax.set_yticks(ys, labels, fontsize=7)
    ax.set_xlabel("ours / twin (time; < 1: ours faster)  | black ticks: targets")
    mode = "compiled" if meta["compiled"] else "eager"
    ax.set_title(f"c147-bench {mode}: {meta['device_name']} {meta['dtype']}, torch {meta['torch']}", fontsize=9)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    return fig


def _outputs(out_dir: Path, rows: list[dict], summaries: list[dict], meta: dict[str, Any]) -> None:
    """results.json, results.csv, ratios.png and tensorboard/ (ratios as scalars ``ratio/<suite>/<family>/<case>``
    and ``geomean/<suite>``, the chart as an image, the table as text)."""
    from torch.utils.tensorboard import SummaryWriter

    from c147.lit.figures import save_figure

    with atomic_write(out_dir / "results.json") as f:  # whole or not at all
        json.dump({"meta": meta, "results": rows, "summary": summaries}, f, indent=2)
    with atomic_write(out_dir / "results.csv", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    def tag(*parts: str) -> str:
        return "/".join("".join(c if c.isalnum() or c in "._-" else "_" for c in p) for p in parts)

    with SummaryWriter(str(out_dir / "tensorboard")) as writer:
        save_figure(_chart(rows, meta), out_dir / "ratios.png", writer, "ratios")
        for r in rows:
            writer.add_scalar(tag("ratio", r["suite"], r["family"], r["name"]), r["ratio"], 0)
        for s in summaries:
            writer.add_scalar(tag("geomean", s["suite"]), s["geomean"], 0)
        header = ("| suite | family | case | ours ms | twin ms | ours / twin | target | met |\n"
                  "|---|---|---|---|---|---|---|---|\n")
        body = "".join(f"| {r['suite']} | {r['family']} | {r['name']} | {r['ours_ms']:.3f} | {r['twin_ms']:.3f} | "
                       f"{r['ratio']:.2f} | {_target_text(r)} | {_met(r)} |\n" for r in rows)
        writer.add_text("results", header + body, 0)


main = hydra_entry("c147-bench", "bench", run, extra=lambda inv, cfg: check_names(cfg))


if __name__ == "__main__":
    main()
