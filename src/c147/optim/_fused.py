"""What the ``fused=True`` paths of the optimizers share: c147's fused step is a compiled kernel.

torch's ``fused=True`` runs hand-written C++/CUDA kernels that update a parameter in one pass over
memory (read θ, g and the state once, write θ and the state once). c147's writes the single-tensor
equations for *one* tensor as a small function (``<name>_kernel`` in each optimizer's module) and has
``torch.compile(kernel, dynamic=True, fullgraph=True)`` fuse them into one loop:

- ``dynamic=True``: one compiled kernel serves every size; tensors go in as flat (1-D) views, so the
  rank of a parameter does not matter either (:func:`flat_views`). A kernel compiles again only for a
  new dtype, device or combination of the fixed hyperparameters (betas, eps, weight decay, flags).
- the hyperparameters that change during training (the lr, which a scheduler changes, and what
  depends on the step ``t``: bias corrections, Adagrad's decayed lr) go in as 0-d tensors on the
  parameter's device (:class:`ScalarCache`), so the kernel never recompiles as they change; the
  fixed ones are Python floats and bools (dynamo specializes on the bools, and on a float at least
  until it has seen a second value of it).
- a compiled call costs ~30 us of overhead whatever the size, so parameters below
  :data:`FUSED_MIN_NUMEL` elements (and those whose gradient or state is laid out differently from
  the parameter) take the foreach path instead, in one ``_multi_tensor_<name>`` call.

The first step compiles (a few seconds per kernel, dtype and flag combination; cached on disk by
inductor afterwards) and needs what ``torch.compile`` needs: a C++ compiler on CPU, triton on CUDA.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

# parameters with fewer elements take the foreach path: a compiled call costs ~30 us whatever the size (1000
# tensors of 100 elements, Adam on 2 CPU cores: ~30 ms one compiled call each, ~10 ms foreach), while above ~64k
# elements one pass over memory wins
FUSED_MIN_NUMEL = 1 << 16

FUSED_FOREACH = "`fused` and `foreach` cannot be `True` together."  # torch's messages, word for word
FUSED_DIFFERENTIABLE = "`fused` does not support `differentiable`"


def check_fused(fused: bool | None, foreach: bool | None, differentiable: bool) -> None:
    """torch's constructor checks of ``fused=True``: neither ``differentiable`` nor ``foreach`` with it."""
    if fused:
        if differentiable:
            raise RuntimeError(FUSED_DIFFERENTIABLE)
        if foreach:
            raise RuntimeError(FUSED_FOREACH)


class Compiled:
    """``torch.compile(kernel, dynamic=True, fullgraph=True)``, made on the first call (importing c147 does not
    import the compiler) and run under ``no_grad`` (the kernel updates parameters in place)."""

    def __init__(self, kernel: Callable[..., None]) -> None:
        self.kernel = kernel
        self.compiled: Callable[..., None] | None = None
        self.__doc__ = kernel.__doc__
        self.__name__ = kernel.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.compiled is None:
            self.compiled = torch.compile(self.kernel, dynamic=True, fullgraph=True)
        with torch.no_grad():
            self.compiled(*args, **kwargs)


def compiled(kernel: Callable[..., None]) -> Compiled:
    """Decorator: the kernel, compiled on its first call (``.kernel`` is the eager function)."""
    return Compiled(kernel)


def _dense(t: Tensor) -> bool:
    """Whether ``t``'s elements fill a block of memory exactly, in some order of its dimensions (contiguous,
    channels_last, a transpose, ...): then its storage from ``storage_offset`` is a flat view of it."""
    expected = 1
    for size, stride in sorted(zip(t.shape, t.stride(), strict=True), key=lambda ss: ss[1]):
        if size == 1:
            continue
        if stride != expected:
            return False
        expected *= size
    return True


