"""``optimizer_paths``: in its reduced mode it writes its figures and runs, and its claim holds on its own output;
the surfaces it draws the paths over."""

from __future__ import annotations

import pytest
import torch

from c147.app.studies.optimizer_paths import quadratic, rosenbrock
from tests.app.studies.conftest import check_study


@pytest.mark.slow
def test_writes_its_figures_and_its_claim_holds(tmp_path):
    check_study(tmp_path, "optimizer_paths", figures=["paths_quadratic", "paths_rosenbrock"], runs=[])


def test_the_surfaces_minima_and_the_quadratics_gradient():
    """The claim's values come from the study's own paths (checked above); here: the surfaces' minima and the
    gradient of the quadratic against its closed form, which the paths are drawn over."""
    assert quadratic(torch.zeros(2)) == 0 and rosenbrock(torch.ones(2)) == 0
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    quadratic(p).backward()
    assert p.grad.tolist() == [1.0, 200.0]
