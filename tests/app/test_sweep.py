"""Sweeps: real multiruns through Hydra's joblib and submitit_local launchers, each ending with the summary table
and summary.csv; a failing job recorded with its one-line error while the others go on; the SLURM launcher's
required partition; the summary's order and files on their own."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from c147.app.argv import check_launcher_installed, compose_check
from c147.app.sweep import check_launcher, read_sweep, record_failure, summarize
from tests.conftest import QUIET, run_cli, run_in_process

# two tiny jobs: ~1 s of training each, the rest is each process's start
TINY = ["model=mlp", "data.train_samples=64", "trainer.max_epochs=1", *QUIET]


def summary_rows(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def metrics(folder: str | Path) -> dict:
    return json.loads((Path(folder) / "metrics.json").read_text())


@pytest.mark.slow
def test_a_joblib_sweep_runs_its_jobs_in_parallel_processes_and_records_the_failed_one(tmp_path):
    proc = run_cli("c147-train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY,
                   "optim.lr=0.002,1e30,0.02", "hydra.sweep.dir=sweep", cwd=tmp_path)  # 1e30: the loss diverges
    sweep = tmp_path / "sweep"
    assert proc.returncode == 1, proc.stderr[-3000:]  # one job failed: the sweep says so in its exit status
    assert proc.stderr.strip().splitlines()[-1] == \
        "c147-train: error: 1 job(s) of the sweep failed: 1 (see the summary above)"
    rows = summary_rows(sweep)
    assert [r["job"] for r in rows][-1] == "1" and [r["status"] for r in rows] == ["ok", "ok", "failed"]
    ok = rows[:2]
    assert float(ok[0]["val/acc_best"]) >= float(ok[1]["val/acc_best"])  # best first
    for row in ok:  # each job's own final metrics and folder
        job = metrics(row["run_dir"])
        assert Path(row["run_dir"]) == (sweep / row["job"]).absolute() and row["error"] == ""
        assert float(row["val/acc_best"]) == job["val/acc_best"] and float(row["test/acc"]) == job["test/acc"]
        assert row["overrides"].endswith(f"optim.lr={ {'0': '0.002', '2': '0.02'}[row['job']] }")
    failed = rows[2]
    diverged = re.compile(r"the training loss is (nan|inf) in epoch 1, step \d+")
    assert diverged.match(failed["error"]) and failed["val/acc_best"] == "", failed
    assert diverged.match(metrics(sweep / "1")["error"])
    assert (sweep / "1" / ".hydra" / "config.yaml").is_file()  # the failed job's folder is kept, with its config
    assert "sweep summary: 3 jobs, 1 failed, best val/acc_best first" in proc.stdout
    assert diverged.search(proc.stdout.replace("\n", " ")) or "the training loss is" in proc.stdout


def test_a_sweep_with_a_bad_value_is_refused_before_any_job_runs(tmp_path, monkeypatch, capsys):
    """Each value of each sweep is composed and checked before Hydra starts a job (a typo in the last of 20
    values is not found hours later): one line, exit 2, no sweep folder."""
    for args, message in [(["optim.lr=0.002,-1,0.02"], "optim.lr: expected a number >= 0, got -1"),
                          (["optim=sgd,adamm", "seed=0,1"], "optim=adamm: no such option; did you mean optim=adam"),
                          (["trainer.max_epoch=1,2"], "trainer.max_epoch: no such key; did you mean")]:
        proc = run_in_process("c147-train", "-m", *args, "hydra.sweep.dir=sweep", cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
        (line,) = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and line.startswith(f"c147-train: error: {message}"), (args, proc.stderr)
        assert not (tmp_path / "sweep").exists()


@pytest.mark.slow
def test_a_submitit_local_sweep_summarizes_both_jobs(tmp_path):
    proc = run_cli("c147-train", "-m", "hydra/launcher=submitit_local", *TINY, "optim.lr=0.002,0.02",
                   "hydra.sweep.dir=sweep", cwd=tmp_path)
    sweep = tmp_path / "sweep"
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / ".submitit").is_dir()  # submitit ran the jobs (its pickles and logs)
    rows = summary_rows(sweep)
    assert sorted(r["job"] for r in rows) == ["0", "1"] and {r["status"] for r in rows} == {"ok"}
    for row in rows:
        assert float(row["val/acc_best"]) == metrics(sweep / row["job"])["val/acc_best"]
    assert "sweep summary: 2 jobs, 0 failed" in proc.stdout


def test_a_slurm_sweep_needs_a_partition_before_anything_is_submitted(tmp_path):
    proc = run_cli("c147-train", "-m", "hydra/launcher=slurm", "optim.lr=0.1,0.2", "hydra.sweep.dir=sweep",
                   cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("c147-train: error: hydra.launcher.partition: expected your cluster's partition "
                                   "for SLURM jobs (hydra.launcher.partition=NAME; sinfo lists them), got none")
    assert not (tmp_path / "sweep").exists()


def test_the_slurm_config_has_c147_defaults_on_the_plugin():
    launcher = compose_check("train", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu"]).hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.timeout_min, launcher.gpus_per_node, launcher.tasks_per_node) == \
        ("gpu", 60, 1, 1)
    check_launcher(launcher)  # complete
    with pytest.raises(ValueError, match="hydra.launcher.partition: expected your cluster's partition"):
        check_launcher(compose_check("train", ["hydra/launcher=submitit_slurm"]).hydra.launcher)


def test_a_launcher_without_its_plugin_names_the_extras():
    check_launcher_installed(["hydra/launcher=joblib", "optim.lr=1"])  # installed with the dev extras
    with pytest.raises(ValueError, match=r"hydra/launcher=joblib: expected the launcher plugin no_such\.plugin, "
                                         r"not installed; pip install 'c147\[cluster\]'"):
        check_launcher_installed(["hydra/launcher=joblib"], {"joblib": "no_such.plugin"})


def job(sweep: Path, num: int, overrides: list[str], **values) -> Path:
    folder = sweep / str(num)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if values:
        (folder / "metrics.json").write_text(json.dumps(values))
    return folder


@pytest.mark.parametrize("metric, order", [("val/acc_best", ["2", "0", "4", "1", "3"]),
                                           ("val/loss", ["0", "2", "4", "1", "3"])])
def test_the_summary_ranks_by_the_metric_in_its_direction_failed_jobs_last(tmp_path, metric, order):
    sweep = tmp_path / "multirun"
    job(sweep, 0, ["optim.lr=0.1"], **{"val/acc_best": 0.5, "val/loss": 0.2})
    job(sweep, 1, ["optim.lr=0.2"], error="the training loss is nan in epoch 2", **{"val/acc_best": 0.9})
    job(sweep, 2, ["optim.lr=0.3"], **{"val/acc_best": 0.7, "val/loss": 0.3})
    job(sweep, 3, ["optim.lr=0.4"])  # no metrics.json: killed, or still running
    job(sweep, 4, ["optim.lr=0.5"], **{"test/acc": 0.1})  # finished without the metric
    (sweep / "multirun.yaml").write_text("{}")
    jobs = summarize(sweep, metric)
    assert [str(j.num) for j in jobs] == order
    rows = summary_rows(sweep)
    assert [r["job"] for r in rows] == order and [r["rank"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert list(rows[0])[:5] == ["rank", "job", "status", "overrides", metric] and list(rows[0])[-2:] == \
        ["run_dir", "error"]
    by_job = {r["job"]: r for r in rows}
    assert by_job["1"]["status"] == "failed" and by_job["1"]["error"] == "the training loss is nan in epoch 2"
    assert by_job["3"]["error"].startswith("did not finish: no metrics.json in")
    assert by_job["2"]["overrides"] == "optim.lr=0.3" and by_job["4"][metric] == ""


def test_a_failure_record_keeps_the_jobs_own_error(tmp_path):
    folder = tmp_path / "0"
    record_failure(folder, "exited with status 1")
    assert metrics(folder) == {"error": "exited with status 1", "failed": True, "run_dir": str(folder)}
    record_failure(folder, "another")  # a record with its error (c147-train's non-finite loss writes its own) stays
    assert metrics(folder)["error"] == "exited with status 1"
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "metrics.json").write_text(json.dumps({"test/acc": 0.5, "interrupted": True,
                                                             "signal": "SIGTERM"}))
    assert [j.error for j in read_sweep(tmp_path)] == ["exited with status 1", "interrupted by SIGTERM"]


@pytest.mark.parametrize("columns", [80, 120])
def test_the_table_keeps_each_run_folder_whole_and_the_overrides_as_written(tmp_path, capsys, monkeypatch, columns):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", str(columns))
    sweep = Path("outputs/train/multiruns/2026-12-07_03-43-45_177466")  # as Hydra names it, below the current folder
    job(sweep, 0, ["data.augment=[flip,crop]", "optim.lr=0.1"], **{"val/acc_best": 0.5, "test/acc": 0.4})
    job(sweep, 1, ["data.augment=[flip]", "optim.lr=0.2"], **{"val/acc_best": 0.7, "test/acc": 0.6})
    job(sweep, 2, ["data.augment=[flip,crop]", "optim.lr=-1"], error="Invalid learning rate: -1")
    summarize(sweep, "val/acc_best")
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= columns
    for num in (1, 0, 2):  # best first, each folder relative to the current one, on one line
        assert sum(line.endswith(f" {sweep}/{num}") for line in lines) == 1
    if columns == 120:  # room for the overrides on one line, markup-like brackets and all
        assert [line.split()[0] for line in lines if line.endswith(tuple(f" {sweep}/{n}" for n in range(3)))] == [
            "data.augment=[flip]", "data.augment=[flip,crop]", "data.augment=[flip,crop]"]
    assert re.search(r"Invalid\s+learning\s+rate:\s+-1", " ".join(lines))  # the failed job's error, wrapped
    assert f"all metrics: {sweep}/summary.csv" in " ".join(lines)
    assert ("test/acc" in lines[1]) == (columns == 120)  # beyond the optimized metric, what fits
