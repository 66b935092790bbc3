"""What the Hydra entry points share: the config folder, user-error handling, run files."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.errors import HydraException, InstantiationException
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.table import Table

# configs/ sits at the repository root, beside src/ (the package is installed editable)
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")

# what a user can get wrong in a config or on the command line: reported in one line
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, HydraException, OmegaConfBaseException)


def one_line(error: BaseException) -> str:
    """``error``'s message folded into one line; for a failed ``instantiate``, the real cause
    and the config key it came from."""
    text = str(error)
    if isinstance(error, InstantiationException) and error.__cause__ is not None:
        key = re.search(r"full_key: (\S+)", text)
        text = f"{error.__cause__}" + (f" (config key '{key.group(1)}')" if key else "")
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(error).__name__


@contextmanager
def user_errors(prog: str) -> Iterator[None]:
    """Turn a user error raised inside into ``prog: error: ...`` on stderr and exit status 2."""
    try:
        yield
    except USER_ERRORS as e:
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        raise SystemExit(2) from None


def check_fresh(run_dir: Path) -> None:
    """Refuse to reuse a run folder that already holds checkpoints or metrics."""
    taken = [p for p in (run_dir / "checkpoints", run_dir / "metrics.json") if p.exists()]
    if taken:
        raise FileExistsError(f"run folder {run_dir} already holds {taken[0].name}; refusing to overwrite it")


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> Path:
    """Write ``metrics.json`` into ``run_dir`` (never over an existing one)."""
    path = run_dir / "metrics.json"
    run_dir.mkdir(parents=True, exist_ok=True)
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
