"""What the ``fused=True`` paths of the optimizers share: c147's fused step is a compiled kernel.

torch's ``fused=True`` runs hand-written C++/CUDA kernels that update a parameter in one pass over
memory (read θ, g and the state once, write θ and the state once), over the whole list of a group's
parameters in one call. c147's writes the single-tensor equations for *one* tensor as a small function
(``<name>_kernel`` in each optimizer's module) and has ``torch.compile(..., dynamic=True, fullgraph=True)``
fuse them into one loop per tensor, :data:`HORIZONTAL` tensors per compiled call (horizontal fusion:
:meth:`Compiled.many`; one call per parameter cost ~100 us of overhead each, 1000 of them 100 ms):

- ``dynamic=True`` and no duck sizing (:func:`_sizes_apart`): one compiled function serves every size,
  and tensors of equal sizes are not assumed to stay equal; tensors go in as flat (1-D) views, so the rank of a
  parameter does not matter either (:func:`flat_views`). A kernel compiles again only for a new number of
  tensors in a call (a group's last, partial call), a new dtype or device, or a new combination of the fixed
  hyperparameters (betas, eps, weight decay, flags).
- the hyperparameters that change during training (the lr, which a scheduler changes, and what
  depends on the step ``t``: bias corrections, Adagrad's decayed lr) go in as 0-d tensors on the
  parameter's device (:class:`ScalarCache`), so the kernel never recompiles as they change; the
  fixed ones are Python floats and bools (dynamo specializes on the bools, and on a float at least
  until it has seen a second value of it).
- parameters below :data:`FUSED_MIN_NUMEL` elements (where a compiled call's cost per tensor, ~15 us, exceeds
  the foreach path's) and those whose gradient or state is laid out differently from the parameter take the
  foreach path instead, in one ``_multi_tensor_<name>`` call: on flat buffers (:func:`run_packed`), when there are
  at least :data:`PACK_MIN_TENSORS` of them. A foreach op over many small tensors is a loop of small kernels
  (~1 us each, so ~10 us a tensor per Adam step, torch's fused kernel ~3 us); copying a list into one buffer
  is a plain copy per tensor (~0.4 us), the update then runs once on each buffer, and the state stays there.

The first step compiles (10-30 s per kernel, dtype and flag combination on 2 CPU cores: a C++ loop per tensor of
a call; cached on disk by inductor afterwards) and needs what ``torch.compile`` needs: a C++ compiler on CPU,
triton on CUDA.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer
from torch.utils.weak import WeakTensorKeyDictionary

# parameters with fewer elements take the foreach path: a compiled call costs ~15 us a tensor whatever its size (its
# flat views, guards), one foreach call ~10 us a tensor (1000 tensors of 100 elements, Adam on 2 CPU cores), while
# above ~64k elements one pass over memory wins
FUSED_MIN_NUMEL = 1 << 16
# tensors per compiled call (measured, Adam on 10M parameters in 50 tensors, 2 CPU cores: 16 a call 8.4 ms, 32 a
# call 7.0 ms, torch's fused 6.6 ms; a longer call compiles longer: ~1 s a tensor)
HORIZONTAL = 32

# the small parameters of a step go through flat buffers (run_packed) from this many of them on (below, the copies
# cost about what they save)
PACK_MIN_TENSORS = 8

FUSED_FOREACH = "`fused` and `foreach` cannot be `True` together."  # torch's messages, word for word
FUSED_DIFFERENTIABLE = "`fused` does not support `differentiable`"


def check_fused(fused: bool | None, foreach: bool | None, differentiable: bool) -> None:
    """torch's constructor checks of ``fused=True``: neither ``differentiable`` nor ``foreach`` with it."""
    if fused:
        if differentiable:
            raise RuntimeError(FUSED_DIFFERENTIABLE)
        if foreach:
            raise RuntimeError(FUSED_FOREACH)


@contextlib.contextmanager
def _sizes_apart():
    """Dynamo without duck sizing: tensors of equal sizes in one call get sizes of their own, not one shared
    symbol with a guard that they stay equal (every other pattern of equal sizes would compile again)."""
    import torch.fx.experimental._config as fx_config

    with fx_config.patch(use_duck_shape=False):
        yield


