"""Every c147.nn layer of the module table against its twin: outputs, gradients and parameter updates
in every dtype and on every device, the same weights under the same seed, state_dicts both ways,
repr and attributes."""

from __future__ import annotations

import pytest
import torch

from tests.nn.module_db import MODULES, WITH_PARAMETERS, build
from tests.twins import DEVICES, DTYPES, assert_module_parity, rand

ATTRIBUTES = (
    "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode",
    "ceil_mode", "count_include_pad", "divisor_override", "return_indices", "size", "alpha", "beta", "k",
    "_reversed_padding_repeated_twice", "in_features", "out_features", "num_parameters", "negative_slope",
    "threshold", "start_dim", "end_dim", "pieces", "inplace",
)  # fmt: skip


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note on its copy
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", MODULES, ids=[m.id for m in MODULES])
def test_parity(m, dtype, device):
    a, b = build(m.ours, m.kwargs, dtype, device, seed=1), build(m.twin, m.kwargs, dtype, device)
    assert_module_parity(a, b, rand(*m.shape, dtype=dtype, device=device, scale=m.scale), steps=2)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("m", WITH_PARAMETERS, ids=[m.id for m in WITH_PARAMETERS])
def test_same_init_under_the_same_seed(m, device):
    a, after_a = build(m.ours, m.kwargs, device=device, seed=7), torch.randn(3, device=device)
    b, after_b = build(m.twin, m.kwargs, device=device, seed=7), torch.randn(3, device=device)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert torch.equal(after_a, after_b)  # the same number of random draws


@pytest.mark.parametrize("m", WITH_PARAMETERS, ids=[m.id for m in WITH_PARAMETERS])
def test_state_dict_loads_both_ways(m):
    x = rand(*m.shape, scale=m.scale)
    a, b = build(m.ours, m.kwargs, seed=1), build(m.twin, m.kwargs, seed=2)
    b.load_state_dict(a.state_dict())  # ours -> torch
    torch.testing.assert_close(b(x), a(x))
    a2, b2 = build(m.ours, m.kwargs, seed=3), build(m.twin, m.kwargs, seed=4)
    a2.load_state_dict(b2.state_dict())  # torch -> ours
    torch.testing.assert_close(a2(x), b2(x))


@pytest.mark.parametrize("m", MODULES, ids=[m.id for m in MODULES])
def test_repr_and_attributes_match_the_twin(m):
    a, b = build(m.ours, m.kwargs), build(m.twin, m.kwargs)
    assert repr(a) == repr(b)
    for name in ATTRIBUTES:
        assert getattr(a, name, None) == getattr(b, name, None), name
