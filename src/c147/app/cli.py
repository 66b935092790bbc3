"""The console scripts' entry points. Each catches SIGINT and SIGTERM before it imports its command (torch,
Lightning and Hydra take seconds to import), so that Ctrl-C at any moment ends in one line on stderr and exit
status 130 (143 for SIGTERM), never a traceback.

Outside a training loop either signal raises :class:`Interrupt`: a ``BaseException`` that is not a
``KeyboardInterrupt``, so that neither Hydra (which catches ``Exception``) nor Lightning (which turns a
``KeyboardInterrupt`` into exit status 1) handles it on the way up; a forked child (a DataLoader worker)
gets the ``KeyboardInterrupt`` it ends quietly on. :func:`c147.app.entry.hydra_entry` removes the run
folder it made if nothing was saved in it yet; inside ``trainer.fit``
:class:`c147.lit.RunGuard`'s handlers take over (a checkpoint of the current step, then the same one line).

Run as the console script itself, a command keeps the memory it frees for reuse (:func:`keep_freed_memory`) and
ends through :func:`finish`: Python's end (threads joined, atexit handlers, output flushed, the exit status) without
the interpreter's teardown of torch's and Lightning's modules.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from importlib import import_module
from types import FrameType
from typing import NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt(BaseException):
    """SIGINT or SIGTERM arrived outside a training loop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside an import (a frame of importlib's bootstrap below it)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def handler(pid: int, prog: str, cleanup: Callable[[], str] | None = None) -> Callable[[int, FrameType | None], None]:
    """The console scripts' SIGINT / SIGTERM handler (the module docstring). ``cleanup``: what a signal inside an
    import runs before the process exits there; its words end the one line (hydra_entry: the run folder removed)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != pid:  # a forked child (a DataLoader worker): it ends quietly on KeyboardInterrupt
            raise KeyboardInterrupt
        if _importing(frame):
            # an exception raised inside an import may leave a library half made, which then fails in ways that
            # hide the interrupt (numpy's lazy attributes recursing until a RecursionError, which Hydra reports as
            # the job's error): the one line and the exit status from here instead
            try:
                detail = cleanup() if cleanup is not None else ""
            except Exception:  # noqa: BLE001 - the folder's clean-up must not hide the interrupt
                detail = ""
            sys.stdout.flush()
            print(f"{prog}: interrupted by {signal.Signals(signum).name}{detail}", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        raise Interrupt(signum)

    return handle


def stop(prog: str, error: BaseException, detail: str = "") -> NoReturn:
    """One line for ``error`` (an :class:`Interrupt` or a ``KeyboardInterrupt``) and exit with 128 + the
    signal's number; a second signal meanwhile is ignored."""
    signum = getattr(error, "signum", signal.SIGINT)
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)
    print(f"{prog}: interrupted by {signal.Signals(signum).name}{detail}", file=sys.stderr)
    raise SystemExit(128 + signum)


def _is_script(prog: str) -> bool:
    """Whether this process is the console script ``prog`` itself (its ``__main__`` is the venv's ``bin/prog``),
    not a process that calls the entry point among other things (the tests run it in theirs)."""
    return os.path.basename(getattr(sys.modules.get("__main__"), "__file__", None) or "") == prog


def finish(code: int | str | None) -> NoReturn:
    """End the process as Python ends it, less its teardown: wait for the non-daemon threads, run the atexit
    handlers (logging's flush among them), flush stdout and stderr, then ``os._exit`` with ``code`` (SystemExit's
    meaning: None is 0, a string is printed and gives 1). What is skipped is freeing every module and object one by
    one: 1.1-1.3 s of each run here once torch and Lightning are imported (0.4 s for torch alone), work whose
    result nobody sees. The test suite's console-script runs end the same way (tests/zygote.py)."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    threading._shutdown()  # Python's own first step: the threading atexits (executors' workers told to stop), joins
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing left to say there
            pass
    os._exit(code or 0)


# glibc's mallopt parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
# blocks up to this size come from the heap (glibc's own ceiling for its moving threshold) ...
MMAP_THRESHOLD = 32 << 20
# ... which keeps up to this much freed memory at its top instead of handing it back to the system
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory() -> bool:
    """glibc's malloc: blocks below 32 MB from the heap, and up to 256 MB of freed heap kept for the next
    allocations; returns whether it was set. By default glibc hands a freed heap top larger than twice its (moving)
    mmap threshold back to the system, so a training step's temporaries of a few MB each fault their pages in again
    on every step (a page fault is microseconds here). LeNet-5's training step at batch 32, in one process before
    and after (hand-written layers / torch's): 4.35-4.74 -> 2.60-2.99 ms / 1.71-1.77 -> 1.69-1.75 ms; torch's
    kernels allocate little, the hand-written ones a buffer per product. (In the main job, whose steps carry
    Lightning's own work, the whole-process ratio moved within this machine's run-to-run noise: 1.20 -> 1.18.) Left
    alone where the C library has no
    ``mallopt`` (not glibc) or the user set glibc's own variables (``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``); harmless under a preloaded allocator (jemalloc, tcmalloc),
    which glibc's settings do not touch."""
    if any(os.environ.get(v) for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _command(prog: str, module: str) -> Callable[[], None]:
    def main() -> None:
        if not _is_script(prog):
            return run()
        keep_freed_memory()
        try:
            run()
        except SystemExit as e:
            finish(e.code)
        finish(0)

    def run() -> None:
        on_main_thread = threading.current_thread() is threading.main_thread()
        previous = {s: signal.getsignal(s) for s in SIGNALS} if on_main_thread else {}
        on_signal = handler(os.getpid(), prog)
        for s in previous:
            signal.signal(s, on_signal)
        try:
            status = import_module(module).main()  # argparse commands return their exit status
        except (Interrupt, KeyboardInterrupt) as e:  # while importing (main() reports its own)
            stop(prog, e)
        finally:
            for s, before in previous.items():
                signal.signal(s, before)
        if status:
            raise SystemExit(status)

    main.__doc__ = f"Console entry point ``{prog}``."
    return main


train = _command("c147-train", "c147.app.train")
eval = _command("c147-eval", "c147.app.eval")  # noqa: A001 (the command's name)
bench = _command("c147-bench", "c147.app.bench")
summary = _command("c147-summary", "c147.app.summary")
sheet = _command("c147-sheet", "c147.app.sheet")
classic = _command("c147-classic", "c147.app.classic")
study = _command("c147-study", "c147.app.studies.command")
ensemble = _command("c147-ensemble", "c147.app.ensemble")
tensorboard = _command("c147-tensorboard", "c147.app.tensorboard_view")
