"""The model and loss options of a run (activation, init, noise, loss, class weights): each one trains LeNet-5
through the real config and Lightning's fast_dev_run, with the same result for impl=c147 and impl=torch in
float64."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

import c147.functional as F
import c147.nn.reference
from c147.app.build import build
from c147.lit import ClassificationLoss
from c147.models import lenet5, mlp
from c147.models.options import ACTIVATIONS, INITS, FeatureMaxout
from c147.nn.init import calculate_gain
from tests.conftest import compose_config
from tests.twins import TOL

DEFAULTS = ("model.activation=relu", "model.init=torch_default", "loss=cross_entropy")  # the plain run: tested once
OPTIONS = (
    [f"model.activation={a}" for a in ACTIVATIONS if a != "relu"]
    + [f"model.init={i}" for i in INITS if i != "torch_default"]
    + ["loss=cross_entropy", "loss=mse", "loss=bce", "loss=multi_margin",
       "loss.class_weights=balanced", "loss=multi_margin loss.class_weights=[1,2,1,1,1,1,1,1,1,3]",
       "model.noise.input=0.1 model.noise.hidden=0.1 model.noise.weight=0.01",
       # SGD, not Adam: batch norm makes the preceding bias's gradient zero in exact arithmetic, and Adam's first
       # step turns the two impls' roundoff there (~1e-16, either sign) into lr * g / eps (~2e-11): not a mismatch
       "model=mlp model.batch_norm=true data.image_size=8 optim=sgd"]
)


def fast_dev_run(train_config, impl: str, option: str) -> dict[str, torch.Tensor]:
    """Build the run for ``impl`` with ``option`` and give it to Lightning's ``fast_dev_run`` in float64 (one
    training step on the first batch, one validation batch, then one test batch): the logged losses and
    accuracies, every gradient of the step and every parameter after the optimizer's step."""
    import lightning as L

    cfg = train_config(f"impl={impl}", "data.batch_size=4", *option.split())
    torch.manual_seed(0)
    datamodule, model = build(cfg)
    out: dict[str, torch.Tensor] = {}

    class Gradients(L.Callback):
        def on_before_optimizer_step(self, trainer, module, optimizer):
            out.update({f"grad/{n}": p.grad.clone() for n, p in module.named_parameters()})

    trainer = L.Trainer(fast_dev_run=True, precision="64-true", accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[Gradients()])
    torch.manual_seed(1)  # the noise's draws
    trainer.fit(model, datamodule=datamodule)
    assert trainer.global_step == 1 and next(model.parameters()).dtype == torch.float64
    out.update({n: p.detach().clone() for n, p in model.named_parameters()})
    out.update(trainer.callback_metrics)  # train/ and val/ losses and accuracies
    trainer.test(model, datamodule=datamodule, verbose=False)
    out.update(trainer.callback_metrics)  # test/
    return out


_default: dict[str, dict[str, torch.Tensor]] = {}


@pytest.mark.parametrize("option", OPTIONS)
def test_every_option_trains_lenet5_the_same_on_both_impls(train_config, option):
    ours, theirs = (fast_dev_run(train_config, impl, option) for impl in ("c147", "torch"))
    assert ours.keys() == theirs.keys() and torch.isfinite(ours["train/loss"])
    assert {"train/loss", "val/loss", "test/loss", "test/acc"} <= ours.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], **TOL[torch.float64], msg=f"{option}: {key}")
    assert any(v.abs().sum() > 0 for k, v in ours.items() if k.startswith("grad/")), "no gradient reached the weights"
    # the option reaches the run: the default's values are the plain run's, every other option's are not
    if not _default:
        _default.update(fast_dev_run(train_config, "c147", ""))
    assert torch.equal(ours["train/loss"], _default["train/loss"]) == (option in DEFAULTS), option


def test_the_default_options_are_the_plain_run(train_config):
    plain = train_config()
    for option in DEFAULTS:
        assert train_config(option).model == plain.model and train_config(option).loss == plain.loss, option


# ---- activations and initialisation --------------------------------------------------------------------------


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activation_layers_are_ours_and_maxout_halves_the_width(activation):
    for model in (lenet5(activation=activation), mlp(activation=activation, hidden=(8, 4))):
        acts = [m for m in model.modules() if type(m).__name__ == ACTIVATIONS[activation]
                or isinstance(m, FeatureMaxout)]
        assert acts and all(type(m).__module__.startswith("c147.") for m in acts), activation
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    maxout = lenet5(activation="maxout")
    assert maxout.features[0].out_channels == 12 and maxout.features[3].in_channels == 6
    assert maxout.features[1]._maxout is F.maxout and FeatureMaxout(impl="torch")._maxout is c147.nn.reference.maxout


