"""``scripts/tensorboard``'s view: every run named for what it is, the HParams columns a user compares first, read
back from a real TensorBoard server on 127.0.0.1 over real event files."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

from c147.app.build import HPARAMS_FIRST, hparams_of
from c147.app.tensorboard_view import METRICS, Run, compared, differing, named_runs, run_name
from c147.lit.logger import log_session
from c147.lit.logger import run_name as readable_name
from tests.conftest import compose_config

REPO = Path(__file__).resolve().parents[2]
T1, T2, T3, T4 = (f"2026-12-07_00-21-{s}_945321" for s in (19, 40, 55, 58))


def fake_run(run_dir: Path, events: Path, params: dict, scalars: dict[str, list[float]],
             overrides: list[str] = ()) -> None:
    """A finished run's folder as c147's commands write it: its overrides, its curves, then its HParams session."""
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    with SummaryWriter(str(events)) as writer:
        for tag, values in scalars.items():
            for step, value in enumerate(values):
                writer.add_scalar(tag, value, step)
        log_session(writer, params)


def train_run(outputs: Path, time_folder: str, *overrides: str, job: str = "") -> str:
    """A c147-train run of the real config with ``overrides``; returns its readable name."""
    cfg = compose_config("train", ["paths.output_dir=unused", *overrides])
    name = readable_name(cfg, overrides)
    run_dir = outputs / "train" / ("multiruns" if job else "runs") / time_folder / job
    curves = {"train/loss": [1.0, 0.5], "val/acc": [0.8, 0.9], "val/acc_best": [0.8, 0.9], "test/acc": [0.88]}
    fake_run(run_dir, run_dir / "tensorboard" / name, hparams_of(cfg), curves, list(overrides))
    return name


def test_a_runs_name_says_what_it_is_then_when(tmp_path):
    train = tmp_path / "outputs" / "train" / "runs" / T1 / "tensorboard" / "mlp-c147-sgd-lr0.01"
    assert run_name(train) == f"mlp-c147-sgd-lr0.01 {T1[:19]}"
    job = tmp_path / "outputs" / "train" / "multiruns" / T1 / "1" / "tensorboard" / "lenet5-torch-adam-lr0.002"
    assert run_name(job) == f"lenet5-torch-adam-lr0.002 {T1[:19]} 1"
    study = tmp_path / "outputs" / "study" / "runs" / T1 / "tensorboard" / "optimizers"
    assert run_name(study) == f"optimizers {T1[:19]}"
    # events in tensorboard/ itself: the command and its overrides (paths and Hydra's own left out)
    classic = tmp_path / "outputs" / "classic" / "runs" / T2
    (classic / ".hydra").mkdir(parents=True)
    (classic / ".hydra" / "overrides.yaml").write_text("- task=knn\n- paths.data_dir=/x\n- hydra.verbose=true\n")
    assert run_name(classic / "tensorboard") == f"classic,task=knn {T2[:19]}"
    assert run_name(tmp_path / "elsewhere" / "logs") == "logs"


def test_runs_keep_their_names_and_a_clash_gets_a_number(tmp_path):
    same = [tmp_path / "train" / "runs" / f"{T1}{i}" / "tensorboard" / "mlp" for i in (2, 1)]
    for folder in same:
        folder.mkdir(parents=True)
        (folder / "events.out.tfevents.1.host").write_bytes(b"")
    first = named_runs(tmp_path)
    assert [(r.events, r.name) for r in first] == [(same[1], f"mlp {T1[:19]}"), (same[0], f"mlp {T1[:19]} (2)")]
    later = tmp_path / "train" / "runs" / f"{T1}0" / "tensorboard" / "mlp"  # sorts first, comes last
    later.mkdir(parents=True)
    (later / "events.out.tfevents.2.host").write_bytes(b"")
    assert named_runs(tmp_path, first)[2:] == [Run(later, f"mlp {T1[:19]} (3)")]


def test_the_compared_keys_are_the_first_and_what_else_tells_runs_apart():
    runs = [{"seed": 0, "data/seed": 0, "clip": "none", "impl": "c147"},
            {"seed": 1, "data/seed": 1, "clip": "none", "impl": "c147"},
            {"seed": 2, "data/seed": 2, "clip": "value", "impl": "c147"}]
    assert compared(runs, ("impl", "seed")) == {"impl", "seed", "clip"}


def test_a_key_differs_where_runs_of_one_option_differ():
    runs = [{"model": "lenet5", "model/hidden": "none", "optim/lr": 0.1, "seed": 0},
            {"model": "mlp", "model/hidden": "[32]", "optim/lr": 0.1, "seed": 0},
            {"model": "mlp", "model/hidden": "[32]", "optim/lr": 0.2, "seed": 0}]
    # model/hidden differs only because the model does; the option's column says that already
    assert differing(runs) == {"model", "optim/lr"}
    runs.append({"model": "mlp", "model/hidden": "[64]", "optim/lr": 0.2, "seed": 1})
    assert differing(runs) == {"model", "model/hidden", "optim/lr", "seed"}
    # another command's runs (c147-classic's) lack these keys: not a difference
    assert differing([*runs[:2], {"task": "knn", "k": 3}, {"task": "knn", "k": 3}]) == {"model"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=10))


def shown_hparams(experiment: dict) -> list[str]:
    """The HParams table's columns as TensorBoard's page shows them: the ``differs`` ones first (a stable
    sort of the server's list), of which the first five are checked."""
    infos = sorted(experiment["hparamInfos"], key=lambda h: not h.get("differs", False))
    return [h["name"] for h in infos][:5]


@pytest.mark.slow
def test_tensorboard_serves_runs_by_name_and_the_compared_columns_first(tmp_path):
    outputs = tmp_path / "outputs"
    names = [train_run(outputs, T1), train_run(outputs, T2, "model=mlp", "optim=sgd"),
             train_run(outputs, T3, "impl=torch")]
    jobs = [train_run(outputs, T4, f"seed={seed}", "regularizer=l2", job=str(seed)) for seed in (1, 2)]
    classic = outputs / "classic" / "runs" / T4
    fake_run(classic, classic / "tensorboard", {"task": "knn", "k": 3},
             {"train/acc": [0.99], "val/acc": [0.97], "test/acc": [0.96]}, ["task=knn"])
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYDRA_", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/bin:/bin"  # no venv on PATH: the script finds the repo's own
    server = subprocess.Popen([str(REPO / "scripts" / "tensorboard"), str(outputs), str(port)], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        sessions = {"experimentName": "", "allowedStatuses": ["STATUS_SUCCESS"], "colParams": [], "startIndex": 0,
                    "sliceSize": 100}
        groups: list[dict] = []
        for _ in range(120):  # the server needs a few seconds to start and load the events
            try:
                groups = get(base, "/data/plugin/hparams/session_groups", sessions)["sessionGroups"]
                if len(groups) == 6:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        runs = get(base, "/data/runs")
        expected = {f"{n} {t[:19]}" for n, t in zip(names, (T1, T2, T3), strict=True)}
        expected |= {f"{jobs[0]} {T4[:19]} 1", f"{jobs[1]} {T4[:19]} 2", f"classic,task=knn {T4[:19]}"}
        assert set(runs) == expected, runs
        assert names[1].startswith("mlp-c147-sgd-lr")
        tags = get(base, "/data/plugin/scalars/tags")
        assert "val/acc" in tags[f"{names[0]} {T1[:19]}"]
        experiment = get(base, "/data/plugin/hparams/experiment", {"experimentName": "", "hparamsLimit": 1000})
        shown = shown_hparams(experiment)
        assert {"impl", "model", "optim", "optim/lr"} <= set(shown), shown
        assert set(shown) <= {*HPARAMS_FIRST, "task"}, shown
        assert not [h["name"] for h in experiment["hparamInfos"] if "_target_" in h["name"]]
        marked = [h["name"] for h in experiment["hparamInfos"] if h.get("differs")]
        # compared, and the keys that tell runs apart otherwise: not data/seed (it follows seed), not
        # regularizer/l2 (it follows regularizer), not classic's k (one run has it)
        assert set(marked) == {*HPARAMS_FIRST, "task", "regularizer"}, marked
        assert [m["name"]["tag"] for m in experiment["metricInfos"]] == [m for m in METRICS if m in
                                                                         ("test/acc", "val/acc_best", "val/acc",
                                                                          "train/loss", "train/acc")]
        assert {g["name"] for g in groups} == expected  # the HParams table's Trial IDs
    finally:
        server.terminate()
        server.wait(timeout=30)
    view = re.search(r"\(links in (\S+)\)", server.stderr.read()).group(1)
    assert not Path(view).exists()  # the view goes with the server; the runs stay
    assert len(list(outputs.rglob("*tfevents*"))) == 6


def test_tensorboard_s_own_notices_are_dropped_and_its_url_and_errors_kept():
    import io

    from c147.app.tensorboard_view import relay_stderr

    stderr = ["TensorFlow installation not found - running with reduced feature set.\n", "\n",
              "NOTE: Using experimental fast data loading logic. To disable, pass\n",
              '    "--load_fast=false" and report issues on GitHub. More details:\n',
              "    https://github.com/tensorflow/tensorboard/issues/4784\n", "\n",
              "TensorBoard 2.21.0 at http://127.0.0.1:6006/ (Press CTRL+C to quit)\n",
              "E1207 error: something real\n", "TensorBoard caught SIGTERM; exiting...\n"]
    out = io.StringIO()
    relay_stderr(stderr, out)
    assert out.getvalue() == ("TensorBoard 2.21.0 at http://127.0.0.1:6006/ (Press CTRL+C to quit)\n"
                              "E1207 error: something real\n")
