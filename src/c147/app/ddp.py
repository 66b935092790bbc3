"""DDP on one machine, from the command line: Lightning starts processes 1 .. N-1 by running the command line
again with ``LOCAL_RANK`` set. The first process leaves the command line they are to run in the environment
(:data:`DDP_ARGV`): its run's own overrides and folder, never a sweep's ``-m`` (Lightning would pass a
multirun's command line on as it is).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from c147.app.argv import quote, split_override

if TYPE_CHECKING:
    import lightning as L

DDP_ARGV = "C147_DDP_ARGV"


def ddp_process_command(run_dir: Path, overrides: list[str], config_dirs: tuple[Path, ...] = ()) -> list[str]:
    """The command line (after the program) of the other DDP processes of the run in ``run_dir``:
    the user's config folders, the run's ``overrides``, its folder, and no second copy of its ``.hydra`` files."""
    flags = [a for d in config_dirs for a in ("--config-dir", str(d))]
    return [*flags, *overrides, f"hydra.run.dir={quote(run_dir)}", "hydra.output_subdir=null"]


def ddp_process_argv() -> list[str] | None:
    """In a DDP process Lightning started (``LOCAL_RANK`` 1, 2, ...), the command line the first
    process left for it (:data:`DDP_ARGV`), with a log file of its own; None in any other process."""
    rank, argv = os.environ.get("LOCAL_RANK"), os.environ.get(DDP_ARGV)
    if rank in (None, "0") or argv is None:
        return None
    name = (split_override(next((a for a in sys.argv if a.startswith("hydra.job.name=")), "")) or ("", ""))[1]
    return [*json.loads(argv), f"hydra.job.name={name or f'ddp_process_{rank}'}"]


def script_launcher(trainer: L.Trainer) -> Any:
    """The trainer's launcher if Lightning will start the other DDP processes by running the command line
    again (DDP on one machine, not under SLURM or torchrun, which start them themselves); else None."""
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = getattr(trainer.strategy, "launcher", None)
    if (isinstance(launcher, _SubprocessScriptLauncher) and launcher.num_processes > 1
            and not launcher.cluster_environment.creates_processes_externally):
        return launcher
    return None


def main_is_c147_train() -> bool:
    """Whether this process runs ``c147-train`` (or ``python -m c147.app.train``): the command Lightning repeats."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    return (spec.name == "c147.app.train") if spec is not None else Path(sys.argv[0]).name in ("c147-train",
                                                                                                 "train.py")


def check_distributed(cfg: DictConfig, trainer: L.Trainer) -> None:
    """What DDP cannot do, said before it starts (rather than a hang or a traceback in another process).

    Raises:
        ValueError: torch's SyncBatchNorm on the CPU; processes to be started from a program that is not
            ``c147-train`` (``train()`` called from Python, a joblib or submitit_local job).
    """
    if (cfg.trainer.get("sync_batchnorm") and cfg.impl == "torch" and trainer.world_size > 1
            and trainer.strategy.root_device.type == "cpu"):
        raise ValueError("trainer.sync_batchnorm=true with impl=torch: torch.nn.SyncBatchNorm runs on GPUs only "
                         "(it refuses CPU tensors); got the CPU. Use impl=c147 (c147.nn.SyncBatchNorm works on the "
                         "CPU with gloo) or trainer.accelerator=gpu")
    launcher = script_launcher(trainer)
    if launcher is not None and not main_is_c147_train():
        raise ValueError(f"trainer.devices={launcher.num_processes} with strategy=ddp: Lightning starts the other "
                         f"processes by running c147-train's command line again, and this process is not "
                         f"c147-train (train() from Python, or a joblib / submitit_local job); run c147-train "
                         f"trainer=ddp ... itself, or train in one process (trainer.devices=1)")


@contextmanager
def ddp_processes(trainer: L.Trainer, run_dir: Path, overrides: list[str],
                  config_dirs: tuple[Path, ...] = ()) -> Iterator[None]:
    """While the first process fits: the command line of the DDP processes Lightning starts
    (:func:`ddp_process_command`, in the environment they inherit)."""
    import torch

    if script_launcher(trainer) is None or os.environ.get("LOCAL_RANK", "0") != "0":  # nothing to start
        yield
        return
    # what the launcher sets in this process's environment (a LOCAL_RANK left behind would make the next run
    # of a sweep believe its processes are started by someone else, and wait for them)
    keys = (DDP_ARGV, "MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
    before = {k: os.environ.get(k) for k in keys}
    os.environ[DDP_ARGV] = json.dumps(ddp_process_command(run_dir.absolute(), overrides, config_dirs))
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()  # its other processes have ended with the run
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
