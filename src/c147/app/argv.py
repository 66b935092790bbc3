"""The command line before Hydra sees it: what a user can get wrong is answered here, in one line, before
torch is imported and before Hydra writes anything.

:func:`prepare` runs these steps and returns the :class:`~c147.app.entry.Invocation`:

1. ``--config-dir DIR`` folders exist (the user's configs, searched before the packaged ones);
   ``--help`` prints the command's help (:mod:`c147.app.help`) and exits.
2. ``GROUP=null`` becomes Hydra's ``~GROUP`` (Hydra itself refuses ``null`` for a config group).
3. The command line is composed once (:func:`compose_check`): an unknown config name or key, or a
   malformed value, is a user error; an unknown key or group option names the closest valid ones
   (:func:`explain`). The composed values are checked against the types and ranges of the parameters
   they are passed to (:mod:`c147.app.config_checks`).
4. A command's own checks (``c147-train``'s ``ckpt_path``: :func:`c147.app.resume.prepare_resume`).
5. A ``hydra.run.dir`` that already holds files is refused; the default timestamped folder's parents
   must be creatable.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

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


def option_files(group: str, config_dirs: tuple[Path, ...] = ()) -> list[Path]:
    """The files of config group ``group`` in the user's ``config_dirs`` and the packaged configs."""
    folders = [d / group for d in (*config_dirs, Path(CONFIG_DIR))]
    return [p for f in folders if f.is_dir() for p in sorted(f.glob("*.yaml"))]


def group_options(group: str, config_dirs: tuple[Path, ...] = ()) -> list[str]:
    """The options of config group ``group`` (``optim`` -> adagrad, adam, ...), sorted."""
    return sorted({p.stem for p in option_files(group, config_dirs)})


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


