"""Reliability through the console scripts: a real last checkpoint, exact resume after a real SIGINT /
SIGTERM, run folders that are never overwritten, and one-line errors for bad input."""

from __future__ import annotations

import json
import shlex
import signal
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.train import train
from tests.conftest import run_cli, run_in_process, start_cli, tensorboard_run, wait_for

QUIET = ["callbacks.model_summary=null", "trainer.enable_progress_bar=false"]
# dropout and hidden-unit noise (the global RNG), augmentation (drawn per seed, epoch and batch), max-norm after
# each step, the hand-written Adam and cosine schedule, and ~270 steps an epoch (~2 s here): a signal half a
# second into epoch 1 lands mid-epoch
RESUMABLE = ["model=mlp", "model.dropout=0.3", "model.noise.hidden=0.1", "data.augment=[crop,flip]",
             "model.hidden=[512,512]", "data.batch_size=4", "trainer.max_epochs=3", "regularizer=max_norm", *QUIET,
             "callbacks.histograms=null", "callbacks.figures=null"]  # observers only; the main job's tests run them
# what must not differ between an interrupted + resumed run and an uninterrupted one
RESULT_KEYS = ("epochs", "global_step", "test/acc", "test/loss", "train/acc", "train/loss", "train/lr", "val/acc",
               "val/acc_best", "val/loss")


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(tensorboard_run(run_dir)), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("uninterrupted")
    proc = run_cli("c147-train", *RESUMABLE, "hydra.run.dir=run", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd / "run"


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_killed_mid_epoch_then_resumed_ends_bit_for_bit_like_an_uninterrupted_run(uninterrupted, tmp_path, signum,
                                                                                 code):
    run = tmp_path / "run"
    proc = start_cli("c147-train", *RESUMABLE, f"hydra.run.dir={run}", cwd=tmp_path)
    wait_for(run / "checkpoints" / "last.ckpt", proc)  # epoch 0 is done: now in epoch 1
    time.sleep(0.5)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-3000:]
    stopped = json.loads((run / "metrics.json").read_text())
    assert stopped["interrupted"] is True and stopped["signal"] == signal.Signals(signum).name
    full = json.loads((uninterrupted / "metrics.json").read_text())
    steps_per_epoch = full["global_step"] // full["epochs"]
    assert stopped["global_step"] % steps_per_epoch != 0, "the signal should land mid-epoch"
    # one line says where it stopped and the exact command that resumes
    (line,) = [ln for ln in err.splitlines() if ln.startswith("c147-train:")]
    command = line.split("resume with: ", 1)[1]
    assert command == stopped["resume_command"] == f"c147-train ckpt_path={run / 'checkpoints' / 'last.ckpt'}"
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == stopped["global_step"]

    argv = shlex.split(command)
    resumed = run_cli(argv[0], *argv[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = json.loads((run / "metrics.json").read_text())
    assert {k: final[k] for k in RESULT_KEYS} == {k: full[k] for k in RESULT_KEYS}
    assert json.loads((run / "metrics.attempt1.json").read_text())["interrupted"] is True  # kept, not overwritten
    ours, theirs = weights(run / "checkpoints" / "last.ckpt"), weights(uninterrupted / "checkpoints" / "last.ckpt")
    assert ours.keys() == theirs.keys()
    for k in theirs:
        assert torch.equal(ours[k], theirs[k]), k
    # the same TensorBoard run, continued: every epoch once, the same values
    for tag in ("val/loss", "train/loss", "val/acc_best"):
        assert scalars(run, tag) == scalars(uninterrupted, tag), tag
    # the best checkpoint was tracked across the interruption: one file, the uninterrupted run's epoch
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == \
        sorted(p.name for p in (uninterrupted / "checkpoints").iterdir())


@pytest.mark.slow
def test_resume_from_inside_the_run_folder_with_ckpt_path_last_trains_longer(uninterrupted, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(uninterrupted, run)
    before = (run / ".hydra" / "config.yaml").read_text()
    proc = run_cli("c147-train", "ckpt_path=last", "trainer.max_epochs=4", cwd=run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["resumed_from"] == str(run / "checkpoints" / "last.ckpt")
    assert (run / ".hydra" / "config.yaml").read_text() == before  # the run's own files are not rewritten
    assert not (run / "outputs").exists()  # no new run folder
    assert [s for s, _ in scalars(run, "val/acc")] == sorted({s for s, _ in scalars(run, "val/acc")})
    assert len(scalars(run, "val/acc")) == 4


@pytest.mark.slow
def test_last_checkpoint_is_the_last_epoch_when_the_best_is_earlier(tmp_path):
    # the cosine schedule lowers the learning rate after the first epoch: the "best" by the largest train/lr
    # is the first epoch (mode=min on val/acc, the old trick, is now refused as a contradiction)
    proc = run_cli("c147-train", "trainer.max_epochs=2", "callbacks.model_checkpoint.monitor=train/lr",
                   "callbacks.model_checkpoint.mode=max", "test=false", *QUIET, "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpts = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["epoch_000.ckpt", "last.ckpt"]
    last, best = (torch.load(ckpts / n, weights_only=False) for n in ("last.ckpt", "epoch_000.ckpt"))
    assert last["epoch"] == 1 and last["c147_progress"]["epochs_done"] == 2 and best["epoch"] == 0
    assert any(not torch.equal(v, best["state_dict"][k]) for k, v in last["state_dict"].items() if k.startswith("net."))
    # c147-eval of last.ckpt scores the last epoch's weights, not the best's (in-process: the console script's
    # own run is tested in tests/app/test_train.py)
    from c147.app.eval import evaluate
    from tests.conftest import compose_config

    evals = [evaluate(compose_config("eval", [f"ckpt_path={ckpts / name}", f"paths.output_dir={tmp_path / name}"]))
             for name in ("last.ckpt", "epoch_000.ckpt")]
    assert evals[0]["test/loss"] != evals[1]["test/loss"]


@pytest.mark.slow
def test_an_earlier_checkpoint_branches_into_a_new_folder(uninterrupted, tmp_path):
    (best,) = (uninterrupted / "checkpoints").glob("epoch_*.ckpt")
    stamp = {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()}
    proc = run_cli("c147-train", f"ckpt_path={best}", "trainer.max_epochs=4", *QUIET, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (branch,) = (tmp_path / "outputs" / "train" / "runs").iterdir()
    assert json.loads((branch / "metrics.json").read_text())["resumed_from"] == str(best)
    assert {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()} == stamp


def test_a_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    # a warm-up from lr 1e-3 to 1e8: epoch 0 trains, epoch 1 diverges
    proc = run_cli("c147-train", "optim=sgd", "optim.lr=1e8", "scheduler=linear", "scheduler.start_factor=1e-11",
                   "scheduler.total_iters=1", "trainer.max_epochs=3", *QUIET, "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("c147-train:")]
    assert "the training loss is nan in epoch 2, step" in line or "the training loss is inf in epoch 2, step" in line
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert f"the last good checkpoint is {last}" in line
    state = torch.load(last, weights_only=False)
    assert state["epoch"] == 0
    assert all(v.isfinite().all() for v in state["state_dict"].values() if v.is_floating_point())
    assert "Traceback" not in proc.stderr
    assert "the training loss is" in json.loads((tmp_path / "run" / "metrics.json").read_text())["error"]


# ---------------------------------------------------------------------------------- bad input

def make_files(tmp_path: Path) -> dict[str, Path]:
    """A truncated checkpoint, a file that is no checkpoint, and a plain torch state_dict."""
    files = {name: tmp_path / f"{name}.ckpt" for name in ("truncated", "text", "plain")}
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "c147_config": {"a": 1}}, files["truncated"])
    files["truncated"].write_bytes(files["truncated"].read_bytes()[:700])
    files["text"].write_text("not a checkpoint")
    torch.save({"w": torch.zeros(3)}, files["plain"])
    return files


# (arguments, text the one line must hold)
BAD_TRAIN = [
    (["ckpt_path=/nope.ckpt"], "ckpt_path: checkpoint not found: /nope.ckpt"),
    (["ckpt_path={truncated}"], "ckpt_path: {truncated} is not a readable PyTorch checkpoint"),
    (["ckpt_path={text}"], "is not a readable PyTorch checkpoint"),
    (["ckpt_path={plain}"], "is not a checkpoint written by c147-train"),
    (["ckpt_path={tmp}"], "ckpt_path: expected a checkpoint file, got the folder"),
    (["ckpt_path=last"], "ckpt_path=last: no checkpoints/last.ckpt in the current folder"),
    (["optim.lr=abc"], "optim.lr: expected float, got 'abc'"),  # in the job, after Hydra (more: BAD_CONFIG)
    (["optim.momentum=0.9"], "momentum"),  # Adam has no momentum
    (["hydra.run.dir=/proc/c147"], "hydra.run.dir: cannot create /proc/c147"),
    (["hydra.run.dir={file}"], "hydra.run.dir: expected a folder, got the file"),
    (["paths.output_root=/proc/c147"], "paths.output_root: cannot create /proc/c147/train/runs"),
]  # unknown config names and keys, missing datasets: tests/app/test_train.py's table


@pytest.mark.parametrize("args, message", BAD_TRAIN, ids=[" ".join(a) for a, _ in BAD_TRAIN])
def test_bad_train_input_is_one_line_naming_the_key_and_leaves_no_folder(tmp_path, monkeypatch, capsys, args,
                                                                         message):
    files = make_files(tmp_path)
    (tmp_path / "afile").write_text("x")
    subs = {**{k: str(v) for k, v in files.items()}, "tmp": str(tmp_path), "file": str(tmp_path / "afile")}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = run_in_process("c147-train", *[a.format(**subs) for a in args], *QUIET, cwd=cwd, monkeypatch=monkeypatch,
                          capsys=capsys)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert lines[0].startswith("c147-train: error: ") and message.format(**subs) in lines[0], lines[0]
    assert not (cwd / "outputs").exists(), "a failed run left a folder"


# the checks inside the job, run in-process (the console script's path for them: optim.lr=abc above)
BAD_CONFIG = [
    (["trainer.max_epochs=0"], "trainer.max_epochs: expected a positive integer, got 0"),
    (["trainer.max_epochs=abc"], "trainer.max_epochs: expected int or null, got 'abc'"),
    (["trainer.max_epochs=2.5"], "trainer.max_epochs: expected int or null, got 2.5"),
    (["data.batch_size=0"], "data.batch_size: expected a positive integer, got 0"),
    (["data.batch_size=many"], "data.batch_size: expected int, got 'many'"),
    (["impl=numpy"], "impl must be one of ('c147', 'torch'), got 'numpy'"),
    (["seed=abc"], "seed: expected int, got 'abc'"),
    (["model.hidden=64", "model=mlp"], "model.hidden: expected a list, got 64"),
]


@pytest.mark.parametrize("args, message", BAD_CONFIG, ids=[" ".join(a) for a, _ in BAD_CONFIG])
def test_bad_config_values_are_one_line_naming_the_key(train_config, capsys, args, message):
    cfg = train_config(*args)
    with pytest.raises(SystemExit) as info:
        train(cfg)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("c147-train: error: ") and message in err[0], err
    assert not Path(cfg.paths.output_dir).exists()


def test_logger_null_disables_logging(tmp_path):
    for i, off in enumerate(("logger=null",)):  # ~logger: the in-process tests use it throughout
        run = tmp_path / f"run{i}"
        proc = run_cli("c147-train", off, "debug=fast", *QUIET, f"hydra.run.dir={run}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (run / "metrics.json").is_file() and not (run / "tensorboard").exists()


def test_an_existing_run_folder_is_refused_before_hydra_touches_it(uninterrupted, tmp_path):
    stamp = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in uninterrupted.rglob("*") if p.is_file()}
    proc = run_cli("c147-train", f"hydra.run.dir={uninterrupted}", *QUIET, cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert "already holds files" in line and f"ckpt_path={uninterrupted / 'checkpoints' / 'last.ckpt'}" in line
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in uninterrupted.rglob("*") if p.is_file()} == stamp


@pytest.mark.slow
def test_resume_refuses_a_finished_run_and_changes_of_structure(uninterrupted, tmp_path):
    last = uninterrupted / "checkpoints" / "last.ckpt"
    stamp = {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()}
    for args, message in [
        ([], "the run already trained 3 epochs (trainer.max_epochs=3), nothing to resume; to train longer"),
        (["model=lenet5", "trainer.max_epochs=5"], "'model=lenet5': a resumed run keeps its own config"),
        (["+foo=1", "trainer.max_epochs=5"], "'+foo=1': a resumed run keeps its own config"),
    ]:
        proc = run_cli("c147-train", f"ckpt_path={last}", *args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr[-3000:]
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in uninterrupted.rglob("*") if p.is_file()} == stamp


BAD_EVAL = [
    ([], "ckpt_path: expected the checkpoint to evaluate"),
    (["ckpt_path=/nope.ckpt"], "ckpt_path: checkpoint not found: /nope.ckpt"),
    (["ckpt_path={truncated}"], "is not a readable PyTorch checkpoint"),
    (["ckpt_path={plain}"], "is not a checkpoint written by c147-train"),
    (["data=nope"], "data=nope: no such option; expected one of cifar10, digits"),
]


@pytest.mark.parametrize("args, message", BAD_EVAL, ids=[" ".join(a) or "nothing" for a, _ in BAD_EVAL])
def test_bad_eval_input_is_one_line(tmp_path, monkeypatch, capsys, args, message):
    subs = {k: str(v) for k, v in make_files(tmp_path).items()}
    proc = run_in_process("c147-eval", *[a.format(**subs) for a in args], cwd=tmp_path, monkeypatch=monkeypatch,
                          capsys=capsys)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("c147-eval: error: ") and message in line, line
    assert not (tmp_path / "outputs").exists()


def test_eval_of_a_checkpoint_whose_weights_do_not_fit_is_one_line(tmp_path, uninterrupted):
    state = torch.load(uninterrupted / "checkpoints" / "last.ckpt", weights_only=False)
    state["c147_config"]["model"]["hidden"] = [64]  # the config now builds another network
    torch.save(state, tmp_path / "other.ckpt")
    proc = run_cli("c147-eval", f"ckpt_path={tmp_path / 'other.ckpt'}", cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert "do not fit the network its config builds (MLP)" in line and "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_full_error_shows_the_traceback(tmp_path):
    proc = run_cli("c147-train", "optim.lr=abc", cwd=tmp_path, timeout=120, env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "optim.lr: expected float" in proc.stderr


BAD_OTHER = [
    ("c147-bench", ["suite=nope"], "unknown benchmark suite 'nope'"),
    ("c147-bench", ["families=[nope]"], "unknown families ['nope']"),
    ("c147-summary", ["impl=numpy"], "impl must be one of ('c147', 'torch'), got 'numpy'"),
    ("c147-summary", ["model=nope"], "model=nope: no such option; expected one of alexnet"),
]


@pytest.mark.parametrize("script, args, message", BAD_OTHER, ids=[f"{s} {' '.join(a)}" for s, a, _ in BAD_OTHER])
def test_bad_bench_and_summary_input_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch, capsys, script, args,
                                                                      message):
    proc = run_in_process(script, *args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"{script}: error: ") and message in line, line
    assert not (tmp_path / "outputs").exists()
