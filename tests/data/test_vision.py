"""MNIST / Fashion-MNIST / CIFAR-10 modules on tiny files in the real on-disk formats.

Nothing is mocked: the files are real IDX files and real CIFAR pickles, read by torchvision's
own ``MNIST`` / ``FashionMNIST`` / ``CIFAR10`` classes.
"""

from __future__ import annotations

import hashlib
import pickle
import socket
import struct
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets

from c147.data import (
    CIFAR10DataModule,
    DatasetNotFoundError,
    FashionMNISTDataModule,
    MNISTDataModule,
)

N_TRAIN = 20  # official "train" split of the tiny datasets; images 0..19
N_TEST = 10  # official "test" split; images 100..109 (value offset tells them apart)
TEST_OFFSET = 100
CIFAR_CHANNEL_STEP = 50  # channel c of CIFAR image k holds k + 50 * c: catches mixed-up channels


def _pixels(k: int, channels: int) -> np.ndarray:
    """Byte value of each channel of image ``k`` (constant over the image): ``k + 50 * c``."""
    return np.array([k + CIFAR_CHANNEL_STEP * c for c in range(channels)], dtype=np.uint8)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX file: big-endian magic 0x0000080<ndim> (type 0x08 = uint8), then big-endian dims."""
    assert array.dtype == np.uint8
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())


def write_idx_dataset(root: Path, folder: str) -> None:
    """Tiny MNIST-format set in ``root/<folder>/raw``, uncompressed, named as torchvision wants.

    torchvision's ``MNIST._check_exists`` looks for the ``resources`` names without ``.gz`` and
    checks no md5 for them (``check_integrity(path)`` with ``md5=None`` only tests the file is
    there), so tiny files are accepted as they are.
    """
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for prefix, ks in (
        ("train", range(N_TRAIN)),
        ("t10k", range(TEST_OFFSET, TEST_OFFSET + N_TEST)),
    ):
        images = np.stack([np.full((28, 28), k, dtype=np.uint8) for k in ks])
        labels = np.array([k % 10 for k in ks], dtype=np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)


def write_cifar10(root: Path) -> dict[str, str]:
    """Tiny CIFAR-10 python set in ``root/cifar-10-batches-py``; returns ``{file name: md5}``.

    Each batch is a pickled dict with ``"data"`` (n, 3072) uint8, rows laid out as 1024 red,
    1024 green, 1024 blue bytes, and ``"labels"`` a list of ints; ``batches.meta`` holds
    ``"label_names"``. The 20 train images are spread over ``data_batch_1..5`` (4 each).

    The keys are ``str``: the real files are Python 2 pickles whose ``str`` keys torchvision
    reads back as ``str`` (``pickle.load(f, encoding="latin1")``, then ``entry["data"]``). The
    ``b"data"`` spelling of the CIFAR page is what ``encoding="bytes"`` gives; a Python 3 file
    with ``bytes`` keys would fail in torchvision with ``KeyError: 'data'``.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(ks: range) -> dict[bytes, object]:
        data = np.stack([np.repeat(_pixels(k, 3), 32 * 32) for k in ks])
        return {"batch_label": "tiny", "data": data, "labels": [k % 10 for k in ks]}

    per_batch = N_TRAIN // 5
    contents: dict[str, object] = {
        f"data_batch_{i + 1}": batch(range(i * per_batch, (i + 1) * per_batch)) for i in range(5)
    }
    contents["test_batch"] = batch(range(TEST_OFFSET, TEST_OFFSET + N_TEST))
    contents["batches.meta"] = {"label_names": [f"class{i}" for i in range(10)]}
    md5 = {}
    for name, obj in contents.items():
        blob = pickle.dumps(obj, protocol=2)
        (folder / name).write_bytes(blob)
        md5[name] = hashlib.md5(blob).hexdigest()
    return md5


def use_checksums(monkeypatch: pytest.MonkeyPatch, md5: dict[str, str]) -> None:
    """Point torchvision's CIFAR-10 checksum table at the tiny files.

    ``CIFAR10._check_integrity`` / ``_load_meta`` compare every file's md5 with the class
    attributes ``train_list``, ``test_list`` and ``meta``, so tiny files are rejected as
    "corrupted". The md5 check is worth keeping for real data (the module does not switch it
    off, see ``test_cifar10_checksum_is_still_enforced``); instead the test swaps only that
    table (restored by ``monkeypatch`` afterwards) for the md5 of the files it wrote. The
    integrity check itself, the pickle parsing and the HWC reshaping all run unchanged.
    """
    cls = datasets.CIFAR10
    monkeypatch.setattr(
        cls, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]] for i in range(1, 6)]
    )
    monkeypatch.setattr(cls, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5["batches.meta"]})


