"""Fixtures shared by the end-to-end tests of the console scripts."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="session")
def main_run(tmp_path_factory):
    """``c147-train`` with the default config (LeNet-5 on digits), as ``make train`` runs it: its completed
    process and its run folder (trained once for the tests that read its files and its terminal)."""
    cwd = tmp_path_factory.mktemp("main")
    proc = run_cli("c147-train", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (cwd / "outputs" / "train" / "runs").iterdir()
    return proc, run_dir
