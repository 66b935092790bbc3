"""What a user types and reads in the first minutes: tables print values as written (rich reads ``[...]`` as
markup), and the options the docs show compose without Hydra's ``+``."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from c147.app.runs import cell, print_summary
from tests.conftest import compose_config

AS_WRITTEN = ["data.augment=[flip,crop]", "[bold]not bold[/bold]", "a [red] b"]


@pytest.mark.parametrize("value", AS_WRITTEN)
def test_the_summary_table_prints_values_and_keys_as_written(capsys, value):
    print_summary(f"title {value}", {"run name": f"lenet5,{value},loss=mse", f"key {value}": 0.5})
    out = capsys.readouterr().out
    assert f"title {value}" in out and f"lenet5,{value},loss=mse" in out and f"key {value}" in out
    assert "0.5000" in out


def test_the_summary_shows_a_tiny_metric_with_its_digits_not_as_zero(capsys):
    # the depth study's plain network: a first-layer gradient norm of 1e-17 is the finding, not 0.0000
    print_summary("depth", {"plain_grad_norm": 1.1e-17, "residual_grad_norm": 0.28, "loss": 0.0})
    out = capsys.readouterr().out
    assert "1.1e-17" in out and "0.2800" in out and "0.0000" in out


def test_a_cell_is_text_as_written_with_its_style():
    text = cell("[flip,crop]", style="red")
    assert text.plain == "[flip,crop]" and str(text.style) == "red"
    assert cell(text) is text and cell(0.5).plain == "0.5"


@pytest.mark.parametrize("overrides, key, value", [
    (["loss.label_smoothing=0.1"], "loss.label_smoothing", 0.1),
    (["loss.class_weights=balanced"], "loss.class_weights", "balanced"),
    (["loss=multi_margin", "loss.class_weights=balanced"], "loss.class_weights", "balanced"),
    (["model=zfnet", "model.variant=large"], "model.variant", "large"),
    (["model=alexnet", "model.stem=small"], "model.stem", "small"),
    (["model=googlenet", "model.five_by_five=true"], "model.five_by_five", True),
])
def test_the_documented_options_compose_without_a_plus(overrides, key, value):
    cfg = compose_config("train", ["paths.output_dir=unused", *overrides])
    section, name = key.split(".")
    assert cfg[section][name] == value


def test_label_smoothing_reaches_the_criterion():
    for smoothing in (0.0, 0.1):
        loss = instantiate(compose_config("train", [f"loss.label_smoothing={smoothing}"]).loss, num_classes=10)
        assert loss.criterion.label_smoothing == smoothing


@pytest.mark.parametrize("variant, params", [("paper", 62_357_608), ("large", 107_627_624)])
def test_zfnet_variant_from_the_config(variant, params):
    cfg = compose_config("summary", ["model=zfnet", f"model.variant={variant}", "paths.output_dir=unused"])
    assert compose_config("summary", ["model=zfnet", "paths.output_dir=unused"]).model.variant == "paper"
    with torch.device("meta"):  # the parameter count without the memory
        net = instantiate(cfg.model, num_classes=1000, in_channels=3, image_size=224)
    assert sum(p.numel() for p in net.parameters()) == params
