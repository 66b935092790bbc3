"""Preemption on SLURM: the scheduler sends SIGTERM and requeues the job (``scontrol requeue``: what SLURM does to a
job preempted with PreemptMode=REQUEUE). c147-train saves ``last.ckpt`` at the current step, the job starts again
(``SLURM_RESTART_COUNT`` = 1), resumes in the same run folder, and ends bit for bit like an uninterrupted job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from c147.lit.callbacks import PAUSE_ENV
from tests.app.test_resume import RESULT_KEYS, scalars, weights
from tests.conftest import start_cli, wait_for
from tests.slurm.conftest import LOCAL, TINY, job_ids, slurm, wait_until
from tests.zygote import Run

pytestmark = [pytest.mark.slurm, pytest.mark.slow]  # slow: not in make check

# dropout and hidden-unit noise (the global RNG), augmentation, 8 steps an epoch of 32 for 2 epochs
RESUMABLE = [*TINY, "model.dropout=0.3", "model.noise.hidden=0.1", "data.augment=[crop,flip]", "trainer.max_epochs=2"]


def sweep(cwd: Path, env: dict[str, str]) -> Run:
    return start_cli("c147-train", "-m", *LOCAL, *RESUMABLE, "seed=3", "hydra.sweep.dir=sweep", cwd=cwd, env=env)


def test_a_preempted_job_is_requeued_and_resumes_bit_for_bit(tmp_path, slurm_env):
    (tmp_path / "plain").mkdir()
    (tmp_path / "preempted").mkdir()
    paused = tmp_path / "paused"
    plain = sweep(tmp_path / "plain", slurm_env)  # the uninterrupted job, alongside
    # the test hook: the job waits before the second batch of epoch 2 until a signal comes; it saves after that
    # batch (step 10)
    proc = sweep(tmp_path / "preempted", {**slurm_env, PAUSE_ENV: f"mid_epoch:{paused}"})
    wait_for(paused, proc, timeout=120)
    (job_id,) = job_ids(tmp_path / "preempted" / "sweep")
    requeue = slurm("scontrol", "requeue", job_id)
    assert requeue.returncode == 0, requeue.stderr

    def started_again() -> bool:
        state = slurm("squeue", "-h", "-j", job_id, "-o", "%T %r").stdout.split()
        if state[:2] == ["PENDING", "BeginTime"]:  # SLURM holds a requeued job a while: here, no need to
            slurm("scontrol", "update", f"JobId={job_id}", "StartTime=now")
        return bool(proc.poll() is not None or state[:1] == ["RUNNING"] and
                    "Restarts=1" in slurm("scontrol", "show", "job", job_id).stdout)

    wait_until(started_again, 90, "the requeued job's second start")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    plain_out, plain_err = plain.communicate(timeout=180)
    assert plain.returncode == 0, plain_err[-3000:]
    assert "sweep summary: 1 jobs, 0 failed" in out

    run, full_run = tmp_path / "preempted" / "sweep" / "0", tmp_path / "plain" / "sweep" / "0"
    last = run / "checkpoints" / "last.ckpt"
    # the first start: SIGTERM saved the current step (mid-epoch) and said so (submitit's log keeps both starts)
    stopped = json.loads((run / "metrics.attempt1.json").read_text())
    assert stopped["interrupted"] is True and stopped["signal"] == "SIGTERM" and stopped["global_step"] == 10
    log = (run.parent / ".submitit" / job_id / f"{job_id}_0_log.err").read_text()
    assert f"c147-train: interrupted by SIGTERM in epoch 2, step 10; saved {last}" in log, log[-3000:]
    # the second start resumed from it, in the same folder, and ended like the uninterrupted job, bit for bit
    final, full = (json.loads((r / "metrics.json").read_text()) for r in (run, full_run))
    assert final["resumed_from"] == str(last) and final["interrupted"] is False
    assert {k: final[k] for k in RESULT_KEYS} == {k: full[k] for k in RESULT_KEYS}
    ours, theirs = weights(last), weights(full_run / "checkpoints" / "last.ckpt")
    assert ours.keys() == theirs.keys()
    for k in theirs:
        assert torch.equal(ours[k], theirs[k]), k
    for tag in ("train/loss", "val/loss", "val/acc_best"):
        assert scalars(run, tag) == scalars(full_run, tag), tag
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == \
        sorted(p.name for p in (full_run / "checkpoints").iterdir())
