"""Figures without pyplot (no display, no global state): made here, written as PNG and TensorBoard images.

Matplotlib is imported inside the functions: the console scripts check their command line before paying for it.
"""

from __future__ import annotations

from pathlib import Path


def new_figure(width: float, height: float):
    """A matplotlib Figure of ``width`` x ``height`` inches at 100 dpi, laid out to fit its labels."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_figure(fig, path: Path, writer=None, tag: str = "", step: int = 0) -> None:
    """Write ``fig`` as the PNG ``path`` and, given a SummaryWriter, as the TensorBoard image ``tag``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    if writer is not None:
        writer.add_figure(tag, fig, step, close=False)
