"""DDP across SLURM tasks: one SLURM job of two tasks (``hydra.launcher.tasks_per_node=2``), one process each, which
Lightning's SLURM environment joins (no process starts another); gloo on the CPU. It trains as one process with
twice the batch: tests/app/test_distributed.py's comparison and tolerances."""

from __future__ import annotations

import json

import pytest

from tests.app.test_distributed import assert_same_curves, assert_same_weights
from tests.conftest import QUIET, run_cli, start_cli
from tests.slurm.conftest import LOCAL, job_ids

pytestmark = [pytest.mark.slurm, pytest.mark.slow]  # slow: not in make check

# tests/app/test_distributed.py's run (float64, batch norm synchronized), for 2 epochs: 8 steps an epoch of 32
RUN = ["model=mlp", "model.batch_norm=true", "trainer.precision=64-true", "data.train_samples=256",
       "trainer.max_epochs=2", *QUIET]
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.sync_batchnorm=true"]


def test_two_slurm_tasks_train_like_one_process_with_twice_the_batch(tmp_path, slurm_env):
    job = start_cli("c147-train", "-m", *LOCAL, "hydra.launcher.tasks_per_node=2", *RUN, *DDP, "data.batch_size=16",
                    "hydra.sweep.dir=sweep", cwd=tmp_path, env=slurm_env)
    one = run_cli("c147-train", *RUN, "data.batch_size=32", "hydra.run.dir=one", cwd=tmp_path)  # meanwhile, here
    out, err = job.communicate(timeout=240)
    assert one.returncode == 0, one.stderr[-3000:]
    assert job.returncode == 0, err[-3000:]
    assert "sweep summary: 1 jobs, 0 failed" in out
    two, one = tmp_path / "sweep" / "0", tmp_path / "one"

    # one SLURM job, two tasks: SLURM started both processes, Lightning joined them through SLURM's environment
    (job_id,) = job_ids(tmp_path / "sweep")
    logs = tmp_path / "sweep" / ".submitit" / job_id
    for rank in (0, 1):
        assert f"global_rank={rank}(2)" in (logs / f"{job_id}_{rank}_log.out").read_text()
    log = (two / "train.log").read_text()
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log and "distributed_backend=gloo" in log, log[-3000:]
    assert "SLURM auto-requeueing enabled" in log  # Lightning's SLURMEnvironment, not its own launcher
    assert not list(two.glob("*ddp_process*.log"))  # no process started another (tests/app/test_distributed.py)

    assert_same_curves(two, one)  # float64 runs, float32 events: within 1e-6
    assert_same_weights(two, one)
    m2, m1 = (json.loads((r / "metrics.json").read_text()) for r in (two, one))
    assert m2["test/acc"] == m1["test/acc"] and m2["val/acc_best"] == m1["val/acc_best"]
    assert m2["global_step"] == m1["global_step"] == 16
