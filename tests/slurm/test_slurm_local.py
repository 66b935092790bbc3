"""scripts/slurm-local: start is idempotent; stop leaves no daemon of its cluster (pid files gone, processes gone),
and status says so. The test puts the cluster back as it found it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.slurm.conftest import OURS, SCRIPT, cluster_problem, slurm_conf

pytestmark = [pytest.mark.slurm, pytest.mark.slow]  # slow: not in make check
DAEMONS = ("munged", "slurmctld", "slurmd")


def script(command: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), command], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "C147_SLURM_DIR": str(folder)})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_using(folder: Path) -> list[str]:
    """The command lines of the processes that name ``folder`` (the daemons are given its files)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in text and "pytest" not in text:
            found.append(text)
    return found


def test_stop_leaves_no_daemon_and_start_is_idempotent(slurm_env):
    conf = slurm_conf()
    if not conf.read_text().startswith(OURS):
        pytest.skip(f"the cluster at {conf} is not scripts/slurm-local's: not stopping it")
    folder = conf.parent
    again = script("start", folder)
    assert again.returncode == 0 and "already running" in again.stdout, again.stderr
    pids = {d: int((folder / f"{d}.pid").read_text()) for d in DAEMONS}
    assert all(alive(p) for p in pids.values()) and processes_using(folder)
    try:
        stopped = script("stop", folder)
        assert stopped.returncode == 0 and stopped.stdout.strip() == "slurm-local: stopped", stopped.stderr
        assert not [d for d in DAEMONS if (folder / f"{d}.pid").exists()]
        assert not [d for d, p in pids.items() if alive(p)]
        assert processes_using(folder) == []
        assert subprocess.run(["pgrep", "-x", "slurmstepd"], capture_output=True).stdout == b""
        status = script("status", folder)
        assert status.returncode == 3 and status.stdout.strip() == "slurm-local: stopped"
        assert script("stop", folder).returncode == 0  # again: nothing to do
    finally:
        started = script("start", folder)
    assert started.returncode == 0 and "running, partition 'local'" in started.stdout, started.stderr
    assert cluster_problem() is None