# name: (module class, writer of its tiny files into (root, monkeypatch), channels)
CASES = {
    "mnist": (MNISTDataModule, lambda root, mp: write_idx_dataset(root, "MNIST"), 1),
    "fashion_mnist": (
        FashionMNISTDataModule,
        lambda root, mp: write_idx_dataset(root, "FashionMNIST"),
        1,
    ),
    "cifar10": (CIFAR10DataModule, lambda root, mp: use_checksums(mp, write_cifar10(root)), 3),
}
NAMES = list(CASES)


def make(name: str, root: Path, monkeypatch: pytest.MonkeyPatch, **kwargs):
    module_cls, writer, _ = CASES[name]
    writer(root, monkeypatch)
    return module_cls(data_dir=str(root), **kwargs)


def decode(x: torch.Tensor, module) -> list[int]:
    """Undo Normalize / ToTensor on a constant image: per-channel byte values."""
    mean = torch.tensor(module.mean).view(-1, 1, 1)
    std = torch.tensor(module.std).view(-1, 1, 1)
    raw = (x * std + mean) * 255
    values = raw.flatten(1).mean(1).round().to(torch.int64)
    # the image was constant per channel, and stays so through resizing
    assert torch.allclose(raw, values.view(-1, 1, 1).to(raw.dtype), atol=1e-3)
    return values.tolist()


