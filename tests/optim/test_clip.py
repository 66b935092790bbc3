"""Parity of c147.optim.clip with torch.nn.utils' gradient clipping, and the sheet's clipping erratum."""

from __future__ import annotations

import math

import pytest
import torch

from c147.optim import clip as ours
from tests.optim.trajectory import TIGHT
from tests.twins import DEVICES

# float32: torch sums each tensor's |g|^p inside its norm kernel, we sum |g|^p with abs/pow/sum or
# _foreach_powsum and take one root at the end; the roundings differ in the last float32 bits.
F32 = dict(rtol=2e-6, atol=1e-7)
SHAPES = [(7, 5), (5,), (3, 4, 2), (1,), (11,), (2, 3)]


def make_params(dtype=torch.float64, device="cpu", none_at=(3,), seed=0, zeros=True):
    """Seeded parameters with seeded gradients; the parameters at ``none_at`` have ``grad=None``.

    ``zeros`` puts exact zeros in every gradient but the last two, and makes gradient 2 all zeros
    (zeros matter for p = 0; for p < 0 a single zero makes the norm 0, so those cases go without).
    """
    g = torch.Generator().manual_seed(seed)
    params = []
    for i, shape in enumerate(SHAPES):
        p = torch.nn.Parameter(torch.randn(shape, generator=g, dtype=dtype).to(device))
        grad = torch.randn(shape, generator=g, dtype=dtype)
        if zeros and i < len(SHAPES) - 2:
            grad[..., 0] = 0.0
        if zeros and i == 2:
            grad.zero_()
        p.grad = None if i in none_at else grad.to(device)
        params.append(p)
    return params


def clone_params(params):
    out = []
    for p in params:
        q = torch.nn.Parameter(p.detach().clone())
        q.grad = None if p.grad is None else p.grad.clone()
        out.append(q)
    return out


def assert_same_grads(a, b, **tol):
    for i, (p, q) in enumerate(zip(a, b, strict=True)):
        assert (p.grad is None) == (q.grad is None), i
        if p.grad is not None:
            assert p.grad.dtype == q.grad.dtype
            torch.testing.assert_close(p.grad, q.grad, **tol, equal_nan=True, msg=lambda m, i=i: f"grad {i}: {m}")


NORM_TYPES = [1.0, 2.0, 3.0, math.inf, 0.5, 2]  # the last as an int, like users write it
EXTRA_NORM_TYPES = [-math.inf, 0.0, -1.0]  # torch accepts them too: its norm of the per-tensor norms


