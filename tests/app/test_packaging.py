"""A wheel (not the editable checkout) installs and trains from any folder, with its packaged configs
and a user's own config folder."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import cli_env

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_wheel_trains_from_a_folder_outside_the_repository(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(REPO)], check=True, capture_output=True, env=cli_env())
    (wheel,) = dist.glob("c147-*.whl")
    # a fresh venv: the wheel goes into its own site-packages; the dependencies (torch, lightning, ...)
    # come from this venv's site-packages through a .pth line, which does not run the editable
    # install's hook, so `import c147` can only find the wheel
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; "
                                   "print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True,
                                  text=True).stdout.strip())
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()] or [sysconfig.get_paths()["purelib"]]
    (purelib / "deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(purelib), str(wheel)],
                   check=True, capture_output=True, env=cli_env())

    user_configs = tmp_path / "my_configs" / "model"
    user_configs.mkdir(parents=True)
    (user_configs / "tiny.yaml").write_text("_target_: c147.models.mlp\nimpl: ${impl}\nhidden: [16]\n")
    work = tmp_path / "work"
    work.mkdir()
    python = str(venv / "bin" / "python")
    where = subprocess.run([python, "-c", "import c147, c147.app.argv as a; print(c147.__file__); print(a.CONFIG_DIR)"],
                           cwd=work, check=True, capture_output=True, text=True).stdout.split()
    assert all(str(purelib) in w for w in where), where  # the installed copy, not the checkout
    proc = subprocess.run([python, "-m", "c147.app.train", "--config-dir", str(tmp_path / "my_configs"), "model=tiny",
                           "debug=fast", "trainer.enable_progress_bar=false", "hydra.run.dir=run"],
                          cwd=work, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((work / "run" / "metrics.json").read_text())["test/acc"] >= 0
    assert "hidden:\n  - 16" in (work / "run" / ".hydra" / "config.yaml").read_text()
