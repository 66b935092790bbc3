"""DDP on this machine: 2 CPU processes (gloo) train as one process with twice the batch, batch norm synchronized
by the hand-written c147.nn.SyncBatchNorm; metrics over both processes; the run's files written once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.build import build
from c147.app.train import train
from c147.lit.distributed import SyncBatchNormPlugin
from c147.nn import BatchNorm1d, SyncBatchNorm
from tests.conftest import QUIET, run_cli, tensorboard_run

# float64 end to end (trainer.precision=64-true), batch norm between the hidden layers, 256 training samples:
# 8 steps an epoch of 32 samples, as 2 x 16 on two processes
RUN = ["model=mlp", "model.batch_norm=true", "trainer.precision=64-true", "data.train_samples=256",
       "trainer.max_epochs=3", *QUIET]
DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.sync_batchnorm=true"]
CURVES = ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    cwd = tmp_path_factory.mktemp("ddp")
    one = run_cli("c147-train", *RUN, "data.batch_size=32", "hydra.run.dir=one", cwd=cwd)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cli("c147-train", *RUN, *DDP, "data.batch_size=16", "hydra.run.dir=two", cwd=cwd)
    assert two.returncode == 0, two.stderr[-3000:]
    (cwd / "two.stderr").write_text(two.stderr)
    return {"one": cwd / "one", "two": cwd / "two", "cwd": cwd}


def curves(run: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(tensorboard_run(run)), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in CURVES}


def assert_same_curves(two: Path, one: Path) -> None:
    """The two runs' TensorBoard curves: the same steps, the values within 1e-6 (float64 runs, float32 events)."""
    a, b = curves(two), curves(one)
    for tag in CURVES:
        assert [s for s, _ in a[tag]] == [s for s, _ in b[tag]] and a[tag], tag
        torch.testing.assert_close(torch.tensor([v for _, v in a[tag]], dtype=torch.float64),
                                   torch.tensor([v for _, v in b[tag]], dtype=torch.float64),
                                   rtol=1e-6, atol=0, msg=tag)


