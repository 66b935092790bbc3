"""``ensemble``: members over seeds, averaged (c147-ensemble's figures): error against ensemble size, the sheet's
(1/K) v + ((K-1)/K) c beside the measured value.

Claim: the ensemble beats its mean member.
"""

from __future__ import annotations

from typing import Any

from c147.app.studies.harness import Study, claim, compose
from c147.lit.figures import new_figure

# each member a small MLP on the native 8x8 digits; the members share one test split (data.split_seed)
TRAIN = ["model=mlp", "model.hidden=[64]", "data.image_size=8", "trainer.max_epochs=2"]
MEMBERS = 5
REDUCED_MEMBERS = 3
# what metrics.json keeps of c147-ensemble's result
REPORTED = ("member_errors", "mean_member_error", "ensemble_error", "ensemble_error_vs_k", "error_correlation", "v",
            "c", "formula", "measured")


def draw(s: Study, result: dict[str, Any], k: int) -> None:
    """``figures/ensemble``: the error against ensemble size, and the sheet's formula beside the measured error."""
    fig = new_figure(11, 4)
    ax_k, ax_m = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax_k.plot(range(1, k + 1), result["ensemble_error_vs_k"], marker="o", label="ensemble of the first k")
    ax_k.axhline(result["mean_member_error"], color="k", ls="--", lw=0.8, label="mean member")
    ax_k.set(title="test error against ensemble size", xlabel="k", ylabel="test error")
    ax_k.legend(fontsize=7)
    ax_m.bar(["(1/K) v + ((K-1)/K) c", "measured"], [result["formula"], result["measured"]])
    ax_m.set(title=f"squared error of the average (K={k})")
    s.figure("ensemble", fig)


def run(s: Study) -> dict[str, Any]:
    """Train the members (``runs/seed<N>``), average them with c147-ensemble (``ensemble/``), check the claim."""
    from c147.app.ensemble import ensemble as combine

    k = s.pick(MEMBERS, REDUCED_MEMBERS)
    runs = [s.train(f"seed{seed}", f"seed={seed}", base=TRAIN) for seed in range(k)]
    result = combine(compose("ensemble", [f"paths.output_dir={s.run_dir / 'ensemble'}",
                                          "runs=[" + ",".join(r["run_dir"] for r in runs) + "]"]))
    draw(s, result, k)
    return {"members": k, **{key: result[key] for key in REPORTED},
            "claim": claim("the ensemble's test error is below its mean member's",
                           result["ensemble_error"] < result["mean_member_error"],
                           ensemble=result["ensemble_error"], mean_member=result["mean_member_error"])}
