"""What the Hydra entry points share: the config folder, checks before Hydra writes anything,
one-line user errors, run folders and run files.

Every console script goes through :func:`hydra_entry`:

1. ``GROUP=null`` on the command line becomes Hydra's ``~GROUP`` (Hydra itself refuses ``null``
   for a config group).
2. The command line is composed once before Hydra runs, so an unknown config name, key or a
   malformed value is one line on stderr, exit 2, and no run folder is made.
3. A ``hydra.run.dir`` that already holds files is refused before Hydra writes into it.
4. A user error inside the job (``ValueError``, ``TypeError``, missing files, ...) is one line
   naming what was expected and what came, exit 2, and the folder this invocation made is removed.
5. In a sweep (``-m``) a job's failure is recorded in its folder and the other jobs go on; the sweep
   ends with a summary (:mod:`c147.sweep`) and exit 1 if a job failed.
6. The processes Lightning starts for DDP on one machine run the first process's run, in its folder
   (:func:`ddp_process_argv`).

``HYDRA_FULL_ERROR=1`` shows the full traceback instead of the one line.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import sys
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, InstantiationException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.table import Table

# the configs ship inside the package (a wheel works from any folder); the repository's top-level
# configs/ is a link to this folder, the one copy users read and edit
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")

LAST_ERROR: str | None = None  # the one-line message of the last user error (see user_errors)


def last_error() -> str | None:
    """The one-line message of the last user error :func:`user_errors` reported in this process (or None)."""
    return LAST_ERROR


def clear_last_error() -> None:
    global LAST_ERROR
    LAST_ERROR = None


# what a user can get wrong in a config or on the command line: reported in one line
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError,
               HydraException, OmegaConfBaseException)


def one_line(error: BaseException) -> str:
    """``error``'s message folded into one line; for a failed ``instantiate``, the real cause
    and the config key it came from."""
    text = str(error)
    if isinstance(error, InstantiationException) and error.__cause__ is not None:
        key = re.search(r"full_key: (\S+)", text)
        text = f"{error.__cause__}" + (f" (config key '{key.group(1)}')" if key else "")
    text = text.split("Config search path:")[0]  # Hydra's "could not find" lists its search path after
    text = text.replace("Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.", "")
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(error).__name__


def full_errors() -> bool:
    """Whether the user asked for tracebacks (``HYDRA_FULL_ERROR=1``)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


@contextmanager
def user_errors(prog: str, cleanup: Callable[[], None] | None = None) -> Iterator[None]:
    """Turn a user error raised inside into ``prog: error: ...`` on stderr and exit status 2
    (after ``cleanup``, if given). With ``HYDRA_FULL_ERROR=1`` the exception propagates."""
    try:
        yield
    except USER_ERRORS as e:
        global LAST_ERROR
        if cleanup is not None:
            cleanup()
        LAST_ERROR = one_line(e)  # a sweep's job records it (c147.sweep)
        if full_errors():
            raise
        print(f"{prog}: error: {LAST_ERROR}", file=sys.stderr)
        raise SystemExit(2) from None


# ---------------------------------------------------------------------------------- before Hydra

# a user's own config folders (``--config-dir DIR``), searched before the packaged configs
USER_CONFIG_DIRS: list[Path] = []


def config_groups() -> set[str]:
    """The config groups: folders of the packaged configs and of the user's (``GROUP=null`` means
    ``~GROUP`` for these)."""
    return {p.name for d in (*USER_CONFIG_DIRS, Path(CONFIG_DIR)) if d.is_dir() for p in d.iterdir() if p.is_dir()}


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


@dataclass
class Invocation:
    """What the checks before Hydra found out about this command line.

    Attributes:
        overrides: the command line as handed to Hydra.
        run_dir: the run folder named with ``hydra.run.dir`` (or chosen for a resume), else None.
        created: whether this invocation makes its run folder (so a failure may remove it).
        resume: the checkpoint a ``c147-train`` run resumes from, or None.
        resume_in_place: whether it resumes in the checkpoint's own run folder.
    """

    overrides: list[str] = field(default_factory=list)
    run_dir: Path | None = None
    created: bool = True
    resume: Path | None = None
    resume_in_place: bool = False