def closest(word: str, candidates: list[str]) -> list[str]:
    """The ``candidates`` that ``word`` is plausibly a typo of, closest first (at most three)."""
    scored = sorted(((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in candidates), reverse=True)
    scored = [(r, c) for r, c in scored if r >= 0.65]  # "svn" is 0.67 of "svm"
    return [c for r, c in scored[:3] if r >= scored[0][0] - 0.1]


def key_paths(node: object, prefix: str = "") -> list[str]:
    """Every key of a config container as a dotted path (``trainer``, ``trainer.max_epochs``, ...)."""
    if not isinstance(node, dict):
        return []
    return [p for k, v in node.items() for p in (f"{prefix}{k}", *key_paths(v, f"{prefix}{k}."))]


def suggest_keys(key: str, paths: list[str]) -> list[str]:
    """The keys of ``paths`` that ``key`` was plausibly meant to be: a close name beside it, the same name
    under a close parent, or the same name elsewhere (``max_epochs`` -> ``trainer.max_epochs``)."""
    parent, _, leaf = key.rpartition(".")
    under: dict[str, list[str]] = {}
    for p in paths:
        up, _, name = p.rpartition(".")
        under.setdefault(up, []).append(name)
    parents = [parent] if parent in under else closest(parent, [p for p in under if p])
    found = [f"{p}.{n}".lstrip(".") for p in parents for n in closest(leaf, under[p])]
    return found or [p for p in paths if p.rpartition(".")[2] == leaf and p != key][:3]


def _no_such_key(key: str, arg: str, cfg: DictConfig, config_dirs: tuple[Path, ...]) -> str:
    """Why ``key`` (set by ``arg``) is not in ``cfg``, composed with the command line's group choices."""
    container = OmegaConf.to_container(cfg, resolve=False)
    paths = [p for p in key_paths(container) if not p.startswith("hydra.") or key.startswith("hydra.")]
    near = suggest_keys(key, paths)
    if near:
        return f"{key}: no such key; did you mean {' or '.join(near)}?"
    group, _, rest = key.partition(".")
    choices = dict(cfg.hydra.runtime.choices)
    if rest and group in choices and choices[group] is None:
        return (f"{key}: no such key, {group} is off; choose one first: "
                f"{group}={'|'.join(group_options(group, config_dirs))}")
    if rest and choices.get(group):
        having = sorted({p.stem for p in option_files(group, config_dirs)
                         if OmegaConf.select(OmegaConf.load(p), rest) is not None})
        if having:
            return f"{key}: no such key in {group}={choices[group]}; the {group} options with it: {', '.join(having)}"
    return f"{key}: no such key (nothing close); to add it as a new key: +{arg}"


def sweep_samples(overrides: list[str], most: int = 10) -> list[list[str]]:
    """Command lines that together use every value of a sweep (each sweep's values in turn, the others at their
    first): ``optim=sgd,adam seed=0,1`` -> ``[optim=sgd seed=0]``, ``[optim=adam seed=0]``, ``[optim=sgd seed=1]``.
    A sweep of more than ``most`` values (``range(100)``) is checked by its first."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    values = [list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.input_line] for o in parsed]
    lines = [o.input_line if not o.is_sweep_override() else f"{o.get_key_element()}={v[0]}"
             for o, v in zip(parsed, values, strict=True)]
    samples = [lines]
    for i, (o, vs) in enumerate(zip(parsed, values, strict=True)):
        if o.is_sweep_override() and len(vs) <= most:
            samples += [[*lines[:i], f"{o.get_key_element()}={v}", *lines[i + 1:]] for v in vs[1:]]
    return samples


def explain(error: HydraException, inv: Invocation) -> Exception:
    """A better error for Hydra's failure to compose the command line: an unknown key or group option
    with the closest valid names (else ``error`` itself)."""
    text = str(error)
    missing = re.search(r"Could not find '(.+)/([^/']+)'", text)
    if missing:
        group, option = missing.groups()
        options = group_options(group, inv.config_dirs)
        if options:
            near = closest(option, options)
            hint = (f"did you mean {' or '.join(f'{group}={o}' for o in near)}?" if near
                    else f"expected one of {', '.join(options)}")
            return ValueError(f"{group}={option}: no such option; {hint}")
    override = re.match(r"Could not override '([^']+)'", text)
    if override:
        key = override.group(1)
        arg = next((a for a in inv.overrides if a.split("=", 1)[0].lstrip("+~") == key), f"{key}=...")
        groups = config_groups(inv.config_dirs)
        chosen = [a for a in inv.overrides if "=" in a and a != arg
                  and ((g := a.split("=", 1)[0].lstrip("+~").split("@")[0]) in groups or "/" in g)]
        try:
            cfg = compose_check(inv.config_name, chosen, inv.config_dirs)
        except HydraException:
            return error
        return ValueError(_no_such_key(key, arg, cfg, inv.config_dirs))
    return error


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
    if "--help" in plain or "-h" in plain:
        from c147.app.help import help_text

        print(help_text(inv.prog, inv.config_name, inv.config_dirs))
        sys.exit(0)
    groups = config_groups(inv.config_dirs)
    inv.overrides = rewrite_null_groups(plain, groups)
    if any(a.startswith("-") for a in inv.overrides):  # --cfg, --hydra-help, -m ...: Hydra's business
        check_launcher_installed(inv.overrides)
        flags = {a for a in inv.overrides if a.startswith("-")}
        if flags <= {"-m", "--multirun"}:  # a sweep: each of its values checked as a run's
            for sample in sweep_samples([a for a in inv.overrides if a not in flags]):
                try:
                    cfg = compose_check(inv.config_name, sample, inv.config_dirs)
                except HydraException as e:
                    raise explain(e, inv) from None
                check_config_types(cfg)
        inv.overrides = rewrite_null_groups(argv, groups)
        inv.created = False  # a sweep's failed job keeps its folder: the summary points to its error
        return inv
    for arg in inv.overrides:
        kv = split_override(arg)
        if kv and kv[0] == "hydra.run.dir":
            inv.run_dir = Path(kv[1])
    try:
        cfg = compose_check(inv.config_name, inv.overrides, inv.config_dirs)
    except HydraException as e:
        raise explain(e, inv) from None
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
