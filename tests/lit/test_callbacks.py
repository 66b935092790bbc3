"""The pieces of exact resume on their own: the sampler, the loader's state, RNG states, signals."""

from __future__ import annotations

import io
import random
import signal
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import TensorDataset

from c147.app.build import build
from c147.data.base import ResumableDataLoader, ResumableRandomSampler
from c147.lit.callbacks import LastCheckpoint, RunGuard, TrainingInterrupted, rng_states, set_rng_states


def test_the_order_is_a_function_of_seed_and_epoch():
    a, b = ResumableRandomSampler(50, seed=3), ResumableRandomSampler(50, seed=3)
    orders = []
    for epoch in range(3):
        a.set_epoch(epoch)
        orders.append(list(a))
    b.set_epoch(2)  # a fresh sampler (a resumed run) at epoch 2: epoch 2's order, not epoch 0's
    assert list(b) == orders[2]
    assert orders[0] != orders[1] != orders[2] and sorted(orders[0]) == list(range(50))
    assert list(ResumableRandomSampler(50, seed=4)) != orders[0]


def test_a_loader_resumed_mid_epoch_continues_with_the_next_batch():
    data = TensorDataset(torch.arange(23))
    full = ResumableDataLoader(data, batch_size=4, sampler=ResumableRandomSampler(23, seed=0))
    full.sampler.set_epoch(1)
    batches = [b[0].tolist() for b in full]
    it = iter(full)
    for _ in range(3):
        next(it)
    state = full.state_dict()
    assert state == {"epoch": 1, "batches": 3}

    resumed = ResumableDataLoader(data, batch_size=4, sampler=ResumableRandomSampler(23, seed=0))
    resumed.load_state_dict(state)  # Lightning: before the epoch's iterator starts ...
    resumed.sampler.set_epoch(1)  # ... then the epoch
    rest = [b[0].tolist() for b in resumed]
    assert rest == batches[3:]
    assert resumed.state_dict() == {"epoch": 1, "batches": len(batches)}
    assert len(resumed) == len(batches)  # Lightning counts the epoch's batches from len()
    resumed.sampler.set_epoch(2)  # the skip applies to the resumed epoch only
    assert len(list(resumed)) == len(batches)


def test_rng_states_round_trip_through_a_weights_only_load():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    buffer = io.BytesIO()
    torch.save(rng_states(), buffer)
    expected = (random.random(), np.random.rand(), torch.rand(3))
    buffer.seek(0)
    set_rng_states(torch.load(buffer, weights_only=True))  # what Lightning's loader accepts
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_last_checkpoint_writes_last_ckpt_every_epoch(tmp_path):
    cb = LastCheckpoint(tmp_path / "checkpoints")
    assert cb.path == tmp_path / "checkpoints" / "last.ckpt"
    assert cb.monitor is None and cb.save_top_k == 1 and not cb.save_last and cb._save_on_train_epoch_end


def fake_trainer():
    return SimpleNamespace(checkpoint_callbacks=[], current_epoch=2, global_step=40)


def test_first_signal_while_fitting_only_sets_a_flag_the_second_stops_at_once():
    guard, trainer = RunGuard(), fake_trainer()
    guard._fitting = True
    with guard.catch_signals(trainer):
        # a real signal, to this thread (os.kill's may reach another of pytest's threads and be handled later,
        # under load after the assert): raise_signal runs the Python handler before it returns
        signal.raise_signal(signal.SIGTERM)
        assert guard.signum == signal.SIGTERM
        with pytest.raises(TrainingInterrupted) as info:
            signal.raise_signal(signal.SIGINT)
    assert info.value.exit_code == 130 and info.value.checkpoint is None and not info.value.saved_now
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_signal_outside_fitting_stops_at_once():
    guard = RunGuard()
    with pytest.raises(TrainingInterrupted) as info, guard.catch_signals(fake_trainer()):
        signal.raise_signal(signal.SIGTERM)
    assert info.value.exit_code == 143 and (info.value.epoch, info.value.step) == (2, 40)


class SignalAt(Callback):
    """Sends this process ``signum`` as the first validation batch of ``epoch`` starts."""

    def __init__(self, signum: int, epoch: int) -> None:
        self.signum, self.epoch = signum, epoch

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if not trainer.sanity_checking and trainer.current_epoch == self.epoch and batch_idx == 0:
            signal.raise_signal(self.signum)


def test_sigterm_during_validation_stops_after_the_epochs_last_checkpoint(train_config, tmp_path):
    # Lightning's own SIGTERM handler would end the run at the next validation batch (SystemExit, status 0,
    # nothing saved): the guard's handler alone acts, after the epoch and its last.ckpt
    datamodule, model = build(train_config("model=mlp", "data.train_samples=64", "data.batch_size=16"))
    guard, last = RunGuard(), LastCheckpoint(tmp_path / "checkpoints")
    trainer = L.Trainer(max_epochs=3, callbacks=[guard, last, SignalAt(signal.SIGTERM, 1)], logger=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    with pytest.raises(TrainingInterrupted) as info, guard.catch_signals(trainer):
        trainer.fit(model, datamodule=datamodule)
    assert info.value.exit_code == 143 and info.value.saved_now and info.value.checkpoint == last.path
    saved = torch.load(last.path, weights_only=False)
    assert saved["c147_progress"]["epochs_done"] == 2 and saved["c147_progress"]["interrupted"]
