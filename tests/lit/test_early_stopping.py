"""Early stopping: stops at the expected epoch on a scripted metric sequence, and c147-train tests the best
checkpoint by the monitored metric; the stop epoch reaches metrics.json."""

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from c147.app.build import check_monitors
from c147.app.train import train
from c147.lit.early_stopping import EarlyStopping, stopped_epoch


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
    assert model.w.item() == (len(script) - 1 if stop is None else stop)  # in memory: the last epoch's weights
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
