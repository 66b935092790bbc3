"""``batch_size``: in its reduced mode it writes its figures and runs, and its claim holds on its own output; the
gradient noise it draws."""

from __future__ import annotations

import pytest

from c147.app.studies.batch_size import gradient_noise
from tests.app.studies.conftest import check_study


@pytest.mark.slow
def test_writes_its_figures_and_its_claim_holds(tmp_path):
    check_study(tmp_path, "batch_size", figures=["curves", "noise_and_time"], runs=["batch", "stochastic"])


def test_gradient_noise_falls_as_one_over_the_batch_size():
    """Minibatches drawn without replacement from N samples: E||g_B - g||² = (tr Σ / B) (N - B) / (N - 1), so
    B=1 against B=32 is 32 (N - 1) / (N - 32) = 32.9 for the digits' 1,168 training images; 50 draws each:
    within a factor 2 (the seeds 0-2 give 35.2, 36.7, 32.3)."""
    noise = gradient_noise([1, 32], draws=50)
    n = 1168
    assert 0.5 < noise[1] / noise[32] / (32 * (n - 1) / (n - 32)) < 2, noise
