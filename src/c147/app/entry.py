"""How every console script runs: :func:`hydra_entry` and the :class:`Invocation` it hands each command.

1. The command line is checked before Hydra runs (:func:`c147.app.argv.prepare`): an unknown config name
   or key, a malformed or wrongly typed value, a used ``hydra.run.dir`` is one line on stderr, exit 2, and
   no run folder is made.
2. A user error inside the job (``ValueError``, ``TypeError``, missing files, ...) is one line naming what
   was expected and what came, exit 2, and the folder this invocation made is removed
   (:meth:`Invocation.user_errors`).
3. In a sweep (``-m``) a job's failure is recorded in its folder and the other jobs go on; the sweep ends
   with a summary (:mod:`c147.app.sweep`) and exit 1 if a job failed.
4. The processes Lightning starts for DDP on one machine run the first process's run, in its folder
   (:func:`c147.app.ddp.ddp_process_argv`).
5. Ctrl-C (or SIGTERM) is one line on stderr and exit status 130 (143): before Hydra nothing was written;
   after, the run folder this invocation made is removed unless it holds something beyond its log and
   ``.hydra/`` (:func:`interrupted`; :mod:`c147.app.cli`, and inside a fit :class:`c147.lit.RunGuard`).
6. The terminal is quiet (:func:`quiet_terminal`): log records below WARNING go to ``<run>/<task>.log``
   only; ``verbose=true`` or ``hydra.verbose`` prints them too.

``HYDRA_FULL_ERROR=1`` shows the full traceback instead of the one line.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.errors import HydraException, InstantiationException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from c147.app.argv import CONFIG_DIR, pop_config_dirs, prepare
from c147.app.cli import SIGNALS, Interrupt, stop
from c147.app.cli import handler as signal_handler
from c147.app.config_checks import name_the_key
from c147.app.runs import remove_failed_run

# what a user can get wrong in a config or on the command line: reported in one line
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError,
               HydraException, OmegaConfBaseException)


class UserError(SystemExit):
    """Exit status 2 after a user error's one line on stderr; ``message`` is that line (a sweep's job
    records it as its error)."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


def one_line(error: BaseException) -> str:
    """``error``'s message folded into one line; for a failed ``instantiate``, the real cause
    and the config key it came from."""
    text = str(error)
    if isinstance(error, InstantiationException) and error.__cause__ is not None:
        key = re.search(r"full_key: (\S+)", text)
        text = name_the_key(str(error.__cause__), key.group(1) if key else None)
    text = text.split("Config search path:")[0]  # Hydra's "could not find" lists its search path after
    text = text.replace("Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.", "")
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(error).__name__


def full_errors() -> bool:
    """Whether the user asked for tracebacks (``HYDRA_FULL_ERROR=1``)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


@contextmanager
def user_errors(prog: str, cleanup: Callable[[], None] | None = None) -> Iterator[None]:
    """Turn a user error raised inside into ``prog: error: ...`` on stderr and :class:`UserError` (exit
    status 2), after ``cleanup`` if given. With ``HYDRA_FULL_ERROR=1`` the exception propagates."""
    try:
        yield
    except USER_ERRORS as e:
        if cleanup is not None:
            cleanup()
        message = one_line(e)
        if full_errors():
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        raise UserError(message) from None


@dataclass
class Invocation:
    """What one run of a console script knows beyond its config, handed to the command's task.

    Attributes:
        prog: the console script (``c147-train``).
        config_name: its config (``train``).
        overrides: the command line as handed to Hydra.
        config_dirs: the user's ``--config-dir`` folders, searched before the packaged configs.
        run_dir: the run folder named with ``hydra.run.dir`` (or chosen for a resume), else None.
        created: whether this invocation makes its run folder (so a failure may remove it). False for a
            task called from Python (tests, studies): their folders are kept.
        resume: the checkpoint a ``c147-train`` run resumes from, or None.
        resume_in_place: whether it resumes in the checkpoint's own run folder.
    """

    prog: str = "c147"
    config_name: str = "train"
    overrides: list[str] = field(default_factory=list)
    config_dirs: tuple[Path, ...] = ()
    run_dir: Path | None = None
    created: bool = False
    resume: Path | None = None
    resume_in_place: bool = False

    def user_errors(self, run_dir: Path | None = None) -> Any:
        """:func:`user_errors` for this command; a failure removes ``run_dir`` if this invocation made it."""
        cleanup = (lambda: remove_failed_run(run_dir)) if self.created and run_dir is not None else None
        return user_errors(self.prog, cleanup)


Task = Callable[[DictConfig, Invocation], Any]


def is_verbose(cfg: DictConfig) -> bool:
    """Whether the terminal shows every log record: ``verbose=true``, or Hydra's ``hydra.verbose``."""
    from hydra.core.hydra_config import HydraConfig

    return bool(cfg.get("verbose")) or (HydraConfig.initialized() and bool(HydraConfig.get().verbose))


