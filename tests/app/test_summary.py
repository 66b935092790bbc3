"""``c147-summary``: through the real Hydra config, in-process and as a command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from c147.app.summary import summary
from tests.conftest import CONFIG_GROUPS, compose_config

LENET = ["model=lenet5", "in_channels=1", "image_size=32", "num_classes=10"]
MODELS = sorted(p.stem for p in (CONFIG_GROUPS / "model").glob("*.yaml"))


def run_summary(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m c147.app.summary ARGS`` from ``cwd``, as the console script runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRA_")}
    return subprocess.run([sys.executable, "-m", "c147.app.summary", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def test_config_defaults():
    cfg = compose_config("summary", ["paths.output_dir=unused"])
    # the hand-written layers, as c147-train's default (the one other command with an impl)
    assert cfg.impl == cfg.model.impl == compose_config("train", ["paths.output_dir=unused"]).impl == "c147"
    assert cfg.task_name == "summary"
    assert (cfg.num_classes, cfg.in_channels, cfg.image_size) == (1000, 3, 224)
    assert cfg.model._target_ == "c147.models.lenet5"


@pytest.mark.slow
def test_cli_lenet5_writes_summary_json(tmp_path):
    proc = run_summary(*LENET, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "outputs" / "summary" / "runs").iterdir()
    written = json.loads((run_dir / "summary.json").read_text())
    assert written["params"] == 61_706 and written["macs"] == 416_520 and written["input_size"] == [1, 32, 32]
    assert written["model"] == "c147.models.lenet5" and written["impl"] == "c147" and written["num_classes"] == 10
    assert len(written["layers"]) == 12 and written["layers"][0]["output_shape"] == [6, 28, 28]
    assert abs(written["fc_share"] - 59_134 / 61_706) < 1e-12
    assert "61,706 parameters" in proc.stdout and "95.8% of the parameters in FC layers" in proc.stdout
    assert "Conv2d" in proc.stdout and f"written to outputs/summary/runs/{run_dir.name}/summary.json" in proc.stdout


@pytest.mark.slow
def test_cli_unknown_model_lists_the_models(tmp_path):
    proc = run_summary("model=no_such_net", cwd=tmp_path)
    assert proc.returncode == 2 and "model=no_such_net: no such option; expected one of alexnet" in proc.stderr


@pytest.mark.slow
def test_cli_too_small_image_is_one_line_and_exit_2(tmp_path):
    proc = run_summary("model=lenet5", "image_size=8", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("c147-summary: error: ") and "at least 16x16" in line and "got 8x8" in line


def test_summary_json_is_never_overwritten(tmp_path, capsys):
    cfg = compose_config("summary", [*LENET, f"paths.output_dir={tmp_path}"])
    first = summary(cfg)
    with pytest.raises(SystemExit) as exit_info:
        summary(cfg)
    assert exit_info.value.code == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert json.loads((tmp_path / "summary.json").read_text()) == first


def test_bad_impl_is_a_user_error(tmp_path, capsys):
    cfg = compose_config("summary", [*LENET, f"paths.output_dir={tmp_path}", "impl=tf"])
    with pytest.raises(SystemExit) as exit_info:
        summary(cfg)
    assert exit_info.value.code == 2 and "impl must be one of ('c147', 'torch'), got 'tf'" in capsys.readouterr().err


def test_impls_give_the_same_summary(tmp_path):
    runs = {impl: summary(compose_config("summary", [*LENET, f"impl={impl}", f"paths.output_dir={tmp_path / impl}"]))
            for impl in ("c147", "torch")}
    assert runs["c147"]["layers"] == runs["torch"]["layers"] and runs["c147"]["params"] == 61_706


@pytest.mark.parametrize("model", MODELS)
def test_every_model_config_summarizes_at_32x32(model, tmp_path):
    # every model must take 32x32 input (digits / CIFAR sizes)
    cfg = compose_config("summary", [f"model={model}", "in_channels=1", "image_size=32", "num_classes=10",
                                     f"paths.output_dir={tmp_path}"])
    written = summary(cfg)
    assert written["params"] > 0 and written["macs"] > 0 and written["layers"][-1]["output_shape"] == [10]
