"""TensorBoard as a user wants it: readable run names, the same hparams columns in every run, and the logging
callbacks (histograms, figures, epoch time) read back from real event files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.build import build, hparams_of
from c147.app.train import train
from c147.lit.logger import MAX_NAME, hparams, run_name
from c147.lit.monitors import Figures, Histograms
from tests.conftest import compose_config, tensorboard_run

# the logging callbacks on (the tests' QUIET turns them off); a small MLP on the native 8x8 digits
LOGGED = ["callbacks.histograms.every_n_epochs=2", "callbacks.figures.dirpath=${paths.output_dir}/figures",
          "model=mlp", "model.hidden=[32]", "data.image_size=8", "trainer.max_epochs=3",
          "trainer.enable_progress_bar=false", "callbacks.model_summary=null"]


def composed(*overrides: str):
    return compose_config("train", ["paths.output_dir=unused", *overrides])


def logged_run(tmp_path: Path, *overrides: str) -> tuple[dict, EventAccumulator]:
    cfg = compose_config("train", [f"paths.output_dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}",
                                   *LOGGED, *overrides])
    metrics = train(cfg, overrides=list(overrides))
    acc = EventAccumulator(str(tensorboard_run(metrics["run_dir"])),
                           size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return metrics, acc


def test_run_names_say_what_the_run_is():
    cfg = composed("optim=sgd", "optim.lr=0.1")
    plain = {"model": dict(cfg.model), "impl": "torch", "optim": {"name": "SGD", "lr": 0.1}}
    assert run_name(plain) == "lenet5-torch-sgd-lr0.1"
    # the command line's other overrides follow; what the first part says, paths and hydra's keys do not
    overrides = ["optim=sgd", "optim.lr=0.1", "regularizer=l2", "hydra.run.dir=x", "paths.output_dir=y",
                 "data.augment=[crop,flip]", "finetune.from='a/b.ckpt'", "~scheduler"]
    assert run_name(plain, overrides) == \
        "lenet5-torch-sgd-lr0.1,regularizer=l2,data.augment=[crop,flip],finetune.from=a_b.ckpt,~scheduler"
    long = run_name(plain, ["tags=[x]", *(f"model.noise.hidden=0.{i}" for i in range(30))])
    assert len(long) == MAX_NAME and long.endswith("...") and "/" not in long


def test_a_given_name_and_tags_name_the_run_in_float64_too(tmp_path):
    # float64 weights: the callbacks' own forward passes (activations, test predictions) follow the weights' dtype
    metrics, acc = logged_run(tmp_path, "name=my_run", "tags=[baseline,digits]", "trainer.precision=64-true")
    assert tensorboard_run(metrics["run_dir"]).name == "my_run"
    assert acc.Scalars("test/acc") and acc.Histograms("activation/net.2.ReLU")
    assert "figures/confusion_matrix" in acc.Tags()["images"]


def test_every_run_has_every_hparam_column():
    """Any two runs log the same hparam keys; a group a run lacks is 'none' in each of its columns."""
    plain = hparams_of(composed("name=a"))
    other = hparams_of(composed("name=b", "optim=sgd", "regularizer=l1", "clip=norm", "~scheduler", "model=mlp",
                              "loss=mse"))
    assert plain.keys() == other.keys()
    assert plain["regularizer/l1"] == "none" and other["regularizer/l1"] == 1e-5
    assert plain["optim/betas"] == "[0.9, 0.999]" and other["optim/betas"] == "none"
    assert plain["optim/momentum"] == "none" and other["optim/momentum"] == 0.9
    assert plain["scheduler/_target_"] != "none" and other["scheduler/_target_"] == "none"
    assert plain["tags"] == "[]" and {"name", "impl", "seed", "model/hidden", "model/pool"} <= plain.keys()
    assert all(isinstance(v, (bool, int, float, str)) for v in plain.values())
    # a run's own nested keys are flat, lists are text
    assert hparams({"a": {"b": [1, 2], "c": None}, "s": 3}, ("a", "s"), {"a": {"b", "c", "d"}}) == \
        {"a/b": "[1, 2]", "a/c": "none", "a/d": "none", "s": 3}


def test_histograms_figures_and_epoch_time_in_the_event_files(tmp_path):
    metrics, acc = logged_run(tmp_path)
    tags = acc.Tags()
    assert "epoch" not in tags["scalars"] and {"time/epoch_seconds", "time/examples_per_second"} <= set(tags["scalars"])
    seconds, rate = (e.value for e in acc.Scalars("time/epoch_seconds")), acc.Scalars("time/examples_per_second")
    train_size = len(build(composed(*LOGGED))[0].train_set)
    for s, r in zip(seconds, rate, strict=True):
        assert r.value * s == pytest.approx(train_size, rel=1e-3)
    # every 2 epochs: epochs 0 and 2 of 3; every parameter's weight and gradient, every layer's output
    for tag in ("weight/net.net.1.weight", "grad/net.net.1.weight", "grad/net.net.3.bias", "activation/net.2.ReLU"):
        assert [e.step for e in acc.Histograms(tag)] == [0, 2], tag
    relu = acc.Histograms("activation/net.2.ReLU")[-1].histogram_value
    assert relu.min == 0.0 and relu.max > 0  # a ReLU's outputs
    assert {"figures/confusion_matrix", "figures/misclassified", "figures/first_layer"} <= set(tags["images"])
    figures = Path(metrics["run_dir"]) / "figures"
    assert sorted(p.name for p in figures.iterdir()) == ["confusion_matrix.png", "first_layer.png",
                                                         "misclassified.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figures.iterdir())
    hp = json.loads((Path(metrics["run_dir"]) / "metrics.json").read_text())
    assert hp["test/acc"] == metrics["test/acc"] and acc.Scalars("hparams/test_acc")[-1].value == \
        pytest.approx(metrics["test/acc"])


def test_the_confusion_matrix_counts_the_test_predictions(tmp_path):
    from lightning.pytorch import Trainer
    from sklearn.metrics import confusion_matrix

    datamodule, model = build(composed(*LOGGED))
    figures = Figures(tmp_path / "figures", max_images=5)
    trainer = Trainer(logger=False, callbacks=[figures], enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False)
    trainer.test(model, datamodule=datamodule, verbose=False)
    x, y = datamodule.test_set.tensors
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert torch.equal(figures.confusion, torch.as_tensor(confusion_matrix(y, pred, labels=range(10))))
    assert len(figures._wrong) == 5 and all(p != t for _, p, t in figures._wrong)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["confusion_matrix.png", "misclassified.png"]


def test_bad_histogram_period_is_a_value_error():
    with pytest.raises(ValueError, match="callbacks.histograms.every_n_epochs: expected a positive integer, got 0"):
        Histograms(every_n_epochs=0)
