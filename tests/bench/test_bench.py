"""c147-bench runs ours and the twin side by side and writes ratios (no timing is asserted)."""

import json

import pytest
import torch

from c147.bench import ops
from c147.bench.harness import Result, compare
from tests.conftest import compose_config, run_cli


def test_every_case_runs_forward_and_backward_on_both_sides():
    for case in ops.CASES:
        ours, twin, shape, _ = ops.closures(case, "cpu", torch.float32)
        ours(), twin()
        assert shape


def test_compare_and_result_ratio():
    ours_ms, twin_ms = compare(lambda: torch.ones(10).sum(), lambda: torch.ones(10).sum(), rounds=1, min_run_time=0.01)
    assert ours_ms > 0 and twin_ms > 0
    row = Result("ops", "f", "n", "10", 2.0, 4.0, bytes_moved=4000).as_dict(copy_gbps=1.0)
    assert row["ratio"] == 0.5 and row["ours_fraction_of_copy_bw"] == pytest.approx(4000 / 2e6)


def test_cli_writes_results_json(tmp_path):
    proc = run_cli("c147-bench", "families=[linear,loss]", "rounds=1", "min_run_time=0.01", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run,) = (tmp_path / "outputs" / "bench" / "runs").iterdir()
    data = json.loads((run / "results.json").read_text())
    assert data["meta"]["torch"] == torch.__version__
    names = [r["name"] for r in data["results"]]
    assert "linear" in names and "cross_entropy" in names and "conv2d LeNet C1" not in names
    assert all(r["ratio"] == pytest.approx(r["ours_ms"] / r["twin_ms"]) for r in data["results"])
    assert "ours / twin" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["suite=nope"], "c147-bench: error: unknown benchmark suite 'nope'"),
        (["families=[convs]"], "c147-bench: error: unknown families ['convs']"),
        (["dtype=int8"], "c147-bench: error: dtype must be one of"),
    ],
)
def test_cli_bad_input(args, message, tmp_path):
    proc = run_cli("c147-bench", *args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_bench_config_composes():
    cfg = compose_config("bench")
    assert cfg.suite == "ops" and cfg.device == "cpu"


def test_model_suite_runs_a_training_step_on_both_impls():
    from c147.bench import models

    (case,) = [c for c in models.CASES if c.family == "lenet5"]
    ours, twin, shape, _ = models.closures(case, "cpu", torch.float32)
    ours(), twin()
    assert shape == "64x1x32x32"


def test_optim_suite_cases_run():
    from c147.bench import optim

    case = next(c for c in optim.CASES if c.family == "Adam" and c.workload == "1000 x 100")
    ours, twin, _, _ = optim.closures(case, "cpu", torch.float32)
    ours(), twin()


@pytest.mark.parametrize("name", ["ops", "optim", "models"])
def test_every_suite_declares_what_run_reads(name):
    import importlib

    suite = importlib.import_module(f"c147.bench.{name}")
    assert suite.CASES and set(suite.FAMILIES) == {c.family for c in suite.CASES}
    assert callable(suite.closures)
    assert suite.IMAGES_PER_STEP is None or (isinstance(suite.IMAGES_PER_STEP, int) and suite.IMAGES_PER_STEP > 0)
    assert (suite.IMAGES_PER_STEP is not None) == (name == "models")
