"""SIGKILL at any moment of a real ``c147-train`` (a scheduler kills with it when the grace period ends) loses at most
the work since the last checkpoint: whatever the moment, ``last.ckpt`` is absent or a whole checkpoint that resumes,
``metrics.json`` and the figures are absent or whole, and the run resumed from what is left (or started again when
no checkpoint was written yet) ends bit for bit as a run never killed.

The moments: RunGuard's pause points (``C147_TEST_PAUSE_AT``: during validation, mid-epoch), a file
write stalled halfway (:data:`CHILD`: the run's ``open`` stalls the N-th write into a file named after ``NAME``,
its temporary file included, so the kill lands with half the bytes written), and seeded random times, one of them
just after an epoch's end. The runs' temporary folder is on another filesystem than their run folder where this
machine has one (``/dev/shm``), as on a cluster whose ``/tmp`` is local and outputs are shared: a rename across
filesystems is a copy, and a copy into place is no atomic write.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch

from c147.app.train import train
from c147.lit.callbacks import PAUSE_ENV
from c147.lit.checkpoint import epochs_done, read_checkpoint
from tests import zygote
from tests.conftest import cli_env, compose_config, run_in_process, wait_for

# 256 samples, 2 epochs, no figures but where a figure's write is the moment (they change no result)
ARGS = ["model=mlp", "data.train_samples=256", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
        "callbacks.model_summary=null", "callbacks.histograms=null"]
NO_FIGURES = "callbacks.figures=null"
RESULT_KEYS = ("epochs", "global_step", "test/acc", "test/loss", "train/acc", "train/loss", "train/lr", "val/acc",
               "val/acc_best", "val/loss")
STALL_ENV = "C147_TEST_STALL_WRITE"  # "NAME:N:FILE" (CHILD)

# c147-train with a stalling open (STALL_ENV): the N-th file opened for writing whose name holds NAME gets half of
# its first write, then FILE is touched and the run waits there to be killed
CHILD = """
import builtins, io, os, sys, time
name, n, marker = os.environ.pop("C147_TEST_STALL_WRITE", "::").split(":", 2)
opened, real_open = [0], builtins.open

