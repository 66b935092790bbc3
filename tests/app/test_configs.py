"""Every config composes and every option of every group instantiates."""

from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from c147.app.argv import CONFIG_DIR
from c147.switch import lookup
from tests.conftest import compose_config

GROUPS = Path(CONFIG_DIR)


def options(group: str) -> list[str]:
    names = sorted(p.stem for p in (GROUPS / group).glob("*.yaml"))
    assert names, f"configs/{group} is empty"
    return names


def test_train_config_defaults(tmp_path):
    cfg = compose_config("train", [f"paths.output_dir={tmp_path}"])
    assert cfg.impl == "c147" and cfg.seed == 0
    assert cfg.model._target_ == "c147.models.lenet5" and cfg.data._target_ == "c147.data.DigitsDataModule"
    assert cfg.loss.name == "cross_entropy" and cfg.callbacks.early_stopping.patience is None
    for key in ("model.impl", "optim.impl", "scheduler.impl", "loss.impl"):
        assert cfg[key.split(".")[0]].impl == "c147", key
    assert cfg.data.seed == 0


def test_impl_reaches_every_part(tmp_path):
    cfg = compose_config("train", [f"paths.output_dir={tmp_path}", "impl=torch"])
    assert {cfg.model.impl, cfg.optim.impl, cfg.scheduler.impl, cfg.loss.impl} == {"torch"}


@pytest.mark.parametrize("name", options("data"))
def test_every_data_config_instantiates(name, tmp_path):
    cfg = compose_config("train", [f"data={name}", f"paths.data_dir={tmp_path}", "seed=7"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, L.LightningDataModule) and dm.num_classes >= 2 and dm.seed == 7


@pytest.mark.parametrize("name", options("model"))
@pytest.mark.parametrize("impl", ["c147", "torch"])
def test_every_model_config_instantiates(name, impl):
    cfg = compose_config("train", [f"model={name}", f"impl={impl}"])
    net = instantiate(cfg.model, num_classes=10, in_channels=1, image_size=32)
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", options("optim"))
@pytest.mark.parametrize("impl", ["c147", "torch"])
def test_every_optim_and_scheduler_config_instantiates(name, impl):
    cfg = compose_config("train", [f"optim={name}", f"impl={impl}"])
    opt = instantiate(cfg.optim)([torch.nn.Parameter(torch.ones(2))])
    assert isinstance(opt, torch.optim.Optimizer) and opt.param_groups[0]["lr"] == cfg.optim.lr
    assert type(opt).__module__.split(".")[0] == impl  # impl=c147 builds ours, impl=torch torch's
    for sched_name in options("scheduler"):
        sched_cfg = compose_config("train", [f"scheduler={sched_name}", f"impl={impl}"]).scheduler
        sched = instantiate(sched_cfg)(opt)
        assert hasattr(sched, "step")


@pytest.mark.parametrize("name", options("trainer"))
def test_every_trainer_config_instantiates(name, tmp_path):
    cfg = compose_config("train", [f"trainer={name}", f"paths.output_dir={tmp_path}"])
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        pytest.skip("trainer=gpu needs a CUDA device")
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert isinstance(trainer, L.Trainer) and trainer.max_epochs == cfg.trainer.max_epochs


def test_gpu_trainer_is_cuda_without_mixed_precision():
    cfg = compose_config("train", ["trainer=gpu"])
    assert cfg.trainer.accelerator == "gpu" and str(cfg.trainer.precision) == "32"


@pytest.mark.parametrize("group", ["logger", "callbacks"])
def test_logger_and_callbacks_instantiate(group, tmp_path):
    for name in options(group):
        cfg = compose_config("train", [f"{group}={name}", f"paths.output_dir={tmp_path}"])
        objects = [instantiate(c) for c in cfg[group].values() if c]
        assert objects


@pytest.mark.parametrize("name", options("recipe"))
def test_every_recipe_composes(name, tmp_path):
    cfg = compose_config("train", [f"recipe={name}", f"paths.output_dir={tmp_path}"])
    dm = instantiate(cfg.data)
    net = instantiate(cfg.model, num_classes=dm.num_classes, in_channels=dm.in_channels, image_size=dm.image_size)
    assert sum(p.numel() for p in net.parameters()) > 0


def test_debug_fast_sets_fast_dev_run():
    assert compose_config("train", ["debug=fast"]).trainer.fast_dev_run is True


def test_eval_config_needs_a_checkpoint():
    cfg = compose_config("eval")
    assert cfg.task_name == "eval" and cfg.get("data") is None
    with pytest.raises(Exception, match="ckpt_path"):
        _ = cfg.ckpt_path


def test_every_regularizer_config_instantiates():
    from c147.nn.regularize import Regularizer

    for name in options("regularizer"):
        reg = instantiate(compose_config("train", [f"regularizer={name}"]).regularizer)
        assert isinstance(reg, Regularizer) and reg.apply_to == "weights"


@pytest.mark.parametrize("impl", ["c147", "torch"])
def test_every_clip_config_clips(impl):
    for name in options("clip"):
        clip = instantiate(compose_config("train", [f"clip={name}", f"impl={impl}"]).clip)
        p = torch.nn.Parameter(torch.zeros(3))
        p.grad = torch.tensor([30.0, -40.0, 0.0])
        clip([p])
        assert p.grad.abs().max() <= 5.0 + 1e-4, (name, p.grad)


def test_debug_fast_writes_no_checkpoint(train_config):
    from c147.app.train import train

    metrics = train(train_config("debug=fast", "data=synthetic", "model=mlp"))
    run_dir = Path(metrics["run_dir"])
    assert (run_dir / "metrics.json").is_file() and not (run_dir / "checkpoints").exists()


PART_GROUPS = ("model", "loss", "optim", "scheduler", "clip")


@pytest.mark.parametrize("group, name", [(g, n) for g in PART_GROUPS for n in options(g)])
def test_every_config_builds_only_hand_written_parts_with_impl_c147(group, name, tmp_path):
    """impl=c147 never hands out a built-in (a missing twin is a ValueError), checked on what every
    config really builds: each layer, the loss, the optimizer, the scheduler and the clipping."""
    cfg = compose_config("train", [f"{group}={name}", "impl=c147", f"paths.output_dir={tmp_path}"])
    with torch.device("meta"):
        net = instantiate(cfg.model, num_classes=10, in_channels=3, image_size=32)
    leaves = {type(m) for m in net.modules() if not list(m.children())}
    assert {c for c in leaves if not c.__module__.startswith("c147.")} == set(), leaves
    loss = instantiate(cfg.loss, num_classes=10, class_counts=torch.ones(10, dtype=torch.long))
    assert type(loss.criterion).__module__ == "c147.nn.loss", loss
    params = [torch.nn.Parameter(torch.zeros(3))]
    optimizer = instantiate(cfg.optim)(params)
    assert type(optimizer).__module__.startswith("c147.optim")
    if cfg.get("scheduler"):
        assert type(instantiate(cfg.scheduler)(optimizer)).__module__ == "c147.optim.lr_scheduler"
    if cfg.get("clip"):
        assert lookup("clip", cfg.clip.name, cfg.clip.impl).__module__ == "c147.optim.clip"
