"""A sweep through a real SLURM cluster: ``c147-train -m hydra/launcher=slurm`` submits each job through submitit as a
SLURM job; the summary lists every job with its metrics, and a job given a bad value fails alone. A job that submitit
requeued is not a result."""

from __future__ import annotations

import csv
import json
import re

import pytest

from c147.app.sweep import REQUEUED_EXIT, run_job
from tests.conftest import run_cli
from tests.slurm.conftest import LOCAL, TINY, job_ids


@pytest.mark.slurm
@pytest.mark.slow
def test_a_slurm_sweep_runs_each_job_as_a_slurm_job_and_a_bad_value_fails_alone(tmp_path, slurm_env):
    # optim.lr=1e30: the loss diverges in that job only
    proc = run_cli("c147-train", "-m", *LOCAL, *TINY, "trainer.max_epochs=1", "optim.lr=0.002,1e30,0.02",
                   "hydra.sweep.dir=sweep", cwd=tmp_path, env=slurm_env, timeout=240)
    sweep = tmp_path / "sweep"
    assert proc.returncode == 1, proc.stderr[-3000:]
    # the local cluster keeps no accounting: sacct is not asked (its error and submitit's warnings, every poll)
    assert "sacct" not in proc.stdout + proc.stderr and "accounting storage" not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        "c147-train: error: 1 job(s) of the sweep failed: 1 (see the summary above)"
    # three SLURM jobs, one array (<array id>_<job>), each with its log: submitit ran it on the node
    ids = [i for i in job_ids(sweep) if "_" in i]  # beside the array's own folder (its submission script)
    assert len(ids) == 3 and len({i.split("_")[0] for i in ids}) == 1, job_ids(sweep)
    for i in ids:
        assert f"Starting with JobEnvironment(job_id={i}," in (sweep / ".submitit" / i / f"{i}_0_log.out").read_text()
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"] and rows[-1]["job"] == "1"
    for row in rows[:2]:
        job = json.loads((sweep / row["job"] / "metrics.json").read_text())
        assert float(row["val/acc_best"]) == job["val/acc_best"] > 0.2 and float(row["test/acc"]) == job["test/acc"]
        assert job["global_step"] == 8 and row["error"] == ""  # 256 samples, batches of 32, one epoch
    diverged = re.compile(r"the training loss is (nan|inf) in epoch 1, step \d+")
    assert diverged.match(rows[2]["error"]) and rows[2]["val/acc_best"] == "", rows[2]
    assert "sweep summary: 3 jobs, 1 failed, best val/acc_best first" in proc.stdout
    for lr in ("optim.lr=0.002", "optim.lr=1e+30", "optim.lr=0.02"):
        assert lr in proc.stdout or lr.replace("1e+30", "1e30") in proc.stdout, lr


def test_a_job_submitit_requeued_leaves_no_result(tmp_path):
    # submitit's handler of its signal before the time limit requeues the job, then exits with -1 from inside the
    # fit: not the job's failure (the requeued job resumes from last.ckpt), so neither recorded nor returned, else
    # submitit would write the job's result and the sweep would end before the job does
    def exits(code):
        def task(cfg):
            raise SystemExit(code)
        return task

    with pytest.raises(SystemExit) as e:
        run_job(exits(REQUEUED_EXIT), None, tmp_path)
    assert e.value.code == -1 and not (tmp_path / "metrics.json").exists()
    assert run_job(exits(1), None, tmp_path) is None  # a job's own exit status is its failure
    assert (tmp_path / "metrics.json").is_file()
