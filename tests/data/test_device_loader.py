"""data.on_device=true: the split held on the training device, batches by index, the same batches as the
DataLoader path (so the same training, bit for bit), resumable mid-epoch like it."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from c147.app.build import build
from c147.data import DigitsDataModule
from c147.data.base import DeviceLoader
from tests.twins import DEVICES


def batches(loader, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.sampler.set_epoch(epoch)
    return [(x.cpu(), y.cpu()) for x, y in loader]


def modules(**kwargs) -> tuple[DigitsDataModule, DigitsDataModule]:
    out = []
    for on_device in (False, True):
        dm = DigitsDataModule(batch_size=32, image_size=8, on_device=on_device, **kwargs)
        dm.setup("fit")
        out.append(dm)
    return out[0], out[1]


@pytest.mark.parametrize("bootstrap", [False, True])
def test_the_same_batches_as_the_dataloader_in_every_epoch(bootstrap):
    plain, held = modules(bootstrap=bootstrap, seed=3)
    ours, theirs = held.train_dataloader(), plain.train_dataloader()
    assert isinstance(ours, DeviceLoader) and len(ours) == len(theirs)
    for epoch in (0, 1):
        got, want = batches(ours, epoch), batches(theirs, epoch)
        assert len(got) == len(want) and len(got[-1][0]) < 32  # the short last batch is kept
        for (x, y), (x2, y2) in zip(got, want, strict=True):
            assert torch.equal(x, x2) and torch.equal(y, y2)
    assert batches(ours, 0)[0][1].tolist() != batches(ours, 1)[0][1].tolist()  # reshuffled per epoch
    for split in ("val_dataloader", "test_dataloader"):
        got, want = list(getattr(held, split)()), list(getattr(plain, split)())
        assert all(torch.equal(a, b) for (x, y), (x2, y2) in zip(got, want, strict=True) for a, b in ((x, x2),
                                                                                                 (y, y2)))


def test_resumes_mid_epoch_with_the_next_batch():
    _, held = modules()
    loader = held.train_dataloader()
    loader.sampler.set_epoch(2)
    it = iter(loader)
    seen = [next(it)[1] for _ in range(3)]
    state = loader.state_dict()
    assert state == {"epoch": 2, "batches": 3}
    fresh = held.train_dataloader()
    fresh.load_state_dict(state)
    fresh.sampler.set_epoch(2)
    rest = [y for _, y in fresh]
    whole = batches(held.train_dataloader(), 2)
    assert [y.tolist() for y in seen + rest] == [y.tolist() for _, y in whole]


@pytest.mark.parametrize("device", DEVICES)
def test_held_on_the_trainers_device(device):
    _, held = modules()
    loader = held.train_dataloader()
    loader.device = lambda: torch.device(device)
    x, y = next(iter(loader))
    assert x.device.type == device and y.device.type == device and loader.tensors()[0].shape[0] == len(
        held.train_set)


@pytest.mark.slow
def test_a_lightning_run_trains_the_same_weights(train_config):
    """Two epochs of a few batches through a real Trainer: on_device=true ends with the same weights."""
    weights = []
    for on_device in ("false", "true"):
        cfg = train_config("model=mlp", "data.image_size=8", f"data.on_device={on_device}")
        torch.manual_seed(0)
        datamodule, model = build(cfg)
        trainer = L.Trainer(max_epochs=2, limit_train_batches=4, limit_val_batches=2, accelerator="cpu",
                            logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False)
        trainer.fit(model, datamodule=datamodule)
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_workers_are_refused():
    with pytest.raises(ValueError, match=r"on_device=true .* set num_workers=0 \(got 2\)"):
        DigitsDataModule(on_device=True, num_workers=2)