@pytest.mark.parametrize("foreach", [None, False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("below", [True, False], ids=["clips", "leaves"])
@pytest.mark.parametrize("norm_type", NORM_TYPES + EXTRA_NORM_TYPES)
def test_clip_grad_norm_matches_torch(norm_type, below, dtype, foreach):
    params_a = make_params(dtype, zeros=norm_type >= 0)
    params_b = clone_params(params_a)
    grads = [p.grad for p in params_a if p.grad is not None]
    norm = float(torch.nn.utils.get_total_norm(grads, norm_type))
    assert norm > 0
    max_norm = norm * (0.3 if below else 3.0)  # below: clipped; above: left (times 1.0, like torch)
    got = ours.clip_grad_norm_(params_a, max_norm, norm_type, foreach=foreach)
    want = torch.nn.utils.clip_grad_norm_(params_b, max_norm, norm_type, foreach=foreach)
    tol = TIGHT if dtype == torch.float64 else F32
    assert got.dtype == want.dtype and got.shape == want.shape == ()
    torch.testing.assert_close(got, want, **tol)
    assert_same_grads(params_a, params_b, **tol)
    if below and norm_type != 0:  # after clipping, the norm is max_norm · ‖g‖ / (‖g‖ + 1e-6)
        after = torch.nn.utils.get_total_norm([p.grad for p in params_a if p.grad is not None], norm_type)
        assert float(after) == pytest.approx(max_norm * norm / (norm + 1e-6), rel=1e-5)


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf, 0.5, -1.0])
def test_total_norm_is_the_norm_of_the_concatenation(norm_type):
    """Exact math: for p != 0, the norm of per-tensor norms is the p-norm of all entries at once."""
    grads = [p.grad for p in make_params(zeros=norm_type > 0) if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    if norm_type in (1.0, 2.0, 3.0, 0.5):
        expected = flat.abs().pow(norm_type).sum() ** (1 / norm_type)
    else:
        expected = torch.linalg.vector_norm(flat, norm_type)
    for foreach in (False, True):
        torch.testing.assert_close(ours.get_total_norm(grads, norm_type, foreach=foreach), expected, **TIGHT)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("foreach", [None, False, True])
def test_get_total_norm_and_clip_grads_with_norm_match_torch(device, foreach):
    params_a = make_params(device=device)
    params_b = clone_params(params_a)
    grads = [p.grad for p in params_a if p.grad is not None]
    total = ours.get_total_norm(grads, 2.0, foreach=foreach)
    torch.testing.assert_close(total, torch.nn.utils.get_total_norm(grads, 2.0, foreach=foreach), **TIGHT)
    assert total.device == grads[0].device
    ours.clip_grads_with_norm_(params_a, 0.5, total, foreach=foreach)
    torch.nn.utils.clip_grads_with_norm_(params_b, 0.5, total, foreach=foreach)
    assert_same_grads(params_a, params_b, **TIGHT)


def test_mixed_dtypes_single_tensor_generator_and_empty_inputs_like_torch():
    # float32 and float64 gradients together: two foreach groups, the total in the promoted dtype
    params_a = make_params(torch.float32)[:3] + make_params(torch.float64, seed=1)[3:]
    params_b = clone_params(params_a)
    got = ours.clip_grad_norm_(params_a, 1.0)
    want = torch.nn.utils.clip_grad_norm_(params_b, 1.0)
    assert got.dtype == want.dtype == torch.float64
    torch.testing.assert_close(got, want, **F32)
    assert_same_grads(params_a, params_b, **F32)
    # a single tensor instead of an iterable
    p = make_params()[0]
    q = clone_params([p])[0]
    torch.testing.assert_close(ours.clip_grad_norm_(p, 0.1), torch.nn.utils.clip_grad_norm_(q, 0.1), **TIGHT)
    torch.testing.assert_close(p.grad, q.grad, **TIGHT)
    # a generator is read once and used twice
    params_a = make_params()
    params_b = clone_params(params_a)
    got = ours.clip_grad_norm_((p for p in params_a), 0.1)
    torch.testing.assert_close(got, torch.nn.utils.clip_grad_norm_((p for p in params_b), 0.1), **TIGHT)
    assert_same_grads(params_a, params_b, **TIGHT)
    # nothing to clip: torch returns tensor(0.) and warns for an empty generator
    assert torch.equal(ours.clip_grad_norm_([], 1.0), torch.nn.utils.clip_grad_norm_([], 1.0))
    with pytest.warns(UserWarning, match="empty generator, no gradient clipping will occur"):
        ours.clip_grad_norm_((p for p in []), 1.0)
    all_none = make_params(none_at=range(len(SHAPES)))
    assert torch.equal(ours.clip_grad_norm_(all_none, 1.0), torch.tensor(0.0))
    assert all(p.grad is None for p in all_none)


@pytest.mark.parametrize("bad", [math.inf, math.nan])
@pytest.mark.parametrize("foreach", [False, True])
def test_error_if_nonfinite_like_torch(bad, foreach):
    params_a = make_params()
    params_a[1].grad[2] = bad
    params_b = clone_params(params_a)
    message = (
        r"The total norm of order 2\.0 for gradients from `parameters` is non-finite, so it cannot be clipped\. "
        r"To disable this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
    )
    for fn, params in ((ours.clip_grad_norm_, params_a), (torch.nn.utils.clip_grad_norm_, params_b)):
        before = clone_params(params)
        with pytest.raises(RuntimeError, match=message):
            fn(params, 1.0, error_if_nonfinite=True, foreach=foreach)
        assert_same_grads(params, before, rtol=0, atol=0)  # nothing was touched
    # without the flag both scale by the non-finite norm (zeros or nans), the same way
    got = ours.clip_grad_norm_(params_a, 1.0, foreach=foreach)
    want = torch.nn.utils.clip_grad_norm_(params_b, 1.0, foreach=foreach)
    torch.testing.assert_close(got, want, equal_nan=True)
    assert_same_grads(params_a, params_b, **TIGHT)


def test_foreach_true_on_a_device_without_foreach_raises_like_torch():
    p = torch.nn.Parameter(torch.empty(3, device="meta"))
    p.grad = torch.empty(3, device="meta")
    message = "foreach=True was passed, but can't use the foreach API on meta tensors"
    for fn in (ours.clip_grad_norm_, torch.nn.utils.clip_grad_norm_):
        with pytest.raises(RuntimeError, match=message):
            fn([p], 1.0, foreach=True)
    for fn in (ours.clip_grad_value_, torch.nn.utils.clip_grad_value_):
        with pytest.raises(RuntimeError, match=message):
            fn([p], 1.0, foreach=True)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("foreach", [None, False, True])
@pytest.mark.parametrize("clip_value", [0.0, 0.3, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value, foreach, device):
    params_a = make_params(device=device)
    params_a[0].grad[1, 1] = math.nan  # clamping keeps a nan, in both
    params_b = clone_params(params_a)
    assert ours.clip_grad_value_(params_a, clip_value, foreach=foreach) is None
    torch.nn.utils.clip_grad_value_(params_b, clip_value, foreach=foreach)
    assert_same_grads(params_a, params_b, rtol=0, atol=0)
    assert all(p.grad.abs().max() <= clip_value for p in params_a[1:] if p.grad is not None)
    t = torch.nn.Parameter(torch.zeros(3))  # a single tensor
    t.grad = torch.tensor([-2.0, 0.1, 2.0])
    ours.clip_grad_value_(t, 0.5)
    assert torch.equal(t.grad, torch.tensor([-0.5, 0.1, 0.5]))


def test_clip_grad_norm_inside_a_training_step_matches_torch():
    """The usual loop: backward, clip, step; 30 steps of SGD with momentum stay identical to torch's."""
    torch.manual_seed(0)
    model_a = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    model_b = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    model_b.load_state_dict(model_a.state_dict())
    norms = []
    for model, clip in ((model_a, ours.clip_grad_norm_), (model_b, torch.nn.utils.clip_grad_norm_)):
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        g = torch.Generator().manual_seed(1)
        trace = []
        for _ in range(30):
            x, y = torch.randn(32, 6, generator=g, dtype=torch.float64), torch.randn(32, 1, generator=g).double()
            opt.zero_grad()
            (model(x) - y).pow(2).mean().mul(10).backward()
            trace.append(clip(model.parameters(), max_norm=10.0))
            opt.step()
        norms.append(torch.stack(trace))
    torch.testing.assert_close(norms[0], norms[1], **TIGHT)
    assert (norms[0] > 10).any() and (norms[0] < 10).any()  # both branches of the min(., 1) taken
    for p, q in zip(model_a.parameters(), model_b.parameters(), strict=True):
        torch.testing.assert_close(p, q, **TIGHT)


def test_sheet_erratum_gradient_clipping():
    """Sheet: "gradient clipping, g = g/‖g‖_1 · ε". That always rescales g to 1-norm ε, a small
    gradient too. Clipping (Pascanu et al. 2013; torch.nn.utils.clip_grad_norm_) scales by
    min(ε / ‖g‖, 1), so a gradient already inside the ball is left alone, and its default norm is the 2-norm.
    """
    eps = 1.0

    def sheet_rule(g: torch.Tensor) -> torch.Tensor:
        return g / g.abs().sum() * eps

    small = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    small.grad = torch.tensor([0.1, -0.2, 0.05, 0.0], dtype=torch.float64)  # ‖g‖_1 = 0.35 < ε
    expected_small = small.grad.clone()
    sheet_small = sheet_rule(small.grad)
    ours.clip_grad_norm_([small], eps)
    assert torch.equal(small.grad, expected_small)  # standard clipping leaves a small gradient as it is
    assert not torch.allclose(sheet_small, expected_small)  # the sheet's rule blows it up to length ε
    assert float(sheet_small.abs().sum()) == pytest.approx(eps)

    big = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    big.grad = torch.tensor([3.0, -4.0, 0.0, 12.0], dtype=torch.float64)  # ‖g‖_2 = 13, ‖g‖_1 = 19
    twin = clone_params([big])[0]
    sheet_big = sheet_rule(big.grad)
    ours.clip_grad_norm_([big], eps)
    torch.nn.utils.clip_grad_norm_([twin], eps)
    torch.testing.assert_close(big.grad, twin.grad, **TIGHT)  # ours agrees with torch: 2-norm ε
    assert float(torch.linalg.vector_norm(big.grad)) == pytest.approx(eps, rel=1e-6)
    assert not torch.allclose(sheet_big, twin.grad)  # the sheet's 1-norm rule does not
    assert float(torch.linalg.vector_norm(sheet_big)) == pytest.approx(13 / 19 * eps)
