"""Sweeps (``c147-train -m ...``): each job's failure kept to itself, and a summary at the end.

A job of a multirun that fails (a bad value in one combination, a diverging loss, a crash) does not end
the sweep: :func:`run_job` records its one-line error in the job's ``metrics.json`` (``"error"``) and the
sweep goes on with the next job, on any launcher (Hydra's basic one, joblib, submitit). A signal
(Ctrl-C, SLURM's SIGTERM) still stops the sweep.

:class:`SweepSummary`, a Hydra callback (``hydra.callbacks.sweep_summary`` in train.yaml), runs in the
process that launched the sweep once every job has ended: a table on the terminal and ``summary.csv``
in the multirun folder, one row per job (its overrides, final metrics and run folder), sorted by the
optimized metric (``optimized_metric``, best first), failed jobs last with their one-line error. The
command then exits with status 1 if any job failed.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from rich import box
from rich.console import Console
from rich.table import Table

from c147._io import atomic_write
from c147.app.runs import cell, sweep_job_folders, write_metrics
from c147.app.runs import shown as shown_folder

SIGNAL_EXITS = (130, 143)  # SIGINT, SIGTERM: the sweep stops (c147-train exits 128 + the signal)
REQUEUED_EXIT = -1  # submitit's exit once it requeued a SLURM job (its signal before the time limit): it runs again
# columns shown in the terminal table beside the optimized metric (every numeric metric goes to the CSV)
SHOWN = ("test/acc", "val/acc_best", "val/loss", "train/loss", "fit_seconds")
# the overrides column: at least this wide, as wide as its longest line (an error too) up to this, before the
# metrics beyond the optimized one take room
OVERRIDES_WIDTH = (24, 48)
GAP = 3  # the columns between two of the table's columns (padding, a space, padding)


def run_job(task: Callable[[DictConfig], Any], cfg: DictConfig, output_dir: Path) -> Any:
    """Run one job of a sweep: its value, or None after recording its failure in ``output_dir/metrics.json``.

    Args:
        task: the entry point's task function.
        cfg: the job's config.
        output_dir: the job's folder.

    Raises:
        SystemExit: a signal's exit status (130, 143): the sweep stops; submitit's after a requeue (-1).
        KeyboardInterrupt: likewise.
    """
    try:
        return task(cfg)
    except SystemExit as e:
        if e.code in (0, None):
            return None
        if e.code in SIGNAL_EXITS or e.code == REQUEUED_EXIT:  # not a result: no record, and submitit writes none
            raise
        error = getattr(e, "message", None) or f"exited with status {e.code}"  # a UserError's one line
    except Exception as e:  # noqa: BLE001 - a crash of one job is that job's result, not the sweep's
        from c147.app.entry import one_line

        traceback.print_exc()
        error = f"{type(e).__name__}: {one_line(e)}"
    record_failure(output_dir, error)
    return None


def record_failure(output_dir: Path, error: str) -> None:
    """``output_dir/metrics.json`` with ``"error"`` (unless the job wrote its own, with its error)."""
    path = output_dir / "metrics.json"
    if path.is_file():
        try:
            if "error" in json.loads(path.read_text()):
                return
        except (OSError, ValueError):
            pass
    write_metrics(output_dir, {"error": error, "failed": True, "run_dir": str(output_dir)})


@dataclass
class Job:
    """One job of a sweep as its folder tells it."""

    num: int
    folder: Path
    overrides: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # None: the job completed

    def value(self, metric: str) -> float | None:
        v = self.metrics.get(metric)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def read_job(folder: Path) -> Job:
    """A job's overrides (``.hydra/overrides.yaml``), metrics (``metrics.json``) and error, if it failed."""
    job = Job(int(folder.name), folder)
    overrides = folder / ".hydra" / "overrides.yaml"
    if overrides.is_file():
        job.overrides = [str(o) for o in OmegaConf.load(overrides)]
    path = folder / "metrics.json"
    if not path.is_file():
        job.error = f"did not finish: no metrics.json in {folder} (see its log)"
        return job
    try:
        job.metrics = json.loads(path.read_text())
    except ValueError as e:
        job.error = f"unreadable metrics.json: {e}"
        return job
    if job.metrics.get("error"):
        job.error = str(job.metrics["error"])
    elif job.metrics.get("interrupted"):
        job.error = f"interrupted by {job.metrics.get('signal', 'a signal')}"
    return job