def assert_same_weights(two: Path, one: Path) -> tuple[dict, dict]:
    """The two runs' final weights within 1e-6 of a tensor's largest entry (the reason: the test below), the
    counts equal; both state_dicts."""
    got = torch.load(two / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    want = torch.load(one / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert got.keys() == want.keys()
    for key, value in want.items():
        if key.startswith("net.") and value.is_floating_point():
            assert (got[key] - value).abs().max() <= 1e-6 * value.abs().max(), key
        elif key.startswith("net.") or key.startswith("train_acc."):  # num_batches_tracked, the accuracy counts
            assert torch.equal(got[key], value), key
    return got, want


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_process_with_twice_the_batch(runs):
    one, two = runs["one"], runs["two"]
    stderr = (runs["cwd"] / "two.stderr").read_text()
    # Lightning's INFO lines go to the run's log (the terminal shows them with verbose=true)
    log = (two / "train.log").read_text()
    assert "Starting with 2 processes" in log and "distributed_backend=gloo" in log, log[-3000:]
    assert not stderr, stderr[-3000:]  # nothing a user would have to ignore
    # metrics logged over both processes, and no hint that some are not
    assert "sync_dist" not in stderr and "DistributedSampler" not in stderr, stderr[-3000:]

    # the loss curves: the same steps; the values equal to TensorBoard's float32 (the runs are float64, the events
    # float32: 1e-6 is ~8 float32 ulps; the two runs differ only in the order of float64 sums)
    assert_same_curves(two, one)

    # the final weights and batch norm's running statistics: float64, summed in another order (16 + 16 and an
    # all-reduce against 32) in every step. The layers before batch norm have directions without gradient
    # (batch norm removes their output's shift and scale) where the gradient is rounding noise, which Adam's
    # normalization turns into steps of up to lr |g| / eps ~ 1e-11, different in the two runs: measured
    # 2e-10 and 4e-10 of a tensor's largest entry there, 1e-13 to 2e-11 elsewhere; bound 1e-6. Without
    # synchronized batch norm the weights differ by 1e0
    got, want = assert_same_weights(two, one)
    mean = {r: s["train_loss.mean_value"] / s["train_loss.weight"] for r, s in (("two", got), ("one", want))}
    torch.testing.assert_close(mean["two"], mean["one"])  # the running loss of both processes, saved once

    m2, m1 = (json.loads((r / "metrics.json").read_text()) for r in (two, one))
    assert m2["test/acc"] == m1["test/acc"] and m2["val/acc_best"] == m1["val/acc_best"]
    assert m2["global_step"] == m1["global_step"] == 24


@pytest.mark.slow
def test_the_run_folder_is_written_once_by_the_first_process(runs):
    two, cwd = runs["two"], runs["cwd"]
    assert sorted(p.name for p in cwd.iterdir() if p.is_dir()) == ["one", "two"]  # no folder of the second process
    assert sorted(p.name for p in two.iterdir()) == [".hydra", "checkpoints", "metrics.json", "tensorboard",
                                                      "train.log", "train_ddp_process_1.log"]
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == \
        sorted(p.name for p in (runs["one"] / "checkpoints").iterdir())
    assert len(list((two / "tensorboard").rglob("events.out.tfevents.*"))) == \
        len(list((runs["one"] / "tensorboard").rglob("events.out.tfevents.*")))  # rank 0's logger only


@pytest.mark.slow
def test_a_non_finite_loss_in_ddp_stops_both_processes_with_one_report(tmp_path):
    # tests/app/test_resume.py's diverging warm-up on 2 processes: both stop at the same step (they agree through an
    # all-reduce, or one would wait forever in the next), the first process alone writes and tells
    proc = run_cli("c147-train", "model=mlp", *DDP, "trainer.sync_batchnorm=false", "optim=sgd", "optim.lr=1e8",
                   "scheduler=linear", "scheduler.start_factor=1e-11", "scheduler.total_iters=1",
                   "trainer.max_epochs=2", "data.train_samples=256", *QUIET, "hydra.run.dir=run", cwd=tmp_path,
                   timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("c147-train:")]
    assert "in epoch 2, step" in line and "the last good checkpoint is" in line, line
    run = tmp_path / "run"
    assert "the training loss" in json.loads((run / "metrics.json").read_text())["error"]
    assert not list(run.glob("metrics.attempt*.json"))  # written once
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 0


def test_ddp_processes_need_c147_train_itself(train_config, capsys):
    # Lightning starts the other processes by running this process's command again: not from pytest
    with pytest.raises(SystemExit) as e:
        train(train_config("model=mlp", *DDP, "trainer.sync_batchnorm=false"))
    assert e.value.code == 2
    assert "c147-train: error: trainer.devices=2 with strategy=ddp: Lightning starts the other processes by running " \
           "c147-train's command line again" in capsys.readouterr().err


def test_torch_sync_batchnorm_on_the_cpu_is_refused_in_one_line(train_config, capsys):
    with pytest.raises(SystemExit) as e:
        train(train_config("model=mlp", "model.batch_norm=true", *DDP, "impl=torch"))
    assert e.value.code == 2
    assert "trainer.sync_batchnorm=true with impl=torch: torch.nn.SyncBatchNorm runs on GPUs only" in \
        capsys.readouterr().err


def test_the_plugin_converts_c147_batch_norm_and_reverts_to_the_same_classes(train_config):
    _, model = build(train_config("model=mlp", "model.batch_norm=true"))
    before = {n: m for n, m in model.named_modules() if isinstance(m, BatchNorm1d)}
    params = {n: p for n, p in model.named_parameters()}
    plugin = SyncBatchNormPlugin()
    synced = plugin.apply(model)
    assert len(before) == 2 and all(isinstance(synced.get_submodule(n), SyncBatchNorm) for n in before)
    assert all(p is params[n] for n, p in synced.named_parameters())  # the optimizer's parameters, unchanged
    synced.get_submodule(next(iter(before))).running_mean.add_(1.0)  # a running statistic trained while synced
    back = plugin.revert(synced)
    assert {n: type(m) for n, m in back.named_modules() if n in before} == {n: BatchNorm1d for n in before}
    assert all(p is params[n] for n, p in back.named_parameters())
    assert torch.equal(back.get_submodule(next(iter(before))).running_mean, torch.ones(256))
    assert back.state_dict().keys() == model.state_dict().keys()
