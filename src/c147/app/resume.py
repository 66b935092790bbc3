"""Resuming a run: ``c147-train ckpt_path=<run>/checkpoints/last.ckpt`` (or ``ckpt_path=last`` from inside
a run folder) continues that run in its own folder, with its own config, the same TensorBoard run and
best-checkpoint tracking; a deterministic run resumed this way ends with the same weights and metrics as one
never interrupted.

The rules, all here:

- Values may change on resume (``trainer.max_epochs=30`` to train longer); config groups (``model=mlp``),
  ``+key`` and ``~key`` may not, nor keys the run's config lacks.
- A run that already trained ``trainer.max_epochs`` epochs has nothing to resume: the error says how to
  train it longer.
- A run's own ``last.ckpt`` continues in that run's folder (Hydra is pointed at it before it starts, and does
  not rewrite its ``.hydra`` files). Any other checkpoint (``epoch_007.ckpt``) branches into a new run folder,
  so no later checkpoint of the original run is overwritten.

:func:`prepare_resume` applies them before Hydra (in a second, before Lightning's import);
:meth:`Resume.plan` reads the checkpoint once inside the run and gives the config the run continues with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict

from c147.app.argv import config_groups, override_value, quote, split_override

if TYPE_CHECKING:
    from c147.app.entry import Invocation

PROG = "c147-train"


def run_folder_of(path: Path) -> Path | None:
    """The c147-train run folder a checkpoint sits in (``<run>/checkpoints/x.ckpt``), if it does."""
    run = path.resolve().parent.parent
    if path.resolve().parent.name == "checkpoints" and (run / ".hydra" / "config.yaml").is_file():
        return run
    return None


def resumed_config(cfg: DictConfig, state: dict[str, Any], overrides: list[str],
                   groups: set[str] | None = None) -> DictConfig:
    """The config a resumed run continues with: the checkpoint's own, in this invocation's run folder,
    with the command line's value overrides applied (``trainer.max_epochs=30``).

    Args:
        cfg: this invocation's config (its ``paths.output_dir`` and ``ckpt_path``).
        state: the checkpoint.
        overrides: the command line's overrides.
        groups: the config groups (default: the packaged ones), which may not change.

    Raises:
        ValueError: an override that would change the run's structure (``model=mlp``, ``+key``,
            ``~key``) or names a key the run's config does not have.
    """
    from c147.lit.checkpoint import checkpoint_config

    run_cfg = checkpoint_config(state, resolved=False)
    with open_dict(run_cfg):
        run_cfg.paths.output_dir = str(cfg.paths.output_dir)
        run_cfg.ckpt_path = str(Path(cfg.ckpt_path).resolve())
        run_cfg.verbose = bool(cfg.get("verbose", False))  # this invocation's terminal, not the run's setting
    groups = config_groups() if groups is None else groups
    for arg in overrides:
        kv = split_override(arg)
        key = kv[0] if kv else arg.lstrip("+~").split("=")[0]
        if key in ("ckpt_path", "verbose") or key.startswith("hydra."):
            continue
        if kv is None or key in groups:
            raise ValueError(f"'{arg}': a resumed run keeps its own config; only values may change "
                             f"(e.g. trainer.max_epochs=30). To train something else, start a new run")
        if OmegaConf.select(run_cfg, key, default="<missing>") == "<missing>":
            raise ValueError(f"'{arg}': the resumed run's config has no key '{key}'")
        OmegaConf.update(run_cfg, key, override_value(arg), merge=False)
    OmegaConf.set_struct(run_cfg, True)
    return run_cfg


def check_resumable(cfg: DictConfig, state: dict[str, Any]) -> None:
    """Refuse a run that already trained ``trainer.max_epochs`` epochs, saying how to train it longer."""
    from c147.lit.checkpoint import epochs_done

    done, max_epochs = epochs_done(state), cfg.trainer.get("max_epochs")
    if done is not None and max_epochs not in (None, -1) and done >= max_epochs:
        raise ValueError(f"ckpt_path: the run already trained {done} epochs (trainer.max_epochs={max_epochs}), "
                         f"nothing to resume; to train longer: {PROG} ckpt_path={cfg.ckpt_path} "
                         f"trainer.max_epochs={done + max(1, done // 2)}")


@dataclass
class Resume:
    """A run continued from a checkpoint, read once.

    Attributes:
        checkpoint: the checkpoint file (absolute).
        config: the config the run continues with (:func:`resumed_config`).
        in_place: whether it continues in the checkpoint's own run folder (else it branches into a new one).
    """

    checkpoint: Path
    config: DictConfig
    in_place: bool

    @classmethod
    def plan(cls, cfg: DictConfig, overrides: list[str], groups: set[str] | None = None) -> Resume | None:
        """The resume that ``cfg.ckpt_path`` asks for (None for a fresh run), checked: the checkpoint is a
        c147 one, the overrides only change values, and there are epochs left to train."""
        from c147.lit.checkpoint import read_checkpoint

        if not cfg.get("ckpt_path"):
            return None
        state = read_checkpoint(cfg.ckpt_path)
        config = resumed_config(cfg, state, overrides, groups)
        check_resumable(config, state)
        checkpoint = Path(config.ckpt_path)
        in_place = checkpoint.parent.name == "checkpoints" and \
            checkpoint.parent.parent == Path(cfg.paths.output_dir).resolve()
        return cls(checkpoint, config, in_place)


def prepare_resume(inv: Invocation, cfg: DictConfig) -> None:
    """Before Hydra: check ``ckpt_path`` (``last``: the current folder's ``checkpoints/last.ckpt``) and, for a
    run's own ``last.ckpt``, point Hydra at that run's folder (without rewriting its ``.hydra`` files)."""
    from c147.lit.checkpoint import read_checkpoint

    for i, arg in enumerate(inv.overrides):
        kv = split_override(arg)
        if not kv or kv[0] != "ckpt_path":
            continue
        value = override_value(arg)
        if value is None:
            return
        path = Path(str(value))
        if str(value) == "last":
            path = Path.cwd() / "checkpoints" / "last.ckpt"
            if not path.is_file():
                raise FileNotFoundError(f"ckpt_path=last: no checkpoints/last.ckpt in the current folder {Path.cwd()}; "
                                        f"run it from inside a run folder (outputs/train/runs/<time>) or give a path")
        state = read_checkpoint(path)
        path = path.resolve()
        probe = OmegaConf.create({"paths": {"output_dir": str(path.parent)}, "ckpt_path": str(path)})
        check_resumable(resumed_config(probe, state, inv.overrides, config_groups(inv.config_dirs)), state)
        inv.overrides[i] = f"ckpt_path={quote(path)}"
        inv.resume = path
        run = run_folder_of(path)
        if run is not None and inv.run_dir is None and path == run / "checkpoints" / "last.ckpt":
            inv.run_dir, inv.resume_in_place, inv.created = run, True, False
            inv.overrides += [f"hydra.run.dir={quote(run)}", "hydra.output_subdir=null"]
        return
