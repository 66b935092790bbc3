"""Helpers for checking a hand-written piece against its built-in twin.

Tolerances: float64 is "tight" (only summation order may differ); float32 allows the rounding
of a different but equally valid summation order (im2col + matmul vs. a direct convolution, a
fused vs. an unfused kernel). They are the only tolerances the parity tests use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float64, torch.float32]
TOL = {
    torch.float64: dict(rtol=1e-9, atol=1e-11),
    torch.float32: dict(rtol=1e-4, atol=1e-5),
}


def rand(*shape: int, dtype: torch.dtype = torch.float64, device: str = "cpu", seed: int = 0,
         scale: float = 1.0) -> Tensor:
    """Seeded normal numbers times ``scale``, drawn in float64 and then cast: the same values in every
    dtype and on every device."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
    return x.to(device=device, dtype=dtype)


def tol(dtype: torch.dtype) -> dict:
    return TOL[dtype]


def leaves(tensors: Sequence[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Two independent leaf copies of ``tensors`` (floating ones require grad)."""
    a, b = [], []
    for t in tensors:
        for out in (a, b):
            c = t.detach().clone()
            if c.is_floating_point():
                c.requires_grad_(True)
            out.append(c)
    return a, b


def assert_function_parity(
    ours: Callable[..., Tensor],
    twin: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    seed: int = 0,
    **kwargs,
) -> Tensor:
    """Same output and same input gradients (for a random upstream gradient) as the twin.

    Returns our output, so callers can check its ``grad_fn``.
    """
    xs, ys = leaves(inputs)
    out, ref = ours(*xs, **kwargs), twin(*ys, **kwargs)
    dtype = ref.dtype
    torch.testing.assert_close(out, ref, **tol(dtype) if dtype in TOL else {})
    if ref.requires_grad:
        g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(seed), dtype=ref.dtype).to(ref.device)
        out.backward(g)
        ref.backward(g)
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if y.grad is None:
                assert x.grad is None or not x.grad.any(), f"input {i}: twin has no gradient, ours does"
                continue
            assert x.grad is not None, f"input {i}: no gradient from ours"
            torch.testing.assert_close(x.grad, y.grad, **tol(dtype), msg=lambda m, i=i: f"grad of input {i}: {m}")
    return out


def assert_module_parity(ours: torch.nn.Module, twin: torch.nn.Module, *inputs: Tensor, steps: int = 1) -> None:
    """Load the twin's state into ours, then compare outputs, input and parameter gradients and
    buffers over ``steps`` forward/backward calls in the modules' current mode."""
    ours.load_state_dict(twin.state_dict())
    for step in range(steps):
        xs, ys = leaves(inputs)
        out, ref = ours(*xs), twin(*ys)
        t = tol(ref.dtype)
        torch.testing.assert_close(out, ref, **t)
        if ref.requires_grad:
            g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(step), dtype=ref.dtype).to(ref.device)
            out.backward(g)
            ref.backward(g)
            for x, y in zip(xs, ys, strict=True):
                if y.grad is not None:
                    torch.testing.assert_close(x.grad, y.grad, **t)
            for (name, p), (_, q) in zip(ours.named_parameters(), twin.named_parameters(), strict=True):
                if q.grad is None:
                    assert p.grad is None, name
                else:
                    torch.testing.assert_close(p.grad, q.grad, **t, msg=lambda m, n=name: f"grad of {n}: {m}")
        for (name, b), (_, c) in zip(ours.named_buffers(), twin.named_buffers(), strict=True):
            torch.testing.assert_close(b, c, **t, msg=lambda m, n=name: f"buffer {n}: {m}")
    assert ours.state_dict().keys() == twin.state_dict().keys()


def assert_same_init_then_load(ours: torch.nn.Module, ref: torch.nn.Module) -> None:
    """A model built under the reference's seed holds exactly the reference's tensors; then ours, zeroed,
    loads the reference's state_dict, and both go to eval mode for an output comparison."""
    ref_state = ref.state_dict()
    assert ours.state_dict().keys() == ref_state.keys()
    for key, value in ours.state_dict().items():
        torch.testing.assert_close(value, ref_state[key], rtol=0, atol=0, msg=key)
    with torch.no_grad():
        for p in ours.parameters():
            p.zero_()
    ours.load_state_dict(ref_state)
    ours.eval(), ref.eval()  # dropout off, running statistics


def assert_backward_is(out: Tensor, function: type[torch.autograd.Function]) -> None:
    """``out`` was made by ``function`` (so its backward is our hand-written one)."""
    node = out.grad_fn
    assert node is not None, "output has no grad_fn"
    assert getattr(node, "_forward_cls", None) is function, f"grad_fn is {type(node).__name__}, not {function.__name__}"


# ------------------------------------------------------------------ reduced precision (float16, bfloat16)
#
# Two float16 results are not comparable with each other: which CPU kernel torch picks (AVX2, AVX-512,
# AVX-512-BF16, oneDNN or not) decides whether a sum is accumulated in float32 and rounded once or
# rounded along the way, so ours - torch's can be several units in the last place on one CPU and zero
# on another. Instead each result is compared with the float64 result of the same (exactly
# representable) inputs, against a bound that holds for *any* summation order and accumulation
# precision at least that of the dtype:
#
#   |computed - exact| <= terms * u * scale   (elementwise)
#
# u = eps / 2 is the dtype's unit roundoff. For a sum of K products computed in any order with
# roundings of relative size <= u, |error| <= gamma_K * sum_k |a_k b_k| with gamma_K = K u / (1 - K u)
# (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5); a final rounding to the
# dtype adds u |result|. So for a multilinear op (linear, conv, average pooling and their gradients)
# `scale` is the same op evaluated in float64 on absolute values (sum_k |a_k b_k| exactly) and
# `terms` is the longest reduction plus two. For other ops `scale` is max |exact| (a norm-wise bound)
# and `terms` the number of roundings the computation goes through, stated at each use.
# A result also passes where it is no further from float64 than torch's own result is (times
# `factor`): torch is the reference implementation, so being as accurate as torch is never a defect.


def unit_roundoff(dtype: torch.dtype) -> float:
    """u = eps / 2: the largest relative error of rounding one real number to ``dtype``."""
    return torch.finfo(dtype).eps / 2


def reduced_precision_bound(
    dtype: torch.dtype, terms: float, scale: Tensor | float, accumulated: float = 0
) -> Tensor | float:
    """``(terms * u + accumulated * u_float32) * scale``, plus the spacing of ``dtype``'s subnormals (an
    absolute floor for results that underflow). ``accumulated``: terms summed in float32 (ours
    computes half / bfloat16 inputs in float32 where torch's CPU kernels do, its "opmath")."""
    fi = torch.finfo(dtype)
    u = terms * unit_roundoff(dtype) + accumulated * unit_roundoff(torch.float32)
    return u * scale + terms * fi.tiny * fi.eps


def assert_reduced_precision(
    ours: Tensor,
    twin: Tensor,
    exact: Tensor,
    *,
    terms: float,
    scale: Tensor | float | None = None,
    accumulated: float = 0,
    factor: float = 2.0,
    name: str = "output",
) -> None:
    """``ours`` (in a reduced precision) is within the rounding bound of the float64 ``exact`` result,
    or no further from it than ``factor`` times torch's ``twin`` result is; elementwise.

    Args:
        ours, twin: results in float16 / bfloat16 of the same inputs.
        exact: the float64 result of those inputs (upcast exactly).
        terms: how many roundings the bound allows (see the note above).
        scale: the magnitude the roundings are relative to; default ``max |exact|``.
        accumulated: terms of a sum ours accumulates in float32 (see :func:`reduced_precision_bound`).
    """
    assert ours.dtype == twin.dtype, f"{name}: ours is {ours.dtype}, torch's is {twin.dtype}"
    assert ours.shape == exact.shape, f"{name}: shape {tuple(ours.shape)}, expected {tuple(exact.shape)}"
    dtype = ours.dtype
    exact = exact.detach().double().to(ours.device)
    if scale is None:
        scale = exact.abs().amax().item() if exact.numel() else 0.0
    bound = reduced_precision_bound(dtype, terms, scale, accumulated)
    err = (ours.detach().double() - exact).abs()
    err_twin = (twin.detach().double() - exact).abs()
    low = ours.detach().double()
    same = (low == exact) | (low.isnan() & exact.isnan())  # infinities and NaNs where float64 has them
    bad = ~((err <= bound) | (err <= factor * err_twin) | same)  # a NaN error fails
    if bad.any():
        i = tuple(int(j) for j in bad.nonzero()[0])
        b = bound[i].item() if isinstance(bound, Tensor) and bound.dim() else float(bound)
        raise AssertionError(
            f"{name} ({dtype}): {int(bad.sum())} of {bad.numel()} elements too far from float64; at {i}: "
            f"ours {ours[i].item():.6g}, torch {twin[i].item():.6g}, float64 {exact[i].item():.6g}; "
            f"|ours - float64| = {err[i].item():.3g} > rounding bound {b:.3g} and > {factor} x torch's "
            f"{err_twin[i].item():.3g}"
        )


def assert_reduced_precision_parity(
    ours: Callable[..., Tensor],
    twin: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    dtype: torch.dtype,
    *,
    terms: float,
    multilinear: bool = False,
    seed: int = 3,
    **kwargs,
) -> Tensor:
    """``ours`` and ``twin`` run in ``dtype`` on ``inputs`` (rounded to it once); output and the
    gradients of the floating inputs (for one random upstream gradient) checked with
    :func:`assert_reduced_precision` against ``twin`` in float64 on the same values.

    ``multilinear``: the op is linear in each input (linear, conv, average pooling), so the bound's
    scale is the op on absolute values (``sum |a_k b_k|``, forward and backward); otherwise it is
    norm-wise (``max |exact|``; for a gradient ``max |exact grad| + max |g|``). Returns our output.
    """
    low = [t.to(dtype) if t.is_floating_point() else t for t in inputs]
    a, b = leaves(low)
    c, m = leaves([t.double() if t.is_floating_point() else t for t in low])
    out, ref, exact = ours(*a, **kwargs), twin(*b, **kwargs), twin(*c, **kwargs)
    assert out.dtype == ref.dtype == dtype, f"output dtype {out.dtype}, torch's {ref.dtype}, expected {dtype}"
    g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(seed)).to(dtype).to(ref.device)
    out.backward(g)
    ref.backward(g)
    exact.backward(g.double())
    # norm-wise: an output relative to max |exact|; a gradient relative to max |exact grad| + max |g|, since
    # rounding a saved output y moves f'(y) g by up to |f''| u |y| |g| (tanh: 2 u y^2 |g| where 1 - y^2 cancels)
    gmax = g.double().abs().amax().item() if g.numel() else 0.0
    scales = [None] + [z.grad.abs().amax().item() + gmax if z.grad is not None and z.grad.numel() else None
                       for z in c]
    if multilinear:
        mags = [t.detach().abs().requires_grad_(t.requires_grad) for t in m]
        mag = twin(*mags, **kwargs)
        mag.backward(g.double().abs())
        scales = [mag.detach()] + [t.grad for t in mags]
    assert_reduced_precision(out, ref, exact, terms=terms, scale=scales[0])
    for i, (x, y, z) in enumerate(zip(a, b, c, strict=True)):
        if z.grad is None:
            continue
        assert x.grad is not None and x.grad.dtype == y.grad.dtype, f"input {i}: gradient {x.grad}"
        assert_reduced_precision(x.grad, y.grad, z.grad, terms=terms, scale=scales[1 + i], name=f"grad of input {i}")
    return out
