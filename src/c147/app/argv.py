"""The command line before Hydra sees it: what a user can get wrong is answered here, in one line, before
torch is imported and before Hydra writes anything.

:func:`prepare` runs these steps and returns the :class:`~c147.app.entry.Invocation`:

1. ``--config-dir DIR`` folders exist (the user's configs, searched before the packaged ones).
2. ``GROUP=null`` becomes Hydra's ``~GROUP`` (Hydra itself refuses ``null`` for a config group).
3. The command line is composed once (:func:`compose_check`): an unknown config name or key, or a
   malformed value, is a user error. The composed values are checked against the types of the
   parameters they are passed to (:mod:`c147.app.config_checks`).
4. A command's own checks (``c147-train``'s ``ckpt_path``: :func:`c147.app.resume.prepare_resume`).
5. A ``hydra.run.dir`` that already holds files is refused; the default timestamped folder's parents
   must be creatable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from c147.app.runs import holds_files

if TYPE_CHECKING:
    from c147.app.entry import Invocation

# the configs ship inside the package (a wheel works from any folder); the repository's top-level
# configs/ is a link to this folder, the one copy users read and edit
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")

# the launchers of c147's optional cluster extras: hydra/launcher=NAME -> the Hydra plugin providing it
LAUNCHER_PLUGINS = {"slurm": "hydra_plugins.hydra_submitit_launcher",
                    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
                    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
                    "joblib": "hydra_plugins.hydra_joblib_launcher"}


def config_groups(config_dirs: tuple[Path, ...] = ()) -> set[str]:
    """The config groups: folders of the packaged configs and of the user's ``config_dirs``."""
    return {p.name for d in (*config_dirs, Path(CONFIG_DIR)) if d.is_dir() for p in d.iterdir() if p.is_dir()}


def pop_config_dirs(argv: list[str]) -> tuple[list[str], list[Path]]:
    """``argv`` without Hydra's ``--config-dir DIR`` / ``-cd DIR`` flags, and those folders."""
    rest, dirs, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--config-dir", "-cd") and i + 1 < len(argv):
            dirs.append(Path(argv[i + 1]))
            i += 2
            continue
        if arg.startswith("--config-dir="):
            dirs.append(Path(arg.split("=", 1)[1]))
        else:
            rest.append(arg)
        i += 1
    return rest, dirs


def quote(path: Path | str) -> str:
    """``path`` as a Hydra override value (quoted: a path may hold '=', ',' or spaces)."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def split_override(arg: str) -> tuple[str, str] | None:
    """``("key", "value")`` of a plain ``key=value`` override (``None`` for ``+key``, ``~key``, flags)."""
    if arg.startswith(("-", "+", "~")) or "=" not in arg:
        return None
    key, value = arg.split("=", 1)
    return key.strip(), value.strip()


def override_value(arg: str) -> Any:
    """The value of a ``key=value`` override as Hydra parses it (``1`` an int, ``null`` None, ...)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    (parsed,) = OverridesParser.create().parse_overrides([arg])
    return parsed.value()


def rewrite_null_groups(argv: list[str], groups: set[str]) -> list[str]:
    """``GROUP=null`` -> ``~GROUP`` for the config ``groups`` (dropped where the default is already none)."""
    out = []
    for arg in argv:
        kv = split_override(arg)
        if kv and kv[0] in groups and kv[1].lower() in ("null", "none", "~"):
            out.append(f"~{kv[0]}")
        else:
            out.append(arg)
    return out


