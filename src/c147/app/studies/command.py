"""``c147-study study=NAME``: one study of the sheet's claims, with figures (``reduced=true``: the quick version).

The study writes into its run folder (``outputs/study/runs/<time>/``):

- ``figures/*.png`` and the same figures as TensorBoard images (``tensorboard/<study>/``);
- ``runs/<label>/``: the c147-train runs it made (each its own TensorBoard run), so
  ``tensorboard --logdir <run folder>`` shows their curves side by side with the study's figures;
- ``metrics.json``: the measured values and the study's headline claim with ``holds: true|false``.

The studies are listed in :data:`c147.app.studies.STUDIES`; each module's docstring says what it runs and claims.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from c147.app.entry import Invocation, hydra_entry
from c147.app.runs import check_fresh, print_summary, shown, tensorboard_line, write_metrics
from c147.app.studies import check_name, load

PROG = "c147-study"


def check_study(inv: Invocation, cfg: DictConfig) -> None:
    """Before Hydra (and before torch): ``study`` names a registered study."""
    check_name(OmegaConf.select(cfg, "study"))


def run_study(cfg: DictConfig, inv: Invocation | None = None) -> dict[str, Any]:
    """Run the study ``cfg.study``; write its figures, TensorBoard events and metrics.json; print its claim.

    Args:
        cfg: the composed ``study`` config.
        inv: the invocation (None: called from Python; a failure keeps the folder).

    Returns:
        What metrics.json holds: the study's result (with ``claim``), its figures, runs and seconds.
    """
    from torch.utils.tensorboard import SummaryWriter

    from c147.app.studies.harness import Study

    inv = inv or Invocation(prog=PROG)
    run_dir = Path(cfg.paths.output_dir)
    with inv.user_errors(run_dir):
        check_fresh(run_dir, "metrics.json", "figures", "runs")
        name = check_name(cfg.study)
        module = load(name)
        run_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with SummaryWriter(str(run_dir / "tensorboard" / name)) as writer:
            study = Study(cfg, run_dir, writer)
            result = module.run(study)
            verdict = "holds" if result["claim"]["holds"] else "does NOT hold"
            writer.add_text("claim", f"{result['claim']['statement']}: {verdict}", 0)
    metrics = {"study": name, "reduced": study.reduced, **result, "figures": study.figures,
               "seconds": time.perf_counter() - start, "run_dir": str(run_dir),
               "config": OmegaConf.to_container(cfg, resolve=True), "train_overrides": study.trained}
    write_metrics(run_dir, metrics)
    report(metrics)
    return metrics


def report(metrics: dict[str, Any]) -> None:
    """The claim, its values, and where the figures are, as a table on stdout."""
    c, run_dir = metrics["claim"], metrics["run_dir"]
    print_summary(f"{PROG} study={metrics['study']}", {
        "claim": c["statement"], "holds": c["holds"],
        **{k: v for k, v in c.items() if k not in ("statement", "holds")},
        "seconds": metrics["seconds"], "figures": ", ".join(metrics["figures"]), "run folder": shown(run_dir),
        "TensorBoard": tensorboard_line(run_dir)})


main = hydra_entry(PROG, "study", run_study, extra=check_study)


if __name__ == "__main__":
    main()
