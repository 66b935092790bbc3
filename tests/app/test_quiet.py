"""A console script's terminal: the progress bar, the model summary and the summary table, each line once; no
tips, hints or deprecation noise from libraries. The log lines still reach ``<run>/<task>.log``, and
``verbose=true`` prints them too."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import run_cli

SHORT = ["trainer.max_epochs=1", "data.train_samples=64", "hydra.run.dir=run"]
# what each library printed on a default run before (issue 22)
NOISE = ("LeafSpec", "litlogger", "Tip:", "srun", "weights_only", "already configured", "CUDA_HOME", "GPU available",
         "TPU available", "Restoring states", "v_num", "FLOPs", "INFO")
PAIRS = re.compile(r"^\s*(\S+=\S+\s*)+$")  # the progress bar's metrics column, wrapped below the bar


def terminal_lines(text: str) -> list[str]:
    """The lines of ``text`` (stdout and stderr together) but the progress bar's renders and blank lines."""
    lines = [ln.strip() for ln in re.split(r"[\r\n]", text)]
    return [ln for ln in lines if ln and "━" not in ln and not PAIRS.match(ln)]


@pytest.mark.slow
def test_a_default_run_prints_each_line_once_and_no_library_noise(main_run):
    """``c147-train`` as ``make train`` runs it (tests/app/conftest.py)."""
    proc, run_dir = main_run
    out = proc.stdout + proc.stderr
    twice = [line for line, n in Counter(terminal_lines(out)).items() if n > 1]
    assert not twice, twice
    assert not [word for word in NOISE if word in out], out
    assert proc.stderr == "", proc.stderr
    assert "Epoch 15/15 " in out and "Epoch 14/14" not in out  # 1-based: the last of fifteen
    # what the terminal no longer shows is in the run's log file
    log = (run_dir / "train.log").read_text()
    assert "GPU available" in log and "`Trainer.fit` stopped" in log
    assert "Tip:" not in log  # advertisements are dropped where they are logged


@pytest.mark.slow
def test_verbose_prints_the_log_lines_once(tmp_path):
    proc = run_cli("c147-train", *SHORT, "verbose=true", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert out.count("GPU available") == 1, out  # Lightning's own handler printed it a second time
    assert "`Trainer.fit` stopped" in out
    assert Path(tmp_path / "run" / "train.log").read_text().count("GPU available") == 1


@pytest.mark.slow
def test_a_smoke_test_run_is_quiet_too(tmp_path):
    """``debug=fast`` makes the config checks import a callback's ``_target_`` (and with it Lightning) before Hydra
    configures logging: Lightning's own handler, added then, no longer prints its INFO lines."""
    proc = run_cli("c147-train", "debug=fast", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "", proc.stderr
    assert "GPU available" in (tmp_path / "run" / "train.log").read_text()
