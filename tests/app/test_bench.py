"""c147-bench runs ours and the twin side by side and writes ratios (no timing is asserted): the tests run it
in its tiny mode and check what it writes."""

import csv
import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.bench import COLUMNS, _compare_table, add_then, read_results
from c147.bench import ops, targets
from c147.bench.harness import Result, close_enough, compare, device_name, relative_error
from tests.conftest import compose_config, run_cli
from tests.twins import DEVICES

OPS = ops.FAMILIES


def test_compare_and_result_ratio():
    ours_ms, twin_ms = compare(lambda: torch.ones(10).sum(), lambda: torch.ones(10).sum(), rounds=1, min_run_time=0.01)
    assert ours_ms > 0 and twin_ms > 0
    row = Result("ops", "f", "n", "10", 2.0, 4.0, bytes_moved=4000).as_dict(copy_gbps=1.0)
    assert row["ratio"] == 0.5 and row["ours_fraction_of_copy_bw"] == pytest.approx(4000 / 2e6)


def test_timing_runs_on_the_process_threads():
    """torch's Timer would run the timed calls on 1 thread; the bench's run on the threads the process has (the
    ``threads`` setting, or torch's default)."""
    seen = set()
    before = torch.get_num_threads()
    try:
        for threads in (2, 3):
            torch.set_num_threads(threads)
            compare(lambda: seen.add(("ours", torch.get_num_threads())),
                    lambda: seen.add(("twin", torch.get_num_threads())), rounds=1, min_run_time=0.001)
    finally:
        torch.set_num_threads(before)
    assert seen == {("ours", 2), ("twin", 2), ("ours", 3), ("twin", 3)}


def test_accuracy_columns():
    ref = torch.tensor([1.0, -2.0], dtype=torch.float64)
    assert relative_error([torch.tensor([1.0, -2.5])], [ref]) == pytest.approx(0.25)
    assert close_enough(3e-7, 1e-7, torch.float32) and not close_enough(5e-6, 1e-7, torch.float32)
    assert close_enough(1e-6, 0.0, torch.float32)  # within 16 ulps of float32 when the twin is exact


