"""``augmentation``: in its reduced mode it writes its figures and runs, and its claim holds on its own output."""

from __future__ import annotations

import pytest

from tests.app.studies.conftest import check_study


@pytest.mark.slow
def test_writes_its_figures_and_its_claim_holds(tmp_path):
    check_study(tmp_path, "augmentation", figures=["curves", "samples"], runs=["augmented", "none"])
