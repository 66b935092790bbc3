"""c147.functional.local_response_norm against torch.nn.functional.local_response_norm."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from c147.functional.lrn import LocalResponseNormFunction, local_response_norm
from tests.twins import DEVICES, DTYPES, assert_backward_is, assert_function_parity, assert_reduced_precision
from tests.twins import rand as twins_rand

# this module's inputs: normal numbers times 3
rand = partial(twins_rand, scale=3.0)

# (input shape, local_response_norm kwargs); large alpha so the normalization matters
CASES = [
    ((2, 7, 5, 4), dict(size=5)),  # torch's defaults: alpha 1e-4, beta 0.75, k 1
    ((2, 7, 5, 4), dict(size=5, alpha=1e-4, beta=0.75, k=2.0)),  # AlexNet's constants
    ((2, 7, 5, 4), dict(size=3, alpha=0.5, beta=0.6, k=1.5)),
    ((2, 6, 3, 3), dict(size=4, alpha=0.7, beta=1.2, k=0.5)),  # even size: one more channel before than after
    ((2, 6, 3, 3), dict(size=1, alpha=0.9)),  # each channel alone
    ((2, 3, 4, 4), dict(size=8, alpha=0.9)),  # the window wider than the channels
    ((2, 6, 9), dict(size=3, alpha=0.8)),  # 3-D (N, C, L)
    ((1, 5, 2, 3, 2), dict(size=3, alpha=0.8)),  # 5-D (N, C, D, H, W)
    ((1, 4, 1, 1), dict(size=2, alpha=0.8, beta=2.0)),
]


def ids(case):
    return "x".join(map(str, case[0])) + "".join(f"-{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kwargs", CASES, ids=[ids(c) for c in CASES])
def test_parity(shape, kwargs, dtype, device):
    x = rand(*shape, dtype=dtype, device=device)
    out = assert_function_parity(local_response_norm, F.local_response_norm, [x], **kwargs)
    assert_backward_is(out, LocalResponseNormFunction)


@pytest.mark.parametrize("shape, kwargs", [((2, 5, 3, 2), dict(size=3, alpha=0.5, beta=0.75)),
                                           ((1, 6, 4), dict(size=4, alpha=0.9, beta=1.3, k=0.7))])
def test_gradcheck(shape, kwargs):
    x = rand(*shape).requires_grad_()

    def f(x):
        return local_response_norm(x, **kwargs)

    assert gradcheck(f, [x])
    assert gradgradcheck(f, [x])


def test_backward_matches_the_written_derivative():
    """dL/da_j = g_j d_j^-beta - (2 alpha beta / size) a_j sum_{c: j in W(c)} g_c a_c d_c^(-beta-1),
    evaluated by hand with explicit window loops on a small input."""
    size, alpha, beta, k = 4, 0.6, 0.8, 1.3
    a, g = rand(1, 6, 1, 1).requires_grad_(), rand(1, 6, 1, 1, seed=1)
    local_response_norm(a, size, alpha, beta, k).backward(g)
    av, gv, channels = a.detach().flatten().tolist(), g.flatten().tolist(), 6
    window = [range(max(0, c - size // 2), min(channels, c + (size - 1) // 2 + 1)) for c in range(channels)]
    d = [k + alpha / size * sum(av[i] ** 2 for i in window[c]) for c in range(channels)]
    expected = [gv[j] * d[j] ** -beta - 2 * alpha * beta / size * av[j] * sum(
        gv[c] * av[c] * d[c] ** (-beta - 1) for c in range(channels) if j in window[c]) for j in range(channels)]
    torch.testing.assert_close(a.grad.flatten(), torch.tensor(expected, dtype=torch.float64))


def test_sheet_erratum_norm_is_across_channels_not_a_spatial_kernel():
    """The sheet's AlexNet lists "NORM 5x5 kernel, stride 1, padding 2": LRN has no spatial kernel.
    It normalizes each pixel by the squares of ``size`` neighbouring channels at that same pixel:
    changing one pixel changes the output at that pixel only, in the channels whose window holds it."""
    x = rand(1, 8, 5, 5)
    y = local_response_norm(x, 5, alpha=0.9)
    x2 = x.clone()
    x2[0, 3, 2, 2] += 1.0
    changed = (local_response_norm(x2, 5, alpha=0.9) != y).nonzero().tolist()
    assert changed == [[0, c, 2, 2] for c in range(1, 6)]  # channels 3 - 2 .. 3 + 2, pixel (2, 2) only


BAD = [
    ((4, 5), dict(size=3), r"expected input of shape \(N, C, \*\) with at least 3 dimensions, got \(4, 5\)"),
    ((5,), dict(size=3), r"with at least 3 dimensions, got \(5,\)"),
    ((2, 4, 3), dict(size=0), r"expected size a positive int, got 0"),
    ((2, 4, 3), dict(size=2.0), r"expected size a positive int, got 2.0"),
]


@pytest.mark.parametrize("shape, kwargs, message", BAD)
def test_bad_inputs(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        local_response_norm(torch.randn(shape), **kwargs)


# half precision: torch's CPU local_response_norm has no bfloat16/float16 kernel (avg_pool3d), so
# torch's result is its float32 one rounded to the dtype; both are compared with float64 on the same
# values (tests/twins.py), norm-wise: a window of 3 squares, then 4 roundings (the power, the divide,
# the backward's product with g and its window sum of 3)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision(dtype):
    x = rand(2, 6, 4, 4, dtype=torch.float32).to(dtype)
    g = rand(*x.shape, dtype=torch.float32, seed=1).to(dtype)
    results = []
    for fn, t in ((local_response_norm, x), (F.local_response_norm, x.float()), (F.local_response_norm, x.double())):
        t = t.clone().requires_grad_()
        y = fn(t, 3, alpha=0.5)
        y.backward(g.to(y.dtype))
        results.append((y, t.grad))
    (out, dx), (ref, ref_dx), (exact, exact_dx) = results
    assert out.dtype == dx.dtype == dtype
    assert_reduced_precision(out, ref.to(dtype), exact, terms=3 + 4)
    assert_reduced_precision(dx, ref_dx.to(dtype), exact_dx, terms=3 + 4 + 3,
                             scale=exact_dx.abs().max() + g.abs().max(), name="grad of input")


def test_float16_does_not_overflow_in_the_squares():
    x = torch.full((1, 3, 1, 1), 300.0, dtype=torch.float16)  # 300^2 > 65504, float16's largest
    out = local_response_norm(x, 3, alpha=1.0)
    assert out.isfinite().all()
    assert_reduced_precision(out, F.local_response_norm(x.float(), 3, alpha=1.0).half(),
                             F.local_response_norm(x.double(), 3, alpha=1.0), terms=3 + 4)
