"""Figures without pyplot (no display, no global state): made here, written as PNG and TensorBoard images;
the confusion matrix, image grids and first-layer filters the logging callbacks and the studies draw.

Matplotlib is imported inside the functions: the console scripts check their command line before paying for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from c147._io import atomic_write


def new_figure(width: float, height: float):
    """A matplotlib Figure of ``width`` x ``height`` inches at 100 dpi, laid out to fit its labels."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def save_figure(fig, path: Path, writer=None, tag: str = "", step: int = 0) -> None:
    """Write ``fig`` as the PNG ``path`` and, given a SummaryWriter, as the TensorBoard image ``tag``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_write(path, "wb") as f:  # whole or not at all
        fig.savefig(f, format=path.suffix.lstrip(".") or "png")
    if writer is not None:
        writer.add_figure(tag, fig, step, close=False)
def confusion_figure(counts: torch.Tensor, title: str = "test confusion matrix"):
    """A matplotlib Figure of a C x C count matrix (rows: true class, columns: predicted), counts written in."""
    c = counts.shape[0]
    fig = new_figure(1.2 + 0.45 * c, 1.0 + 0.45 * c)
    ax = fig.add_subplot()
    ax.imshow(counts.numpy(), cmap="Blues")
    for i in range(c):
        for j in range(c):
            if counts[i, j]:
                ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if counts[i, j] > counts.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title, xticks=range(c), yticks=range(c))
    return fig


def image_grid_figure(images: torch.Tensor, titles: Sequence[str] | None = None, title: str = "",
                      cmap: str = "gray", value_range: tuple[float, float] | None = None):
    """A matplotlib Figure of images (N x C x H x W, C = 1 or 3), each scaled to its own range, or all drawn on
    ``value_range`` (clamped to it)."""
    n = len(images)
    cols = min(8, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    fig = new_figure(1.1 * cols, 1.2 * rows + 0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    for k in range(n):
        ax = fig.add_subplot(rows, cols, k + 1)
        img = images[k].float()
        if value_range is None:
            img = (img - img.min()) / (img.max() - img.min()).clamp_min(1e-12)
        else:
            lo, hi = value_range
            img = ((img - lo) / (hi - lo)).clamp(0, 1)
        ax.imshow(img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy(), cmap=cmap)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[k], fontsize=7)
    return fig


def first_layer_images(net: nn.Module, in_channels: int, image_size: int) -> torch.Tensor | None:
    """The first layer's filters as images: a convolution's kernels (out x in x k x k; the first three or the
    mean of the input channels), or a linear layer's rows reshaped to the input image (at most 32)."""
    for module in net.modules():
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() not in (2, 4):
            continue
        w = weight.detach().float().cpu()
        if w.dim() == 4:
            return w[:, :3] if w.shape[1] == 3 else w.mean(1, keepdim=True)
        if image_size >= 4 and w.shape[1] == in_channels * image_size * image_size:
            return w[:32].reshape(-1, in_channels, image_size, image_size).mean(1, keepdim=True)
        return None
    return None


