"""TensorBoard as a user wants it: readable run names, the same hparams columns in every run, the curves'
groups first in Time Series, and the logging callbacks (histograms, figures, epoch time) read back from real
event files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.build import HPARAMS_FIRST, build, hparams_of
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


def logged_run(tmp_path: Path, *overrides: str, logged: tuple[str, ...] = tuple(LOGGED)) -> tuple[dict,
                                                                                                  EventAccumulator]:
    cfg = compose_config("train", [f"paths.output_dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}",
                                   *logged, *overrides])
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
    assert "visual/confusion_matrix" in acc.Tags()["images"]


def test_every_run_has_every_hparam_column():
    """Any two runs log the same hparam keys; a group a run lacks is 'none' in each of its columns."""
    plain = hparams_of(composed("name=a"))
    other = hparams_of(composed("name=b", "optim=sgd", "regularizer=l1", "clip=norm", "~scheduler", "model=mlp",
                              "loss=mse"))
    assert plain.keys() == other.keys()
    assert plain["regularizer/l1"] == "none" and other["regularizer/l1"] == 1e-5
    assert plain["optim/betas"] == "[0.9, 0.999]" and other["optim/betas"] == "none"
    assert plain["optim/momentum"] == "none" and other["optim/momentum"] == 0.9
    assert plain["tags"] == "[]" and {"name", "impl", "seed", "model/hidden", "model/pool"} <= plain.keys()
    assert all(isinstance(v, (bool, int, float, str)) for v in plain.values())
    # a group is one column of its option, never _target_ (nor its name, kind, or its copy of impl)
    assert (plain["model"], plain["optim"], plain["scheduler"], plain["clip"]) == ("lenet5", "Adam",
                                                                                  "CosineAnnealingLR", "none")
    assert (other["model"], other["optim"], other["scheduler"], other["clip"]) == ("mlp", "SGD", "none",
                                                                                  "clip_grad_norm_")
    assert not [k for k in plain if k.rsplit("/", 1)[-1] in ("_target_", "_partial_", "name", "kind", "impl")
                and "/" in k] and "trainer/default_root_dir" not in plain
    # what a user compares first, then the rest by name
    assert list(plain)[:len(HPARAMS_FIRST)] == list(HPARAMS_FIRST)
    rest = list(plain)[len(HPARAMS_FIRST):]
    assert rest == sorted(rest)
    # a run's own nested keys are flat, lists are text
    assert hparams({"a": {"b": [1, 2], "c": None, "_target_": "x.Y"}, "s": 3}, ("a", "s"), {"a": {"b", "c", "d"}},
                   first=("s",)) == {"s": 3, "a": "Y", "a/b": "[1, 2]", "a/c": "none", "a/d": "none"}


def test_histograms_figures_and_epoch_time_in_the_event_files(tmp_path):
    metrics, acc = logged_run(tmp_path)
    tags = acc.Tags()
    assert "epoch" not in tags["scalars"]
    assert {"walltime/epoch_seconds", "walltime/examples_per_second"} <= set(tags["scalars"])
    seconds = (e.value for e in acc.Scalars("walltime/epoch_seconds"))
    rate = acc.Scalars("walltime/examples_per_second")
    train_size = len(build(composed(*LOGGED))[0].train_set)
    for s, r in zip(seconds, rate, strict=True):
        assert r.value * s == pytest.approx(train_size, rel=1e-3)
    # every 2 epochs: epochs 0 and 2 of 3; every parameter's weight and gradient, every layer's output
    for tag in ("weight/net.net.1.weight", "grad/net.net.1.weight", "grad/net.net.3.bias", "activation/net.2.ReLU"):
        assert [e.step for e in acc.Histograms(tag)] == [0, 2], tag
    relu = acc.Histograms("activation/net.2.ReLU")[-1].histogram_value
    assert relu.min == 0.0 and relu.max > 0  # a ReLU's outputs
    assert {"visual/confusion_matrix", "visual/misclassified", "visual/first_layer"} <= set(tags["images"])
    figures = Path(metrics["run_dir"]) / "figures"
    assert sorted(p.name for p in figures.iterdir()) == ["confusion_matrix.png", "first_layer.png",
                                                         "misclassified.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figures.iterdir())
    hp = json.loads((Path(metrics["run_dir"]) / "metrics.json").read_text())
    assert hp["test/acc"] == metrics["test/acc"] == pytest.approx(acc.Scalars("test/acc")[-1].value)


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


@pytest.mark.parametrize("period", [0, -1, 1.5, True])
def test_bad_histogram_period_is_a_value_error(period):
    with pytest.raises(ValueError, match=re.escape("callbacks.histograms.every_n_epochs: expected a positive "
                                                   f"integer (or null: off), got {period!r}")):
        Histograms(every_n_epochs=period)


def session_hparams(acc: EventAccumulator) -> dict:
    """The hparams of the run's HParams session, as the event file holds them."""
    from tensorboard.plugins.hparams import metadata

    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    assert metadata.EXPERIMENT_TAG not in content  # one summary over all runs: scripts/tensorboard's
    info = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    return {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()}


def time_series_groups(tags: list[str]) -> list[str]:
    """TensorBoard's Time Series groups, in its order: a tag's part before the first ``/``, sorted by code
    point (its natural sort, for names without digits); it opens the first two."""
    return sorted({t.split("/", 1)[0] for t in tags})


def test_a_default_run_opens_tensorboard_on_its_curves(tmp_path):
    """The default callbacks (histograms off), every card's group: the curves' groups come first, the other
    cards sort after them; the HParams session has the compared keys and the curves are its metrics."""
    default = ["callbacks.figures.dirpath=${paths.output_dir}/figures", "model=mlp", "model.hidden=[32]",
               "data.image_size=8", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
               "callbacks.model_summary=null"]
    metrics, acc = logged_run(tmp_path, logged=tuple(default))
    tags = acc.Tags()
    assert tags["histograms"] == []
    cards = tags["scalars"] + tags["images"]
    groups = time_series_groups(cards)
    curves = {"test", "train", "val"}
    assert set(groups[:2]) <= curves and groups[:3] == sorted(curves), groups
    assert {"test/acc", "test/loss", "train/loss", "val/acc"} <= set(tags["scalars"])
    assert not [t for t in cards if t.startswith(("hparam/", "hparams/"))]
    session = session_hparams(acc)
    assert set(HPARAMS_FIRST) <= session.keys() and not [k for k in session if "_target_" in k]
    assert (session["impl"], session["model"], session["optim"]) == ("c147", "mlp", "Adam")
    assert session["optim/lr"] == pytest.approx(0.002) and session["data/batch_size"] == 32