@pytest.mark.parametrize("scheme, std", [
    ("normal_0.01", lambda fi, fo: 0.01), ("normal_1", lambda fi, fo: 1.0),
    ("xavier_normal", lambda fi, fo: (2 / (fi + fo)) ** 0.5), ("xavier_uniform", lambda fi, fo: (2 / (fi + fo)) ** 0.5),
    ("kaiming_normal", lambda fi, fo: calculate_gain("relu") / fi ** 0.5),
    ("kaiming_uniform", lambda fi, fo: calculate_gain("relu") / fi ** 0.5),
])
def test_init_schemes_draw_the_sheets_scales_and_zero_the_biases(scheme, std):
    torch.manual_seed(0)
    fc = mlp(init=scheme, hidden=(512,), in_channels=1, image_size=32).net[1]  # Linear(1024, 512)
    assert fc.weight.std().item() == pytest.approx(std(1024, 512), rel=0.02) and not fc.bias.any()
    torch.manual_seed(0)
    theirs = mlp(init=scheme, hidden=(512,), impl="torch").net[1]
    assert torch.equal(fc.weight, theirs.weight)  # c147.nn.init draws what torch.nn.init draws


def test_torch_default_init_keeps_the_layers_own_draws():
    torch.manual_seed(0)
    a = lenet5(init="torch_default")
    torch.manual_seed(0)
    b = lenet5()
    torch.manual_seed(0)
    c = lenet5(init="xavier_uniform")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.features[0].weight, c.features[0].weight)


# ---- losses ---------------------------------------------------------------------------------------------------


def test_losses_get_the_targets_they_need():
    torch.manual_seed(0)
    scores, y = torch.randn(6, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 3, 3])
    one_hot = torch.nn.functional.one_hot(y, 4).double()
    nnf = torch.nn.functional
    expected = {"cross_entropy": nnf.cross_entropy(scores, y), "multi_margin": nnf.multi_margin_loss(scores, y),
                "mse": nnf.mse_loss(scores, one_hot), "bce": nnf.binary_cross_entropy(scores.sigmoid(), one_hot)}
    for name, value in expected.items():
        for impl in ("c147", "torch"):
            torch.testing.assert_close(ClassificationLoss(name, impl, num_classes=4)(scores, y), value,
                                       **TOL[torch.float64], msg=name)
    # the sheet's 1/2 sum form is the mean times N C / 2
    half_sum = 0.5 * ((scores - one_hot) ** 2).sum()
    torch.testing.assert_close(ClassificationLoss("mse", reduction="sum")(scores, y) / 2, half_sum)


def test_balanced_class_weights_come_from_the_training_split(train_config):
    datamodule, model = build(train_config("loss.class_weights=balanced"))
    counts = torch.bincount(datamodule.train_set.tensors[1], minlength=10).double()
    weight = model.loss.criterion.weight
    assert type(model.loss.criterion).__module__ == "c147.nn.loss"
    torch.testing.assert_close(weight.double(), counts.sum() / (10 * counts), **TOL[torch.float32])  # float32 buffer
    assert not torch.allclose(weight, torch.ones(10))  # the digits split is not exactly balanced


@pytest.mark.parametrize("overrides, message", [
    (["loss=mse", "+loss.class_weights=balanced"], "loss.class_weights: loss 'mse' takes none"),
    (["loss=bce", "+loss.class_weights=[1,2]"], "loss.class_weights: loss 'bce' takes none"),
    (["loss.class_weights=[1,2]"], "loss.class_weights: expected 10 weights (one per class), got 2"),
    (["loss.class_weights=[1,2,3,4,5,6,7,8,9,-1]"], "loss.class_weights: expected 'balanced' or a list of positive"),
    (["loss.class_weights=even"], "loss.class_weights: expected 'balanced' or a list of positive numbers, got 'even'"),
    (["loss.name=hinge"], "loss.name: expected one of cross_entropy, multi_margin, mse, bce, got 'hinge'"),
    (["model.init=he"], "init: expected one of normal_0.01"),
    (["model.noise.hidden=-0.1"], "noise.hidden: expected a standard deviation >= 0, got -0.1"),
])
def test_bad_options_are_one_line_errors_naming_the_key(train_config, overrides, message, capsys):
    from c147.app.train import train

    with pytest.raises(SystemExit) as exit_info:
        train(train_config(*overrides))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("c147-train: error: ") and message in err and "\n" not in err, err


def test_loss_configs_build_hand_written_criteria_with_impl_c147():
    for name in ("cross_entropy", "mse", "bce", "multi_margin"):
        for impl, module in (("c147", "c147.nn.loss"), ("torch", "torch.nn.modules.loss")):
            loss = instantiate(compose_config("train", [f"loss={name}", f"impl={impl}"]).loss, num_classes=10)
            assert type(loss.criterion).__module__ == module, (name, impl)