INVOCATION = Invocation(created=False)  # set by hydra_entry; tests calling train() directly keep folders


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
    (parsed,) = OverridesParser.create().parse_overrides([arg])
    return parsed.value()


def rewrite_null_groups(argv: list[str]) -> list[str]:
    """``GROUP=null`` -> ``~GROUP`` for the config groups (dropped where the default is already none)."""
    groups, out = config_groups(), []
    for arg in argv:
        kv = split_override(arg)
        if kv and kv[0] in groups and kv[1].lower() in ("null", "none", "~"):
            out.append(f"~{kv[0]}")
        else:
            out.append(arg)
    return out


def holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


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


def compose_check(config_name: str, overrides: list[str]) -> DictConfig:
    """Compose ``config_name`` with ``overrides`` as Hydra will, to fail before it writes anything."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if USER_CONFIG_DIRS:  # what Hydra's --config-dir does: search the user's folders first
        overrides = [*overrides, "hydra.searchpath=[" + ",".join(f"'file://{d}'" for d in USER_CONFIG_DIRS) + "]"]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


# the launchers of c147's optional cluster extras: hydra/launcher=NAME -> the Hydra plugin providing it
LAUNCHER_PLUGINS = {"slurm": "hydra_plugins.hydra_submitit_launcher",
                    "submitit_slurm": "hydra_plugins.hydra_submitit_launcher",
                    "submitit_local": "hydra_plugins.hydra_submitit_launcher",
                    "joblib": "hydra_plugins.hydra_joblib_launcher"}


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


def prepare(prog: str, config_name: str, argv: list[str],
            extra: Callable[[Invocation], None] | None = None) -> Invocation:
    """The checks before Hydra (module docstring, steps 1-3); ``extra`` adds a script's own."""
    plain, dirs = pop_config_dirs(argv)
    for d in dirs:
        if not d.is_dir():
            raise NotADirectoryError(f"--config-dir: expected a folder of configs, got {d.absolute()}")
    USER_CONFIG_DIRS[:] = [d.resolve() for d in dirs]
    inv = Invocation(overrides=rewrite_null_groups(plain))
    if any(a.startswith("-") for a in inv.overrides):  # --help, --cfg, -m ...: Hydra's business
        check_launcher_installed(inv.overrides)
        inv.overrides = rewrite_null_groups(argv)
        inv.created = False  # a sweep's failed job keeps its folder: the summary points to its error
        return inv
    for arg in inv.overrides:
        kv = split_override(arg)
        if kv and kv[0] == "hydra.run.dir":
            inv.run_dir = Path(kv[1])
    cfg = compose_check(config_name, inv.overrides)
    if extra is not None:
        extra(inv)
    if inv.run_dir is not None and not inv.resume_in_place:
        inv.created = check_run_dir(inv.run_dir)
    elif inv.run_dir is None:  # the timestamped default: its parents must be creatable (paths.output_root)
        check_creatable(Path(cfg.hydra.run.dir).parent, "paths.output_root")
    inv.overrides = [a for d in dirs for a in ("--config-dir", str(d.resolve()))] + inv.overrides
    return inv


def remove_failed_run(run_dir: Path) -> None:
    """Remove the folder of an invocation that failed before doing anything (only when it made it),
    and the parents that are left empty (``outputs/train/runs``), up to the working directory."""
    if not (INVOCATION.created and run_dir.is_dir()):
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    cwd = Path.cwd().resolve()
    for parent in run_dir.resolve().parents:
        if parent == cwd or cwd not in parent.parents or any(parent.iterdir()):
            break
        parent.rmdir()


