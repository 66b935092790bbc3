"""Run folders and the files in them: the one "never overwrite" check, ``metrics.json``, the summary table
(and :func:`cell`, how every table shows a value as written), and removing the folder of an invocation that
failed before it did anything."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c147._io import atomic_write

if TYPE_CHECKING:
    from rich.text import Text


def holds_files(folder: Path) -> bool:
    """Whether ``folder`` is a folder with anything in it."""
    return folder.is_dir() and any(folder.iterdir())


def check_fresh(run_dir: Path, *names: str) -> None:
    """Refuse to reuse a run folder that already holds what this run writes (``names``; by default
    a training run's ``checkpoints`` and ``metrics.json``): the one "never overwrite" check."""
    taken = [run_dir / n for n in names or ("checkpoints", "metrics.json") if (run_dir / n).exists()]
    if taken:
        raise FileExistsError(f"run folder {run_dir} already holds {taken[0].name}; refusing to overwrite it")


def remove_failed_run(run_dir: Path) -> None:
    """Remove ``run_dir`` (made by an invocation that failed before doing anything) and the parents left
    empty (``outputs/train/runs``), up to the working directory."""
    if not run_dir.is_dir():
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    cwd = Path.cwd().resolve()
    for parent in run_dir.resolve().parents:
        if parent == cwd or cwd not in parent.parents or any(parent.iterdir()):
            break
        parent.rmdir()


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
    with atomic_write(path) as f:  # whole or not at all
        json.dump(metrics, f, indent=2, sort_keys=True)
    return path


def cell(value: Any, style: str = "") -> Text:
    """``value`` as a rich table cell (or title), shown as written: rich reads ``[...]`` in a string as markup
    (``data.augment=[flip,crop]`` would print as ``data.augment=``); a :class:`~rich.text.Text` is not read."""
    from rich.text import Text

    return value if isinstance(value, Text) else Text(str(value), style=style)


def shown(folder: Path | str) -> str:
    """``folder`` relative to the current folder when it lies below it (``outputs/train/runs/<time>``), else
    as given: what a user types next."""
    folder, cwd = Path(folder).absolute(), Path.cwd().absolute()
    return str(folder.relative_to(cwd)) if folder.is_relative_to(cwd) else str(folder)


def tensorboard_line(run_dir: Path | str) -> str:
    """The command that opens a run in TensorBoard, under its readable name (:mod:`c147.app.tensorboard_view`)."""
    return f"c147-tensorboard {shown(run_dir)}"


def number(value: float) -> str:
    """A metric as the summary shows it: 4 decimals, or 3 significant digits where those would show 0.0000
    (a vanishing gradient's 1.1e-17)."""
    return f"{value:.3g}" if 0 < abs(value) < 5e-5 else f"{value:.4f}"


def print_summary(title: str, rows: dict[str, Any]) -> None:
    """A two-column table on stdout, keys and values as written: as wide as the terminal (a long value wraps
    in its cell), or when stdout is not a terminal (a log file) as wide as the longest row."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=cell(title), show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    texts = {key: number(value) if isinstance(value, float) else str(value) for key, value in rows.items()}
    for key, text in texts.items():
        table.add_row(cell(key), cell(text))
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(80, max(map(len, texts)) + max(map(len, texts.values())) + 7))
    console.print(table)