def check_run_dir(folder: Path) -> bool:
    """Refuse a ``hydra.run.dir`` that holds anything; return whether this invocation creates it."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"hydra.run.dir: expected a folder, got the file {folder}")
    if holds_files(folder):
        hint = (f"; to resume it: c147-train ckpt_path={folder / 'checkpoints' / 'last.ckpt'}"
                if (folder / "checkpoints" / "last.ckpt").is_file() else "")
        raise FileExistsError(f"hydra.run.dir: {folder} already holds files (a run?); refusing to write into it, "
                              f"choose a new folder{hint}")
    if folder.exists():
        return False
    check_creatable(folder, "hydra.run.dir")
    return True


def check_creatable(folder: Path, key: str) -> None:
    """Make ``folder`` (and its missing parents) and remove them again, so that Hydra's own mkdir
    cannot fail with a traceback; a failure names ``key``."""
    if folder.is_dir():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"{key}: cannot write into {folder}")
        return
    made = [p for p in (folder, *folder.absolute().parents) if not p.exists()]
    try:
        folder.mkdir(parents=True)
    except OSError as e:
        raise PermissionError(f"{key}: cannot create {folder}: {e.strerror or e}") from None
    for p in made:
        p.rmdir()


def compose_check(config_name: str, overrides: list[str], config_dirs: tuple[Path, ...] = ()) -> DictConfig:
    """Compose ``config_name`` with ``overrides`` as Hydra will (searching ``config_dirs`` first, as
    ``--config-dir`` does), to fail before it writes anything."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if config_dirs:
        overrides = [*overrides, "hydra.searchpath=[" + ",".join(f"'file://{d}'" for d in config_dirs) + "]"]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def check_launcher_installed(overrides: list[str], plugins: dict[str, str] = LAUNCHER_PLUGINS) -> None:
    """Refuse ``hydra/launcher=NAME`` when its Hydra plugin is not installed (a ``ValueError`` naming the
    extras to install), instead of Hydra's "could not find" with its search path."""
    import importlib.util

    for arg in overrides:
        kv = split_override(arg)
        if kv and kv[0] == "hydra/launcher" and kv[1] in plugins:
            try:
                found = importlib.util.find_spec(plugins[kv[1]]) is not None
            except ModuleNotFoundError:  # its parent package is missing too
                found = False
            if not found:
                raise ValueError(f"hydra/launcher={kv[1]}: expected the launcher plugin "
                                 f"{plugins[kv[1]]}, not installed; pip install 'c147[cluster]'")


def prepare(inv: Invocation, argv: list[str],
            extra: Callable[[Invocation, DictConfig], None] | None = None) -> Invocation:
    """The checks before Hydra (the module docstring's steps) on ``argv``, filling in ``inv``; ``extra`` adds
    a command's own (it may rewrite ``inv.overrides`` and choose ``inv.run_dir``)."""
    from c147.app.config_checks import check_config_types

    plain, dirs = pop_config_dirs(argv)
    for d in dirs:
        if not d.is_dir():
            raise NotADirectoryError(f"--config-dir: expected a folder of configs, got {d.absolute()}")
    inv.config_dirs = tuple(d.resolve() for d in dirs)
    groups = config_groups(inv.config_dirs)
    inv.overrides = rewrite_null_groups(plain, groups)
    if any(a.startswith("-") for a in inv.overrides):  # --help, --cfg, -m ...: Hydra's business
        check_launcher_installed(inv.overrides)
        inv.overrides = rewrite_null_groups(argv, groups)
        inv.created = False  # a sweep's failed job keeps its folder: the summary points to its error
        return inv
    for arg in inv.overrides:
        kv = split_override(arg)
        if kv and kv[0] == "hydra.run.dir":
            inv.run_dir = Path(kv[1])
    cfg = compose_check(inv.config_name, inv.overrides, inv.config_dirs)
    check_config_types(cfg)
    if extra is not None:
        extra(inv, cfg)
    if inv.run_dir is not None and not inv.resume_in_place:
        inv.created = check_run_dir(inv.run_dir)
    elif inv.run_dir is None:  # the timestamped default: its parents must be creatable (paths.output_root)
        check_creatable(Path(cfg.hydra.run.dir).parent, "paths.output_root")
        inv.created = True
    inv.overrides = [a for d in inv.config_dirs for a in ("--config-dir", str(d))] + inv.overrides
    return inv
