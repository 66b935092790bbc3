"""The loader arguments (batch_size, num_workers, seed, augment, bootstrap, split_seed, on_device), declared once on
ClassificationDataModule and passed through by every data module: the configs' flat keys (``data.batch_size=16``)
reach them, and each module's signature shows them, as the config checks read it."""

import inspect
import typing
from pathlib import Path

import pytest
from hydra.utils import instantiate

from c147.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    SyntheticDataModule,
)
from c147.data.base import ClassificationDataModule, loader_arguments
from tests.conftest import CONFIG_DIR, compose_config

MODULES = [DigitsDataModule, SyntheticDataModule, MNISTDataModule, FashionMNISTDataModule, CIFAR10DataModule]
BASE = inspect.signature(ClassificationDataModule.__init__)
LOADER = [name for name in BASE.parameters if name != "self"]


def test_the_loader_arguments_are_the_seven():
    assert LOADER == ["batch_size", "num_workers", "seed", "augment", "bootstrap", "split_seed", "on_device"]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_each_signature_shows_the_loader_arguments(module):
    """Keyword-only, after the module's own arguments, with the base class's type hints and defaults (the digits'
    batch of 32 excepted): what the config checks read to name a bad value's key."""
    params = inspect.signature(module.__init__).parameters
    assert list(params)[-len(LOADER):] == LOADER
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY for name in LOADER)
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    hints, base_hints = typing.get_type_hints(module.__init__), typing.get_type_hints(ClassificationDataModule.__init__)
    assert {name: hints[name] for name in LOADER} == {name: base_hints[name] for name in LOADER}
    defaults = {name: params[name].default for name in LOADER}
    expected = {name: BASE.parameters[name].default for name in LOADER} | (
        {"batch_size": 32} if module is DigitsDataModule else {})
    assert defaults == expected
    dm = module()
    assert {name: getattr(dm, name) for name in ("batch_size", "num_workers", "seed", "augment", "bootstrap",
                                                 "split_seed", "on_device")} == expected | {"split_seed": 0}


CONFIGS = sorted(p.stem for p in (Path(CONFIG_DIR) / "data").glob("*.yaml"))


@pytest.mark.parametrize("name", CONFIGS)
def test_the_configs_flat_keys_reach_the_loader(name, tmp_path):
    """``data.batch_size=16`` and its siblings, as users override them, set the module's loader."""
    overrides = ["data.batch_size=16", "data.num_workers=0", "data.seed=5", "data.bootstrap=true", "data.split_seed=3",
                 "data.on_device=true"] + ([] if name == "synthetic" else ["data.augment=[flip]"])
    dm = instantiate(compose_config("train", [f"data={name}", f"paths.data_dir={tmp_path}", *overrides]).data)
    assert (dm.batch_size, dm.num_workers, dm.seed, dm.bootstrap, dm.split_seed, dm.on_device) == (16, 0, 5, True, 3,
                                                                                                   True)
    assert (dm.augment is None) == (name == "synthetic")


@pytest.mark.parametrize("module", [DigitsDataModule, SyntheticDataModule, MNISTDataModule], ids=lambda m: m.__name__)
def test_loader_argument_checks_and_unknown_keywords(module):
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        module(batch_size=0)
    with pytest.raises(ValueError, match="on_device=true takes batches by index on the device"):
        module(on_device=True, num_workers=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'batch'"):
        module(batch=16)


def test_loader_arguments_refuses_what_it_cannot_declare():
    with pytest.raises(TypeError, match="'batch' is not a loader argument"):
        loader_arguments(batch=32)
    with pytest.raises(TypeError, match="must end with \\*\\*loader"):
        loader_arguments()(lambda self, size=1: None)
