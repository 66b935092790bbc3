"""Files written whole or not at all: a process killed while writing one (SIGKILL at the end of a scheduler's grace
period, a full disk, a power cut) leaves the previous file, or none, never a part of one. Every file c147 writes
into a run folder goes through :func:`atomic_write`: ``metrics.json``, checkpoints, figures, ``summary.csv``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """A new file to write ``path``'s content into, which becomes ``path`` when the block ends without an error.

    The content goes to a hidden temporary file beside ``path`` (the same filesystem: a rename there is atomic), is
    flushed to the disk (``fsync``), then renamed over ``path`` (``os.replace``) and the rename itself made durable
    (``fsync`` of the folder). An error in the block removes the temporary file and leaves ``path`` as it was.

    Args:
        path: the file to write (its folder is made if missing).
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        **open_kwargs: passed to :func:`open` (``newline=""`` for csv, ``encoding``).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, mode.replace("w", "x"), **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened: Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
