"""Shared fixtures: composing the real Hydra configs and running the real console scripts."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from c147.app.argv import CONFIG_DIR
from tests import zygote

BIN = zygote.BIN  # the venv's console scripts
CONFIG_GROUPS = Path(CONFIG_DIR)


def compose_config(name: str, overrides: list[str] | None = None) -> DictConfig:
    """The real config ``name`` (train or eval) composed with ``overrides``."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=overrides or [])


# a run small enough for unit tests: no progress bar, model summary, histograms or figures (tests/lit/test_logging.py
# and the main job's tests in tests/app/test_train.py run those)
QUIET = ["trainer.enable_progress_bar=false", "callbacks.model_summary=null", "callbacks.histograms=null",
         "callbacks.figures=null"]


@pytest.fixture
def train_config(tmp_path):
    """``train_config(*overrides)``: the train config writing into a fresh folder under tmp_path."""
    counter = iter(range(1000))

    def make(*overrides: str) -> DictConfig:
        out = tmp_path / f"run{next(counter)}"
        return compose_config("train", [f"paths.output_dir={out}", f"paths.data_dir={tmp_path / 'data'}",
                                         *QUIET, *overrides])

    return make


def tensorboard_run(run_dir: Path) -> Path:
    """The folder of a c147-train run's TensorBoard events: ``<run>/tensorboard/<run name>``."""
    (folder,) = [p for p in (Path(run_dir) / "tensorboard").iterdir() if p.is_dir()]
    return folder


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a user's shell would give a console script (no Hydra variables of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYDRA_")}
    env.update(extra or {})
    return env


def run_in_process(script: str, *args: str, cwd: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess:
    """Run a c147 console script's entry point in this process, from ``cwd``, as :func:`run_cli` does in a new
    one: for the checks and one-line errors, where a new process proves nothing more and costs the imports
    (seconds each; tests/test_layout.py runs the console scripts' own path to an error in a new process)."""
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name=script)
    main = entry.load()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [script, *args])
    for key in [k for k in os.environ if k.startswith("HYDRA_")]:
        monkeypatch.delenv(key)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:  # Hydra's job logging: its file handler and level stay with the run, not the next test
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
    out = capsys.readouterr()
    return subprocess.CompletedProcess([script, *args], code, out.out, out.err)


def run_cli(script: str, *args: str, cwd: Path, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a c147 console script from the venv, as a user would: a process of its own, forked from a zygote that
    has made the imports once (tests/zygote.py)."""
    return zygote.run(script, *args, cwd=cwd, env=cli_env(env), timeout=timeout)


def start_cli(script: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> zygote.Run:
    """Start a c147 console script as :func:`run_cli` does, without waiting: Popen's stdout/stderr pipes (text from
    ``communicate``), ``poll``, ``wait``, ``send_signal``."""
    return zygote.start(script, *args, cwd=cwd, env=cli_env(env))


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until ``path`` exists while ``proc`` (a console script started by a test) still runs."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended before {path} appeared: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.02)
