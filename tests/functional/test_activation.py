"""c147.functional activations against torch's, maxout against a torch composition, and the sheet's errata."""

from __future__ import annotations

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from c147.functional import activation as A
from c147.functional.maxout import MaxoutFunction, maxout
from tests.twins import DEVICES, DTYPES, assert_backward_is, assert_function_parity, assert_reduced_precision_parity
from tests.twins import rand as twins_rand

# this module's inputs: normal numbers times 3
rand = partial(twins_rand, scale=3.0)

def ref_maxout(input, pieces, dim=1):
    """torch's own ops: max over a reshaped view (gradient to the first maximum)."""
    dim %= input.dim()
    return input.unflatten(dim, (input.shape[dim] // pieces, pieces)).max(dim + 1).values


# name -> (ours, twin, our Function)
OPS = {
    "sigmoid": (A.sigmoid, torch.sigmoid, A.SigmoidFunction),
    "tanh": (A.tanh, torch.tanh, A.TanhFunction),
    "relu": (A.relu, F.relu, A.ReLUFunction),
    "leaky_relu": (A.leaky_relu, F.leaky_relu, A.LeakyReLUFunction),
    "elu": (A.elu, F.elu, A.ELUFunction),
    "softplus": (A.softplus, F.softplus, A.SoftplusFunction),
    "prelu": (A.prelu, F.prelu, A.PReLUFunction),
    "maxout": (maxout, ref_maxout, MaxoutFunction),
}

# (op, input shape, extra tensor-argument shape (prelu's weight) or None, kwargs)
CASES = [
    ("sigmoid", (4, 7), None, {}),
    ("sigmoid", (), None, {}),
    ("tanh", (2, 3, 5), None, {}),
    ("relu", (4, 7), None, {}),
    ("leaky_relu", (4, 7), None, {}),
    ("leaky_relu", (2, 3, 4), None, dict(negative_slope=0.1)),  # the sheet's slope
    ("leaky_relu", (9,), None, dict(negative_slope=-0.5)),
    ("elu", (4, 7), None, {}),
    ("elu", (2, 3, 4), None, dict(alpha=2.5)),
    ("elu", (9,), None, dict(alpha=0.3)),
    ("softplus", (4, 7), None, {}),
    ("softplus", (4, 7), None, dict(beta=2.0, threshold=5.0)),  # part of the input past the threshold
    ("softplus", (4, 7), None, dict(beta=-1.5, threshold=3.0)),
    ("softplus", (4, 7), None, dict(beta=0.5, threshold=1.0)),
    ("softplus", (4, 7), None, dict(threshold=40.0)),  # float64 too without a mask (float32 at 20: the other cases)
    ("softplus", (4, 7), None, dict(beta=3.0, threshold=40.0)),
    ("prelu", (4, 7), (1,), {}),
    ("prelu", (4, 7), (7,), {}),
    ("prelu", (2, 3, 4, 5), (3,), {}),
    ("prelu", (2, 3, 4, 5), (), {}),
    ("prelu", (6,), (1,), {}),  # fewer than 2 dims: one channel
    ("maxout", (4, 6), None, dict(pieces=2)),
    ("maxout", (2, 6, 3, 3), None, dict(pieces=3)),
    ("maxout", (2, 3, 8), None, dict(pieces=4, dim=-1)),
    ("maxout", (5, 4), None, dict(pieces=4, dim=1)),  # one group: the plain max over features
    ("maxout", (6,), None, dict(pieces=1, dim=0)),  # identity
]


def inputs_for(shape, extra, dtype, device):
    xs = [rand(*shape, dtype=dtype, device=device)]
    if extra is not None:
        xs.append(rand(*extra, dtype=dtype, device=device, scale=0.5, seed=1))
    return xs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, shape, extra, kwargs", CASES)
def test_parity(op, shape, extra, kwargs, dtype, device):
    ours, twin, function = OPS[op]
    out = assert_function_parity(ours, twin, inputs_for(shape, extra, dtype, device), **kwargs)
    assert_backward_is(out, function)


EXTREMES = [-1000.0, -100.0, -89.0, -30.0, -20.0, -1e-3, -0.0, 0.0, 1e-3, 2.5, 20.0, 30.0, 89.0, 100.0, 1000.0]


# (op, extra tensor argument, kwargs): slopes other than 1 so that the derivative at 0 is visible
EXTREME_CASES = [
    ("sigmoid", None, {}),
    ("tanh", None, {}),
    ("relu", None, {}),
    ("leaky_relu", None, dict(negative_slope=0.2)),
    ("elu", None, dict(alpha=0.5)),
    ("elu", None, {}),
    ("softplus", None, {}),
    ("softplus", None, dict(beta=2.0, threshold=5.0)),
    ("prelu", [0.3], {}),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, extra, kwargs", EXTREME_CASES)
def test_parity_at_extremes_and_zero(op, extra, kwargs, dtype, device):
    ours, twin, _ = OPS[op]
    xs = [torch.tensor(t, dtype=dtype, device=device) for t in (EXTREMES, extra) if t is not None]
    out = assert_function_parity(ours, twin, xs, **kwargs)
    assert torch.isfinite(out).all()


def test_stable_where_the_naive_formulas_overflow():
    # float32's e^x overflows past x = 88.7: the naive 1/(1 + e^{-x}) flushes σ(-89) = 2.2e-39 to 0
    x = torch.tensor([-89.0, -100.0])
    torch.testing.assert_close(A.sigmoid(x), torch.exp(x), rtol=1e-5, atol=0)
    # log(1 + e^x) = inf for x = 1000; the stable form gives x (threshold off: no linear shortcut)
    x = torch.tensor([1000.0, -1000.0], requires_grad=True)
    y = A.softplus(x, threshold=math.inf)
    y.sum().backward()
    torch.testing.assert_close(y, torch.tensor([1000.0, 0.0]))
    torch.testing.assert_close(x.grad, torch.tensor([1.0, 0.0]))
    # tanh: (e^x - e^{-x}) / (e^x + e^{-x}) is inf/inf = nan at 1000; ours is ±1, and exact near 0
    torch.testing.assert_close(A.tanh(torch.tensor([1000.0, -1000.0, 1e-20])), torch.tensor([1.0, -1.0, 1e-20]))
    edges = torch.tensor([math.inf, -math.inf, -0.0, 0.0])
    assert torch.equal(A.tanh(edges).signbit(), torch.tanh(edges).signbit())
    assert A.tanh(edges).abs().tolist() == [1, 1, 0, 0]


def test_softplus_drops_its_mask_only_where_the_linear_part_rounds_away():
    """Without the mask [βx > threshold], past the threshold y = x + (1/β) log1p(e^{-βx}) must round to x and σ(βx)
    to 1: float32 from t = 17.4 on (torch's default 20), float64 from 37.5 (the CASES at 40 run the mask-free
    forward and backward through gradcheck); never for β <= 0."""
    assert A._linear_part_rounds_away(1.0, 20.0, torch.float32)
    assert not A._linear_part_rounds_away(1.0, 17.0, torch.float32)
    assert not A._linear_part_rounds_away(1.0, 20.0, torch.float64)
    assert A._linear_part_rounds_away(2.0, 40.0, torch.float64)
    assert not A._linear_part_rounds_away(-1.0, 40.0, torch.float64)
    for dtype, t in ((torch.float32, 17.5), (torch.float64, 37.5)):  # the bound is tight enough to matter
        x = torch.linspace(t, 4 * t, 10_000, dtype=dtype).double()  # numbers of the dtype, the math exact
        smooth = (x + torch.log1p(torch.exp(-x))).to(dtype)
        assert torch.equal(smooth, x.to(dtype)), dtype
        assert torch.equal(torch.sigmoid(x).to(dtype), torch.ones_like(x, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_output_may_change_in_place_before_the_backward_like_torch(dtype):
    """Like torch's, softplus saves its input only: an in-place op on its output (an inplace ReLU after it) leaves
    its backward intact."""
    grads = []
    for f in (A.softplus, F.softplus):
        x = rand(4, 7, dtype=dtype).requires_grad_()
        y = f(x)
        y.mul_(2)
        y.sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(*grads)


def test_nan_propagates_like_torch():
    x = torch.tensor([math.nan, -1.0, 1.0])
    for op in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus"):
        ours, twin, _ = OPS[op]
        torch.testing.assert_close(ours(x), twin(x), equal_nan=True, msg=op)


# (op, input shape, extra, kwargs) for the float64 gradient checks
GRADCHECK = [c for c in CASES if c[1] != ()]


@pytest.mark.parametrize("op, shape, extra, kwargs", GRADCHECK)
def test_gradcheck(op, shape, extra, kwargs):
    ours = OPS[op][0]
    xs = [t.requires_grad_() for t in inputs_for(shape, extra, torch.float64, "cpu")]

    def f(*args):
        return ours(*args, **kwargs)

    assert gradcheck(f, xs)
    assert gradgradcheck(f, xs, fast_mode=True)  # checks random projections of the Jacobian: far fewer calls


# in-place: (op, kwargs); the input must be a non-leaf, as for torch
INPLACE = [
    ("relu", {}),
    ("leaky_relu", {}),
    ("leaky_relu", dict(negative_slope=0.0)),
    ("elu", dict(alpha=0.5)),
    ("elu", dict(alpha=2.0)),
    ("elu", dict(alpha=0.0)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, kwargs", INPLACE)
def test_inplace_parity(op, kwargs, dtype, device):
    ours, twin, function = OPS[op]
    base = torch.cat([rand(20, dtype=dtype, device=device), torch.zeros(2, dtype=dtype, device=device)])
    g = rand(22, dtype=dtype, device=device, seed=5)
    results = []
    for f in (ours, twin):
        leaf = base.clone().requires_grad_()
        x = leaf * 1  # a non-leaf: in-place on a leaf that requires grad is refused by autograd
        out = f(x, inplace=True, **kwargs)
        assert out is x  # written into the input
        out.backward(g)
        results.append((out.detach(), leaf.grad))
    assert_backward_is(ours(base.clone().requires_grad_() * 1, inplace=True, **kwargs), function)
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("op, kwargs", INPLACE)
def test_inplace_gradcheck(op, kwargs):
    ours = OPS[op][0]

    def f(x):
        return ours(x.clone(), inplace=True, **kwargs)

    x = rand(4, 5).requires_grad_()
    assert gradcheck(f, [x])
    assert gradgradcheck(f, [x])


@pytest.mark.parametrize("op, kwargs", [("leaky_relu", dict(negative_slope=-0.1)), ("elu", dict(alpha=-0.5))])
def test_inplace_negative_slope_without_grad_matches_torch(op, kwargs):
    ours, twin, _ = OPS[op]
    x = rand(10, dtype=torch.float32)
    a, b = x.clone(), x.clone()
    ours(a, inplace=True, **kwargs)
    twin(b, inplace=True, **kwargs)
    torch.testing.assert_close(a, b)


# half precision: compared with float64 on the same values (tests/twins.py), norm-wise. Each output and
# gradient element goes through at most 4 roundings (the saved output, the derivative, the product with
# g, the result); ours computes in float32 and rounds once, torch rounds some intermediates in the half
# dtype (float16's sigmoid backward is (g (1 - y)) y in float16).
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("op, shape, extra, kwargs", [c for c in CASES if c[0] != "maxout" and c[1] != ()])
def test_half_precision(op, shape, extra, kwargs, dtype):
    ours, twin, _ = OPS[op]
    inputs = inputs_for(shape, extra, torch.float32, "cpu")
    # PReLU's weight gradient also sums over every element that shares a slope
    terms = 4 + (inputs[0].numel() // max(inputs[1].numel(), 1) if extra is not None else 0)
    assert_reduced_precision_parity(ours, twin, inputs, dtype, terms=terms, **kwargs)


def test_integer_input_is_promoted_like_torch():
    x = torch.arange(-3, 4)
    for op in ("sigmoid", "tanh", "relu"):
        ours, twin, _ = OPS[op]
        out, ref = ours(x), twin(x)
        assert out.dtype == ref.dtype, op
        torch.testing.assert_close(out, ref, msg=op)


def test_maxout_ties_go_to_the_first_maximum():
    x = torch.tensor([[1.0, 1.0, 0.0, 2.0, 3.0, 3.0]], requires_grad=True)
    y = maxout(x, 2)
    y.backward(torch.tensor([[10.0, 20.0, 30.0]]))
    torch.testing.assert_close(y, torch.tensor([[1.0, 2.0, 3.0]]))
    torch.testing.assert_close(x.grad, torch.tensor([[10.0, 0.0, 0.0, 20.0, 30.0, 0.0]]))


@pytest.mark.parametrize("device", DEVICES)
def test_maxout_is_the_sheets_max_of_two_affine_maps(device):
    x = rand(5, 3, device=device)
    w1, w2, b1, b2 = (rand(4, 3, device=device, seed=s) for s in (1, 2, 3, 4))
    b1, b2 = b1[:, 0], b2[:, 0]
    sheet = torch.maximum(x @ w1.T + b1, x @ w2.T + b2)  # max(w1^T x + b1, w2^T x + b2)
    z = torch.stack([x @ w1.T + b1, x @ w2.T + b2], dim=-1).flatten(1)  # pieces interleaved per output
    torch.testing.assert_close(maxout(z, 2), sheet)


BAD = [
    ("prelu", (4, 7), (2, 2), {}, r"prelu: expected weight of 0 or 1 dims, got shape \(2, 2\)"),
    ("prelu", (4, 7), (3,), {}, r"prelu: expected weight of 1 or 7 \(channel\) elements, got 3"),
    ("prelu", (4,), (4,), {}, r"prelu: expected weight of 1 or 1 \(channel\) elements, got 4"),
    ("maxout", (4, 6), None, dict(pieces=4), r"maxout: expected size 6 of dim 1 to be divisible by pieces=4"),
    ("maxout", (4, 6), None, dict(pieces=0), r"maxout: expected pieces to be a positive int, got 0"),
    ("maxout", (4, 6), None, dict(pieces=2.0), r"maxout: expected pieces to be a positive int, got 2.0"),
    ("maxout", (4, 6), None, dict(pieces=True), r"maxout: expected pieces to be a positive int, got True"),
    ("maxout", (4, 6), None, dict(pieces=2, dim=2), r"maxout: expected dim in \[-2, 1\], got 2"),
    ("maxout", (4, 6), None, dict(pieces=2, dim=-3), r"maxout: expected dim in \[-2, 1\], got -3"),
    ("maxout", (), None, dict(pieces=1, dim=0), r"maxout: expected input of at least 1 dim, got a 0-d tensor"),
    (
        "leaky_relu",
        (5,),
        None,
        dict(negative_slope=-0.1, inplace=True),
        r"leaky_relu: inplace=True needs negative_slope >= 0 when a gradient is wanted, got negative_slope=-0.1",
    ),
    (
        "elu",
        (5,),
        None,
        dict(alpha=-1.0, inplace=True),
        r"elu: inplace=True needs alpha >= 0 when a gradient is wanted, got alpha=-1.0",
    ),
]


@pytest.mark.parametrize("op, shape, extra, kwargs, message", BAD)
def test_bad_inputs(op, shape, extra, kwargs, message):
    xs = inputs_for(shape, extra, torch.float64, "cpu")
    x0 = xs[0].requires_grad_()
    xs[0] = x0 * 1  # a non-leaf needing grad (what in-place needs)
    with pytest.raises(ValueError, match=message):
        OPS[op][0](*xs, **kwargs)


# --- the sheet's formulas, checked ---------------------------------------------------------------

X = torch.linspace(-6, 6, 121, dtype=torch.float64)


def test_sheet_erratum_sigmoid_sign():
    """Sheet: "Sigmoid: 1/(1+e^x) = σ, dσ/dx = σ(1-σ)". 1/(1+e^x) is σ(-x), decreasing, and its
    derivative is -σ(1-σ). Correct: σ(x) = 1/(1+e^{-x})."""
    sheet = 1 / (1 + torch.exp(X))
    assert not torch.allclose(sheet, torch.sigmoid(X))
    torch.testing.assert_close(sheet, torch.sigmoid(-X))
    x = X.clone().requires_grad_()
    s = 1 / (1 + torch.exp(x))
    s.sum().backward()
    torch.testing.assert_close(x.grad, -(s * (1 - s)).detach())  # opposite sign to the sheet's derivative
    torch.testing.assert_close(A.sigmoid(X), 1 / (1 + torch.exp(-X)))


def test_sheet_erratum_tanh_is_2_sigma_of_2x_minus_1():
    """Sheet: "tanh(x) = 2σ - 1". 2σ(x) - 1 = tanh(x/2). Correct: tanh(x) = 2σ(2x) - 1."""
    sheet = 2 * torch.sigmoid(X) - 1
    assert (sheet - torch.tanh(X)).abs().max() > 0.2
    torch.testing.assert_close(sheet, torch.tanh(X / 2))
    torch.testing.assert_close(2 * torch.sigmoid(2 * X) - 1, torch.tanh(X))
    torch.testing.assert_close(A.tanh(X), torch.tanh(X))
    # the sheet's derivative 1 - tanh^2 is right
    x = X.clone().requires_grad_()
    A.tanh(x).sum().backward()
    torch.testing.assert_close(x.grad, 1 - torch.tanh(X) ** 2)


def sheet_elu(x, alpha):
    return torch.maximum(alpha * torch.expm1(x), x)  # the sheet: max(α(e^x - 1), x)


def test_sheet_erratum_elu_max_form():
    """Sheet: "ELU: max(α(e^x - 1), x)". ELU (Clevert et al. 2016, torch) is x for x > 0 and
    α(e^x - 1) for x <= 0. The max form fails for every α > 0 at large enough x > 0 (e^x - 1 > x,
    so at α = 1 it fails for all x > 0), and for α > 1 also for x < 0 near 0. It does hold for
    x <= 0 when α <= 1. A correct one-liner: max(0, x) + min(0, α(e^x - 1))."""
    two = torch.tensor([2.0], dtype=torch.float64)
    assert sheet_elu(two, 1.0).item() == pytest.approx(math.e**2 - 1)  # 6.389...
    assert F.elu(two, 1.0).item() == 2.0
    half = torch.tensor([-0.5], dtype=torch.float64)  # α = 2 > 1, x < 0
    assert sheet_elu(half, 2.0).item() == -0.5
    assert F.elu(half, 2.0).item() == pytest.approx(2 * (math.exp(-0.5) - 1))  # -0.787
    for alpha in (0.1, 1.0, 3.0):
        assert not torch.allclose(sheet_elu(X, alpha), F.elu(X, alpha)), alpha
        torch.testing.assert_close(X.clamp_min(0) + (alpha * torch.expm1(X)).clamp_max(0), F.elu(X, alpha))
        torch.testing.assert_close(A.elu(X, alpha), F.elu(X, alpha))
    neg = X[X <= 0]
    for alpha in (0.1, 0.5, 1.0):
        torch.testing.assert_close(sheet_elu(neg, alpha), F.elu(neg, alpha))


def test_sheet_note_leaky_relu_slope():
    """Not an erratum: the sheet's "x^+ + 0.1 x^-" (x^- = min(x, 0)) uses slope 0.1 as an example;
    torch's (and our) default is 0.01, so the sheet's unit is leaky_relu(x, negative_slope=0.1)."""
    sheet = X.clamp_min(0) + 0.1 * X.clamp_max(0)
    torch.testing.assert_close(A.leaky_relu(X, 0.1), sheet)
    assert not torch.allclose(A.leaky_relu(X), sheet)
    torch.testing.assert_close(A.leaky_relu(X), X.clamp_min(0) + 0.01 * X.clamp_max(0))


def test_sheet_relu_and_softplus_are_right():
    torch.testing.assert_close(A.relu(X), torch.maximum(X, torch.zeros_like(X)))  # max(x, 0)
    torch.testing.assert_close(A.softplus(X), torch.log(1 + torch.exp(X)))  # log(1 + e^x)
    x = X.clone().requires_grad_()
    A.sigmoid(x).sum().backward()
    s = torch.sigmoid(X)
    torch.testing.assert_close(x.grad, s * (1 - s))  # dσ/dx = σ(1 - σ), with the right σ


# ---------------------------------------------------------------- fast forms against the textbook ones


def _ulps(ours, exact, dtype):
    """|ours - exact| in units in the last place of ``exact`` in ``dtype`` (below the smallest normal number,
    in units of its last place)."""
    fi = torch.finfo(dtype)
    exact = exact.double()
    return (ours.double() - exact).abs() / (torch.floor(torch.log2(exact.abs().clamp_min(fi.tiny))).exp2() * fi.eps)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sigmoid_and_tanh_ulp_error_over_a_wide_range(dtype):
    """The fast forms against torch's float64 results (within an ulp of exact) over |x| in [1e-30, 50] of both
    signs and x in [-100, 100]: tanh within 4 ulp everywhere (tanh(x) = x for tiny x: expm1 is exact there);
    σ within 4 + 1.25 |x| ulp (the bound of the former e^x = 2^{x log2 e}, whose rounding of x log2 e was a
    relative error of about |x| ulp where σ follows e^x; ``exp`` itself is within an ulp)."""
    mags = torch.logspace(-30, math.log10(50), 1001, dtype=torch.float64)
    x = torch.cat([mags, -mags, torch.linspace(-100, 100, 2001, dtype=torch.float64)]).to(dtype)
    assert _ulps(A.tanh(x), torch.tanh(x.double()), dtype).max() <= 4
    err = _ulps(A.sigmoid(x), torch.sigmoid(x.double()), dtype)
    assert (err <= 4 + 1.25 * x.double().abs()).all()


@pytest.mark.parametrize("op", ["sigmoid", "tanh"])
def test_fast_forms_match_the_textbook_references(op):
    """float64, tight: the fast forward against the plain composition kept beside it (the backward is
    the sheet's σ(1 - σ) or 1 - tanh^2 of the saved output either way)."""
    ours, reference = OPS[op][0], getattr(A, f"_reference_{op}")
    x = torch.cat([rand(500, dtype=torch.float64), torch.linspace(-30, 30, 601, dtype=torch.float64),
                   torch.tensor([-0.25, 0.25, -1e-300, 1e-300, 0.0], dtype=torch.float64)])
    torch.testing.assert_close(ours(x), reference(x), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("slope", [0.0, 1.0, 2.0])
def test_leaky_relu_slopes_at_the_edges_of_the_output_form(slope, inplace):
    """0 <= a <= 1: y = max(x, a x) and the backward's slope from y; other slopes: the saved slope."""
    x = torch.cat([rand(20), torch.tensor([0.0, -0.0, 1e-300, -1e-300], dtype=torch.float64)])
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = A.leaky_relu(a * 1, slope, inplace=inplace)
    theirs = F.leaky_relu(b * 1, slope, inplace=inplace)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    g = rand(24, seed=2)
    ours.backward(g), theirs.backward(g)
    torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)


@pytest.mark.slow  # torch.compile (aot_eager): a second or two a case
@pytest.mark.parametrize("alpha", [1.0, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_elu_under_torch_compile(alpha, dtype):
    """Under torch.compile ELU's forward is the select form (the traced graph, aot_eager: what inductor gets): one
    graph, and F.elu's values and gradients, at NaN, +-inf, -0, past expm1's overflow (the select drops its inf)."""
    x = torch.cat([rand(64, dtype=dtype), torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 0.0,
                                                        100.0, 1000.0, -1000.0, 1e-30, -1e-30], dtype=dtype)])
    g = rand(x.numel(), dtype=dtype, seed=1)
    ours_x, twin_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    compiled = torch.compile(partial(A.elu, alpha=alpha), backend="aot_eager", fullgraph=True)
    ours, twin = compiled(ours_x), F.elu(twin_x, alpha)
    torch.testing.assert_close(ours, twin, equal_nan=True, rtol=0, atol=0)
    assert torch.equal(ours.signbit(), twin.signbit())
    ours.backward(g)
    twin.backward(g)
    real = ~x.isnan()  # (at a NaN input torch's gradient is dL/dy, ours NaN, eager or compiled alike)
    torch.testing.assert_close(ours_x.grad[real], twin_x.grad[real])


@pytest.mark.parametrize("name", ["expm1", "log1p"])
def test_wide_transcendentals_are_the_float64_op_rounded_once(name, monkeypatch):
    """``_wide_`` (tanh's and ELU's expm1, softplus's and BCE-with-logits' log1p on float32 CPU tensors): in
    place, and exactly float64's op rounded to float32, across block edges (3 blocks and a part, the block made
    small) and at the special values; float64 and a non-contiguous float32 tensor take the op itself."""
    monkeypatch.setattr(A, "_WIDE_BLOCK", 1000)
    low = -0.999 if name == "log1p" else -30.0
    x = torch.cat([torch.empty(3500).uniform_(low, 30.0), torch.tensor([0.0, -0.0, 1e-30, -1e-30, math.inf, math.nan])])
    t = x.clone()
    out = A._wide_(t, name)
    assert out is t
    # exact equality holds on any CPU: float64 kernels differing by an ulp (a vector lane or a scalar tail) round to
    # different float32 values only within a float64 ulp of a float32 midpoint (about 2^-29 of the values)
    exact = getattr(torch, name)(x.double()).float()
    torch.testing.assert_close(t, exact, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.signbit(t[-6:-2]), torch.signbit(exact[-6:-2]))  # -0 stays -0
    wide = x.double()
    assert A._wide_(wide, name) is wide
    assert torch.equal(wide.nan_to_num(), getattr(torch, name)(x.double()).nan_to_num())
    strided = x.clone()[::2]
    torch.testing.assert_close(A._wide_(strided, name), getattr(torch, name)(x[::2]), equal_nan=True)
