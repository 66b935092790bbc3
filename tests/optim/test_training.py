"""Every hand-written optimizer trains LeNet-5 on the digits with its config's defaults."""

from pathlib import Path

import pytest

from c147.app.train import train
from tests.conftest import CONFIG_GROUPS


@pytest.mark.slow
@pytest.mark.parametrize("optim", sorted(p.stem for p in (CONFIG_GROUPS / "optim").glob("*.yaml")))
def test_each_optimizer_trains_lenet5_on_the_digits(train_config, optim):
    # 5 of the default 15 epochs: every optimizer's defaults reach 0.966-0.983 there (the full run ~0.98)
    metrics = train(train_config("impl=c147", f"optim={optim}", "callbacks.model_checkpoint=null", "~logger",
                                 "trainer.max_epochs=5"))
    assert metrics["test/acc"] >= 0.95, (optim, metrics["test/acc"])


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", sorted(p.stem for p in (CONFIG_GROUPS / "scheduler").glob("*.yaml")))
def test_each_scheduler_runs_through_training(train_config, scheduler):
    metrics = train(train_config("impl=c147", f"scheduler={scheduler}", "data=synthetic", "model=mlp",
                                 "trainer.max_epochs=3", "callbacks.model_checkpoint=null"))
    assert metrics["val/acc"] > 0.4
    assert Path(metrics["run_dir"], "metrics.json").is_file()


@pytest.mark.parametrize("clip, logs_norm", [("norm", True), ("value", False)])
def test_training_with_gradient_clipping(train_config, clip, logs_norm):
    metrics = train(train_config("data=synthetic", "model=mlp", "trainer.max_epochs=1", f"clip={clip}",
                                 "callbacks.model_checkpoint=null", "~logger"))
    assert ("train/grad_norm" in metrics) == logs_norm
    if logs_norm:
        assert metrics["train/grad_norm"] > 0