def read_sweep(sweep_dir: Path) -> list[Job]:
    """The jobs of a sweep, in job order."""
    return [read_job(p) for p in sweep_job_folders(sweep_dir)]


def ranked(jobs: list[Job], metric: str | None) -> list[Job]:
    """Completed jobs best first by ``metric`` (its direction from its name: losses lowest first,
    accuracies highest; unknown: highest first), jobs without it after them, failed jobs last."""
    from c147.lit.early_stopping import metric_mode

    sign = 1.0 if metric and metric_mode(metric) == "min" else -1.0

    def key(job: Job) -> tuple[int, float, int]:
        v = job.value(metric) if metric else None
        if job.error is not None:
            return (2, 0.0, job.num)
        if v is None or math.isnan(v):
            return (1, 0.0, job.num)
        return (0, sign * v, job.num)

    return sorted(jobs, key=key)


def write_csv(path: Path, jobs: list[Job], metric: str | None) -> None:
    """``summary.csv``: rank, job, status, overrides, the optimized metric, every numeric metric, folder, error."""
    numeric = sorted({k for j in jobs for k in j.metrics if j.value(k) is not None} - {metric})
    columns = ["rank", "job", "status", "overrides", *([metric] if metric else []), *numeric, "run_dir", "error"]
    with atomic_write(path, newline="") as f:  # whole or not at all
        writer = csv.writer(f)
        writer.writerow(columns)
        for rank, job in enumerate(jobs, 1):
            values = [job.value(k) for k in ([metric] if metric else []) + numeric]
            writer.writerow([rank, job.num, "failed" if job.error else "ok", " ".join(job.overrides),
                             *["" if v is None else repr(v) for v in values], str(job.folder), job.error or ""])


def fitting(metrics: list[str], reserved: int, width: int) -> list[str]:
    """The first of ``metrics`` (the optimized one first) that fit in ``width`` columns beside ``reserved`` ones
    (the run folder and the overrides); at least the first, the one the rows are ranked by."""
    used = reserved + GAP + len(metrics[0]) + GAP
    shown = metrics[:1]
    for k in metrics[1:]:
        used += len(k) + GAP
        if used > width:
            break
        shown.append(k)
    return shown


def print_table(jobs: list[Job], metric: str | None, sweep_dir: Path) -> None:
    """The summary on the terminal, best job first: per job the overrides that differ between jobs (the ones all
    share in the caption) and its error if it failed, the optimized metric and as many others as fit, and the run
    folder, kept whole (a path to copy) while the overrides wrap to fit the terminal (a blank line between jobs
    when they do)."""
    console = Console()
    folders = [shown_folder(j.folder) for j in jobs]
    metrics = [k for k in ([metric] if metric else []) + [k for k in SHOWN if k != metric]
               if any(j.value(k) is not None for j in jobs)]
    common = [o for o in jobs[0].overrides if all(o in j.overrides for j in jobs)] if len(jobs) > 1 else []
    overrides = [" ".join(o for o in j.overrides if o not in common) for j in jobs]
    longest = max(len(t) for j, o in zip(jobs, overrides, strict=True) for t in (o, j.error or ""))
    reserved = max(map(len, folders)) + min(max(longest, OVERRIDES_WIDTH[0]), OVERRIDES_WIDTH[1])
    shown = fitting(metrics, reserved, console.width) if metrics else []
    room = console.width - max(map(len, folders)) - sum(len(k) + GAP for k in shown) - GAP
    wraps = any(j.error for j in jobs) or max(map(len, overrides)) > room
    caption = ((f"every job: {' '.join(common)}\n" if common else "")
               + f"all metrics: {shown_folder(sweep_dir.absolute() / 'summary.csv')}")
    failed = sum(j.error is not None for j in jobs)
    table = Table(title=cell(f"sweep summary: {len(jobs)} jobs, {failed} failed"
                             + (f", best {metric} first" if metric else "")), caption=cell(caption),
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, leading=int(wraps))
    table.add_column("overrides", overflow="fold")
    for k in shown:
        table.add_column(k, justify="right", no_wrap=True)
    table.add_column("run folder", no_wrap=True)
    for job, folder, text in zip(jobs, folders, overrides, strict=True):
        first = cell(text)
        if job.error:
            first.append(("\n" if text else "") + job.error, style="red")
        values = ["" if job.error else ("-" if job.value(k) is None else f"{job.value(k):.4g}") for k in shown]
        table.add_row(first, *values, cell(folder))
    console.print(table)


