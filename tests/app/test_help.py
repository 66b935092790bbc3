"""``c147-<cmd> --help``: one shape for every console script (the sentence, examples, the groups the command
uses, its outputs, Hydra's own flags), answered before Hydra and torch; ``--cfg job`` stays Hydra's."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from c147.app.argv import compose_check, group_options
from c147.app.help import HELP
from c147.app.studies import STUDIES
from tests.conftest import cli_env, run_in_process

# each Hydra console script: its primary config and the config groups it uses (its defaults list)
SCRIPTS = {
    "c147-train": ("train", {"callbacks", "clip", "data", "debug", "logger", "loss", "model", "optim", "paths",
                             "recipe", "regularizer", "scheduler", "trainer"}),
    "c147-eval": ("eval", {"data", "paths", "trainer"}),
    "c147-ensemble": ("ensemble", {"paths"}),
    "c147-summary": ("summary", {"model", "paths"}),
    "c147-classic": ("classic", {"data", "paths", "task"}),
    "c147-bench": ("bench", {"paths"}),
    "c147-study": ("study", {"paths", "study"}),
}


def listed_groups(text: str) -> set[str]:
    block = text.split("Config groups")[1].split("\n\n")[0]
    return set(re.findall(r"^  (\w+):", block, flags=re.MULTILINE))


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_says_what_the_command_does_and_lists_only_its_groups(script, flag, tmp_path, monkeypatch, capsys):
    proc = run_in_process(script, flag, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == HELP[script].description and lines[0].startswith(f"{script} ") and lines[0].endswith(".")
    assert "powered by Hydra" not in proc.stdout
    assert any(ln.startswith(f"  {script} ") for ln in lines), "no example line"
    assert listed_groups(proc.stdout) == SCRIPTS[script][1]
    assert any(ln.startswith("Outputs: ") for ln in lines)
    assert "--cfg job" in lines[-1] and "--hydra-help" in lines[-1]
    assert list(tmp_path.iterdir()) == [], "--help made a folder"


def test_the_train_help_marks_the_defaults(tmp_path, monkeypatch, capsys):
    out = run_in_process("c147-train", "--help", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys).stdout
    assert "  optim:       adagrad adam* adamw nadam rmsprop sgd\n" in out
    assert "  regularizer: activity_l1 inf_norm l1 l2 max_norm  (default: none)\n" in out
    assert "study:" not in out and "task:" not in out


def test_the_study_help_lists_the_studies_not_the_training_groups(tmp_path, monkeypatch, capsys):
    out = run_in_process("c147-study", "--help", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys).stdout
    assert f"  study: {STUDIES[0]}* {' '.join(STUDIES[1:])}\n" in out
    assert not any(f"  {g}:" in out for g in ("optim", "model", "trainer"))


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_example_composes(script):
    """The examples are real command lines: each composes, its placeholders (``<time>``) filled in (a sweep's,
    with -m, is left out)."""
    config_name, _ = SCRIPTS[script]
    for command, _ in HELP[script].examples:
        prog, *args = re.sub(r"<\w+>", "X", command).split()
        assert prog == script
        if "-m" in args:
            continue
        cfg = compose_check(config_name, args)
        for arg in args:
            key, value = arg.split("=", 1)
            if key in cfg.hydra.runtime.choices:
                assert value in group_options(key), arg


def test_help_imports_no_torch(tmp_path):
    probe = ("import sys; sys.argv = ['c147-train', '--help']\n"
             "from c147.app.train import main\n"
             "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
             "print('EXIT', code, sorted(m for m in ('torch', 'lightning') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=cli_env())
    assert proc.stdout.strip().splitlines()[-1] == "EXIT 0 []", proc.stdout[-2000:] + proc.stderr[-2000:]


def test_cfg_job_still_prints_the_composed_config(tmp_path, monkeypatch, capsys):
    proc = run_in_process("c147-train", "optim=sgd", "--cfg", "job", cwd=tmp_path, monkeypatch=monkeypatch,
                          capsys=capsys)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "optim:\n" in proc.stdout and "  momentum: 0.9\n" in proc.stdout and "trainer:\n" in proc.stdout


def test_the_sheet_help_has_the_same_shape(capsys):
    from c147.app.sheet import main

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == HELP["c147-sheet"].description
    assert "Examples:" in lines and "  c147-sheet -k lse" in "\n".join(lines)
    assert lines[-1].startswith("Outputs: ")
