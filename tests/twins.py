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


def assert_backward_is(out: Tensor, function: type[torch.autograd.Function]) -> None:
    """``out`` was made by ``function`` (so its backward is our hand-written one)."""
    node = out.grad_fn
    assert node is not None, "output has no grad_fn"
    assert getattr(node, "_forward_cls", None) is function, f"grad_fn is {type(node).__name__}, not {function.__name__}"
