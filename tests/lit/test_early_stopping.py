"""Early stopping: c147's hand-written rule stops after the same epoch as its twin, Lightning's EarlyStopping, on
scripted metric sequences (ties, min_delta, min and max, NaN), gives back the best epoch's weights, keeps its
count across a resume; c147-train tests the best checkpoint by the monitored metric, and the stop epoch reaches
metrics.json."""

import json
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping

from c147.app.build import check_monitors
from c147.app.train import train
from c147.lit.early_stopping import EarlyStopping, early_stopping, stopped_epoch


class Scripted(L.LightningModule):
    """Logs ``script[epoch]`` as the validation metric; its one weight holds the epoch it was trained in, so the
    tested weights name the checkpoint's epoch."""

    def __init__(self, metric: str, script: list[float]) -> None:
        super().__init__()
        self.metric, self.script = metric, script
        self.w = torch.nn.Parameter(torch.zeros(()))

    def on_train_epoch_start(self) -> None:
        with torch.no_grad():
            self.w.fill_(self.current_epoch)

    def training_step(self, batch, batch_idx):
        return (self.w * 0).sum() + batch[0].sum() * 0

    def validation_step(self, batch, batch_idx):
        self.log(self.metric, self.script[self.current_epoch])

    def test_step(self, batch, batch_idx):
        self.log("tested_weight", self.w.detach())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def loader():
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(2, 1)), batch_size=2)


@pytest.mark.parametrize("overrides, metric, script, stop, best", [
    # callbacks=early_stopping: val/loss, min; improvements at epochs 0, 1, 3; patience 2 runs out after epoch 5
    (["callbacks=early_stopping", "callbacks.early_stopping.patience=2"], "val/loss",
     [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.1, 0.1], 5, 3),
    # the default callbacks' entry: val/acc, max; an equal value is no improvement
    (["callbacks.early_stopping.patience=1"], "val/acc", [0.5, 0.6, 0.6, 0.9], 2, 1),
    # off (patience null): runs all epochs, the best is still tested
    ([], "val/acc", [0.5, 0.6, 0.6, 0.55], None, 1),
])
def test_stops_at_the_expected_epoch_and_tests_the_best_weights(train_config, overrides, metric, script, stop, best,
                                                                tmp_path):
    cfg = train_config(*overrides, "callbacks.last_checkpoint=null", "callbacks.progress_bar=null")
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c]
    check_monitors(callbacks)
    trainer = L.Trainer(max_epochs=len(script), callbacks=callbacks, logger=False, enable_progress_bar=False,
                        num_sanity_val_steps=0)
    model = Scripted(metric, script)
    trainer.fit(model, train_dataloaders=loader(), val_dataloaders=loader())
    assert stopped_epoch(trainer) == stop
    assert trainer.current_epoch == (len(script) if stop is None else stop + 1)
    assert model.w.item() == (len(script) - 1 if stop is None else best)  # in memory: the best epoch's when on
    best_path = trainer.checkpoint_callback.best_model_path
    trainer.test(model, dataloaders=loader(), ckpt_path=best_path, verbose=False)
    assert trainer.callback_metrics["tested_weight"].item() == best


def test_train_writes_the_stop_epoch_and_tests_the_best_checkpoint(train_config):
    # lr 0: val/loss never improves after epoch 0, so patience 2 stops after epoch 2; the best stays epoch 0
    common = ["data=synthetic", "model=mlp", "optim.lr=0", "trainer.max_epochs=6", "~logger"]
    metrics = train(train_config(*common, "callbacks=early_stopping", "callbacks.early_stopping.patience=2"))
    written = json.loads((Path(metrics["run_dir"]) / "metrics.json").read_text())
    assert written["stopped_epoch"] == 2 and written["epochs"] == 3
    assert Path(written["best_checkpoint"]).name == "epoch_000.ckpt"
    assert json.loads((Path(train(train_config(*common, "trainer.max_epochs=1"))["run_dir"]) / "metrics.json")
                      .read_text())["stopped_epoch"] is None


