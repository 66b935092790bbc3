"""``c147-classic``: every task through the real Hydra config, in-process; TensorBoard events read back;
one run as the console script; bad input as one line."""

from __future__ import annotations

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.classic import classic
from tests.conftest import CONFIG_GROUPS, compose_config, run_cli

TASKS = sorted(p.stem for p in (CONFIG_GROUPS / "task").glob("*.yaml"))
SMALL = ["max_train_samples=400"]  # a fast run: 400 of the 1,168 training digits
FAST = {  # per task: what makes it quick while keeping every feature of the task on
    "knn": ["task.select_k=[1,3]", "task.n_splits=3"],
    "softmax": [],  # the linear models stop when the training loss stalls (a second or less here)
    "svm": [],
    "least_squares": [],
    "bagging": ["task.estimator.n_estimators=3"],
}


def events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def run(tmp_path, *overrides: str) -> tuple[dict, object]:
    out = tmp_path / "run"
    cfg = compose_config("classic", [f"paths.output_dir={out}", f"paths.data_dir={tmp_path / 'data'}", *overrides])
    return classic(cfg), out


def test_every_task_has_a_fast_setting():
    assert set(TASKS) == set(FAST) == {"knn", "softmax", "svm", "least_squares", "bagging"}


@pytest.mark.parametrize("task", TASKS)
def test_task_fits_scores_and_logs(task, tmp_path):
    metrics, out = run(tmp_path, f"task={task}", *SMALL, *FAST[task])
    written = json.loads((out / "metrics.json").read_text())
    assert written["task"] == task and written["samples"] == {"train": 400, "val": 270, "test": 359}
    assert written["features"] == 64  # c147-train's digits split, at their native 8x8
    for split in ("train", "val", "test"):
        assert written[f"{split}/acc"] == pytest.approx(metrics[f"{split}/acc"])
    # 400 training digits are plenty for every classic method (chance is 0.1)
    assert written["test/acc"] > 0.85, written
    scalars = events(out).Tags()["scalars"]
    assert {"train/acc", "val/acc", "test/acc"} <= set(scalars)
    assert ("train/loss" in scalars) == (task in ("softmax", "svm"))


def test_knn_cross_validation_picks_the_best_k_and_logs_it(tmp_path):
    metrics, out = run(tmp_path, "task=knn", *SMALL, "task.select_k=[1,3,25]", "task.n_splits=3")
    acc = events(out)
    means = {e.step: e.value for e in acc.Scalars("cv/acc_mean")}
    assert set(means) == {1, 3, 25}
    assert metrics["k"] == min(k for k, m in means.items() if m >= max(means.values()) - 1e-6)
    assert metrics["cv/acc_best"] == pytest.approx(max(means.values()), abs=1e-6)
    assert len(acc.Scalars("cv/acc_fold2")) == 3
    assert (out / "accuracy_vs_k.png").stat().st_size > 0 and "cv/accuracy_vs_k" in acc.Tags()["images"]


def test_solver_comparison_logs_loss_against_time(tmp_path):
    metrics, out = run(tmp_path, "task=softmax", *SMALL, "task.estimator.epochs=2", "task.compare_solvers=true")
    acc = events(out)
    for solver in ("batch", "minibatch", "sgd"):
        curve = acc.Scalars(f"solvers/{solver}_loss_vs_ms")
        assert len(curve) == 3 and curve[-1].value < curve[0].value  # epochs 0, 1, 2: the loss went down
        assert metrics[f"solvers/{solver}_final_loss"] == pytest.approx(curve[-1].value, rel=1e-6)
    assert (out / "solvers.png").stat().st_size > 0 and "solvers/loss_vs_time" in acc.Tags()["images"]
    assert all(metrics[f"solvers/{s}_seconds"] > 0 for s in ("batch", "minibatch", "sgd"))  # wall time, not compared


def test_a_run_folder_is_never_reused(tmp_path):
    run(tmp_path, "task=least_squares", *SMALL)
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path, "task=least_squares", *SMALL)
    assert exit_info.value.code == 2
    assert len(list((tmp_path / "run").glob("metrics*.json"))) == 1


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["device=cuda"], "device=cuda: expected a CUDA device, found none"),
        (["dtype=float16"], "dtype: expected float32 or float64, got 'float16'"),
        (["task=knn", "task.select_k=[0]"], "k"),
        (["task=softmax", "task.estimator.solver=newton"], "Expected solver in ('batch', 'minibatch', 'sgd')"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(overrides, message, tmp_path, capsys):
    if overrides == ["device=cuda"] and torch.cuda.is_available():
        overrides = ["dtype=float16"]  # with a GPU, the CUDA case is a valid run: check the dtype line instead
        message = "dtype: expected float32 or float64, got 'float16'"
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path, *SMALL, *overrides)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("c147-classic: error: ") and message in line


def test_console_script_runs_from_any_folder_and_refuses_an_unknown_task(tmp_path):
    proc = run_cli("c147-classic", "task=knn", "task.select_k=null", "max_train_samples=200", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "classic" / "runs").iterdir()
    assert json.loads((run_dir / "metrics.json").read_text())["test/acc"] > 0.8
    assert "c147-classic task=knn" in proc.stdout and "test/acc" in proc.stdout
    proc = run_cli("c147-classic", "task=no_such_task", cwd=tmp_path)
    assert proc.returncode == 2 and "no_such_task" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
