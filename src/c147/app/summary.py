"""``c147-summary model=NAME``: a network's layer table, each row computed from the sheet's formulas.

Builds ``cfg.model`` for (``in_channels``, ``image_size``, ``image_size``) input and ``num_classes``
outputs, runs :func:`c147.theory.summarize` (output sizes, parameters and multiply-adds of every
convolution, pooling and Linear layer from the formulas, checked against a real forward pass),
prints the table and the totals, and writes them to ``summary.json`` in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from c147.app.entry import Invocation, hydra_entry
from c147.app.runs import check_fresh, shown
from c147.switch import check_impl

PROG = "c147-summary"


def _short(count: int) -> str:
    """``count`` with its exact digits and, from a thousand on, a K / M / G abbreviation."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count:,} ({count / size:.2f} {unit})"
    return f"{count:,}"


def summary(cfg: DictConfig, inv: Invocation | None = None) -> dict[str, Any]:
    """Build the model, summarize it, print the table, write ``summary.json``; return what was written."""
    from hydra.utils import instantiate
    from rich.console import Console

    from c147.theory import format_table, summarize

    inv = inv or Invocation(prog=PROG)
    run_dir = Path(cfg.paths.output_dir)
    path = run_dir / "summary.json"
    with inv.user_errors(run_dir):
        check_impl(cfg.impl)
        check_fresh(run_dir, path.name)
        net = instantiate(cfg.model, num_classes=cfg.num_classes, in_channels=cfg.in_channels,
                          image_size=cfg.image_size)
    result = summarize(net, (cfg.in_channels, cfg.image_size, cfg.image_size))
    name = cfg.model._target_.rsplit(".", 1)[-1]
    console = Console(width=140)
    console.print(format_table(result, title=f"{name} on {cfg.in_channels}x{cfg.image_size}x{cfg.image_size} "
                                             f"(impl={cfg.impl})"))
    unused = f", {result.unused_params:,} not used by the forward pass" if result.unused_params else ""
    console.print(f"{name}: {result.params:,} parameters{unused}, {_short(result.macs)} multiply-adds (MACs), "
                  f"{result.fc_share:.1%} of the parameters in FC layers", markup=False)
    written = dict(model=cfg.model._target_, impl=cfg.impl, num_classes=cfg.num_classes, **result.to_dict())
    run_dir.mkdir(parents=True, exist_ok=True)
    with inv.user_errors(), path.open("x") as f:
        json.dump(written, f, indent=2)
    console.print(f"written to {shown(path)}", markup=False)
    return written


main = hydra_entry(PROG, "summary", summary)


if __name__ == "__main__":
    main()
