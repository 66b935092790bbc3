"""The tests marked ``slurm`` run c147 through a real SLURM cluster: the one-node cluster of ``scripts/slurm-local``
(its ``slurm.conf`` found through ``SLURM_CONF``, else ``$C147_SLURM_DIR`` or ``/tmp/c147-slurm``). Without one they
skip, saying how to start it; with ``C147_REQUIRE_SLURM=1`` (CI: ``.ci/run`` starts the cluster) they fail instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import QUIET

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm-local"
REQUIRE = "C147_REQUIRE_SLURM"
PARTITION = "local"  # scripts/slurm-local's partition
OURS = "# written by scripts/slurm-local"  # the first line of its slurm.conf
# a job that fits the local node (2 CPUs, no GPU): one CPU a task, 1 GB, 10 minutes
LOCAL = ["hydra/launcher=slurm", f"hydra.launcher.partition={PARTITION}", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.gpus_per_node=0", "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10"]
TINY = ["model=mlp", "data.train_samples=256", *QUIET]


def slurm_dir() -> Path:
    return Path(os.environ.get("C147_SLURM_DIR") or "/tmp/c147-slurm")


def slurm_conf() -> Path:
    return Path(os.environ.get("SLURM_CONF") or slurm_dir() / "slurm.conf")


def slurm(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """A SLURM client command (sinfo, squeue, scontrol, ...) against the test cluster."""
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "SLURM_CONF": str(slurm_conf())})


def cluster_problem() -> str | None:
    """Why there is no cluster to test with (None: the partition answers, its node up)."""
    start = "start one with: scripts/slurm-local start"
    if shutil.which("sbatch") is None:
        return f"SLURM is not installed; {start}"
    conf = slurm_conf()
    if not conf.is_file():
        return f"no SLURM cluster: {conf} does not exist; {start}"
    if conf.read_text().startswith(OURS) and not (conf.parent / "slurmctld.pid").is_file():
        return f"no SLURM cluster: scripts/slurm-local's is stopped ({conf.parent}); {start}"  # sinfo would wait 10 s
    try:
        info = slurm("sinfo", "-h", "-p", PARTITION, "-o", "%t", timeout=15)
    except subprocess.TimeoutExpired:
        return f"no SLURM cluster answers (sinfo timed out, SLURM_CONF={conf}); {start}"
    state = info.stdout.strip()
    if info.returncode != 0 or state.rstrip("*") not in ("idle", "mix", "alloc"):
        return f"no SLURM cluster answers (SLURM_CONF={conf}: {(info.stderr or state or 'no node').strip()}); {start}"
    return None


@pytest.fixture(scope="session")
def slurm_env() -> dict[str, str]:
    """The environment a console script needs to reach the cluster (``SLURM_CONF``); skips (fails under
    ``C147_REQUIRE_SLURM=1``) without a cluster."""
    problem = cluster_problem()
    if problem is not None:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    return {"SLURM_CONF": str(slurm_conf())}


def job_ids(sweep: Path) -> list[str]:
    """The SLURM job ids of a sweep, from submitit's folders (``<sweep>/.submitit/<job id>``)."""
    folder = sweep / ".submitit"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def wait_until(condition, timeout: float, what: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(poll)
    return value