# DDP on one machine: Lightning starts processes 1 .. N-1 by running the command line again with LOCAL_RANK
# set. The first process puts the command line they are to run here (ddp_process_command): its run's own
# overrides and folder, never a sweep's -m (Lightning would pass a multirun's command line on as it is)
DDP_ARGV = "C147_DDP_ARGV"


def ddp_process_command(run_dir: Path, overrides: list[str]) -> list[str]:
    """The command line (after the program) of the other DDP processes of the run in ``run_dir``:
    the run's ``overrides``, its folder, and no second copy of its ``.hydra`` files."""
    flags = [a for d in USER_CONFIG_DIRS for a in ("--config-dir", str(d))]
    return [*flags, *overrides, f"hydra.run.dir={quote(run_dir)}", "hydra.output_subdir=null"]


def ddp_process_argv() -> list[str] | None:
    """In a DDP process Lightning started (``LOCAL_RANK`` 1, 2, ...), the command line the first
    process left for it (:data:`DDP_ARGV`), with a log file of its own; None in any other process."""
    rank, argv = os.environ.get("LOCAL_RANK"), os.environ.get(DDP_ARGV)
    if rank in (None, "0") or argv is None:
        return None
    name = (split_override(next((a for a in sys.argv if a.startswith("hydra.job.name=")), "")) or ("", ""))[1]
    return [*json.loads(argv), f"hydra.job.name={name or f'ddp_process_{rank}'}"]


def hydra_entry(prog: str, config_name: str, task: Callable[[DictConfig], Any],
                extra: Callable[[Invocation], None] | None = None) -> Callable[[], None]:
    """A console entry point running ``task`` under ``@hydra.main`` after :func:`prepare`."""
    import hydra

    @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
    def _main(cfg: DictConfig) -> Any:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get()
        if hydra_cfg.mode != RunMode.MULTIRUN:
            return task(cfg)
        from c147.sweep import run_job  # a job of a sweep: its failure is recorded, the sweep goes on

        # module functions, not this closure's globals: a launcher may pickle this function by value (joblib)
        clear_last_error()
        return run_job(task, cfg, Path(hydra_cfg.runtime.output_dir), last_error)

    def main() -> None:
        global INVOCATION
        child = ddp_process_argv()
        if child is not None:  # a DDP process Lightning started: the first process's run, in its folder
            USER_CONFIG_DIRS[:] = [d.resolve() for d in pop_config_dirs(child)[1]]
            INVOCATION = Invocation(overrides=child, created=False)
        else:
            with user_errors(prog):
                INVOCATION = prepare(prog, config_name, sys.argv[1:], extra)
        sys.argv = [sys.argv[0], *INVOCATION.overrides]
        _main()
        sweep = sys.modules.get("c147.sweep")
        if sweep is not None and sweep.FAILED_JOBS:  # the summary listed them with their errors
            failed = sweep.FAILED_JOBS
            print(f"{prog}: error: {len(failed)} job(s) of the sweep failed: "
                  f"{', '.join(map(str, failed))} (see the summary above)", file=sys.stderr)
            raise SystemExit(1)

    main.__doc__ = f"Console entry point ``{prog}``."
    return main


# ---------------------------------------------------------------------------------- config checks

_PLAIN = (bool, int, float, str, list, tuple, dict, type(None))


def _allowed(hint: Any) -> tuple[type, ...] | None:
    """The plain types a config value may have for a parameter annotated ``hint``; None: can't tell."""
    if hint is typing.Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_allowed(h) for h in typing.get_args(hint)]
        return None if any(p is None for p in parts) else tuple(t for p in parts for t in p)
    if origin is typing.Literal:
        return tuple({type(a) for a in typing.get_args(hint)})
    if origin is not None:
        hint = origin
    if hint is torch.Tensor:
        return ()  # never in a config: the other members of the union decide
    if hint in _PLAIN or hint in (list, tuple, dict) or (isinstance(hint, type) and issubclass(hint, (list, tuple))):
        return (hint,)
    if hint in (typing.Sequence, typing.Iterable) or getattr(hint, "__module__", "") == "collections.abc":
        return (list, tuple, ListConfig)
    return None


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, ListConfig):
        value = list(value)
    if isinstance(value, DictConfig):
        value = dict(value)
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    if isinstance(value, (list, tuple)) and (list in allowed or tuple in allowed):
        return True
    return isinstance(value, allowed)