def flat_views(tensors: Sequence[Tensor | None]) -> list[Tensor] | None:
    """Flat, real views of a parameter (first) and its gradient and state, for the compiled kernel; ``None``
    when the parameter is below :data:`FUSED_MIN_NUMEL` elements, a state tensor is missing (SGD's momentum
    buffer before the first step) or the tensors cannot be viewed flat in the same order (a gradient of
    another layout, an expanded one, a non-dense parameter).

    Complex tensors are viewed as real (real and imaginary parts as independent coordinates, as every path
    does). Contiguous tensors are ``view(-1)``; dense tensors of another layout (channels_last, transposed) are
    flattened in memory order, which is the same order for all of them since their strides are the same."""
    if tensors[0] is None or tensors[0].numel() < FUSED_MIN_NUMEL or any(t is None for t in tensors):
        return None
    tensors = [torch.view_as_real(t) if t.is_complex() else t for t in tensors if t is not None]
    p = tensors[0]
    if any(t.shape != p.shape or t.stride() != p.stride() for t in tensors[1:]):
        return None
    if p.is_contiguous():
        flat = [t.view(-1) for t in tensors]
    elif _dense(p):
        flat = [t.as_strided((t.numel(),), (1,)) for t in tensors]
    else:
        return None
    # detached: the compiler guards on a view's base (its rank and sizes: a recompilation for every new shape of
    # parameter); a detached view shares the storage and the version counter, and has no base
    return [t.detach() for t in flat]


def split(
    params: list[Tensor], *state: list[Tensor] | list[Tensor | None]
) -> tuple[list[tuple[int, list[Tensor]]], list[int]]:
    """The parameters the compiled kernel takes, as ``(index, flat views of the parameter and its i-th entry of
    every list of ``state``)``, and the indices of the others (for the foreach path)."""
    fused, rest = [], []
    for i, p in enumerate(params):
        if p.numel() < FUSED_MIN_NUMEL:  # the common case of a small parameter, without building a list
            rest.append(i)
            continue
        views = flat_views([p, *(lst[i] for lst in state)])
        if views is None:
            rest.append(i)
        else:
            fused.append((i, views))
    return fused, rest


def subset(lists: Sequence[list[Any]], indices: list[int]) -> list[list[Any]]:
    """``[lst[i] for i in indices]`` of each list (an empty list stays empty: an unused state list)."""
    return [[lst[i] for i in indices] if lst else [] for lst in lists]


def opmath_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of the 0-d hyperparameters of a kernel on ``dtype`` tensors: float32 for half precision (the
    kernel computes in float32 there, as torch's fused kernels do), the tensors' own dtype otherwise."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class ScalarCache:
    """0-d tensors of the hyperparameters a kernel takes, on the parameter's device, made once per step:
    ``scalars(p, key, values)`` returns the tensors of ``values()`` for ``(p.device, p.dtype, key)``, computing
    them only the first time (``key`` is what they depend on besides the group: the step ``t``)."""

    def __init__(self) -> None:
        self.cache: dict[tuple[Any, ...], tuple[Tensor, ...]] = {}

    def __call__(self, p: Tensor, key: Any, values: Callable[[], Sequence[float]]) -> tuple[Tensor, ...]:
        cache_key = (p.device, p.dtype, key)
        if cache_key not in self.cache:
            dtype = opmath_dtype(p.dtype)
            self.cache[cache_key] = tuple(torch.full((), v, dtype=dtype, device=p.device) for v in values())
        return self.cache[cache_key]


def step_counts(state_steps: list[Tensor], indices: Sequence[int]) -> list[float]:
    """``t ← t + 1`` for the step tensors at ``indices`` (CPU scalars, as the other paths keep them), and the
    new values."""
    steps = [state_steps[i] for i in indices]
    if not steps:
        return []
    torch._foreach_add_(steps, torch.ones(()), alpha=1.0)
    return [s.item() for s in steps]  # CPU scalars: no device sync


__all__ = [
    "FUSED_DIFFERENTIABLE",
    "FUSED_FOREACH",
    "FUSED_MIN_NUMEL",
    "Compiled",
    "ScalarCache",
    "check_fused",
    "compiled",
    "flat_views",
    "opmath_dtype",
    "split",
    "step_counts",
    "subset",
]
