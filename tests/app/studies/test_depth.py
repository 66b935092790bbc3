"""``depth``: in its reduced mode it writes its figures and runs, and its claim holds on its own output."""

from __future__ import annotations

import pytest

from tests.app.studies.conftest import check_study


@pytest.mark.slow
def test_writes_its_figures_and_its_claim_holds(tmp_path):
    result = check_study(tmp_path, "depth", figures=["curves"], runs=["plain", "residual"])
    grad = result["first_layer_grad_norm"]
    assert 0 < grad["plain"] < grad["residual"]


def test_the_residual_mlp_is_the_plain_one_plus_identity_shortcuts():
    """``model.residual``: the same parameters as the plain MLP (the first hidden layer and the head unwrapped),
    the same output on either impl, and ``h + f(h)`` around each later hidden layer."""
    import torch

    from c147.models import mlp
    from c147.models.mlp import Residual

    hidden = [16, 16, 16, 8]
    torch.manual_seed(0)
    plain = mlp(hidden=hidden, activation="sigmoid", image_size=8)
    torch.manual_seed(0)
    ours = mlp(hidden=hidden, activation="sigmoid", image_size=8, residual=True)
    torch.manual_seed(0)
    theirs = mlp(hidden=hidden, activation="sigmoid", image_size=8, residual=True, impl="torch")
    assert [p.shape for p in ours.parameters()] == [p.shape for p in plain.parameters()]
    assert sum(isinstance(m, Residual) for m in ours.modules()) == 2  # layers 2 and 3; layer 4 changes the width
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(ours(x), theirs(x))
    h = plain.net[:3](x)  # flatten, the first hidden layer (Linear, sigmoid), shared by both
    torch.testing.assert_close(ours.net[:3](x), h)
    torch.testing.assert_close(ours.net[3](h), h + torch.sigmoid(ours.net[3].block[0](h)))