def _target_callable(node: DictConfig) -> Callable | None:
    from hydra.utils import get_object

    try:
        target = get_object(node._target_)
        if node._target_ == "c147.make":
            from c147.switch import lookup

            target = lookup(node.kind, node.name, node.impl)
    except Exception:  # noqa: BLE001 - instantiate reports an unknown target in its own words
        return None
    return target.__init__ if isinstance(target, type) else target


def check_config_types(cfg: DictConfig, keys: tuple[str, ...] | None = None) -> None:
    """Every value under a ``_target_`` node fits the target's annotation (or its default's type).

    Raises:
        TypeError: naming the config key, the type expected and the value that came.
    """

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, DictConfig):
            return
        if "_target_" in node:
            check_node(node, prefix)
        for k in node:
            if not str(k).startswith("_") and OmegaConf.is_dict(node._get_node(k)):
                walk(node[k], f"{prefix}{k}.")

    def check_node(node: DictConfig, prefix: str) -> None:
        fn = _target_callable(node)
        if fn is None:
            return
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # noqa: BLE001 - unresolvable annotations: judge by defaults only
            hints = {}
        params = inspect.signature(fn).parameters
        for key in node:
            if key.startswith("_") or key not in params or OmegaConf.is_missing(node, key):
                continue
            value = node[key]
            param = params[key]
            allowed = _allowed(hints[key]) if key in hints else None
            if allowed is None and param.default not in (inspect.Parameter.empty, None):
                allowed = (type(param.default),) if isinstance(param.default, (bool, int, float, str)) else None
            if allowed and not _fits(value, allowed):
                names = " or ".join(dict.fromkeys("a list" if t in (list, tuple, ListConfig) else
                                                  "null" if t is type(None) else t.__name__ for t in allowed))
                raise TypeError(f"{prefix}{key}: expected {names}, got {value!r} ({type(value).__name__})")

    for key in keys or tuple(cfg):
        if key in cfg and OmegaConf.is_dict(cfg._get_node(key)):
            walk(cfg[key], f"{key}.")


# ---------------------------------------------------------------------------------- run files


def check_fresh(run_dir: Path, *names: str) -> None:
    """Refuse to reuse a run folder that already holds what this run writes (``names``; by default
    a training run's ``checkpoints`` and ``metrics.json``): the one "never overwrite" check."""
    taken = [run_dir / n for n in names or ("checkpoints", "metrics.json") if (run_dir / n).exists()]
    if taken:
        raise FileExistsError(f"run folder {run_dir} already holds {taken[0].name}; refusing to overwrite it")


def sweep_job_folders(sweep_dir: Path) -> list[Path]:
    """The job folders of a multirun folder (``0``, ``1``, ...), in job order (none if it is not a folder)."""
    if not sweep_dir.is_dir():
        return []
    return sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> Path:
    """Write ``metrics.json`` into ``run_dir``; an earlier one (an interrupted attempt) is kept as
    ``metrics.attempt<N>.json``, never overwritten."""
    path = run_dir / "metrics.json"
    run_dir.mkdir(parents=True, exist_ok=True)
    if path.exists():
        n = 1
        while (run_dir / f"metrics.attempt{n}.json").exists():
            n += 1
        path.rename(run_dir / f"metrics.attempt{n}.json")
    with path.open("x") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
    return path


def print_summary(title: str, rows: dict[str, Any]) -> None:
    """A two-column table on stdout."""
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console(width=max(100, len(str(max(map(str, rows.values()), key=len))) + 30)).print(table)