class _DropCudaHome(logging.Filter):
    """torch's "No CUDA runtime is found, using CUDA_HOME=..." (logged when torch.utils.cpp_extension is first
    imported, by torch.compile for one, on a machine with a CUDA toolkit but no GPU)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No CUDA runtime is found")


def quiet_terminal(cfg: DictConfig) -> None:
    """Unless :func:`is_verbose`: records below WARNING reach Hydra's log file only, not its console handler,
    and torch's CUDA_HOME notice is dropped where it is logged."""
    if is_verbose(cfg):
        return
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "console":  # Hydra's job_logging: handlers "console" and "file"
            handler.setLevel(max(handler.level, logging.WARNING))
    cpp_extension = logging.getLogger("torch.utils.cpp_extension")
    if not any(isinstance(f, _DropCudaHome) for f in cpp_extension.filters):
        cpp_extension.addFilter(_DropCudaHome())


def _job_folder() -> Path | None:
    """The folder of the Hydra job this process runs, from its log file (Hydra makes the file right after the
    folder; its own record of the folder is reset when an exception leaves the job)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.get_name() == "file":
            return Path(handler.baseFilename).parent
    return None


def interrupted(inv: Invocation) -> str:
    """After Ctrl-C or SIGTERM outside a fit: remove the run folder this invocation made if it holds nothing
    but its log and ``.hydra/``; the words that end the one line (what happened to the folder)."""
    folder = _job_folder() or inv.run_dir
    if folder is None or not folder.is_dir():  # Hydra has not started: nothing was written
        return ""
    folder = folder.absolute()  # inv.run_dir is as typed (hydra.run.dir=run): the line names the whole path
    kept = [p for p in folder.rglob("*") if p.is_file() and ".hydra" not in p.relative_to(folder).parts
            and p.suffix != ".log"]
    if not kept and inv.created:
        remove_failed_run(folder)
        return f"; removed {folder}: nothing was saved yet"
    last = folder / "checkpoints" / "last.ckpt"
    if inv.prog == "c147-train" and last.is_file():
        return f"; run folder {folder}; resume with: c147-train ckpt_path={last}"
    return f"; run folder {folder}"


def run_task(task: Task, cfg: DictConfig, inv: Invocation) -> Any:
    """Inside ``@hydra.main``: the task, or in a sweep (``-m``) a job whose failure is recorded and the
    sweep goes on (:func:`c147.app.sweep.run_job`)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    quiet_terminal(cfg)
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return task(cfg, inv)
    from c147.app.sweep import run_job

    return run_job(lambda job_cfg: task(job_cfg, inv), cfg, Path(hydra_cfg.runtime.output_dir))


def hydra_entry(prog: str, config_name: str, task: Task,
                extra: Callable[[Invocation, DictConfig], None] | None = None) -> Callable[[], None]:
    """A console entry point: the checks before Hydra (:func:`c147.app.argv.prepare`, and ``extra``, the
    command's own), then ``task(cfg, invocation)`` under ``@hydra.main``."""

    def main() -> None:
        inv = Invocation(prog=prog, config_name=config_name)
        if threading.current_thread() is threading.main_thread():  # a signal inside an import: the folder removed
            for s in SIGNALS:  # where the console script's handler is on (c147.app.cli; it restores the previous)
                if getattr(signal.getsignal(s), "__module__", None) == "c147.app.cli":
                    signal.signal(s, signal_handler(os.getpid(), prog, cleanup=lambda: interrupted(inv)))
        try:
            _run(inv)
        except (Interrupt, KeyboardInterrupt) as e:
            stop(prog, e, interrupted(inv))

    def _run(inv: Invocation) -> None:
        import hydra

        from c147.app.ddp import ddp_process_argv

        child = ddp_process_argv()
        if child is not None:  # a DDP process Lightning started: the first process's run, in its folder
            inv.overrides = child
            inv.config_dirs = tuple(d.resolve() for d in pop_config_dirs(child)[1])
        else:
            with user_errors(prog):
                prepare(inv, sys.argv[1:], extra)

        @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
        def _main(cfg: DictConfig) -> Any:
            return run_task(task, cfg, inv)

        sys.argv = [sys.argv[0], *inv.overrides]
        with user_errors(prog):  # Hydra's own refusals of its flags (-m with --cfg, ...); the task reports its own
            _main()

    main.__doc__ = f"Console entry point ``{prog}``."
    return main