def test_targets_and_summary():
    t = targets.targets_for("ops", "cpu", False)
    row = {"family": "conv", "name": "conv2d depthwise", "ratio": 1.9}
    targets.judge(row, t)
    assert (row["target"], row["meets_target"]) == (2.0, True)
    row = {"family": "activation", "name": "tanh", "ratio": 1.6}
    targets.judge(row, t)
    assert (row["target"], row["meets_target"]) == (1.5, False)
    optim = targets.targets_for("optim", "cpu", False)
    fused = {"family": "Adam", "name": "10M in 50: fused vs fused", "ratio": 1.05, "ours_fraction_of_copy_bw": 0.6}
    targets.judge(fused, optim)  # held to both: the ratio is met, the bandwidth is not
    assert (fused["target_kind"], fused["target"], fused["bandwidth_target"], fused["meets_target"]) == (
        "both", 1.1, 0.8, False)
    fused = dict(fused, family="AdamW", ratio=1.05)  # "Adam 10M" is not part of "AdamW 10M": the ratio only
    targets.judge(fused, optim)
    assert (fused["target_kind"], fused["meets_target"]) == ("ratio", True)
    default = {"family": "SGD", "name": "1000 x 100: foreach vs default", "ratio": 1.01}
    targets.judge(default, optim)
    assert (default["target"], default["meets_target"]) == (1.0, False)
    assert targets.targets_for("ops", "cpu", True).each == 1.1  # compiled: every case
    s = targets.summary("ops", [{"ratio": 2.0, "meets_target": True}, {"ratio": 0.5, "meets_target": False}], t)
    assert s["geomean"] == pytest.approx(1.0) and s["geomean_meets"] and s["rows_meeting_target"] == 1
    assert targets.summary_line(s) == ("ops: geometric mean ours / twin 1.00 (target <= 1.0: met); "
                                       "1 of 2 rows meet their target")


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_tiny_run_of_every_suite_writes_json_csv_png_and_tensorboard(tmp_path, device):
    """Every op family, Adam on its four paths (its fused path compiles: each optimizer's compiled kernel is
    checked in tests/optim/test_fused.py, and compiling all five here would cost a minute) and LeNet-5's training
    step (VGG-11's takes seconds a step: the pipeline tests train it) in tiny mode: ratios, accuracy within the
    twin's own, the documented schema, the chart and the TensorBoard scalars."""
    families = ",".join([*OPS, "Adam", "lenet5"])
    proc = run_cli("c147-bench", "suite=all", "size=tiny", f"device={device}", f"families=[{families}]", "rounds=1",
                   "min_run_time=0.002", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CUDA_HOME" not in proc.stdout + proc.stderr  # torch.utils.cpp_extension's notice, filtered (quiet)
    (run,) = (tmp_path / "outputs" / "bench" / "runs").iterdir()
    data = json.loads((run / "results.json").read_text())
    assert data["meta"]["torch"] == torch.__version__ and data["meta"]["size"] == "tiny"
    rows = data["results"]
    assert {r["family"] for r in rows} == {*OPS, "Adam", "lenet5"}
    assert len([r for r in rows if r["suite"] == "ops"]) == len(ops.CASES)
    assert all(r["ratio"] == pytest.approx(r["ours_ms"] / r["twin_ms"]) for r in rows)
    checked = [r for r in rows if r["ours_err"] is not None]
    assert {r["family"] for r in rows} - {r["family"] for r in checked} == {"dropout"}  # random: not compared
    assert [r["name"] for r in checked if not r["close"]] == []
    # the reference is the twin's own computation in float64: the twin in float32 is near it (a broken
    # reference, e.g. different starting values, would make every row "close")
    assert [r["name"] for r in checked if not r["twin_err"] < 1e-4] == []
    assert [r["name"] for r in rows if r["suite"] == "optim" and "fused" in r["name"]]  # the compiled path ran
    # eager ops: the operators each side runs; the twin's relu is one each way, ours a few
    kernels = {r["name"]: (r["ours_kernels"], r["twin_kernels"]) for r in rows if r["suite"] == "ops"}
    assert all(ours >= 1 and twin >= 1 for ours, twin in kernels.values()) and kernels["relu"][1] == 2
    assert [s["suite"] for s in data["summary"]] == ["ops", "optim", "models"]
    with open(run / "results.csv") as f:
        lines = list(csv.DictReader(f))
    assert tuple(lines[0]) == COLUMNS and len(lines) == len(rows)
    assert (run / "ratios.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    assert "ratio/ops/conv/conv2d_depthwise" in events.Tags()["scalars"] and "ratios" in events.Tags()["images"]
    assert "geometric mean ours / twin" in proc.stdout and "ours / twin" in proc.stdout


def test_compiled_case_reports_graph_breaks_and_the_eager_twin():
    """compile=true: both sides compiled, the twin also eager, the graph breaks in ours counted (softmax: 0), the
    compiled outputs as accurate as the twin's."""
    (case,) = [c for c in ops.CASES if c.name == "softmax"]
    pair = ops.closures(case, "cpu", torch.float32, tiny=True, compiled=True)
    pair.ours(), pair.twin(), pair.twin_eager()
    assert pair.graph_breaks == 0 and pair.twin_eager is not None
    assert close_enough(pair.errors["ours_err"], pair.errors["twin_err"], torch.float32)


@pytest.mark.parametrize(
    "args, message",
    [
        # (unknown suites and families: tests/app/test_resume.py, with the check that no folder is left)
        (["dtype=int8"], "c147-bench: error: dtype must be one of"),
        (["size=huge"], "c147-bench: error: size must be one of ('default', 'tiny'), got 'huge'"),
        (["compare=nowhere"], "c147-bench: error: compare: no results.json at 'nowhere'; expected an earlier "
                              "c147-bench run's results.json or its folder"),
    ],
)
def test_cli_bad_input(args, message, tmp_path):
    proc = run_cli("c147-bench", *args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_bench_config_composes():
    cfg = compose_config("bench")
    assert cfg.suite == "ops" and cfg.device == "cpu" and cfg.compile is False and cfg.size == "default"


@pytest.mark.parametrize("name", ["ops", "optim", "models", "e2e"])
def test_every_suite_declares_what_run_reads(name):
    import importlib

    suite = importlib.import_module(f"c147.bench.{name}")
    assert suite.CASES and set(suite.FAMILIES) == {c.family for c in suite.CASES}
    assert callable(suite.closures)
    assert suite.IMAGES_PER_STEP is None or (isinstance(suite.IMAGES_PER_STEP, int) and suite.IMAGES_PER_STEP > 0)
    assert (suite.IMAGES_PER_STEP is not None) == (name == "models")


def test_add_then_matches_cases_and_reads_only_a_results_json(tmp_path):
    now = [{"suite": "ops", "family": "f", "name": "a", "ratio": 1.5, "compiled": False},
           {"suite": "ops", "family": "f", "name": "a", "ratio": 0.9, "compiled": True},
           {"suite": "ops", "family": "f", "name": "new", "ratio": 2.0, "compiled": False}]
    then = [{"suite": "ops", "family": "f", "name": "a", "ratio": 3.0, "compiled": False},
            {"suite": "ops", "family": "f", "name": "gone", "ratio": 1.0, "compiled": False}]
    add_then(now, then)
    assert [(r["ratio_then"], r["ratio_change"]) for r in now] == [(3.0, 0.5), (None, None), (None, None)]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").write_text(json.dumps({"meta": {}, "results": then}))
    assert read_results(tmp_path / "run")["results"] == then  # the folder or the file
    (tmp_path / "other.json").write_text(json.dumps({"results": [{"suite": "ops"}]}))
    with pytest.raises(ValueError, match=r"other.json is not a c147-bench results.json \(KeyError"):
        read_results(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match=r"broken.json is not a c147-bench results.json \(JSONDecodeError"):
        read_results(tmp_path / "broken.json")


def test_compare_prints_each_ratio_then_and_now_and_writes_them(tmp_path):
    """compare=: an earlier run's ratios beside this run's, now / then per case, in the table, the summary line and
    results.csv / results.json."""
    cases = [c for c in ops.CASES if c.family == "activation"]
    then = [{"suite": "ops", "family": c.family, "name": c.name, "ratio": 2.0, "compiled": False} for c in cases]
    then.append({"suite": "ops", "family": "conv", "name": "gone", "ratio": 1.0, "compiled": False})
    (tmp_path / "old.json").write_text(json.dumps({"meta": {"device_name": "Another CPU", "torch": "2.x",
                                                            "size": "tiny"}, "results": then}))
    proc = run_cli("c147-bench", "size=tiny", "families=[activation]", "rounds=1", "min_run_time=0.002",
                   "compare=old.json", "hydra.run.dir=new", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "c147-bench compare: ours / twin then and now" in proc.stdout
    assert "then: old.json (Another CPU, torch 2.x, size tiny)" in proc.stdout
    machine = device_name("cpu")  # this machine's CPU, named in the header, the line and results.json
    assert machine not in ("", "cpu") and f"c147-bench ops, eager: cpu ({machine}) float32" in proc.stdout
    assert f"then ran on Another CPU, now on {machine}: a change of ratio there is the machines'" in proc.stdout
    assert f"compare: {len(cases)} cases in both runs, geometric mean of now / then" in proc.stdout
    assert "; 1 only then" in proc.stdout
    data = json.loads((tmp_path / "new" / "results.json").read_text())
    assert data["meta"]["compared_with"] == "old.json" and data["meta"]["device_name"] == machine
    for row in data["results"]:
        assert row["ratio_then"] == 2.0 and row["ratio_change"] == pytest.approx(row["ratio"] / 2.0)
    with open(tmp_path / "new" / "results.csv") as f:
        assert {float(r["ratio_then"]) for r in csv.DictReader(f)} == {2.0}


@pytest.mark.parametrize("then_machine", ["cpu", "Same CPU"])
def test_compare_names_no_other_machine_for_the_same_one_or_an_unnamed_one(then_machine):
    """No "then ran on" line when the earlier run names this machine, or only "cpu" (results.json files written
    before the CPU's model was recorded)."""
    from rich.console import Console

    rows = [{"suite": "ops", "family": "activation", "name": "relu", "ratio": 1.2, "ratio_then": 1.0,
             "ratio_change": 1.2}]
    then = {"meta": {"device_name": then_machine, "torch": "2.x", "size": "tiny"}, "results": []}
    console = Console(record=True, width=200)
    _compare_table(rows, then, "old.json", console, "Same CPU")
    text = console.export_text()
    assert f"then: old.json ({then_machine}, torch 2.x, size tiny)" in text and "then ran on" not in text


@pytest.mark.slow
def test_e2e_times_the_main_job_as_whole_processes_of_each_impl(tmp_path):
    """suite=e2e: c147-train run as a user runs it, impl=c147 and impl=torch (tiny: debug=fast, one round); the
    three rows come from the same runs: the whole process = the fit + the rest, the fit with its epochs per
    second, the whole process judged against its target."""
    proc = run_cli("c147-bench", "suite=e2e", "size=tiny", "rounds=1", "hydra.run.dir=e2e", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads((tmp_path / "e2e" / "results.json").read_text())["results"]}
    assert list(rows) == ["whole process", "training (fit)", "start-up, testing, files"]
    whole, fit, rest = rows.values()
    for side in ("ours", "twin"):
        assert 0 < fit[f"{side}_ms"] < whole[f"{side}_ms"]
        assert rest[f"{side}_ms"] == pytest.approx(whole[f"{side}_ms"] - fit[f"{side}_ms"])
        assert fit[f"{side}_epochs_per_s"] == pytest.approx(1e3 / fit[f"{side}_ms"])  # debug=fast: one epoch
    assert whole["target"] == 1.1 and whole["meets_target"] == (whole["ratio"] <= 1.1)
    assert all(r["ratio"] == pytest.approx(r["ours_ms"] / r["twin_ms"]) for r in rows.values())
    assert "e2e: geometric mean ours / twin" in proc.stdout
