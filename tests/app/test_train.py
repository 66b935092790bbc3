"""Training through the real Hydra configs, in-process and through the console scripts."""

import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.train import train
from tests.conftest import BIN, cli_env, run_cli, run_in_process, tensorboard_run

REPO = Path(__file__).resolve().parents[2]

SCALARS = {"train/loss", "train/acc", "train/lr", "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc"}


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
@pytest.mark.parametrize("impl", ["c147", "torch"])
def test_fast_dev_run(train_config, model, impl):
    cfg = train_config(f"model={model}", f"impl={impl}", "debug=fast")
    metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["test/loss"] > 0
    assert json.loads((Path(metrics["run_dir"]) / "metrics.json").read_text())["test/acc"] == metrics["test/acc"]


def test_same_seed_same_run_and_impls_agree(train_config):
    common = ["data=synthetic", "model=mlp", "trainer.max_epochs=2", "~logger", "callbacks.model_checkpoint=null"]
    a = train(train_config(*common, "impl=c147"))
    b = train(train_config(*common, "impl=c147"))
    assert a["val/loss"] == b["val/loss"] and a["test/acc"] == b["test/acc"]
    # ours against torch's in float64: float32 rounds the two summation orders differently, by an amount
    # that depends on the CPU's kernels and that training amplifies; float64's 1e-16 stays far below 1e-9
    a64, c64 = (train(train_config(*common, f"impl={impl}", "trainer.precision=64-true")) for impl in ("c147", "torch"))
    assert c64["val/loss"] == pytest.approx(a64["val/loss"], rel=1e-9)
    d = train(train_config(*common, "seed=1"))
    assert d["val/loss"] != a["val/loss"]


def test_mlp_learns_the_spirals(train_config):
    metrics = train(train_config("recipe=mlp_spirals", "~logger"))
    assert metrics["test/acc"] >= 0.9


@pytest.mark.slow
def test_the_paper_lenet5_recipe_learns_the_digits(train_config):
    # 8 of the recipe's 20 epochs: 0.978 (the full recipe ~0.98)
    cfg = train_config("recipe=lenet5_paper", "~logger", "callbacks.model_checkpoint=null", "trainer.max_epochs=8")
    assert (cfg.model.activation, cfg.model.pool, cfg.optim.name) == ("tanh", "avg", "SGD")
    assert train(cfg)["test/acc"] >= 0.95


def test_run_folder_is_never_reused(train_config, tmp_path):
    cfg = train_config("debug=fast")
    train(cfg)
    with pytest.raises(SystemExit) as exit_info:
        train(cfg)
    assert exit_info.value.code == 2


# ---- the main job, end to end, through the console scripts -------------------------------------


# main_run: tests/app/conftest.py (test_quiet.py reads its terminal too)


@pytest.mark.slow
def test_main_job_reaches_097_and_writes_a_complete_run(main_run):
    proc, run_dir = main_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test/acc"] >= 0.97, metrics
    assert metrics["fit_seconds"] < 120, metrics
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    ckpts = {p.name for p in (run_dir / "checkpoints").iterdir()}
    assert "last.ckpt" in ckpts and any(n.startswith("epoch_") for n in ckpts), ckpts
    table = proc.stdout.replace("\n", "")  # the summary names the run folder as typed from here, and its TensorBoard
    assert "test accuracy" in table and f"c147-tensorboard outputs/train/runs/{run_dir.name}" in table
    assert f"│ run folder        │ outputs/train/runs/{run_dir.name} " in table


