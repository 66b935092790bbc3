"""Ctrl-C (SIGINT) or SIGTERM at any moment of a real ``c147-train``: one line on stderr, exit status 130 / 143,
and no run folder left that holds nothing of value (a kept one has a checkpoint, and the line says how to use
it). The moments inside Lightning's fit are hit exactly with RunGuard's test hook (``C147_TEST_PAUSE_AT``:
the run waits there for the signal); the earlier ones by waiting for what the run writes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from c147.lit.callbacks import PAUSE_ENV
from tests.conftest import BIN, cli_env, start_cli, wait_for

# two batches an epoch, two epochs: a mid-epoch step exists after a checkpoint
ARGS = ["trainer.max_epochs=2", "data.train_samples=64", "callbacks.histograms=null", "callbacks.figures=null",
        "hydra.run.dir=run"]
KEPT, REMOVED, NOTHING = "kept", "removed", "nothing"  # the run folder afterwards


def interrupt(tmp_path: Path, point: str, signum: int) -> tuple[int, str, Path]:
    """Run c147-train, signal it at ``point``; its exit status, its stderr's one line, its run folder. At "hydra"
    the signal is timed by what the run writes, not paused for: if the test process was held up long enough for
    the whole run to finish first (its results table on stdout, then nothing on stderr: the signal came after its
    handlers were gone, or after it ended; seen once in CI, under load), the moment was missed, not tested, and
    the run is made again (up to three times: a run that ignored the signal would miss every time)."""
    for _ in range(3):
        code, err, out = _signal_run(tmp_path, point, signum)
        missed = point == "hydra" and "c147-train: lenet5" in out and not err.strip()
        if not missed:
            break
        shutil.rmtree(tmp_path / "run")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err[-3000:]
    return code, lines[0], tmp_path / "run"


def _signal_run(tmp_path: Path, point: str, signum: int) -> tuple[int, str, str]:
    """One run of :func:`interrupt`: its exit status, stderr and stdout."""
    marker = tmp_path / "paused"
    env = {PAUSE_ENV: f"{point}:{marker}"} if point not in ("imports", "hydra") else {}
    if point in ("imports", "hydra"):  # a new process: the signal lands while it imports
        proc = subprocess.Popen([str(BIN / "c147-train"), *ARGS], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=cli_env(env))
    else:  # the imports made (tests/zygote.py): the signal lands where the run pauses
        proc = start_cli("c147-train", *ARGS, cwd=tmp_path, env=env)
    if point == "imports":  # the console script catches signals first, then imports, then checks the command line
        time.sleep(0.5)
    elif point == "hydra":  # Hydra made the run folder and its log: the task imports Lightning, builds the run
        wait_for(tmp_path / "run" / "train.log", proc)
    else:
        wait_for(marker, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, err, out


@pytest.mark.slow
@pytest.mark.parametrize("point, signum, after", [
    ("imports", signal.SIGINT, NOTHING),
    ("hydra", signal.SIGINT, REMOVED),
    ("hydra", signal.SIGTERM, REMOVED),
    ("setup", signal.SIGINT, REMOVED),
    ("first_batch", signal.SIGINT, KEPT),
    ("mid_epoch", signal.SIGINT, KEPT),
    ("validation", signal.SIGINT, KEPT),
    ("validation", signal.SIGTERM, KEPT),
    ("test", signal.SIGINT, KEPT),
])
def test_a_signal_anywhere_is_one_line_and_leaves_no_empty_run_folder(tmp_path, point, signum, after):
    code, line, run = interrupt(tmp_path, point, signum)
    name = signal.Signals(signum).name
    assert code == 128 + signum, line
    assert line.startswith(f"c147-train: interrupted by {name}"), line
    if after == NOTHING:
        assert not run.exists() and not (tmp_path / "outputs").exists(), line
    elif after == REMOVED:
        assert not run.exists(), sorted(str(p.relative_to(run)) for p in run.rglob("*"))
        assert f"removed {run}" in line, line
    else:
        assert (run / "checkpoints" / "last.ckpt").is_file(), line
        assert "ckpt_path=" in line, line


# a process with the console scripts' handler (c147.app.cli) that signals itself inside an import, then outside one
IN_IMPORT = """
import os, signal, sys
from c147.app import cli
signal.signal(signal.SIGINT, cli.handler(os.getpid(), "prog", cleanup=lambda: "; cleaned up"))
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "outside":
    try:
        signal.raise_signal(signal.SIGINT)
    except cli.Interrupt as e:
        print("Interrupt", e.signum)
        raise SystemExit(3)
import signals_while_imported  # noqa: the module raises SIGINT while it is being imported
print("went on")
"""


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_a_signal_inside_an_import_ends_the_process_there_with_the_one_line(tmp_path, where):
    # CI saw Ctrl-C land inside numpy's lazy import of numpy.exceptions: the Interrupt left numpy half made, a
    # RecursionError followed, and Hydra printed it as the job's error (61 lines). Inside an import the handler now
    # prints the one line (with the entry's clean-up words) and exits 130; outside one it raises Interrupt
    (tmp_path / "signals_while_imported.py").write_text("import signal\nsignal.raise_signal(signal.SIGINT)\n")
    proc = subprocess.run([str(BIN / "python"), "-c", IN_IMPORT, str(tmp_path), where], capture_output=True,
                          text=True, timeout=60, env=cli_env({}))
    if where == "inside":
        assert (proc.returncode, proc.stderr, proc.stdout) == (130, "prog: interrupted by SIGINT; cleaned up\n", "")
    else:
        assert (proc.returncode, proc.stdout) == (3, "Interrupt 2\n"), proc.stderr
