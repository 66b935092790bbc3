"""``scripts/*`` run without an activated venv: they use the repo's ``.venv/bin`` beside them, else PATH, and say
in one line when the tool is nowhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BARE_PATH = "/usr/bin:/bin"  # a shell's PATH without the venv (nor any other tensorboard or c147-train)


def bare_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYDRA_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = BARE_PATH
    return env


def test_nothing_on_the_bare_path():
    assert not [t for t in ("tensorboard", "c147-train") if shutil.which(t, path=BARE_PATH)]


@pytest.mark.parametrize("script", ["tensorboard", "compare-impls", "gpu-check"])
def test_scripts_are_valid_bash(script):
    assert subprocess.run(["bash", "-n", str(REPO / "scripts" / script)]).returncode == 0


def test_tensorboard_finds_the_repos_venv_without_activation(tmp_path):
    proc = subprocess.run([str(REPO / "scripts" / "tensorboard"), "--help"], cwd=tmp_path, env=bare_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("c147-tensorboard serves TensorBoard on 127.0.0.1"), proc


def test_tensorboard_says_so_when_the_folder_is_missing(tmp_path):
    proc = subprocess.run([str(REPO / "scripts" / "tensorboard"), str(tmp_path / "nowhere"), "6123"], cwd=tmp_path,
                          env=bare_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == f"c147-tensorboard: error: no such folder: {tmp_path / 'nowhere'}\n"


@pytest.mark.parametrize("script, tool", [("tensorboard", "tensorboard"), ("compare-impls", "c147-train")])
def test_a_script_without_venv_or_tool_says_so_in_one_line(tmp_path, script, tool):
    """A checkout without .venv, and nothing on PATH: exit 127 and one line naming what is missing."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / script, tmp_path / "scripts" / script)
    proc = subprocess.run([str(tmp_path / "scripts" / script)], cwd=tmp_path, env=bare_env(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 127 and proc.stdout == "", proc
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"scripts/{script}: error: {tool} not found in "
                                                                   f"{tmp_path}/.venv/bin nor on PATH"), proc.stderr
