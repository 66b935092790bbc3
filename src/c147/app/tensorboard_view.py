"""``c147-tensorboard [LOGDIR] [PORT]`` (``scripts/tensorboard`` in a checkout): TensorBoard over every run in
LOGDIR (``outputs``), each run named for what it is.

TensorBoard names a run by its folder's path, ``train/runs/<time>/tensorboard/<run name>``, which its run list
and the HParams table cut after the time. So TensorBoard serves a view instead: a temporary folder with one
folder per run, ``<run name> <time>``, of links to the run's event files (the run folders stay as they are,
and a run still writing is read as it grows). The view also holds the experiment summary of the HParams tab:
the columns a user compares runs by (:data:`~c147.app.build.HPARAMS_FIRST`) and every key whose value differs
between the runs are marked ``differs``, which TensorBoard lists (and shows) first; the metric columns are the
runs' curves in :data:`METRICS` order.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROG = "c147-tensorboard"
# the HParams metric columns, in this order, where a run has the curve (its last value is the column's)
METRICS = ("test/acc", "val/acc_best", "test/loss", "val/acc", "val/loss", "train/acc", "train/loss",
           "walltime/epoch_seconds")
EVENTS = "tfevents"  # TensorBoard's test for an event file: the name contains it
VIEW_FILE = "events.out.tfevents.0000000000.c147-view"  # sorts first: read before the run's own files
_TIME = re.compile(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d")  # a run folder's name: <date>_<time>_<microseconds>
_UNNAMED = ("hydra.", "paths.")  # overrides that say nothing about what a run is
_UNCOMPARED = ("name",)  # differs between all runs, and the run's name in the view says it


@dataclass
class Run:
    """One TensorBoard run: a folder of event files, its name in the view, its session's hparams and scalars."""

    events: Path
    name: str
    hparams: dict[str, Any] = field(default_factory=dict)
    scalars: set[str] = field(default_factory=set)


# ---------------------------------------------------------------------------------- runs and their names


def event_folders(logdir: Path) -> list[Path]:
    """The folders under ``logdir`` that hold event files, sorted (links not followed)."""
    return sorted(Path(d) for d, _, files in os.walk(logdir) if any(EVENTS in f for f in files))


def _command(run_dir: Path) -> str:
    """The command that made a run folder: the name above ``runs/`` or ``multiruns/`` (``classic``)."""
    for parent in run_dir.parents:
        if parent.name in ("runs", "multiruns"):
            return parent.parent.name
    return run_dir.name


def _overrides(run_dir: Path) -> list[str]:
    """The run's command-line overrides (``.hydra/overrides.yaml``), without paths and Hydra's own."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    return [str(o) for o in OmegaConf.load(path) if not str(o).lstrip("+~").startswith(_UNNAMED)]


def run_name(events: Path) -> str:
    """A run's name in the view: what the run is, then when it ran.

    ``<run name> <time>`` for c147-train (``lenet5-c147-adam-lr0.002 2026-12-07_00-21-19``) and a study
    (``<study> <time>``); ``<command>,<overrides> <time>`` where the events lie in ``tensorboard/`` itself
    (``classic,task=knn 2026-...``). A multirun's job or a study's run follows the time."""
    parts = events.resolve().parts
    cut = len(parts) - 1 - parts[::-1].index("tensorboard") if "tensorboard" in parts else len(parts)
    run_dir, inner = Path(*parts[:cut]), parts[cut + 1:]
    what = " ".join(inner) if inner else ",".join([_command(run_dir), *_overrides(run_dir)])
    stamps = [i for i, part in enumerate(parts[:cut]) if _TIME.match(part)]
    when = " ".join([parts[stamps[-1]][:19], *parts[stamps[-1] + 1:cut]]) if stamps else ""
    return f"{what} {when}".strip().replace("/", "_")


def named_runs(logdir: Path, known: Sequence[Run] = ()) -> list[Run]:
    """``known``, then every other run under ``logdir`` with a view name no run has (a clash gets `` (2)``)."""
    runs, taken = list(known), {r.name for r in known}
    for events in sorted(set(event_folders(logdir)) - {r.events for r in known}):
        base = name = run_name(events)
        for n in range(2, len(taken) + 2):
            if name not in taken:
                break
            name = f"{base} ({n})"
        taken.add(name)
        runs.append(Run(events, name))
    return runs


# ---------------------------------------------------------------------------------- what the runs logged


def read_session(run: Run) -> None:
    """The run's HParams session (the hparams of its last ``session_start_info``) and its scalar tags."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import metadata

    for path in sorted(p for p in run.events.iterdir() if EVENTS in p.name and p.is_file()):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if value.tag == metadata.SESSION_START_INFO_TAG and plugin == metadata.PLUGIN_NAME:
                    info = metadata.parse_session_start_info_plugin_data(value.metadata.plugin_data.content)
                    run.hparams = {k: _python(v) for k, v in info.hparams.items()}
                elif value.HasField("simple_value") or plugin == "scalars":
                    run.scalars.add(value.tag)