class Stalling:
    def __init__(self, f):
        self._f = f
    def write(self, data):
        self._f.write(data[: max(1, len(data) // 2)])
        self._f.flush()
        os.fsync(self._f.fileno())
        open(marker, "x").close()
        while True:
            time.sleep(1)
    def fileno(self):  # none: a copy (shutil's sendfile) or an encoder (PIL) writes through write() then
        raise io.UnsupportedOperation("fileno")
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self._f.__exit__(*exc)
    def __getattr__(self, attr):
        return getattr(self._f, attr)

def stalling_open(file, mode="r", *args, **kwargs):
    f = real_open(file, mode, *args, **kwargs)
    path = os.fsdecode(file) if isinstance(file, (str, bytes, os.PathLike)) else ""
    if name and any(c in mode for c in "wxa") and name in os.path.basename(path):
        opened[0] += 1
        if opened[0] == int(n):
            return Stalling(f)
    return f

builtins.open = io.open = stalling_open
sys.argv[0] = "c147-train"
from c147.app.train import main
main()
"""


def moments() -> list[tuple[str, str, float]]:
    """``(kind, what, delay)``: ``pause`` at a RunGuard point, ``stall`` in a write (``NAME:N``), ``time`` (killed
    ``delay`` times an uninterrupted run's seconds after the job starts, when Hydra writes its log), ``after``
    (``delay`` s after the file ``what`` appears: an epoch's end)."""
    rng = random.Random(147)
    return [
        ("pause", "validation", 0.0),  # the first epoch's validation: no checkpoint yet
        ("stall", "epoch_000.ckpt:1", 0.0),  # the first epoch's best checkpoint, half written
        ("stall", "last.ckpt:1", 0.0),  # the first last.ckpt, half written
        ("pause", "mid_epoch", 0.0),  # the second epoch's second step
        ("stall", "last.ckpt:2", 0.0),  # the second last.ckpt over the first, half written
        ("stall", "metrics.json:1", 0.0),
        ("stall", "confusion_matrix.png:1", 0.0),
        # just after the first epoch: within 0.1 s (the rest of this run, its second epoch, test and files, ends
        # 0.24-0.27 s after epoch_000.ckpt appears on an AMD EPYC, and the zygote reports a child's end a little
        # later: a kill drawn at 0.182 s once found the run already done)
        ("after", "checkpoints/epoch_000.ckpt", round(rng.uniform(0.0, 0.1), 3)),
        ("time", "", round(rng.uniform(0.0, 1.0), 3)),  # anywhere in the job (a fraction of its time)
    ]


def child_env(tmp_path: Path, kind: str, what: str, marker: Path) -> dict[str, str]:
    env = {PAUSE_ENV: f"{what}:{marker}"} if kind == "pause" else {}
    if kind == "stall":
        env[STALL_ENV] = f"{what}:{marker}"
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev:
        env["TMPDIR"] = str(shm)
    return cli_env(env)


def run_killed(tmp_path: Path, run: Path, kind: str, what: str, delay: float) -> None:
    """Start c147-train in ``run``, SIGKILL it at the moment."""
    marker = tmp_path / "marker"
    figures = [] if what.endswith(".png:1") else [NO_FIGURES]
    proc = zygote.start_code(CHILD, *ARGS, *figures, f"hydra.run.dir={run}", cwd=tmp_path,
                             env=child_env(tmp_path, kind, what, marker))
    try:
        if kind in ("pause", "stall"):
            wait_for(marker, proc)
        else:
            wait_for(run / ("train.log" if kind == "time" else what), proc)
            time.sleep(delay)
        assert proc.poll() is None, f"the run ended before the moment: {proc.communicate()[1][-2000:]}"
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, float]:
    """The run never killed (in this process: the same results, without the imports' seconds), and the seconds it
    took (the time moments are fractions of it)."""
    run = tmp_path_factory.mktemp("reference") / "run"
    start = time.monotonic()
    train(compose_config("train", [f"paths.output_dir={run}", *ARGS, NO_FIGURES]))
    return run, time.monotonic() - start


@pytest.mark.slow
@pytest.mark.parametrize("kind, what, delay", moments(), ids=[f"{k}-{w or d}" for k, w, d in moments()])
def test_sigkill_at_any_moment_loses_at_most_the_work_since_the_last_checkpoint(reference, tmp_path, monkeypatch,
                                                                                capsys, kind, what, delay):
    reference, seconds = reference
    run = tmp_path / "run"
    run_killed(tmp_path, run, kind, what, delay * seconds if kind == "time" else delay)
    want = json.loads((reference / "metrics.json").read_text())
    steps_per_epoch = want["global_step"] // want["epochs"]

    # what the kill left: whole files or none
    metrics = run / "metrics.json"
    if metrics.exists():
        json.loads(metrics.read_text())
    for png in (run / "figures").glob("*.png") if (run / "figures").is_dir() else []:
        assert png.read_bytes().startswith(b"\x89PNG") and png.read_bytes().endswith(b"IEND\xaeB`\x82"), png
    for ckpt in (run / "checkpoints").glob("*.ckpt") if (run / "checkpoints").is_dir() else []:
        read_checkpoint(ckpt)  # a whole checkpoint: a truncated one raises
    last = run / "checkpoints" / "last.ckpt"
    state = read_checkpoint(last) if last.is_file() else None
    expected_done = {"mid_epoch": 1, "last.ckpt:2": 1, "metrics.json:1": 2,
                     "confusion_matrix.png:1": 2, "validation": None, "last.ckpt:1": None}
    if what in expected_done:  # the moments we know: what the last checkpoint holds
        done = expected_done[what]
        assert (epochs_done(state) if state else None) == done, what
        if state:
            assert state["global_step"] == done * steps_per_epoch  # the last epoch's end: nothing lost before it

    # on from what is left: the last checkpoint, or the start
    if state is None:
        proc = run_in_process("c147-train", *ARGS, NO_FIGURES, "hydra.run.dir=again", cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
        run = tmp_path / "again"
    else:
        proc = run_in_process("c147-train", f"ckpt_path={last}", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    if state is not None and epochs_done(state) == want["epochs"]:  # training had finished: nothing to resume
        assert proc.returncode == 2 and "nothing to resume" in proc.stderr, proc.stderr[-3000:]
    else:
        assert proc.returncode == 0, proc.stderr[-3000:]
        final = json.loads((run / "metrics.json").read_text())
        assert {k: final[k] for k in RESULT_KEYS} == {k: want[k] for k in RESULT_KEYS}
    ours, theirs = weights(run / "checkpoints" / "last.ckpt"), weights(reference / "checkpoints" / "last.ckpt")
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key
