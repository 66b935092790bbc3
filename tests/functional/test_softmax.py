"""c147.functional softmax, log_softmax and logsumexp against torch's, and the sheet's LSE bounds."""

from __future__ import annotations

import importlib
import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from tests.twins import DEVICES, DTYPES, assert_backward_is, assert_function_parity, assert_reduced_precision_parity
from tests.twins import rand as twins_rand

S = importlib.import_module("c147.functional.softmax")  # the module: the package re-exports a function of that name

INF = float("inf")

# name -> (ours, twin, our Function)
OPS = {
    "softmax": (S.softmax, F.softmax, S.SoftmaxFunction),
    "log_softmax": (S.log_softmax, F.log_softmax, S.LogSoftmaxFunction),
    "logsumexp": (S.logsumexp, torch.logsumexp, S.LogSumExpFunction),
}

# (op, input shape, kwargs)
CASES = [
    ("softmax", (7,), dict(dim=0)),
    ("softmax", (4, 7), dict(dim=1)),
    ("softmax", (4, 7), dict(dim=0)),
    ("softmax", (2, 3, 4, 5), dict(dim=1)),
    ("softmax", (2, 3, 4, 5), dict(dim=-1)),
    ("softmax", (), dict(dim=0)),
    ("log_softmax", (7,), dict(dim=0)),
    ("log_softmax", (4, 7), dict(dim=1)),
    ("log_softmax", (4, 7), dict(dim=-2)),
    ("log_softmax", (2, 3, 4, 5), dict(dim=1)),
    ("log_softmax", (), dict(dim=-1)),
    ("logsumexp", (7,), dict(dim=0)),
    ("logsumexp", (4, 7), dict(dim=1)),
    ("logsumexp", (4, 7), dict(dim=0, keepdim=True)),
    ("logsumexp", (2, 3, 4, 5), dict(dim=(0, 2))),
    ("logsumexp", (2, 3, 4, 5), dict(dim=[-1, 1], keepdim=True)),
    ("logsumexp", (), dict(dim=0)),
]


# this module's inputs: normal numbers times 3
rand = partial(twins_rand, scale=3.0)

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op, shape, kwargs", CASES)
def test_parity(op, shape, kwargs, dtype, device):
    ours, twin, function = OPS[op]
    out = assert_function_parity(ours, twin, [rand(*shape, dtype=dtype, device=device)], **kwargs)
    assert_backward_is(out, function)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_dtype_argument_casts_first(op, device):
    ours, twin, function = OPS[op]
    x = rand(3, 5, dtype=torch.float32, device=device)
    out = assert_function_parity(ours, twin, [x], dim=1, dtype=torch.float64)
    assert out.dtype == torch.float64
    assert_backward_is(out, function)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", list(OPS))
def test_large_logits_do_not_overflow(op, dtype, device):
    # e^1000 overflows every float type: only the max-shifted form gives finite values
    x = torch.tensor([[1000.0, 1000.0, 990.0], [-1000.0, -1001.0, -1000.0]], dtype=dtype, device=device)
    ours, twin, _ = OPS[op]
    out = assert_function_parity(ours, twin, [x], dim=1)
    assert out.isfinite().all()


@pytest.mark.parametrize("op", list(OPS))
def test_infinite_rows_as_torch(op):
    """Rows of -inf, a lone -inf, +inf: the same inf/nan values and gradients as torch."""
    x = torch.tensor([[-INF, -INF], [1.0, -INF], [INF, 1.0], [INF, INF], [-INF, INF]], dtype=torch.float64)
    ours, twin, _ = OPS[op]
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = ours(a, dim=1), twin(b, dim=1)
    torch.testing.assert_close(out, ref, equal_nan=True)
    out.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(a.grad, b.grad, equal_nan=True)
    assert out[1].isfinite().any()  # a row with one finite entry stays usable


@pytest.mark.parametrize("op, ndim", [(op, n) for op in ("softmax", "log_softmax") for n in range(5)])
def test_implicit_dim_as_torch(op, ndim):
    """dim=None: torch's deprecated choice (0 for 0-, 1- and 3-D inputs, else 1) with its warning."""
    ours, twin, _ = OPS[op]
    x = rand(*[2, 3, 4, 5][:ndim])
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {op}"):
        out = ours(x)
    with pytest.warns(UserWarning):
        ref = twin(x)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("op, kwargs", [
    ("softmax", dict(dim=1)),
    ("softmax", dict(dim=0)),
    ("log_softmax", dict(dim=1)),
    ("log_softmax", dict(dim=-1)),
    ("logsumexp", dict(dim=1)),
    ("logsumexp", dict(dim=(0, 1))),
    ("logsumexp", dict(dim=0, keepdim=True)),
])
def test_gradcheck_and_gradgradcheck(op, kwargs):
    ours, _, _ = OPS[op]
    x = rand(3, 4, scale=1.0).requires_grad_()
    assert gradcheck(lambda t: ours(t, **kwargs), (x,))
    assert gradgradcheck(lambda t: ours(t, **kwargs), (x,))