def _python(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    return {"number_value": value.number_value, "string_value": value.string_value,
            "bool_value": value.bool_value}.get(kind)


def differing(sessions: Sequence[Mapping[str, Any]]) -> set[str]:
    """The keys whose value differs between the sessions that have them (another command's runs have other
    keys). A group's own key (``model/hidden``) counts only where it differs between runs of the same option
    (``model``): that the options differ says it already."""
    keys = {k for s in sessions for k in s}
    out = set()
    for key in keys:
        group = key.rsplit("/", 1)[0] if "/" in key else None
        buckets: dict[Any, set[str]] = defaultdict(set)
        for s in (s for s in sessions if key in s):
            buckets[repr(s.get(group))].add(repr(s[key]))
        if any(len(values) > 1 for values in buckets.values()):
            out.add(key)
    return out


def _partition(sessions: Sequence[Mapping[str, Any]], key: str) -> frozenset:
    """How ``key``'s values split the sessions that have it (a set of sets of indices)."""
    groups: dict[str, set[int]] = defaultdict(set)
    for i, s in enumerate(sessions):
        if key in s:
            groups[repr(s[key])].add(i)
    return frozenset(frozenset(g) for g in groups.values())


def compared(sessions: Sequence[Mapping[str, Any]], first: Sequence[str]) -> set[str]:
    """``first``, and the keys that differ (:func:`differing`) unless they split the runs as one of ``first``
    does (``data/seed`` follows ``seed``)."""
    shown = {_partition(sessions, k) for k in first}
    return set(first) | {k for k in differing(sessions) - set(_UNCOMPARED) if _partition(sessions, k) not in shown}


def experiment(sessions: Sequence[Mapping[str, Any]], scalars: Iterable[str], first: Sequence[str]):
    """The HParams experiment summary over ``sessions``: every key, ``differs`` on the :func:`compared` ones
    (TensorBoard lists those first, by name, and shows the first five); the metrics of :data:`METRICS` that
    some run logged (else every scalar)."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    scalars = set(scalars)
    marked = compared(sessions, first)
    infos = []
    for key in sorted({k for s in sessions for k in s}):
        values = [s[key] for s in sessions if key in s]
        info = api_pb2.HParamInfo(name=key, differs=key in marked)
        if all(isinstance(v, bool) for v in values):
            info.type = api_pb2.DATA_TYPE_BOOL
            info.domain_discrete.extend(sorted(set(values)))
        elif all(isinstance(v, float) for v in values):
            info.type = api_pb2.DATA_TYPE_FLOAT64
            info.domain_interval.min_value, info.domain_interval.max_value = min(values), max(values)
        else:
            info.type = api_pb2.DATA_TYPE_STRING
            info.domain_discrete.extend(sorted({str(v) for v in values}))
        infos.append(info)
    tags = [m for m in METRICS if m in scalars] or sorted(scalars)
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t), display_name=t) for t in tags]
    data = plugin_data_pb2.HParamsPluginData(experiment=api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics))
    value = summary_pb2.Summary.Value(tag=metadata.EXPERIMENT_TAG, metadata=metadata.create_summary_metadata(data),
                                      tensor=metadata.NULL_TENSOR)
    return summary_pb2.Summary(value=[value])


# ---------------------------------------------------------------------------------- the view


def link(run: Run, view: Path) -> None:
    """Links to the run's event files in ``view/<run name>/``, for those not linked yet (a resumed run adds one)."""
    folder = view / run.name
    folder.mkdir(exist_ok=True)
    for path in run.events.iterdir() if run.events.is_dir() else ():  # a run deleted since is left as it was
        target = folder / path.name
        if EVENTS in path.name and path.is_file() and not os.path.lexists(target):
            target.symlink_to(path.resolve())


def write_experiment(view: Path, runs: Sequence[Run], first: Sequence[str]) -> None:
    """The experiment summary, in the first run's view folder, in a file read before the run's own."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    sessions = [r for r in runs if r.hparams]
    if not sessions:
        return
    summary = experiment([r.hparams for r in sessions], set().union(*(r.scalars for r in sessions)), first)
    with open(view / sessions[0].name / VIEW_FILE, "wb") as f:
        writer = RecordWriter(f)
        now = time.time()
        writer.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
        writer.write(event_pb2.Event(wall_time=now, summary=summary).SerializeToString())


def build_view(logdir: Path, view: Path, first: Sequence[str] = ()) -> list[Run]:
    """``view``: a folder per run of ``logdir`` (named for the run) linking its event files, and the
    experiment summary. Returns the runs."""
    runs = named_runs(logdir)
    for run in runs:
        link(run, view)
        read_session(run)
    write_experiment(view, runs, first)
    return runs


# TensorBoard's own notices that say nothing to a c147 user: it runs without TensorFlow by design, its fast loader is
# what reads the view, and c147-tensorboard stops it with SIGTERM when the user presses Ctrl-C
NOTICES = ("TensorFlow installation not found", "TensorBoard caught SIGTERM")
NOTE_BLOCK = "NOTE: Using experimental fast data loading logic"  # a paragraph, up to its blank line


def relay_stderr(stream: Iterable[str], out: Any = None) -> None:
    """TensorBoard's stderr, line by line, without :data:`NOTICES` and the :data:`NOTE_BLOCK` paragraph (every
    other line, its URL and its errors, as written)."""
    out = out or sys.stderr
    in_note, blank_after_note = False, False
    for line in stream:
        if line.startswith(NOTE_BLOCK):
            in_note = True
            continue
        if in_note:
            in_note = bool(line.strip())
            blank_after_note = not in_note
            continue
        if blank_after_note and not line.strip():
            continue
        blank_after_note = False
        if not line.startswith(NOTICES) and line.strip():
            out.write(line)
            out.flush()


def tensorboard_command() -> str | None:
    """TensorBoard beside this Python (the project's ``.venv/bin``), else on PATH."""
    beside = Path(sys.executable).parent / "tensorboard"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else shutil.which("tensorboard")


def serve(logdir: Path, port: int, refresh_s: float = 10.0) -> int:
    """TensorBoard on 127.0.0.1:``port`` over the view of ``logdir``; runs started later join it every
    ``refresh_s`` seconds. The view is removed when TensorBoard stops."""
    from c147.app.build import HPARAMS_FIRST

    tensorboard = tensorboard_command()
    if tensorboard is None:
        print(f"{PROG}: error: tensorboard not found in {Path(sys.executable).parent} nor on PATH", file=sys.stderr)
        return 127
    if not logdir.is_dir():
        print(f"{PROG}: error: no such folder: {logdir}", file=sys.stderr)
        return 2
    view = Path(tempfile.mkdtemp(prefix="c147-tensorboard-"))
    try:
        runs = build_view(logdir, view, (*HPARAMS_FIRST, "task"))
        print(f"{PROG}: {len(runs)} runs of {logdir}/, each named <run name> <time> (links in {view})", file=sys.stderr)
        server = subprocess.Popen([tensorboard, "--logdir", str(view), "--host", "127.0.0.1", "--port", str(port)],
                                  stderr=subprocess.PIPE, text=True)
        threading.Thread(target=relay_stderr, args=(server.stderr,), daemon=True).start()
        signal.signal(signal.SIGTERM, lambda *_: server.terminate())
        try:
            while True:
                try:
                    return server.wait(timeout=refresh_s)
                except subprocess.TimeoutExpired:
                    runs = named_runs(logdir, runs)
                    for run in runs:
                        link(run, view)
                except KeyboardInterrupt:
                    server.terminate()
        finally:
            if server.poll() is None:  # an error of ours: TensorBoard goes too
                server.terminate()
                server.wait()
    finally:
        shutil.rmtree(view, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from c147.app.help import argparse_texts

    parser = argparse.ArgumentParser(**argparse_texts(PROG, "[LOGDIR] [PORT]"))
    parser.add_argument("logdir", metavar="LOGDIR", nargs="?", type=Path, default=Path("outputs"),
                        help="the folder of runs (default: outputs)")
    parser.add_argument("port", metavar="PORT", nargs="?", type=int, default=6006,
                        help="the port on 127.0.0.1 (default: 6006)")
    args = parser.parse_args(argv)
    return serve(args.logdir, args.port)


if __name__ == "__main__":
    raise SystemExit(main())
