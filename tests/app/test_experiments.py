"""c147-experiment: each study in its reduced mode writes its figures (PNG files and TensorBoard images) and
its headline claim holds on its own output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from c147.app.experiments import STUDIES, experiment
from tests.conftest import compose_config, run_cli

FIGURES = {"optimizer_paths": ["paths_quadratic", "paths_rosenbrock"], "init": ["layer_statistics"],
           "regularization": ["regularization"], "ensemble": ["ensemble"], "class_weights": ["recall"],
           "optimizers": ["curves"], "lr_decay": ["curves"], "batch_size": ["curves", "noise_and_time"],
           "label_smoothing": ["confidence", "curves"], "batchnorm": ["accuracy_vs_lr", "curves"],
           "augmentation": ["curves", "samples"], "transfer": ["transfer"],
           "multitask": ["curves", "multitask"]}
# the c147-train runs a study makes, in its reduced mode
RUNS = {"optimizer_paths": [], "init": [], "regularization": ["l1", "l2", "none"],
        "ensemble": ["seed0", "seed1", "seed2"], "class_weights": ["balanced", "unweighted"],
        "optimizers": ["momentum", "sgd"], "lr_decay": ["constant", "cosine"], "batch_size": ["batch", "stochastic"],
        "label_smoothing": ["none", "smoothed"], "batchnorm": ["bn_0.5", "plain_0.5"],
        "augmentation": ["augmented", "none"],
        "transfer": ["head_on_learned_trunk_seed0", "head_on_untrained_trunk_seed0", "trunk"],
        "multitask": ["parity_0", "parity_2"]}


def run_study(tmp_path: Path, name: str, *overrides: str) -> dict:
    return experiment(compose_config("study", [f"study={name}", "reduced=true", f"paths.output_dir={tmp_path / 'run'}",
                                               f"paths.data_dir={tmp_path / 'data'}", *overrides]))


def test_every_study_has_a_config_and_a_test():
    configs = sorted(p.stem for p in (Path(__file__).parents[2] / "src/c147/configs/study").glob("*.yaml"))
    assert configs == sorted(STUDIES) == sorted(FIGURES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STUDIES))
def test_each_study_writes_its_figures_and_its_claim_holds(tmp_path, name):
    result = run_study(tmp_path, name)
    run = Path(result["run_dir"])
    assert result["claim"]["holds"] is True, result["claim"]
    assert json.loads((run / "metrics.json").read_text())["claim"] == result["claim"]
    assert sorted(result["figures"]) == sorted(f"figures/{f}.png" for f in FIGURES[name])
    for figure in FIGURES[name]:
        assert (run / "figures" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
    acc = EventAccumulator(str(run / "tensorboard" / name), size_guidance={"images": 0})
    acc.Reload()
    assert sorted(acc.Tags()["images"]) == sorted(f"figures/{f}" for f in FIGURES[name])
    made = sorted(p.name for p in (run / "runs").iterdir()) if (run / "runs").exists() else []
    assert made == RUNS[name]
    for label in made:  # each run its own TensorBoard run, named by its label
        assert (run / "runs" / label / "tensorboard" / label).is_dir()


def test_the_claims_numbers():
    """The claims' values come from the studies' own figures (checked above); here: the surfaces' minima and
    the gradient of the quadratic against its closed form, which the paths are drawn over."""
    import torch

    from c147.app.experiments import quadratic, rosenbrock

    assert quadratic(torch.zeros(2)) == 0 and rosenbrock(torch.ones(2)) == 0
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    quadratic(p).backward()
    assert p.grad.tolist() == [1.0, 200.0]


def test_console_script_refuses_an_unknown_study_in_one_line(tmp_path):
    proc = run_cli("c147-experiment", "study.name=nope", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(
        "c147-experiment: error: study.name: expected one of optimizer_paths"), proc.stderr[-2000:]
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_used_folder_is_refused(tmp_path, capsys):
    (tmp_path / "run" / "figures").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        run_study(tmp_path, "optimizer_paths")
    assert exit_info.value.code == 2
    assert "already holds figures; refusing to overwrite it" in capsys.readouterr().err
    assert list((tmp_path / "run").iterdir()) == [tmp_path / "run" / "figures"]


def test_gradient_noise_falls_as_one_over_the_batch_size():
    """Minibatches drawn without replacement from N samples: E||g_B - g||² = (tr Σ / B) (N - B) / (N - 1), so
    B=1 against B=32 is 32 (N - 1) / (N - 32) = 32.9 for the digits' 1,168 training images; 50 draws each:
    within a factor 2 (the seeds 0-2 give 35.2, 36.7, 32.3)."""
    from c147.app.experiments import gradient_noise

    noise = gradient_noise([1, 32], draws=50)
    n = 1168
    assert 0.5 < noise[1] / noise[32] / (32 * (n - 1) / (n - 32)) < 2, noise
