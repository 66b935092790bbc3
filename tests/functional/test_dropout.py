"""c147.functional.dropout / dropout2d against torch.nn.functional's.

On CPU torch 2.14 draws its dropout mask as ``bernoulli_(1 - p)`` from the global generator, as
ours does, so the same ``torch.manual_seed`` gives the same mask and the parity is exact. On
CUDA torch uses a fused kernel with its own random stream: there the checks are the formula for
a given mask and the statistics of the masks.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from c147.functional.dropout import DropoutFunction, dropout, dropout2d
from tests.twins import DEVICES, DTYPES, assert_backward_is, assert_function_parity, tol

FUNCTIONS = [(dropout, F.dropout), (dropout2d, F.dropout2d)]


def seeded(fn, seed: int = 0):
    """``fn`` called right after ``torch.manual_seed(seed)``: ours and the twin draw the same mask."""

    def call(*args, **kwargs):
        torch.manual_seed(seed)
        return fn(*args, **kwargs)

    return call


def gen(device: str, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9, 1.0])
@pytest.mark.parametrize(
    "fn, twin, shape",
    [(dropout, F.dropout, (7,)), (dropout, F.dropout, (4, 5)), (dropout, F.dropout, (2, 3, 4, 5)),
     (dropout2d, F.dropout2d, (2, 3, 4, 5)), (dropout2d, F.dropout2d, (5, 8, 1, 3))],
)
def test_seeded_parity_cpu(fn, twin, shape, p, dtype):
    x = torch.randn(shape, dtype=dtype)
    out = assert_function_parity(seeded(fn), seeded(twin), [x], p=p)
    if 0 < p:
        assert_backward_is(out, DropoutFunction)


@pytest.mark.filterwarnings("ignore:dropout2d. Received a 3D input")
def test_dropout2d_3d_input_is_read_as_ncl_like_torch():
    x = torch.randn(6, 5, 7, dtype=torch.float64)
    assert_function_parity(seeded(dropout2d), seeded(F.dropout2d), [x], p=0.5)
    _, mask = dropout2d(x, 0.5, return_mask=True)
    assert mask.shape == (6, 5, 1)
    with pytest.warns(UserWarning, match="interpreted as shape \\(N, C, L\\)"):
        dropout2d(x)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("fn, twin", FUNCTIONS)
def test_half_precision_seeded_parity_cpu(fn, twin, dtype):
    x = torch.randn(4, 6, 3, 3, dtype=dtype, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    out, ref = seeded(fn)(x, 0.3), seeded(twin)(y, 0.3)
    g = torch.randn_like(ref)
    out.backward(g)
    ref.backward(g)
    # both scale by 1 / (1 - p) rounded to the half type, so the results agree exactly
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    torch.testing.assert_close(x.grad, y.grad, rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn, twin", FUNCTIONS)
def test_eval_and_p0_are_identity_like_torch(fn, twin, device):
    x = torch.randn(2, 3, 4, 5, device=device)
    for p, training in [(0.5, False), (1.0, False), (0.0, True)]:
        out, mask = fn(x, p, training, return_mask=True)
        assert out is x and mask is None
        assert twin(x, p, training) is x


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("fn, twin", FUNCTIONS)
def test_given_mask_formula_and_gradient(fn, twin, p, dtype, device):
    x = torch.randn(8, 6, 5, 5, dtype=dtype, device=device, requires_grad=True)
    g = torch.randn(8, 6, 5, 5, dtype=dtype, device=device)
    out, mask = fn(x, p, generator=gen(device, 0), return_mask=True)
    out.backward(g)
    assert ((mask == 0) | (mask == 1)).all()
    # y = x * m / (1 - p), dL/dx = dL/dy * m / (1 - p)
    torch.testing.assert_close(out, x.detach() * mask / (1 - p), **tol(dtype))
    torch.testing.assert_close(x.grad, g * mask / (1 - p), **tol(dtype))
    # the twin follows the same formula with its own mask (x has no zeros, so m = [y != 0])
    y = x.detach().clone().requires_grad_(True)
    ref = twin(y, p)
    ref.backward(g)
    twin_mask = (ref != 0).to(dtype)
    torch.testing.assert_close(ref, y.detach() * twin_mask / (1 - p), **tol(dtype))
    torch.testing.assert_close(y.grad, g * twin_mask / (1 - p), **tol(dtype))


@pytest.mark.parametrize("p", [0.2, 0.5])
@pytest.mark.parametrize("fn", [dropout, dropout2d])
def test_gradcheck_with_fixed_mask(fn, p):
    x = torch.randn(3, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    # a fresh generator with one seed on every call: the same mask each time
    f = lambda x: fn(x, p, generator=gen("cpu", 1))  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))
    scaled_mask = torch.empty_like(x).bernoulli_(1 - p) / (1 - p)
    assert torch.autograd.gradcheck(lambda x: DropoutFunction.apply(x, scaled_mask, False), (x,))


def binomial_bound(n: int, q: float) -> float:
    """Five standard deviations of a Bernoulli(q) mean over n draws."""
    return 5 * math.sqrt(q * (1 - q) / n)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("fn, shape", [(dropout, (200_000,)), (dropout2d, (500, 200, 2, 2))])
def test_statistics_kept_fraction_and_mean(fn, shape, p, dtype, device):
    x = torch.rand(shape, dtype=dtype, device=device, generator=gen(device, 0)) + 1  # U(1, 2)
    out, mask = fn(x, p, generator=gen(device, 1), return_mask=True)
    n = mask.numel()  # elements, or (n, c) channels for dropout2d
    assert abs(mask.double().mean().item() - (1 - p)) < binomial_bound(n, 1 - p)
    # E[y] = x: mean(y - x) has variance E[x^2] p / (1 - p) / (number of independent masks)
    x_sq = (x.double() ** 2).mean().item() * (x.numel() / n)
    assert abs((out.double() - x.double()).mean().item()) < 5 * math.sqrt(x_sq * p / (1 - p) / n)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", [dropout, dropout2d])
def test_same_seed_same_mask_other_seed_other_mask(fn, device):
    x = torch.randn(16, 32, 3, 3, device=device)
    _, a = fn(x, generator=gen(device, 7), return_mask=True)
    _, b = fn(x, generator=gen(device, 7), return_mask=True)
    _, c = fn(x, generator=gen(device, 8), return_mask=True)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", [dropout2d, F.dropout2d])
def test_dropout2d_zeroes_whole_channels(fn, device):
    x = torch.randn(16, 32, 4, 5, device=device)  # no zeros
    out = fn(x, 0.5)
    zero = (out == 0).flatten(2)
    # each (n, c) feature map is all zero or all kept (scaled by 2)
    assert (zero.all(-1) | ~zero.any(-1)).all()
    assert zero.all(-1).any() and (~zero.any(-1)).any()
    kept = ~zero.all(-1)
    torch.testing.assert_close(out[kept], 2 * x[kept])


def test_inplace_overwrites_input_and_backpropagates():
    x = torch.randn(50, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    for fn in (dropout, dropout2d):
        h = x * 1  # a non-leaf, as in a network
        out, mask = fn(h, 0.5, inplace=True, generator=gen("cpu", 3), return_mask=True)
        assert out is h
        out.sum().backward()
        torch.testing.assert_close(x.grad, (mask * 2).expand_as(x))
        x.grad = None


BAD = [
    (dropout, F.dropout, dict(p=-0.1), "dropout probability has to be between 0 and 1, but got -0.1"),
    (dropout, F.dropout, dict(p=1.5), "dropout probability has to be between 0 and 1, but got 1.5"),
    (dropout2d, F.dropout2d, dict(p=2.0), "dropout probability has to be between 0 and 1, but got 2.0"),
]


@pytest.mark.parametrize("fn, twin, kwargs, msg", BAD)
def test_bad_p_like_torch(fn, twin, kwargs, msg):
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match=msg):
        fn(x, **kwargs)
    with pytest.raises(ValueError, match=msg):
        twin(x, **kwargs)


@pytest.mark.parametrize(
    "fn, x, msg",
    [
        (dropout2d, torch.randn(4, 5), r"dropout2d: expected input of shape \(N, C, H, W\) or \(N, C, L\), got \(4,"),
        (dropout2d, torch.randn(1, 2, 3, 4, 5), r"got \(1, 2, 3, 4, 5\)"),
        (dropout, torch.arange(6), "dropout: expected a floating point input in training, got torch.int64"),
        (dropout2d, torch.ones(2, 3, 4, dtype=torch.int32), "dropout2d: expected a floating point input"),
    ],
)
def test_bad_inputs(fn, x, msg):
    with pytest.raises(ValueError, match=msg):
        fn(x)


@pytest.mark.parametrize("device", DEVICES)
def test_sheet_dropout_mask_needs_test_time_scaling_as_in_the_paper(device):
    """The sheet's dropout "applies a mask of Bernoulli r.v.'s" and says nothing of a scale: an omission, not
    an error. The bare mask y = x * m gives E[y] = (1 - p) x in training, which the original paper (Srivastava
    et al. 2014) matches by scaling the weights by 1 - p at test time. Without either scale the next layer
    would see x at test time: other statistics. Inverted dropout y = x * m / (1 - p) (ours, torch's) keeps
    E[y] = x in training and needs nothing at test time."""
    p, n = 0.5, 400_000
    x = torch.ones(n, dtype=torch.float64, device=device)
    out, mask = dropout(x, p, generator=gen(device, 0), return_mask=True)
    bound = binomial_bound(n, 1 - p)
    sheet = x * mask  # the sheet's dropout
    test_time = dropout(x, p, training=False)
    assert abs(sheet.mean().item() - (1 - p)) < bound  # E[x m] = (1 - p) x ...
    assert abs(sheet.mean().item() - (1 - p) * test_time.mean().item()) < bound  # ... = the paper's test time
    assert abs(sheet.mean().item() - test_time.mean().item()) > 0.4  # ... not the unscaled test-time x
    assert abs(out.mean().item() - test_time.mean().item()) < bound / (1 - p)
    assert abs(F.dropout(x, p).mean().item() - 1) < bound / (1 - p)
