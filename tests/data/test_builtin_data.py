"""The two data modules that need no files: the bundled digits and the synthetic problems."""

import pytest
import torch

from c147.data import DigitsDataModule, SyntheticDataModule


def all_targets(dataset) -> torch.Tensor:
    return dataset.tensors[1]


def test_digits_splits_shapes_and_normalization():
    dm = DigitsDataModule(seed=0)
    dm.setup("fit")
    sizes = [len(dm.train_set), len(dm.val_set), len(dm.test_set)]
    assert sum(sizes) == 1797 and sizes[1] == round(0.15 * 1797) and sizes[2] == round(0.2 * 1797)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (32, 1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    train_x = dm.train_set.tensors[0]
    torch.testing.assert_close(train_x.mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(train_x.std(), torch.tensor(1.0), atol=1e-5, rtol=0)
    assert set(all_targets(dm.test_set).tolist()) == set(range(10))


def test_digits_native_size_keeps_the_sklearn_pixels():
    from sklearn.datasets import load_digits

    dm = DigitsDataModule(image_size=8, val_fraction=0.0, test_fraction=0.0, seed=3)
    dm.setup()
    x = dm.train_set.tensors[0]
    raw = torch.tensor(load_digits().images, dtype=torch.float32) / 16
    mean, std = raw.mean(), raw.std()
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(x[:, 0] * std + mean, raw[perm], atol=1e-5, rtol=0)


@pytest.mark.parametrize("module", [DigitsDataModule, SyntheticDataModule])
def test_splits_depend_on_the_seed_only(module):
    a, b, c = module(seed=1), module(seed=1), module(seed=2)
    for dm in (a, b, c):
        dm.setup()
    assert torch.equal(a.train_set.tensors[0], b.train_set.tensors[0])
    assert not torch.equal(a.train_set.tensors[0], c.train_set.tensors[0])
    first = [next(iter(a.train_dataloader()))[1] for _ in range(2)]
    assert torch.equal(first[0], first[1]), "the shuffled order must be the same every epoch start"


@pytest.mark.parametrize("kind", ["blobs", "spirals"])
def test_synthetic_shapes_and_balance(kind):
    dm = SyntheticDataModule(kind=kind, num_samples=300, num_classes=3, seed=0)
    dm.setup()
    x, y = dm.train_set.tensors
    assert x.shape == (len(y), 2, 1, 1) and dm.in_features == 2
    counts = torch.bincount(torch.cat([all_targets(s) for s in (dm.train_set, dm.val_set, dm.test_set)]))
    assert counts.tolist() == [100, 100, 100]


@pytest.mark.parametrize(
    "module, kwargs, message",
    [
        (DigitsDataModule, dict(image_size=0), "image_size must be a positive integer, got 0"),
        (DigitsDataModule, dict(val_fraction=1.5), r"val_fraction must be in \[0, 1\), got 1.5"),
        (DigitsDataModule, dict(val_fraction=0.6, test_fraction=0.5), "must leave training data"),
        (SyntheticDataModule, dict(val_fraction=0.5, test_fraction=0.6), "must leave training data"),
        (DigitsDataModule, dict(batch_size=0), "batch_size must be a positive integer, got 0"),
        (SyntheticDataModule, dict(kind="moons"), "kind must be one of"),
        (SyntheticDataModule, dict(num_classes=1), "num_classes must be an integer >= 2, got 1"),
        (SyntheticDataModule, dict(noise=-1.0), "noise must be >= 0, got -1.0"),
        (SyntheticDataModule, dict(num_samples=5), "num_samples must be an integer >= 30, got 5"),
    ],
)
def test_bad_arguments(module, kwargs, message):
    with pytest.raises(ValueError, match=message):
        module(**kwargs)


def test_loaders_before_setup_is_an_error():
    with pytest.raises(RuntimeError, match=r"setup\(\) must run before"):
        DigitsDataModule().train_dataloader()
