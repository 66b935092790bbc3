"""Multitask learning: the weighted sum of the tasks' losses, the two-headed network, the second label."""

import pytest
import torch

from c147.app.train import train
from c147.data import DigitsDataModule
from c147.lit.classifier import multitask_loss
from c147.models import multitask
from tests.lit.test_heads_and_options import fast_dev_run
from tests.twins import TOL


def test_the_weighted_sum_is_the_objective():
    losses = [torch.tensor(2.0, requires_grad=True), torch.tensor(4.0, requires_grad=True)]
    total = multitask_loss(losses, [1.0, 0.5])
    total.backward()
    assert float(total.detach()) == 4.0 and [float(x.grad) for x in losses] == [1.0, 0.5]
    with pytest.raises(ValueError, match="model.loss_weights"):
        multitask_loss(losses, [1.0])


def test_two_heads_share_one_trunk_and_bad_weights_name_the_key():
    net = multitask(backbone="mlp", image_size=8, task_classes=[10, 2])
    main, second = net.forward_tasks(torch.randn(3, 1, 8, 8))
    assert main.shape == (3, 10) and second.shape == (3, 2)
    assert net.heads[1].weight.shape[1] == net.heads[0].weight.shape[1]
    with pytest.raises(ValueError, match="model.loss_weights"):
        multitask(loss_weights=[1.0, 0.5, 0.2], task_classes=[10, 2])
    with pytest.raises(ValueError, match="model.backbone"):
        multitask(backbone="alexnet")


def test_second_labels():
    dm = DigitsDataModule(second_label="parity")
    dm.setup("fit")
    y = dm.train_set.tensors[1]
    assert y.shape[1] == 2 and torch.equal(y[:, 1], y[:, 0] % 2) and dm.task_classes == [10, 2]
    with pytest.raises(ValueError, match="data.second_label"):
        DigitsDataModule(second_label="odd")


MULTITASK = "model=multitask model.backbone=mlp data.second_label=parity"


def test_one_training_step_is_the_same_on_both_impls_in_float64(train_config):
    ours, theirs = (fast_dev_run(train_config, impl, MULTITASK) for impl in ("c147", "torch"))
    assert ours.keys() == theirs.keys() and torch.isfinite(ours["train/loss"])
    assert {"train/loss_parity", "val/acc_parity", "test/acc_parity"} <= ours.keys()
    assert any(k.startswith("grad/net.heads.1") for k in ours)  # the second head took part in the step
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], **TOL[torch.float64], msg=key)


@pytest.mark.slow
def test_both_heads_learn_the_digits(train_config):
    cfg = train_config(*MULTITASK.split(), "data.image_size=16", "trainer.max_epochs=3", "~logger")
    metrics = train(cfg)
    # chance: 0.1 for the digit, 0.5 for the parity; three epochs of the MLP are far above both
    assert metrics["test/acc"] > 0.8, metrics
    assert metrics["test/acc_parity"] > 0.8, metrics


@pytest.mark.slow
def test_multitask_checkpoints_evaluate_ensemble_and_refuse_fine_tuning(train_config, tmp_path, capsys):
    """c147-eval tests every task of a multitask checkpoint; c147-ensemble averages multitask members on every
    task (the main one as usual, the others under tasks.<name>); finetune.from refuses one by name."""
    from c147.app.ensemble import ensemble
    from c147.app.eval import evaluate
    from tests.conftest import compose_config

    small = [*MULTITASK.split(), "model.backbone=mlp", "data.image_size=8", "trainer.max_epochs=1", "~logger"]
    runs = [train(train_config(*small, f"seed={seed}")) for seed in range(3)]
    evaluated = evaluate(compose_config("eval", [f"ckpt_path={runs[0]['last_checkpoint']}",
                                                 f"paths.output_dir={tmp_path / 'eval'}"]))
    # one epoch: the best checkpoint is the last one, the one the run itself tested
    for key in ("test/acc", "test/acc_parity", "test/loss_parity"):
        assert evaluated[key] == pytest.approx(runs[0][key], abs=1e-6), key
    result = ensemble(compose_config("ensemble", [f"paths.output_dir={tmp_path / 'ensemble'}",
                                                  "runs=[" + ",".join(r["run_dir"] for r in runs) + "]"]))
    assert result["member_errors"] == pytest.approx([1 - r["test/acc"] for r in runs], abs=1e-6)
    parity = result["tasks"]["parity"]
    assert parity["member_errors"] == pytest.approx([1 - r["test/acc_parity"] for r in runs], abs=1e-6)
    assert parity["formula"] == pytest.approx(parity["measured"], rel=1e-9)
    assert parity["member_errors"] != result["member_errors"]
    with pytest.raises(SystemExit) as exit_info:
        train(train_config(*small, f"finetune.from='{runs[0]['last_checkpoint']}'"))
    assert exit_info.value.code == 2
    assert "c147-train: error: finetune: the head of MultitaskNet is not known" in capsys.readouterr().err