def test_softmax_backward_is_the_jacobian():
    """dL/dx = s * (g - sum g s), i.e. J = diag(s) - s s^T: checked against the explicit Jacobian."""
    x = rand(5).requires_grad_()
    s = S.softmax(x, 0)
    g = rand(5, seed=1)
    (dx,) = torch.autograd.grad(s, x, g)
    jac = torch.diag(s.detach()) - torch.outer(s.detach(), s.detach())
    torch.testing.assert_close(dx, jac @ g)


# half precision: compared with float64 on the same values (tests/twins.py), norm-wise: a row's sum of 10
# exponentials (10 terms) and 4 more roundings (exp, log or divide, the saved output, the result)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("op, kwargs", [("softmax", dict(dim=1)), ("log_softmax", dict(dim=1)),
                                        ("logsumexp", dict(dim=1))])
def test_half_precision_parity(op, kwargs, dtype):
    ours, twin, function = OPS[op]
    out = assert_reduced_precision_parity(ours, twin, [rand(16, 10, dtype=torch.float32)], dtype, terms=10 + 4,
                                          seed=1, **kwargs)
    assert_backward_is(out, function)


@pytest.mark.parametrize("op, input, kwargs, match", [
    ("softmax", rand(3, 4), dict(dim=2), r"expected dim in \[-2, 1\].*got 2"),
    ("softmax", torch.arange(4), dict(dim=0), "expected a floating point input, got torch.int64"),
    ("log_softmax", rand(3, 4), dict(dim=-3), r"expected dim in \[-2, 1\].*got -3"),
    ("log_softmax", torch.arange(4), dict(dim=0), "expected a floating point input"),
    ("logsumexp", rand(3, 4), dict(dim=5), r"expected dim in \[-2, 1\].*got 5"),
    ("logsumexp", rand(3, 4), dict(dim=(0, 0)), r"expected one or more distinct dims, got \(0, 0\)"),
    ("logsumexp", rand(3, 4), dict(dim=()), "expected one or more distinct dims"),
])
def test_bad_inputs(op, input, kwargs, match):
    with pytest.raises(ValueError, match=match):
        OPS[op][0](input, **kwargs)


def test_logsumexp_promotes_integers_as_torch():
    x = torch.arange(6).reshape(2, 3)
    torch.testing.assert_close(S.logsumexp(x, 1), torch.logsumexp(x, 1))


def test_log_softmax_is_logits_minus_logsumexp():
    x = rand(4, 6)
    torch.testing.assert_close(S.log_softmax(x, 1), x - S.logsumexp(x, 1, keepdim=True))
    torch.testing.assert_close(S.softmax(x, 1), S.log_softmax(x, 1).exp())


def test_sheet_erratum_lse_bounds():
    """Sheet: ||x||_inf <= LSE(x) <= ||x||_inf + ln n with ||x||_inf = max_i |x_i|. Its proof bounds
    ln sum_i e^{|x_i|} (which is LSE(|x|)), not LSE(x). For x = (-5, -6): LSE(x) = -4.69 < 6 = ||x||_inf.
    The true bounds are max_i x_i <= LSE(x) <= max_i x_i + ln n."""
    x = torch.tensor([-5.0, -6.0], dtype=torch.float64)
    lse, norm_inf, n = S.logsumexp(x, 0).item(), x.abs().max().item(), x.numel()
    assert lse == pytest.approx(-5 + math.log1p(math.exp(-1)))
    assert not norm_inf <= lse  # the sheet's lower bound fails
    assert x.max().item() <= lse <= x.max().item() + math.log(n)  # the correct bounds hold
    # over many random vectors: the correct bounds always hold, the sheet's fail often, and the sheet's
    # derivation is right about the other quantity, LSE(|x|)
    xs = rand(1000, 7, scale=4.0)
    lse, top = S.logsumexp(xs, 1), xs.amax(1)
    assert ((top <= lse) & (lse <= top + math.log(7))).all()
    assert (lse < xs.abs().amax(1)).float().mean() > 0.3
    lse_abs, norm = S.logsumexp(xs.abs(), 1), xs.abs().amax(1)
    assert ((norm <= lse_abs) & (lse_abs <= norm + math.log(7))).all()
    # the upper bound is reached when every entry equals the max, the lower one approached as the others -> -inf
    torch.testing.assert_close(S.logsumexp(torch.full((7,), 2.0, dtype=torch.float64), 0),
                               torch.tensor(2 + math.log(7), dtype=torch.float64))


# ---------------------------------------------------------------- fast forms against the textbook ones


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_fast_forms_match_the_textbook_references(op, dim):
    """float64, tight: the forward against the plain composition kept beside it, and the in-place
    backward (autograd not recording) against the differentiable one that ``create_graph`` runs."""
    ours, reference = OPS[op][0], getattr(S, f"_reference_{op}")
    x = rand(5, 37, 3, dtype=torch.float64).requires_grad_()
    out = ours(x, dim)
    torch.testing.assert_close(out, reference(x.detach(), dim), rtol=1e-13, atol=1e-13)
    g = rand(5, 37, 3, dtype=torch.float64, seed=1)
    (fast,) = torch.autograd.grad(out, x, g, retain_graph=True)
    (recorded,) = torch.autograd.grad(out, x, g, create_graph=True)
    torch.testing.assert_close(fast, recorded.detach(), rtol=1e-13, atol=1e-14)
