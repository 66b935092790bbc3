"""The speed targets c147-bench reports against (issue 13): one table, read by the terminal table's
colours, the bar chart's marks and the summary line. Targets are reported, never asserted in tests.

A row's target is a bound on its ratio ours / twin (``ratio <= target``); a row may also (or only) be held to a
share of the measured copy bandwidth (``ours_fraction_of_copy_bw >= bandwidth_target``: Adam's fused step on the
large workload), and meets its targets when it meets both. A suite's target is a bound on the geometric mean of
its ratios. The CPU figures are issue 25's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Targets:
    """What one suite, on one kind of device, eager or compiled, is held to."""

    each: float | None = None  # every row's ratio <= each (unless ``cases`` names the row)
    cases: dict[str, float] = field(default_factory=dict)  # row name (or family) -> its own ratio bound
    geomean: float | None = None  # the suite's geometric mean of ratios <= geomean
    geomean_vs_eager: float | None = None  # compiled runs: geometric mean of ours compiled / twin eager
    # part of "<family> <name>" (e.g. "Adam 10M in 50: fused") -> share of copy bandwidth >=
    bandwidth: dict[str, float] = field(default_factory=dict)
    rows: tuple[str, ...] = ()  # only the rows whose name contains one of these get ``each`` (empty: all)


# (suite, device type, compiled) -> targets; a missing key: no target (the row is reported, not judged)
TARGETS: dict[tuple[str, str, bool], Targets] = {
    ("ops", "cpu", False): Targets(each=1.5, cases={"conv2d depthwise": 2.0}, geomean=1.0),
    ("ops", "cpu", True): Targets(each=1.1, geomean=1.1, geomean_vs_eager=1.0),
    ("models", "cpu", False): Targets(cases={"lenet5": 1.1, "vgg11": 1.0}),
    ("models", "cpu", True): Targets(each=1.1),
    # the main job, c147-train in a process of its own: impl=c147 within 10 % of impl=torch (issue 25)
    ("e2e", "cpu", False): Targets(cases={"whole process": 1.1}),
    ("e2e", "cuda", False): Targets(cases={"whole process": 1.1}),
    # our foreach path against torch's default path; fused against torch's fused (RMSprop: torch has none, its
    # foreach), and Adam's fused step against the roofline
    ("optim", "cpu", False): Targets(cases={"10M in 50: foreach vs default": 1.0, "1000 x 100: foreach vs default": 1.0,
                                            "10M in 50: fused vs fused": 1.1, "1000 x 100: fused vs fused": 1.5},
                                     bandwidth={"Adam 10M in 50: fused": 0.8}),
    ("optim", "cpu", True): Targets(cases={"10M in 50: foreach vs default": 1.0, "1000 x 100: foreach vs default": 1.0,
                                           "10M in 50: fused vs fused": 1.1, "1000 x 100: fused vs fused": 1.5},
                                    bandwidth={"Adam 10M in 50: fused": 0.8}),
    ("ops", "cuda", False): Targets(cases={"activation": 1.2}),
    ("ops", "cuda", True): Targets(cases={"activation": 1.2, "batch_norm2d (train)": 1.3}),
    ("optim", "cuda", False): Targets(each=1.1, rows=("foreach vs foreach",),
                                      bandwidth={"10M in 50: fused": 0.7}),
    ("optim", "cuda", True): Targets(each=1.1, rows=("foreach vs foreach",),
                                     bandwidth={"10M in 50: fused": 0.7}),
}


def targets_for(suite: str, device: str, compiled: bool) -> Targets:
    return TARGETS.get((suite, device.split(":")[0], compiled), Targets())


def row_target(row: dict[str, Any], targets: Targets) -> float | None:
    """The bound on a result row's ratio, or None when its ratio has no target."""
    for key in (row["name"], row["family"]):
        if key in targets.cases:
            return targets.cases[key]
    if targets.each is not None and (not targets.rows or any(r in row["name"] for r in targets.rows)):
        return targets.each
    return None


def bandwidth_target(row: dict[str, Any], targets: Targets) -> float | None:
    """The share of copy bandwidth a result row is held to, or None."""
    label = f"{row['family']} {row['name']}"
    return next((share for part, share in targets.bandwidth.items() if part in label), None)


def judge(row: dict[str, Any], targets: Targets) -> None:
    """Add ``target`` (the ratio bound), ``bandwidth_target``, ``target_kind`` (``ratio``, ``bandwidth`` or
    ``both``) and ``meets_target`` (None without a target) to ``row``."""
    bound, share = row_target(row, targets), bandwidth_target(row, targets)
    kind = {(True, False): "ratio", (False, True): "bandwidth", (True, True): "both"}.get(
        (bound is not None, share is not None))
    measured = row.get("ours_fraction_of_copy_bw")
    checks = ([] if bound is None else [row["ratio"] <= bound]) + (
        [] if share is None or measured is None else [measured >= share])
    row.update(target=bound, bandwidth_target=share, target_kind=kind, meets_target=all(checks) if checks else None)


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def summary(suite: str, rows: list[dict[str, Any]], targets: Targets) -> dict[str, Any]:
    """The suite's geometric means (ratio, and ours compiled / twin eager when compiled) against targets."""
    out: dict[str, Any] = {"suite": suite, "rows": len(rows), "geomean": geomean([r["ratio"] for r in rows]),
                           "geomean_target": targets.geomean}
    out["geomean_meets"] = None if targets.geomean is None else out["geomean"] <= targets.geomean
    vs_eager = [r["ours_vs_twin_eager"] for r in rows if r.get("ours_vs_twin_eager")]
    if vs_eager:
        out["geomean_vs_twin_eager"] = geomean(vs_eager)
        out["geomean_vs_twin_eager_target"] = targets.geomean_vs_eager
        out["geomean_vs_twin_eager_meets"] = (None if targets.geomean_vs_eager is None
                                              else out["geomean_vs_twin_eager"] <= targets.geomean_vs_eager)
    judged = [r for r in rows if r.get("meets_target") is not None]
    out["rows_with_target"] = len(judged)
    out["rows_meeting_target"] = sum(bool(r["meets_target"]) for r in judged)
    return out


def summary_line(s: dict[str, Any]) -> str:
    def verdict(value, bound, meets):
        return f"{value:.2f}" + ("" if bound is None else f" (target <= {bound}: {'met' if meets else 'missed'})")

    line = f"{s['suite']}: geometric mean ours / twin {verdict(s['geomean'], s['geomean_target'], s['geomean_meets'])}"
    if "geomean_vs_twin_eager" in s:
        line += (", ours compiled / twin eager " + verdict(s["geomean_vs_twin_eager"],
                                                          s["geomean_vs_twin_eager_target"],
                                                          s["geomean_vs_twin_eager_meets"]))
    if s["rows_with_target"]:
        line += f"; {s['rows_meeting_target']} of {s['rows_with_target']} rows meet their target"
    return line
