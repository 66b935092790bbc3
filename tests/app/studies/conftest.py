"""Running a study in its reduced mode (what the tests run), and checking what it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.studies.command import run_study
from tests.conftest import compose_config


def reduced_study(tmp_path: Path, name: str, *overrides: str) -> dict[str, Any]:
    """The study ``name`` in its reduced mode, writing into ``tmp_path/run``; its metrics."""
    return run_study(compose_config("study", [f"study={name}", "reduced=true", f"paths.output_dir={tmp_path / 'run'}",
                                              f"paths.data_dir={tmp_path / 'data'}", *overrides]))


def check_study(tmp_path: Path, name: str, figures: list[str], runs: list[str]) -> dict[str, Any]:
    """Run the study ``name`` reduced and check that its claim holds, that metrics.json records it, that it wrote
    exactly ``figures`` (PNG files and TensorBoard images) and made exactly the c147-train ``runs``, each its own
    TensorBoard run named by its label. Returns its metrics."""
    result = reduced_study(tmp_path, name)
    run = Path(result["run_dir"])
    assert result["claim"]["holds"] is True, result["claim"]
    assert json.loads((run / "metrics.json").read_text())["claim"] == result["claim"]
    assert sorted(result["figures"]) == sorted(f"figures/{f}.png" for f in figures)
    for figure in figures:
        assert (run / "figures" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
    acc = EventAccumulator(str(run / "tensorboard" / name), size_guidance={"images": 0})
    acc.Reload()
    assert sorted(acc.Tags()["images"]) == sorted(f"figures/{f}" for f in figures)
    made = sorted(p.name for p in (run / "runs").iterdir()) if (run / "runs").exists() else []
    assert made == sorted(runs)
    assert sorted(result["train_overrides"]) == sorted(runs)
    for label in made:
        assert (run / "runs" / label / "tensorboard" / label).is_dir()
    return result