@pytest.mark.parametrize("overrides, message", [
    (["callbacks.early_stopping.patience=3", "callbacks.early_stopping.monitor=val/loss",
      "callbacks.early_stopping.mode=min"],
     "callbacks.early_stopping.monitor: expected the best checkpoint's metric 'val/acc'"),
    (["callbacks=early_stopping", "callbacks.early_stopping.mode=max"], "mode: expected 'min' for monitor 'val/loss'"),
    (["callbacks.model_checkpoint.monitor=val/loss"],
     "callbacks.model_checkpoint.mode: expected 'min' for monitor 'val/loss', got 'max'"),
    (["callbacks.early_stopping.patience=0"], "patience: expected a positive integer (or null: off), got 0"),
])
def test_bad_early_stopping_configs_are_one_line_errors(train_config, overrides, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train(train_config("data=synthetic", "model=mlp", *overrides))
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and message in err and "\n" not in err, err


def test_patience_none_is_off():
    assert not EarlyStopping().enabled and EarlyStopping(patience=4).patience == 4
    model, trainer = fit(EarlyStopping("val/loss", mode="min"), "val/loss", [1.0, 2.0, 3.0])
    assert trainer.current_epoch == 3 and stopped_epoch(trainer) is None and model.w.item() == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "maximum"}, "mode: expected 'min' or 'max', got 'maximum'"),
    ({"monitor": "val/loss", "mode": "max"}, "mode: expected 'min' for monitor 'val/loss', got 'max'"),
    ({"patience": 0}, "patience: expected a positive integer (or null: off), got 0"),
    ({"patience": 2.5}, "patience: expected a positive integer (or null: off), got 2.5"),
    ({"min_delta": -0.1}, "min_delta: expected a number >= 0, got -0.1"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        EarlyStopping(**kwargs)


def test_is_a_plain_callback_and_the_helpers_find_both_twins():
    assert not isinstance(EarlyStopping(), LightningEarlyStopping)
    ours, twin = EarlyStopping(patience=2), LightningEarlyStopping("val/acc", mode="max")
    assert early_stopping([object(), EarlyStopping(), ours]) is ours  # the one switched on
    assert early_stopping([twin]) is twin and early_stopping([EarlyStopping()]) is None
    assert ours.state_key == twin.state_key  # the twins read each other's checkpoints


# ---------------------------------------------------------------- the rule against its twin, in real fits

def fit(callback, metric, script, max_epochs=None, ckpt_path=None, model=None):
    """``Scripted`` fitted with ``callback`` (no logger, no checkpointing, the sanity check on: it must not
    count); the module and the trainer."""
    trainer = L.Trainer(max_epochs=max_epochs or len(script), callbacks=[callback], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=1)
    model = model or Scripted(metric, script)
    trainer.fit(model, train_dataloaders=loader(), val_dataloaders=loader(), ckpt_path=ckpt_path)
    return model, trainer


NAN, INF = math.nan, math.inf
SEQUENCES = {  # name: (mode, patience, min_delta, check_finite, script, stop, best)
    # an equal value is no improvement; the sanity check's 1.0 is not a first best (else epoch 0 would tie)
    "ties": ("min", 1, 0.0, True, [1.0, 1.0, 0.5, 0.5], 1, 0),
    "ties-max": ("max", 2, 0.0, True, [0.5, 0.5, 0.6, 0.6, 0.6, 0.9], 4, 2),
    # improvements at 0, 1, 3; patience 2 runs out after epoch 5
    "min": ("min", 2, 0.0, True, [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.1, 0.1], 5, 3),
    "max": ("max", 3, 0.0, True, [0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.9, 0.9, 0.9, 0.9], 9, 6),
    "never-stops": ("max", 2, 0.0, True, [0.1, 0.2, 0.2, 0.3, 0.2, 0.4], None, 5),
    # better, but by no more than min_delta: no improvement (0.95, 0.8); 0.85 and 0.7 are
    "min_delta": ("min", 2, 0.1, True, [1.0, 0.95, 0.85, 0.8, 0.7, 0.69, 0.68, 0.1], 6, 4),
    "min_delta-max": ("max", 2, 0.05, True, [0.5, 0.6, 0.64, 0.7, 0.74, 0.749, 0.9], 5, 3),
    # 0.5 -> 0.4 by min_delta 0.1 exactly, in float32: the twins must round alike
    "min_delta-edge": ("min", 2, 0.1, True, [0.5, 0.4, 0.3, 0.2, 0.1], None, 4),
    # check_finite: a NaN or infinite metric stops at once; the best weights are those before it
    "nan": ("min", 3, 0.0, True, [1.0, 0.9, NAN, 0.5, 0.4], 2, 1),
    "inf": ("min", 3, 0.0, True, [1.0, INF, 0.5], 1, 0),
    # without it, NaN is never an improvement: it only grows the count
    "nan-unchecked": ("min", 2, 0.0, False, [1.0, NAN, 0.9, NAN, NAN, 0.1], 4, 2),
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_stops_where_lightnings_early_stopping_does_and_restores_the_best_weights(name):
    mode, patience, min_delta, check_finite, script, stop, best = SEQUENCES[name]
    metric = "val/loss" if mode == "min" else "val/acc"
    args = dict(monitor=metric, mode=mode, patience=patience, min_delta=min_delta, check_finite=check_finite)
    ours, twin = EarlyStopping(**args), LightningEarlyStopping(**args)
    model, trainer = fit(ours, metric, script)
    _, twin_trainer = fit(twin, metric, script)
    assert stopped_epoch(trainer) == stopped_epoch(twin_trainer) == stop
    assert trainer.current_epoch == twin_trainer.current_epoch == (len(script) if stop is None else stop + 1)
    assert ours.stopping_reason == twin.stopping_reason and ours.wait_count == twin.wait_count
    assert torch.equal(ours.best_score, twin.best_score.cpu())
    assert ours.best_epoch == best and model.w.item() == best  # in memory: the best validation's weights


def test_restore_best_weights_false_keeps_the_last_weights():
    callback = EarlyStopping("val/loss", mode="min", patience=2, restore_best_weights=False)
    model, trainer = fit(callback, "val/loss", [1.0, 0.5, 0.6, 0.7, 0.1])
    assert stopped_epoch(trainer) == 3 and callback.best_epoch == 1 and callback.best_weights is None
    assert model.w.item() == 3


def test_state_dict_round_trip_and_the_twins_read_each_others_state():
    callback = EarlyStopping("val/loss", mode="min", patience=3)
    fit(callback, "val/loss", [1.0, 0.5, 0.6, 0.7])
    state = callback.state_dict()
    assert (state["wait_count"], state["best_epoch"], state["best_weights"]["w"].item()) == (2, 1, 1.0)
    copy = EarlyStopping("val/loss", mode="min", patience=3)
    copy.load_state_dict(state)
    assert copy.state_dict().keys() == state.keys()
    for key, value in copy.state_dict().items():
        assert (value == state[key]) if not isinstance(value, dict) else value.keys() == state[key].keys(), key
    twin = LightningEarlyStopping("val/loss", mode="min", patience=3)
    twin.load_state_dict(state)
    assert (twin.wait_count, twin.best_score.item(), twin.patience) == (2, 0.5, 3)
    ours = EarlyStopping("val/loss", mode="min", patience=5)  # the constructor's patience stays
    ours.load_state_dict(twin.state_dict())
    assert (ours.wait_count, ours.best_score.item(), ours.patience, ours.best_weights) == (2, 0.5, 5, None)


def test_a_resumed_run_continues_the_count(tmp_path):
    # improvements at 0 and 1; patience 3 runs out after epoch 4. Interrupted after epoch 2 (count 1), resumed
    # from its checkpoint: the same stop, and the weights of epoch 1, which only the checkpoint still holds
    script, args = [1.0, 0.8, 0.9, 0.95, 0.85, 0.1, 0.1], dict(monitor="val/loss", mode="min", patience=3)
    model, trainer = fit(EarlyStopping(**args), "val/loss", script)
    assert stopped_epoch(trainer) == 4 and model.w.item() == 1
    first = EarlyStopping(**args)
    _, trainer = fit(first, "val/loss", script, max_epochs=3)
    assert (first.wait_count, stopped_epoch(trainer)) == (1, None)
    trainer.save_checkpoint(tmp_path / "mid.ckpt")
    resumed = EarlyStopping(**args)
    model, trainer = fit(resumed, "val/loss", script, ckpt_path=tmp_path / "mid.ckpt")
    assert stopped_epoch(trainer) == 4 and trainer.current_epoch == 5
    assert resumed.best_epoch == 1 and model.w.item() == 1
