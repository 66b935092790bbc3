"""DDP interrupt and resume on one machine, end to end: a 2-process gloo run stopped mid-epoch by SIGTERM to its
first process (as ``kill <pid>`` sends), resumed with the command it printed, ends bit for bit as an uninterrupted
2-process run: the weights, ``metrics.json``, the TensorBoard curves. The shuffling sampler's place in the epoch
travels in the checkpoint (the batches each rank had used), so the resumed epoch trains on the batches after them.
The moment is hit exactly with RunGuard's test hook (``C147_TEST_PAUSE_AT``, tests/app/test_interrupt.py)."""

from __future__ import annotations

import json
import shlex
import signal
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.lit.callbacks import PAUSE_ENV
from tests.conftest import QUIET, run_cli, start_cli, tensorboard_run, wait_for

# float64 (the resumed weights must pass through no float32), synchronized batch norm, 256 samples as 8 steps an
# epoch of 2 x 16; the hook's mid_epoch point is before the second batch of the second epoch
RUN = ["model=mlp", "model.batch_norm=true", "trainer.precision=64-true", "data.train_samples=256",
       "trainer.max_epochs=2", "data.batch_size=16", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
       "trainer.sync_batchnorm=true", *QUIET]
STEPS_PER_EPOCH = 8
CURVES = ("train/loss", "train/acc", "train/lr", "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc")
RESULT_KEYS = ("epochs", "global_step", "test/acc", "test/loss", "train/acc", "train/loss", "train/lr", "val/acc",
               "val/acc_best", "val/loss")


def curves(run: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(tensorboard_run(run)), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in CURVES}


@pytest.mark.slow
def test_ddp_run_stopped_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    full = run_cli("c147-train", *RUN, "hydra.run.dir=full", cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]

    run, marker = tmp_path / "run", tmp_path / "paused"
    proc = start_cli("c147-train", *RUN, "hydra.run.dir=run", cwd=tmp_path, env={PAUSE_ENV: f"mid_epoch:{marker}"})
    wait_for(marker, proc)
    proc.send_signal(signal.SIGTERM)  # the first process only: the second learns of it at the step's end
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    (line,) = [ln for ln in err.splitlines() if ln.startswith("c147-train:")]
    assert "Traceback" not in err, err[-3000:]

    stopped = json.loads((run / "metrics.json").read_text())
    assert stopped["interrupted"] is True and stopped["signal"] == "SIGTERM"
    assert stopped["global_step"] == STEPS_PER_EPOCH + 2, line  # mid-epoch: the step of the paused batch done
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == stopped["global_step"]
    # the sampler's place: epoch 1, two batches handed out on each rank
    assert state["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 1, "batches": 2}]

    command = line.split("resume with: ", 1)[1]
    assert command == stopped["resume_command"]
    argv = shlex.split(command)
    second = (run / "train_ddp_process_1.log").stat().st_size
    resumed = run_cli(argv[0], *argv[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # resumed as DDP (the checkpoint's own config), its second process logging in the run's folder again
    assert (run / "train_ddp_process_1.log").stat().st_size > second

    final, want = (json.loads((r / "metrics.json").read_text()) for r in (run, tmp_path / "full"))
    assert {k: final[k] for k in RESULT_KEYS} == {k: want[k] for k in RESULT_KEYS}
    assert 0 < final["walltime/epoch_seconds"] < final["fit_seconds"]  # the resumed epoch's part, timed
    got, ref = (torch.load(r / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
                for r in (run, tmp_path / "full"))
    assert got.keys() == ref.keys()
    for key in ref:
        assert torch.equal(got[key], ref[key]), key
    assert curves(run) == curves(tmp_path / "full")  # the same TensorBoard run, continued: every point once
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == \
        sorted(p.name for p in (tmp_path / "full" / "checkpoints").iterdir())