class Compiled:
    """A kernel (``.kernel``, the eager function) and its horizontal form, ``torch.compile(..., dynamic=True,
    fullgraph=True)``'d on the first :meth:`many` (importing c147 does not import the compiler) and run under
    ``no_grad`` (the kernel updates parameters in place), :data:`HORIZONTAL` tensors per compiled call."""

    def __init__(self, kernel: Callable[..., None]) -> None:
        self.kernel = kernel
        self.horizontal: Callable[..., None] | None = None
        self.__doc__ = kernel.__doc__
        self.__name__ = kernel.__name__

    def many(self, rows: Sequence[tuple[tuple[Any, ...], tuple[Tensor, ...]]], **kwargs: Any) -> None:
        """``kernel(*tensors, *scalars, **kwargs)`` for each row ``(tensors, scalars)`` (a parameter's flat views,
        and its 0-d hyperparameters from :class:`ScalarCache`), in compiled calls of :data:`HORIZONTAL` rows that
        share their scalars (one C++ function with a loop per tensor; a group's parameters share them unless their
        step counts differ)."""
        if not rows:
            return
        if self.horizontal is None:
            self.horizontal = torch.compile(_horizontal(self.kernel), dynamic=True, fullgraph=True)
        by_scalars: dict[int, tuple[tuple[Tensor, ...], list[tuple[Any, ...]]]] = {}
        for tensors, scalars in rows:
            by_scalars.setdefault(id(scalars), (scalars, []))[1].append(tensors)
        with torch.no_grad(), _sizes_apart():
            for scalars, tensor_rows in by_scalars.values():
                # as few calls as HORIZONTAL allows, of sizes differing by at most one (50 rows: 25 + 25, one
                # compiled function; 32 + 18 would compile two)
                calls = -(-len(tensor_rows) // HORIZONTAL)
                size = -(-len(tensor_rows) // calls)
                for start in range(0, len(tensor_rows), size):
                    self.horizontal(tensor_rows[start:start + size], scalars, **kwargs)


def _horizontal(kernel: Callable[..., None]) -> Callable[..., None]:
    """``rows, scalars, **kwargs -> kernel(*row, *scalars, **kwargs) for each row``, with a code object of its own
    per kernel (dynamo caches and counts recompilations per code object: the optimizers would share one)."""
    def run(rows, scalars, **kwargs):
        for row in rows:
            kernel(*row, *scalars, **kwargs)

    code = run.__code__.replace(co_name=f"{kernel.__name__}_many", co_qualname=f"{kernel.__name__}_many")
    return types.FunctionType(code, run.__globals__, code.co_name, run.__defaults__, run.__closure__)


def compiled(kernel: Callable[..., None]) -> Compiled:
    """Decorator: the kernel as a :class:`Compiled` (``.many`` runs it compiled, ``.kernel`` is the eager function)."""
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
    p = tensors[0]
    if not p.is_complex() and p.is_contiguous():  # the common case, in fewer calls (they cost ~1 us each)
        shape = p.shape
        if all(t.shape == shape and t.is_contiguous() for t in tensors):  # then the strides are the same too
            return [t.view(-1).detach() for t in tensors]
    tensors = [torch.view_as_real(t) if t.is_complex() else t for t in tensors]
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


class _Pack:
    """Flat buffers for tensors of the given shapes (one per list of a step: parameters, gradients, state), views
    of each shaped as the tensors, and the views' addresses."""

    def __init__(self, shapes: list[torch.Size], lists: int, dtype: torch.dtype, device: torch.device) -> None:
        self.shapes = shapes
        numels = [s.numel() for s in shapes]
        offsets = [0, *accumulate(numels)]
        self.flats = [torch.empty(offsets[-1], dtype=dtype, device=device) for _ in range(lists)]
        places = list(zip(offsets[:-1], numels, shapes, strict=True))
        self.views = [[flat[o : o + n].view(s) for o, n, s in places] for flat in self.flats]
        self.addresses = [[v.data_ptr() for v in views] for views in self.views]


# the buffers of a step's small parameters, by the first tensor of their first state list (so by optimizer: the
# buffers hold its state; dropped with that tensor), or by the first parameter where there is no state, then by
# the number of lists
_PACKS: WeakTensorKeyDictionary = WeakTensorKeyDictionary()


def _pack(key: Tensor, tensors: list[Tensor], lists: int) -> _Pack:
    """The buffers for ``lists`` lists shaped as ``tensors`` (of one dtype and device), made on the first step and
    again when a tensor's shape changes."""
    shapes = [t.shape for t in tensors]
    packs = _PACKS.setdefault(key, {})
    pack = packs.get(lists)
    if pack is None or pack.shapes != shapes:
        pack = packs[lists] = _Pack(shapes, lists, tensors[0].dtype, tensors[0].device)
    return pack


def _same(steps: list[Tensor]) -> bool:
    """Whether the step counts are all equal (two reductions, not an ``item()`` per tensor)."""
    counts = torch.stack(steps)
    return bool(counts.min() == counts.max())


def _adopt(tensors: list[Tensor], views: list[Tensor]) -> None:
    """Each tensor made a view of its place in the buffer (``set_``: the same tensor object, so the optimizer's
    state dict still holds it), which the step has just written; copied there instead if a tensor cannot be
    (``set_`` refuses a tensor made by ``.detach()``)."""
    try:
        for t, v in zip(tensors, views, strict=True):
            t.set_(v)
    except RuntimeError:
        torch._foreach_copy_(tensors, views)  # (onto itself for those already views)


def run_packed(run: Callable[..., None], lists: list[list[Tensor]], steps_at: int | None = None) -> None:
    """``run(*lists)``, a ``_multi_tensor_<name>`` path over ``lists`` = [parameters, their gradients, state lists
    ...] (the step counts among them at ``steps_at``), with each list of one dtype and device in a flat buffer:
    ``run`` then updates one tensor a list.

    The parameters and gradients are copied in, and the parameters back; the state lists live in the buffers:
    after the first step each state tensor is a view of its place in one (the same tensor object), and a step
    copies in only those that are not (state loaded or replaced since). The step counts go in as one tensor, the
    same count for all, and the tensors' own counts are incremented after. Parameters at different counts,
    complex ones, or fewer than :data:`PACK_MIN_TENSORS` tensors are run as they are. Every state tensor must
    exist (SGD's momentum buffers, made on its first step, are the caller's to check). Empty lists stay empty.
    The results are the same numbers: the update is elementwise, and a copy is exact."""
    if len(lists[0]) < PACK_MIN_TENSORS:
        run(*lists)
        return
    grouped = Optimizer._group_tensors_by_device_and_dtype(lists, with_indices=True)
    rest: list[int] = []
    for (_, dtype), (group, indices) in grouped.items():
        steps = group[steps_at] if steps_at is not None else None
        if len(indices) < PACK_MIN_TENSORS or dtype.is_complex or (steps is not None and not _same(steps)):
            rest.extend(indices)
            continue
        packed = [j for j, lst in enumerate(group) if lst and j != steps_at]
        state = [j for j in packed if j > 1]  # not the parameters, not the gradients
        pack = _pack(group[state[0]][0] if state else group[0][0], group[0], len(packed))
        flat: list[list[Tensor]] = [[] for _ in group]
        adopt = []
        for buffer, views, addresses, j in zip(pack.flats, pack.views, pack.addresses, packed, strict=True):
            flat[j] = [buffer]
            if j in state:
                if [t.data_ptr() for t in group[j]] == addresses:
                    continue  # the buffer's views already
                adopt.append((group[j], views))
            torch._foreach_copy_(views, group[j])
        if steps is not None:
            flat[steps_at] = [steps[0].clone()]
        run(*flat)
        torch._foreach_copy_(group[0], pack.views[0])
        for tensors, views in adopt:
            _adopt(tensors, views)
        if steps is not None:
            torch._foreach_add_(steps, torch.ones(()), alpha=1.0)
    if rest:
        run(*subset(lists, sorted(rest)))


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
    "HORIZONTAL",
    "PACK_MIN_TENSORS",
    "Compiled",
    "ScalarCache",
    "check_fused",
    "compiled",
    "flat_views",
    "opmath_dtype",
    "run_packed",
    "split",
    "step_counts",
    "subset",
]
