"""The speed targets c147-bench reports against (issue 13): one table, read by the terminal table's
colours, the bar chart's marks and the summary line. Targets are reported, never asserted in tests.

A row's target is a bound on its ratio ours / twin (``ratio <= target``), except for the optimizer rows
of the large workload on the fused path, where the target is a share of the measured copy bandwidth
(``ours_fraction_of_copy_bw >= target``). A suite's target is a bound on the geometric mean of its
ratios.
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
    bandwidth: dict[str, float] = field(default_factory=dict)  # part of a row name -> share of copy bandwidth >=
    rows: tuple[str, ...] = ()  # only the rows whose name contains one of these get ``each`` (empty: all)


# (suite, device type, compiled) -> targets; a missing key: no target (the row is reported, not judged)
TARGETS: dict[tuple[str, str, bool], Targets] = {
    ("ops", "cpu", False): Targets(each=2.5, cases={"conv2d depthwise": 4.0}, geomean=1.5),
    ("ops", "cpu", True): Targets(geomean=1.1, geomean_vs_eager=1.0),
    ("models", "cpu", False): Targets(cases={"lenet5": 1.5, "vgg11": 1.2}),
    # the main job, c147-train in a process of its own: impl=c147 within 10 % of impl=torch (issue 25)
    ("e2e", "cpu", False): Targets(cases={"whole process": 1.1}),
    ("e2e", "cuda", False): Targets(cases={"whole process": 1.1}),
    # the speed target is about our foreach path against torch's default path; fused: the roofline
    ("optim", "cpu", False): Targets(each=1.0, rows=("foreach vs default",),
                                     bandwidth={"10M in 50: fused": 0.5}),
    ("optim", "cpu", True): Targets(each=1.0, rows=("foreach vs default",),
                                    bandwidth={"10M in 50: fused": 0.5}),
    ("ops", "cuda", False): Targets(cases={"activation": 1.2}),
    ("ops", "cuda", True): Targets(cases={"activation": 1.2, "batch_norm2d (train)": 1.3}),
    ("optim", "cuda", False): Targets(each=1.1, rows=("foreach vs foreach",),
                                      bandwidth={"10M in 50: fused": 0.7}),
    ("optim", "cuda", True): Targets(each=1.1, rows=("foreach vs foreach",),
                                     bandwidth={"10M in 50: fused": 0.7}),
}


def targets_for(suite: str, device: str, compiled: bool) -> Targets:
    return TARGETS.get((suite, device.split(":")[0], compiled), Targets())


def row_target(row: dict[str, Any], targets: Targets) -> tuple[str, float] | None:
    """``("ratio", bound)`` or ``("bandwidth", share)`` for a result row, or None when it has no target."""
    for part, share in targets.bandwidth.items():
        if part in row["name"]:
            return "bandwidth", share
    for key in (row["name"], row["family"]):
        if key in targets.cases:
            return "ratio", targets.cases[key]
    if targets.each is not None and (not targets.rows or any(r in row["name"] for r in targets.rows)):
        return "ratio", targets.each
    return None


def judge(row: dict[str, Any], targets: Targets) -> None:
    """Add ``target``, ``target_kind`` and ``meets_target`` (None without a target) to ``row``."""
    found = row_target(row, targets)
    if found is None:
        row.update(target=None, target_kind=None, meets_target=None)
        return
    kind, bound = found
    if kind == "bandwidth":
        share = row.get("ours_fraction_of_copy_bw")
        meets = None if share is None else share >= bound
    else:
        meets = row["ratio"] <= bound
    row.update(target=bound, target_kind=kind, meets_target=meets)


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