def summarize(sweep_dir: Path, metric: str | None) -> list[Job]:
    """Print the table and write ``summary.csv`` of the sweep in ``sweep_dir``; returns its jobs, ranked."""
    jobs = ranked(read_sweep(sweep_dir.absolute()), metric)
    if not jobs:
        return jobs
    write_csv(sweep_dir / "summary.csv", jobs, metric)
    print_table(jobs, metric, sweep_dir)
    return jobs


def check_launcher(launcher: DictConfig) -> None:
    """What a launcher needs before a sweep is submitted (a ``ValueError`` naming it): SLURM, a partition."""
    if str(launcher.get("_target_", "")).endswith(".SlurmLauncher") and not launcher.get("partition"):
        raise ValueError("hydra.launcher.partition: expected your cluster's partition for SLURM jobs "
                         "(hydra.launcher.partition=NAME; sinfo lists them), got none")


def accounting_disabled() -> bool:
    """Whether the SLURM cluster keeps no job accounting (``AccountingStorageType=accounting_storage/none``, as
    ``scripts/slurm-local``'s and other small clusters without slurmdbd): ``sacct`` then fails on every call."""
    import subprocess

    try:
        out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split("=", 1)[0].strip() == "AccountingStorageType" and "accounting_storage/none" in line
               for line in out.splitlines())


def skip_sacct() -> None:
    """submitit's watcher asks ``sacct`` for its jobs' states every few seconds; on a cluster without accounting
    each call fails, printing sacct's "Slurm accounting storage is disabled" and three copies of submitit's warning.
    The states are known anyway (submitit looks for each job's result file first, and an unknown state never ends a
    job): the watcher then asks nothing."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    SlurmInfoWatcher._make_command = lambda self: None


class SweepSummary(Callback):
    """Hydra callback around a multirun: before it, :func:`check_launcher` (a one-line error and exit status 2);
    after it, :func:`summarize` (see the module docstring)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from c147.app.entry import user_errors

        with user_errors(f"{Path(sys.argv[0]).name}"):
            check_launcher(config.hydra.launcher)
        if str(config.hydra.launcher.get("_target_", "")).endswith(".SlurmLauncher") and accounting_disabled():
            skip_sacct()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        metric = config.get("optimized_metric")
        try:
            jobs = summarize(Path(str(config.hydra.sweep.dir)), str(metric) if metric else None)
        except OSError as e:  # the sweep ran; a summary that cannot be written is not worth its results
            print(f"sweep summary: could not write it: {e}", file=sys.stderr)
            return
        failed = [j.num for j in jobs if j.error is not None]
        if failed:  # the table listed them with their errors
            print(f"{Path(sys.argv[0]).name}: error: {len(failed)} job(s) of the sweep failed: "
                  f"{', '.join(map(str, failed))} (see the summary above)", file=sys.stderr)
            raise SystemExit(1)


__all__ = ["Job", "SweepSummary", "check_launcher", "read_sweep", "record_failure", "run_job",
           "summarize"]