def collect(loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size_kind", ["default", "native", "other"])
def test_loads_real_files_and_round_trips_pixels_and_labels(
    name: str, size_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module_cls, _, channels = CASES[name]
    image_size = {"default": 32, "native": module_cls.native_size, "other": 20}[size_kind]
    dm = make(name, tmp_path, monkeypatch, val_fraction=0.25, image_size=image_size, batch_size=4)
    assert (dm.num_classes, dm.in_channels, dm.image_size) == (10, channels, image_size)
    assert dm.in_features == channels * image_size * image_size
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert isinstance(dm.train_set.dataset, module_cls.dataset_cls)
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (15, 5, N_TEST)

    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, channels, image_size, image_size)
    assert x.dtype == torch.float32 and y.dtype == torch.int64

    splits = {
        "train": (dm.train_dataloader(), sorted(dm.train_set.indices)),
        "val": (dm.val_dataloader(), list(dm.val_set.indices)),
        "test": (dm.test_dataloader(), list(range(TEST_OFFSET, TEST_OFFSET + N_TEST))),
    }
    for split, (loader, expected_ks) in splits.items():
        xs, ys = collect(loader)
        assert xs.shape == (len(expected_ks), channels, image_size, image_size), split
        decoded = [decode(img, dm) for img in xs]
        ks = [values[0] for values in decoded]
        assert all(values == _pixels(k, channels).tolist() for k, values in zip(ks, decoded, strict=True)), split
        assert ys.tolist() == [k % 10 for k in ks], split
        if split == "train":  # shuffled: same images, any order
            ks = sorted(ks)
        assert ks == expected_ks, split


@pytest.mark.parametrize("name", NAMES)
def test_split_is_seeded(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def split(seed: int, val_fraction: float = 0.3) -> tuple[list[int], list[int]]:
        dm = CASES[name][0](data_dir=str(tmp_path), val_fraction=val_fraction, seed=seed)
        dm.setup("fit")
        return list(dm.train_set.indices), list(dm.val_set.indices)

    CASES[name][1](tmp_path, monkeypatch)
    train, val = split(seed=0)
    assert (len(train), len(val)) == (14, 6)
    assert sorted(train + val) == list(range(N_TRAIN))
    assert split(seed=0) == (train, val)
    assert set(split(seed=1)[1]) != set(val)
    all_train, no_val = split(seed=0, val_fraction=0.0)
    assert (sorted(all_train), no_val) == (list(range(N_TRAIN)), [])


def assert_one_line_about(err: DatasetNotFoundError, folder: Path, expected_file: str) -> str:
    message = str(err)
    assert "\n" not in message
    assert str(folder) in message
    assert expected_file in message
    return message


EXPECTED = {
    "mnist": ("MNIST/raw", "train-images-idx3-ubyte"),
    "fashion_mnist": ("FashionMNIST/raw", "t10k-labels-idx1-ubyte"),
    "cifar10": ("cifar-10-batches-py", "data_batch_1"),
}


@pytest.mark.parametrize("name", NAMES)
def test_missing_files_raise_dataset_not_found(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative data_dir must be reported as an absolute folder
    dm = CASES[name][0](data_dir="data", download=False)
    dm.prepare_data()  # download=False: nothing to do, no error yet
    with pytest.raises(DatasetNotFoundError) as info:
        dm.setup("fit")
    subdir, expected_file = EXPECTED[name]
    message = assert_one_line_about(info.value, tmp_path / "data" / subdir, expected_file)
    assert "data.download=true" in message
    assert " not found: " in message
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert dm.train_set is None


@pytest.mark.parametrize("name", NAMES)
def test_one_missing_file_is_named(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subdir, expected_file = EXPECTED[name]
    dm = make(name, tmp_path, monkeypatch)
    (tmp_path / subdir / expected_file).unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        dm.setup("test")
    message = assert_one_line_about(info.value, tmp_path / subdir, expected_file)
    assert f"incomplete (missing {expected_file})" in message


@pytest.mark.parametrize(
    ("module_cls", "mean", "std"),
    [
        (MNISTDataModule, (0.1307,), (0.3081,)),
        (FashionMNISTDataModule, (0.2860,), (0.3530,)),
        (CIFAR10DataModule, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    ],
)
def test_standard_normalization_constants(module_cls, mean: tuple, std: tuple) -> None:
    # the round-trip test decodes with the module's own constants; these pin their values
    assert (module_cls.mean, module_cls.std) == (mean, std)
    assert len(mean) == module_cls.in_channels


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``urllib`` request fail at once, with or without a real network.

    torchvision downloads with ``urllib.request.urlopen`` (through the installed default
    opener). Installing an opener whose proxy is a closed local port turns each request into
    an immediate "connection refused" instead of a DNS wait or, on a networked machine, a real
    download. ``monkeypatch`` restores the previous opener afterwards.
    """
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": dead, "https": dead}))
    monkeypatch.setattr(urllib.request, "_opener", opener)


@pytest.mark.parametrize("name", NAMES)
def test_download_without_network_raises_dataset_not_found(
    name: str, tmp_path: Path, offline: None
) -> None:
    dm = CASES[name][0](data_dir=str(tmp_path), download=True)
    start = time.monotonic()
    with pytest.raises(DatasetNotFoundError) as info:
        dm.prepare_data()
    assert time.monotonic() - start < 10
    subdir, expected_file = EXPECTED[name]
    message = assert_one_line_about(info.value, tmp_path / subdir, expected_file)
    assert "download failed" in message
    assert "refused" in message.lower()  # the cause is kept, on the same line
    # no torchvision traceback chained to it (its text is in the message already)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_cifar10_checksum_is_still_enforced(tmp_path: Path) -> None:
    write_cifar10(tmp_path)  # real format, but not the real files: md5 differs
    dm = CIFAR10DataModule(data_dir=str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as info:
        dm.setup("fit")
    message = assert_one_line_about(info.value, tmp_path / "cifar-10-batches-py", "test_batch")
    assert "corrupted" in message


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"image_size": 0}, "image_size must be a positive integer, got 0"),
        ({"image_size": 2.5}, "image_size must be a positive integer, got 2.5"),
        ({"image_size": True}, "image_size must be a positive integer, got True"),
        ({"val_fraction": 1.0}, "val_fraction must be a number in [0, 1), got 1.0"),
        ({"val_fraction": -0.1}, "val_fraction must be a number in [0, 1), got -0.1"),
        ({"val_fraction": "0.1"}, "val_fraction must be a number in [0, 1), got '0.1'"),
        ({"download": "yes"}, "download must be a bool, got 'yes'"),
        ({"data_dir": ""}, "data_dir must be a non-empty path, got ''"),
        ({"data_dir": None}, "data_dir must be a non-empty path, got None"),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"num_workers": -1}, "num_workers must be a non-negative integer, got -1"),
    ],
)
def test_bad_arguments_raise_value_error(name: str, kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        CASES[name][0](**kwargs)
    assert fragment in str(info.value)
