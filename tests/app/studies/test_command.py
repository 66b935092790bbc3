"""c147-study: the registry, the checks before Hydra (an unknown study is one line, before torch), --help, and
a used folder refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import c147.app.studies
from c147.app.studies import STUDIES, load
from c147.app.studies.command import main
from tests.app.studies.conftest import reduced_study
from tests.conftest import cli_env, run_cli

# the package's modules that are not studies
PLUMBING = {"__init__", "harness", "command"}
UNKNOWN = f"c147-study: error: study: expected one of {', '.join(STUDIES)}, got 'nope'"


def test_every_registered_study_has_a_module_and_a_test():
    package = Path(c147.app.studies.__file__).parent
    modules = sorted(p.stem for p in package.glob("*.py") if p.stem not in PLUMBING)
    assert sorted(STUDIES) == modules
    for name in STUDIES:
        assert callable(load(name).run), name
        assert (Path(__file__).parent / f"test_{name}.py").is_file(), name


@pytest.mark.parametrize("run_dir", [["hydra.run.dir=run"], []], ids=["run_dir", "timestamped"])
def test_an_unknown_study_is_one_line_with_exit_2_and_no_folder(tmp_path, monkeypatch, capsys, run_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["c147-study", "study=nope", *run_dir])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [UNKNOWN]
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_study_is_refused_before_torch_is_imported(tmp_path):
    code = ("import sys\nfrom c147.app.studies.command import main\nsys.argv = ['c147-study', 'study=nope']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=cli_env())
    assert proc.stdout.split() == ["2", "False"], proc.stderr[-2000:]


def test_the_console_script_answers_help(tmp_path):
    proc = run_cli("c147-study", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "study: optimizer_paths" in proc.stdout, proc.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []


def test_a_used_folder_is_refused(tmp_path, capsys):
    (tmp_path / "run" / "figures").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        reduced_study(tmp_path, "optimizer_paths")
    assert exit_info.value.code == 2
    assert "already holds figures; refusing to overwrite it" in capsys.readouterr().err
    assert list((tmp_path / "run").iterdir()) == [tmp_path / "run" / "figures"]