@pytest.mark.slow
def test_event_files_hold_every_scalar_and_the_hparams(main_run):
    _, run_dir = main_run
    acc = EventAccumulator(str(tensorboard_run(run_dir)), size_guidance={"scalars": 0, "images": 0,
                                                                         "histograms": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert SCALARS <= tags, SCALARS - tags
    assert "epoch" not in tags  # Lightning's epoch counter is not a card
    # the default logging callbacks: the figures after testing; histograms only when asked for (test_logging.py)
    assert {"visual/confusion_matrix", "visual/misclassified", "visual/first_layer"} <= set(acc.Tags()["images"])
    assert acc.Tags()["histograms"] == []
    assert {p.name for p in (run_dir / "figures").iterdir()} == {"confusion_matrix.png", "misclassified.png",
                                                                  "first_layer.png"}
    assert len(acc.Scalars("walltime/examples_per_second")) == 15
    assert len(acc.Scalars("val/acc")) == 15 and len(acc.Scalars("train/lr")) == 15
    lrs = [e.value for e in acc.Scalars("train/lr")]
    assert lrs[0] == pytest.approx(0.002) and lrs == sorted(lrs, reverse=True), "cosine: decreasing lr"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert acc.Scalars("test/acc")[-1].value == pytest.approx(metrics["test/acc"])
    assert not [t for t in tags if t.startswith(("hparam/", "hparams/"))]  # the HParams metrics are the curves
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")


@pytest.mark.slow
def test_eval_reproduces_the_test_accuracy(main_run, tmp_path):
    _, run_dir = main_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    proc = run_cli("c147-eval", f"ckpt_path={metrics['best_checkpoint']}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (eval_dir,) = (tmp_path / "outputs" / "eval" / "runs").iterdir()
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    assert evaluated["test/acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_tensorboard_server_serves_the_run(main_run):
    _, run_dir = main_run
    port = free_port()
    server = subprocess.Popen(  # through scripts/tensorboard, as the README tells users
        [str(REPO / "scripts" / "tensorboard"), str(run_dir), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env({"PATH": f"{BIN}:{os.environ['PATH']}"}),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        runs = None
        for _ in range(120):  # the server needs a few seconds to start and load the events
            try:
                runs = json.load(urllib.request.urlopen(f"{base}/data/runs", timeout=2))
                if runs:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        name = "lenet5-c147-adam-lr0.002"  # the run's readable name (model, impl, optimizer, lr), then its time
        assert runs == [f"{name} {run_dir.name[:19]}"], runs
        run = urllib.parse.quote(runs[0], safe="")
        query = f"{base}/data/plugin/scalars/scalars?run={run}&tag=val/acc"
        points = json.load(urllib.request.urlopen(query, timeout=10))
        assert len(points) == 15 and all(0.0 <= p[2] <= 1.0 for p in points)
        tags = json.load(urllib.request.urlopen(f"{base}/data/plugin/images/tags", timeout=10))
        assert "visual/confusion_matrix" in tags[runs[0]], tags
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert server.returncode is not None


@pytest.mark.parametrize(
    "args, message",
    [
        (["model=bert"], "c147-train: error: model=bert: no such option; expected one of alexnet"),
        (["no_such_key=1"], "c147-train: error: no_such_key: no such key (nothing close); to add it as a new key: "
                            "+no_such_key=1"),
        (["optim.lr=-0.1"], "c147-train: error: optim.lr: expected a number >= 0, got -0.1"),
        (["data=mnist", "paths.data_dir=nowhere"], "c147-train: error: MNIST not found"),
        (["data=cifar10", "paths.data_dir=nowhere"], "c147-train: error: CIFAR10 not found"),
        (["optim.no_such_arg=1"], "c147-train: error: optim.no_such_arg: no such key (nothing close)"),
        (["impl=numpy"], "c147-train: error: impl must be one of ('c147', 'torch'), got 'numpy'"),
    ],
)
def test_bad_input_ends_with_a_clear_message(args, message, tmp_path, monkeypatch, capsys):
    proc = run_in_process("c147-train", *args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    if message.startswith("c147-train: error:"):
        assert proc.returncode == 2
        (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("c147-train: error:")]
        if "not found" in message:
            assert str((tmp_path / "nowhere").resolve()) in line


# c147-eval's bad input: tests/app/test_resume.py (BAD_EVAL)


def test_instantiation_errors_name_the_cause_and_the_key(tmp_path, monkeypatch, capsys):
    proc = run_in_process("c147-train", "model.activation=gelu", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "c147-train: error: model.activation: expected one of relu, leaky_relu, prelu, elu, softplus, sigmoid, tanh, "
        "maxout, got 'gelu'"
    ), proc.stderr


@pytest.mark.slow
def test_compare_impls_script_makes_one_multirun_with_both_impls(tmp_path):
    """scripts/compare-impls = c147-train -m impl=c147,torch: separate, complete runs in one sweep folder."""
    proc = subprocess.run([str(REPO / "scripts" / "compare-impls"), "data=synthetic", "model=mlp",
                           "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "callbacks.model_summary=null"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=cli_env({"PATH": f"{BIN}:{os.environ['PATH']}"}))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    runs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in runs] == ["0", "1"]
    impls = []
    for run in runs:
        assert (run / "metrics.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
        assert list((run / "tensorboard").glob("*/events.out.tfevents.*"))
        impls.append(torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["c147_config"]["impl"])
    assert impls == ["c147", "torch"]
    # Hydra's basic launcher too ends with the sweep summary (tests/app/test_sweep.py: joblib, submitit_local)
    summary = (sweep / "summary.csv").read_text().splitlines()
    assert len(summary) == 3 and {row.split(",")[2] for row in summary[1:]} == {"ok"}
    assert "sweep summary: 2 jobs, 0 failed, best val/acc_best first" in proc.stdout
