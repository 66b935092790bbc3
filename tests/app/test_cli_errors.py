"""The first mistakes a user makes on the command line: a misspelt key or group option names the closest valid
ones, a value no run can want names its full key; one line, exit 2, no run folder, before torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from c147.app.argv import closest, suggest_keys
from c147.app.build import check_config
from c147.app.config_checks import check_config_types, name_the_key
from tests.conftest import cli_env, compose_config, run_in_process

# (console script, arguments, the error line after "c147-<cmd>: error: ")
BAD = [
    # unknown keys and options: the closest valid names
    ("c147-train", ["trainer.max_epoch=2"], "trainer.max_epoch: no such key; did you mean trainer.max_epochs?"),
    ("c147-train", ["optim.lrr=0.1"], "optim.lrr: no such key; did you mean optim.lr?"),
    ("c147-train", ["max_epochs=3"], "max_epochs: no such key; did you mean trainer.max_epochs?"),
    ("c147-train", ["optimm.lr=0.1"], "optimm.lr: no such key; did you mean optim.lr?"),
    ("c147-train", ["model=mlp", "model.dropot=0.2"], "model.dropot: no such key; did you mean model.dropout?"),
    ("c147-train", ["optim=adamm"],
     "optim=adamm: no such option; did you mean optim=adam or optim=nadam or optim=adamw?"),
    ("c147-train", ["model=lenet"], "model=lenet: no such option; did you mean model=lenet5"),
    ("c147-train", ["trainer=gpux"], "trainer=gpux: no such option; did you mean trainer=gpu?"),
    ("c147-train", ["model=bert"], "model=bert: no such option; expected one of alexnet, googlenet, lenet5"),
    ("c147-train", ["model.dropout=0.5"], "model.dropout: no such key in model=lenet5; the model options with it: "
                                          "alexnet, googlenet, mlp, vgg11"),
    ("c147-train", ["regularizer.alpha=1"], "regularizer.alpha: no such key, regularizer is off; choose one first: "
                                            "regularizer=activity_l1|inf_norm|l1|l2|max_norm"),
    ("c147-classic", ["task=svn"], "task=svn: no such option; did you mean task=svm?"),
    ("c147-eval", ["data=digitz"], "data=digitz: no such option; did you mean data=digits?"),
    # a key that is plausibly new: Hydra's way to add it
    ("c147-train", ["optim.no_such_arg=1"], "optim.no_such_arg: no such key (nothing close); to add it as a new key: "
                                            "+optim.no_such_arg=1"),
    ("c147-train", ["callbacks.early_stopping.foo=1"], "callbacks.early_stopping.foo: no such key (nothing close)"),
    # values of the right type that no run can want, by their full key
    ("c147-train", ["trainer.max_epochs=0"], "trainer.max_epochs: expected a positive integer, got 0"),
    ("c147-train", ["trainer.max_epochs=-1"], "trainer.max_epochs: expected a positive integer, got -1"),
    ("c147-train", ["optim.lr=-0.1"], "optim.lr: expected a number >= 0, got -0.1"),
    ("c147-train", ["data.batch_size=0"], "data.batch_size: expected a positive integer, got 0"),
    ("c147-train", ["data.batch_size=-3"], "data.batch_size: expected a positive integer, got -3"),
    ("c147-train", ["data.val_fraction=1.5"], "data.val_fraction: expected a number in [0, 1), got 1.5"),
    ("c147-train", ["model=mlp", "model.dropout=1.5"], "model.dropout: expected a number in [0, 1), got 1.5"),
    ("c147-train", ["model=vgg11", "model.dropout=1"], "model.dropout: expected a number in [0, 1), got 1"),
    ("c147-train", ["optim=sgd", "optim.momentum=1.2"], "optim.momentum: expected a number in [0, 1), got 1.2"),
    ("c147-train", ["optim.betas=[0.9,1.5]"], "optim.betas: expected numbers in [0, 1), got [0.9, 1.5]"),
    ("c147-train", ["optim.weight_decay=-1"], "optim.weight_decay: expected a number >= 0, got -1"),
    ("c147-classic", ["task=svm", "task.estimator.lr=-1"], "task.estimator.lr: expected a number >= 0, got -1"),
    ("c147-classic", ["task=softmax", "task.estimator.epochs=0"],
     "task.estimator.epochs: expected a positive integer, got 0"),
]


@pytest.mark.parametrize("script, args, message", BAD, ids=[f"{s} {' '.join(a)}" for s, a, _ in BAD])
def test_a_mistake_is_one_line_naming_the_key(script, args, message, tmp_path, monkeypatch, capsys):
    proc = run_in_process(script, *args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"{script}: error: {message}"), line
    assert ("+" in line) == ("nothing close" in line), line  # Hydra's +key advice only for a plausibly new key
    assert list(tmp_path.iterdir()) == [], "a refused command line left a folder"


@pytest.mark.parametrize("args, message", [
    (["trainer.max_epoch=2"], "did you mean trainer.max_epochs?"),
    (["optim=adamm"], "did you mean optim=adam"),
    (["trainer.max_epochs=-1"], "trainer.max_epochs: expected a positive integer, got -1"),
])
def test_the_answer_comes_before_torch(args, message, tmp_path):
    """The console script's own path, in a new process: the suggestions and value checks import no torch."""
    probe = (f"import sys; sys.argv = ['c147-train', *{args!r}]\n"
             "from c147.app.train import main\n"
             "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
             "print('EXIT', code, sorted(m for m in ('torch', 'lightning') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=cli_env())
    assert message in proc.stderr, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "EXIT 2 []", proc.stdout + proc.stderr


PATHS = ["trainer", "trainer.max_epochs", "trainer.devices", "optim", "optim.lr", "optim.eps", "optim.betas",
         "callbacks.early_stopping.mode", "callbacks.early_stopping.patience"]


@pytest.mark.parametrize("key, expected", [
    ("trainer.max_epoch", ["trainer.max_epochs"]),
    ("optim.lrr", ["optim.lr"]),
    ("optim.ep", ["optim.eps"]),
    ("optimm.betas", ["optim.betas"]),
    ("max_epochs", ["trainer.max_epochs"]),
    ("model.max_epochs", ["trainer.max_epochs"]),
    ("callbacks.early_stopping.foo", []),  # beside 'mode', but nothing like it: a new key
    ("optim.no_such_arg", []),
])
def test_suggested_keys(key, expected):
    assert suggest_keys(key, PATHS) == expected


def test_closest_keeps_only_the_near_ones():
    assert closest("adamm", ["adagrad", "adam", "adamw", "rmsprop", "sgd"]) == ["adam", "adamw"]
    assert closest("lenet", ["alexnet", "googlenet", "lenet5", "mlp"])[0] == "lenet5"
    assert closest("resnet999", ["alexnet", "googlenet", "lenet5", "mlp"]) == []


@pytest.mark.parametrize("message, key, expected", [
    ("batch_size must be a positive integer, got 0", "data", "data.batch_size: must be a positive integer, got 0"),
    ("activation: expected one of relu, tanh, got 'gelu'", "model",
     "model.activation: expected one of relu, tanh, got 'gelu'"),
    ("data.classes: expected at least 2 digits", "data", "data.classes: expected at least 2 digits"),
    ("AlexNet: in_channels must be positive, got 0", "model",
     "AlexNet: in_channels must be positive, got 0 (config key 'model')"),
    ("batch_size must be a positive integer, got 0", None, "batch_size must be a positive integer, got 0"),
])
def test_an_instantiation_error_names_the_full_key(message, key, expected):
    assert name_the_key(message, key) == expected


def test_the_table_and_the_signatures_refuse_the_same_values():
    """Before Hydra (the types table) and inside the job (the signatures): one rule, one message."""
    cfg = compose_config("train", ["trainer.max_epochs=-1"])
    with pytest.raises(ValueError, match=r"^trainer\.max_epochs: expected a positive integer, got -1$"):
        check_config_types(cfg)
    with pytest.raises(ValueError, match=r"^trainer\.max_epochs: expected a positive integer, got -1$"):
        check_config(cfg)
    check_config_types(compose_config("train", ["trainer.max_epochs=1", "optim.lr=0", "model=mlp",  # the edges
                                                "model.dropout=0.99", "data.val_fraction=0"]))
