"""Every file c147 writes into a run folder is written whole or not at all (:func:`c147._io.atomic_write`): a crash
halfway through a write, or between the write and the rename, leaves the previous file (or none), never a part of
one. One table of the writers; the crashes are simulated here, tests/app/test_sigkill.py kills real runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import c147._io
from c147._io import atomic_write
from c147.app.runs import write_metrics
from c147.app.sweep import Job, write_csv
from c147.lit.callbacks import AtomicCheckpointIO
from c147.lit.figures import new_figure, save_figure


class Crash(BaseException):
    """The process dying (a BaseException, as KeyboardInterrupt: nothing catches it on the way)."""


def figure(value: float):
    fig = new_figure(1, 1)
    fig.add_subplot().plot([0, 1], [0, value])
    return fig


def read_png(path: Path) -> bytes:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82"), "not a whole PNG"
    return data


# name: (the file, a write of version v into the folder, a reader that fails on a partial file)
WRITERS = {
    "metrics.json": ("metrics.json", lambda d, v: write_metrics(d, {"v": v, "pad": "x" * 5000}),
                     lambda p: json.loads(p.read_text())["v"]),
    "figure": ("figures/loss.png", lambda d, v: save_figure(figure(v), d / "figures" / "loss.png"), read_png),
    "summary.csv": ("summary.csv", lambda d, v: write_csv(d / "summary.csv", [Job(0, d, ["seed=1"], {"acc": v})],
                                                          "acc"),
                    lambda p: p.read_text().splitlines()[1].split(",")[4]),
    "checkpoint": ("checkpoints/last.ckpt",
                   lambda d, v: AtomicCheckpointIO().save_checkpoint({"w": torch.full((5000,), float(v))},
                                                                     d / "checkpoints" / "last.ckpt"),
                   lambda p: float(torch.load(p, weights_only=True)["w"][-1])),
}


def crash_mid_write(monkeypatch):
    """The next atomic write dies after half of its first write reached the disk."""
    real_open = open

    class Half:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            self._f.write(data[: max(1, len(data) // 2)])
            self._f.flush()
            raise Crash

        def __getattr__(self, attr):
            return getattr(self._f, attr)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._f.__exit__(*exc)

    monkeypatch.setattr(c147._io, "open", lambda *a, **k: Half(real_open(*a, **k)), raising=False)


def crash_before_rename(monkeypatch):
    """The next atomic write dies with its content whole in the temporary file, before the rename."""
    def replace(src, dst):
        raise Crash

    monkeypatch.setattr(c147._io.os, "replace", replace)


@pytest.mark.parametrize("crash", [crash_mid_write, crash_before_rename])
@pytest.mark.parametrize("writer", WRITERS)
def test_a_crash_while_writing_leaves_the_old_file_or_none(tmp_path, monkeypatch, writer, crash):
    name, write, read = WRITERS[writer]
    path = tmp_path / name
    with monkeypatch.context() as m:  # the first write crashes: no file at all
        crash(m)
        with pytest.raises(Crash):
            write(tmp_path, 1)
    assert not path.exists()

    write(tmp_path, 2)
    read(path)
    old = path.read_bytes()
    with monkeypatch.context() as m:  # a crash over a whole file: the old one stays
        crash(m)
        with pytest.raises(Crash):
            write(tmp_path, 3)
    if writer == "metrics.json":  # write_metrics keeps an earlier metrics.json as metrics.attempt1.json first
        assert not path.exists() and (tmp_path / "metrics.attempt1.json").read_bytes() == old
    else:
        assert path.read_bytes() == old
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary file left

    write(tmp_path, 4)  # and the next write goes through
    read(path)
    assert path.read_bytes() != old


def test_atomic_write_keeps_the_permissions_of_a_new_file_and_refuses_other_modes(tmp_path):
    with atomic_write(tmp_path / "a.txt") as f:
        f.write("x")
    (tmp_path / "b.txt").write_text("x")
    assert (tmp_path / "a.txt").stat().st_mode == (tmp_path / "b.txt").stat().st_mode  # the umask's, as open()'s
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb', got 'a'"):
        with atomic_write(tmp_path / "c.txt", "a"):
            pass
