"""``fused=True``: c147's compiled kernels (c147.optim._fused) against torch's fused kernels.

Compiling is the cost here (2-5 s per kernel, number of tensors in a call, dtype and flag combination on 2 CPU
cores, once inductor's disk cache is cold; a first compile on a fresh machine adds ~20 s of compiler probing):
each optimizer is compiled for one combination of flags (the one that switches the most lines on) in float32 with
two tensors a call, and Adam's kernel (the one with the most lines) in float64 too. The complex and Nesterov tests
compile one-tensor calls; the others nothing at all.
"""

from __future__ import annotations

import inspect
import io
import re

import pytest
import torch
from torch._dynamo.utils import counters

import c147.optim._fused as fused_module
from c147.optim import SGD, Adagrad, Adam, AdamW, RMSprop
from c147.optim._fused import FUSED_MIN_NUMEL, flat_views
from tests.optim.trajectory import assert_same_state

STEPS = 5

# one combination of flags per optimizer (torch's twin; RMSprop, which torch has no fused variant of, against
# torch's single-tensor path). The lr is changed by a scheduler between steps.
CASES = {
    "SGD": (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)),
    "Adam": (Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    "AdamW": (AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    "Adagrad": (Adagrad, torch.optim.Adagrad,
                dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-6, maximize=True)),
    "RMSprop": (RMSprop, torch.optim.RMSprop,
                dict(lr=1e-3, alpha=0.9, weight_decay=0.1, momentum=0.9, centered=True, maximize=True)),
}
TORCH_FUSED = {"SGD", "Adam", "AdamW", "Adagrad"}

# two parameters of different sizes the compiled kernel takes (one exactly the threshold), in one call, and two small
# ones the foreach path takes
SHAPES = [(FUSED_MIN_NUMEL // 256, 256), (7,), (3, 5), (FUSED_MIN_NUMEL // 256 + 1, 256)]
FUSED_NUMELS = [SHAPES[0][0] * SHAPES[0][1], SHAPES[3][0] * SHAPES[3][1]]


def tolerance(dtype: torch.dtype, steps: int = STEPS, ulps: int = 8) -> dict[str, float]:
    """Both sides compute the same equations with the same hyperparameters, rounded in other orders (one fused
    loop against torch's kernel; the compiler may contract a * b + c into an FMA): ``ulps`` per step, relative
    to the numbers (rtol) and, for those near 0, to 1 (atol). Measured: at most 3.2 ulps after 5 steps (SGD)."""
    eps = torch.finfo(dtype).eps
    return dict(rtol=ulps * steps * eps, atol=ulps * steps * eps)


# centered RMSprop's √(a - ḡ ⊙ ḡ) loses the bits a and ḡ ⊙ ḡ share where a coordinate's gradients barely vary:
# among 65536 coordinates some lose 5 or 6 (70 ulps measured, float32, after 2 steps); the others, 8 per step
ULPS = {"RMSprop": 64}


def graphs() -> int:
    """Graphs dynamo has compiled in this process (recompilations included)."""
    return counters["stats"]["unique_graphs"]


@pytest.fixture
def kernel_calls(monkeypatch):
    """For each step's call of a compiled kernel's horizontal form, the numbers of elements of its parameters."""
    calls: list[list[int]] = []
    original = fused_module.Compiled.many

    def spy(self, rows, **kwargs):
        if rows:  # (SGD's first step: none)
            calls.append([tensors[0].numel() for tensors, _ in rows])
        return original(self, rows, **kwargs)

    monkeypatch.setattr(fused_module.Compiled, "many", spy)
    return calls


def side_by_side(name: str, dtype: torch.dtype, steps: int = STEPS, gamma: float = 0.5):
    """``steps`` steps of ours (fused) and the twin (fused where torch has it) on the same seeded parameters
    and gradients, the lr multiplied by ``gamma`` after each step (``torch.optim.lr_scheduler.StepLR``);
    yields after each step."""
    ours_cls, twin_cls, kwargs = CASES[name]
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=gen, dtype=dtype) for shape in SHAPES]
    mine = [torch.nn.Parameter(p.clone()) for p in params]
    theirs = [torch.nn.Parameter(p.clone()) for p in params]
    opt = ours_cls(mine, fused=True, **kwargs)
    twin = twin_cls(theirs, **kwargs, **(dict(fused=True) if name in TORCH_FUSED else dict(foreach=False)))
    schedulers = [torch.optim.lr_scheduler.StepLR(o, step_size=1, gamma=gamma) for o in (opt, twin)]
    for step in range(steps):
        for p, q in zip(mine, theirs, strict=True):
            g = torch.randn(p.shape, generator=gen, dtype=dtype)
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        twin.step()
        for s in schedulers:
            s.step()
        yield step, (mine, opt), (theirs, twin)


# float64 for one kernel only: the code that makes the 0-d hyperparameters in the parameter's dtype is shared
MATRIX = [(name, torch.float32) for name in CASES] + [("Adam", torch.float64)]


@pytest.mark.parametrize("name, dtype", [pytest.param(n, d, id=f"{n}-{str(d)[6:]}") for n, d in MATRIX])
def test_fused_matches_torch(name, dtype, kernel_calls):
    """Parameters and state after each step as torch's, within a few ulps per step; the large parameter went
    through the compiled kernel (from the second step for SGD: its first step sets b_1 = g_1), the small ones
    did not; and once compiled, the kernel is not compiled again as the lr and the step change."""
    compiled_after = None
    for step, (mine, opt), (theirs, twin) in side_by_side(name, dtype):
        tol = tolerance(dtype, step + 1, ULPS.get(name, 8))
        torch.testing.assert_close(list(mine), list(theirs), **tol, msg=lambda m, s=step: f"after step {s}: {m}")
        assert_same_state(opt, twin, **tol)
        if step == 1:
            compiled_after = graphs()
    assert graphs() == compiled_after, "the kernel was compiled again as the lr / step changed"
    first_fused_step = 1 if name == "SGD" else 0
    assert kernel_calls == [FUSED_NUMELS] * (STEPS - first_fused_step)
    assert opt.param_groups[0]["lr"] == pytest.approx(CASES[name][2]["lr"] * 0.5**STEPS)


def test_horizontal_calls_compile_once_whatever_the_sizes(monkeypatch):
    """Adam's kernel on rows of parameters, HORIZONTAL (here 2) per compiled call: sizes equal in one call and
    unequal in the next compile nothing new (no duck sizing), a new number of rows in a call does (the last, partial
    call); each result as the kernel's eager lines on the same tensors."""
    from c147.optim.adam import adam_kernel

    monkeypatch.setattr(fused_module, "HORIZONTAL", 2)
    gen = torch.Generator().manual_seed(0)
    hyper = dict(amsgrad=False, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, maximize=False,
                 decoupled_weight_decay=False)
    scalars = (torch.tensor(1.0), torch.tensor(-0.1), torch.tensor(0.5))

    def check(sizes):
        tensors = [[torch.randn(n, generator=gen).abs() for _ in range(4)] for n in sizes]
        expected = [[t.clone() for t in row] for row in tensors]
        for row in expected:
            adam_kernel.kernel(*row, None, *scalars, **hyper)
        adam_kernel.many([((*row, None), scalars) for row in tensors], **hyper)
        for row, want in zip(tensors, expected, strict=True):
            torch.testing.assert_close(row, want, **tolerance(torch.float32, 1))

    check([300, 300, 500])  # a call of 2 equal sizes, a call of 1
    compiled = graphs()
    check([300, 700, 900])  # unequal sizes, the same numbers of rows
    assert graphs() == compiled
    check([400, 500, 600, 700])  # two calls of 2
    assert graphs() == compiled
    monkeypatch.setattr(fused_module, "HORIZONTAL", 3)
    check([300, 400, 500, 600])  # 4 rows, 3 a call at most: two calls of 2 (not 3 + 1), nothing new to compile
    assert graphs() == compiled


def test_each_kernel_has_a_horizontal_code_object_of_its_own():
    """Dynamo counts recompilations per code object: the optimizers' horizontal forms do not share one."""
    from c147.optim.adam import adam_kernel
    from c147.optim.sgd import sgd_kernel

    forms = [fused_module._horizontal(k.kernel) for k in (adam_kernel, sgd_kernel)]
    assert forms[0].__code__ is not forms[1].__code__
    assert [f.__name__ for f in forms] == ["adam_kernel_many", "sgd_kernel_many"]


def test_fused_complex_adam_matches_the_single_tensor_path():
    """A complex parameter (torch's fused kernels refuse them): its real and imaginary parts as independent
    coordinates, as on every path; the float32 kernel of test_fused_matches_torch, on the real view."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(FUSED_MIN_NUMEL, generator=gen, dtype=torch.complex64)
    params = [torch.nn.Parameter(z.clone()) for _ in range(2)]
    _, _, kwargs = CASES["Adam"]
    opts = [Adam([params[0]], fused=True, **kwargs), Adam([params[1]], foreach=False, **kwargs)]
    for _ in range(3):
        g = torch.randn(z.shape, generator=gen, dtype=z.dtype)
        for p, opt in zip(params, opts, strict=True):
            p.grad = g.clone()
            opt.step()
    torch.testing.assert_close(params[0], params[1], **tolerance(torch.float32, 3))
    assert_same_state(*opts, **tolerance(torch.float32, 3))


def test_fused_nesterov_rmsprop_matches_the_single_tensor_path():
    """RMSprop's Nesterov momentum (c147's, torch has no twin of it) in the kernel: as our single-tensor path, which
    test_rmsprop.py checks against the sheet's form. One more compilation (float32, the flags below)."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(FUSED_MIN_NUMEL, generator=gen)
    params = [torch.nn.Parameter(w.clone()) for _ in range(2)]
    kwargs = dict(lr=1e-3, momentum=0.9, nesterov=True, centered=True, weight_decay=0.1)
    opts = [RMSprop([params[0]], fused=True, **kwargs), RMSprop([params[1]], foreach=False, **kwargs)]
    for _ in range(3):
        g = torch.randn(w.shape, generator=gen)
        for p, opt in zip(params, opts, strict=True):
            p.grad = g.clone()
            opt.step()
    tol = tolerance(torch.float32, 3, ULPS["RMSprop"])  # centered: the bits lost in √(a - ḡ ⊙ ḡ), as above
    torch.testing.assert_close(params[0], params[1], **tol)
    assert_same_state(*opts, **tol)
    assert not torch.allclose(params[0], w)  # it moved


@pytest.mark.parametrize("name", CASES)
def test_fused_with_foreach_or_differentiable_is_refused_like_torch(name):
    ours_cls, twin_cls, _ = CASES[name]
    classes = (ours_cls, twin_cls) if name in TORCH_FUSED else (ours_cls,)
    for cls in classes:
        with pytest.raises(RuntimeError, match=re.escape("`fused` and `foreach` cannot be `True` together.")):
            cls([torch.nn.Parameter(torch.ones(1))], fused=True, foreach=True)
        with pytest.raises(RuntimeError, match=re.escape("`fused` does not support `differentiable`")):
            cls([torch.nn.Parameter(torch.ones(1))], fused=True, differentiable=True)


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)),
                                          ("Adagrad", dict(lr=0.1))])
def test_fused_sparse_gradients_are_refused_like_torch(name, kwargs):
    ours_cls, twin_cls, _ = CASES[name]
    messages = []
    for cls in (ours_cls, twin_cls):
        p = torch.nn.Parameter(torch.ones(4, 2))
        p.grad = torch.sparse_coo_tensor([[0, 2]], torch.ones(2, 2), (4, 2), check_invariants=True)
        with pytest.raises(RuntimeError) as info:
            cls([p], fused=True, **kwargs).step()
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_rmsprop_fused_is_c147s_addition():
    """Keyword-only, after torch's arguments; a torch RMSprop state_dict (no ``fused`` key) loads with it off."""
    params = inspect.signature(RMSprop).parameters
    assert list(params)[-2:] == ["fused", "nesterov"]  # nesterov, c147's other addition: test_rmsprop.py
    assert params["fused"].kind is inspect.Parameter.KEYWORD_ONLY
    assert "fused" not in inspect.signature(torch.optim.RMSprop).parameters
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    twin = torch.optim.RMSprop([p])
    twin.step()
    opt = RMSprop([torch.nn.Parameter(torch.ones(3))], fused=True)
    opt.load_state_dict(twin.state_dict())
    assert opt.param_groups[0]["fused"] is None


# ---- many small parameters: the foreach path on flat buffers (nothing compiled) --------------------------------------

# small parameters of two dtypes, each group past PACK_MIN_TENSORS, odd sizes (vector loops' tails), a transposed one
SMALL = [((7,), torch.float32), ((3, 5), torch.float32), ((1,), torch.float32), ((4, 4, 2), torch.float32)] * 3 + [
    ((6,), torch.float64), ((2, 9), torch.float64)] * 5


def small_params(gen: torch.Generator) -> list[torch.Tensor]:
    params = [torch.randn(shape, generator=gen, dtype=dtype) for shape, dtype in SMALL]
    params[1] = params[1].t().contiguous().t()  # a transposed (non-contiguous) parameter
    return params


def packed_and_foreach(name: str, steps: int, between=None, *, optimizers: int = 1, once: int | None = None,
                       kwargs: dict | None = None):
    """``steps`` steps of ours fused (small parameters: the packed foreach path) and ours foreach on the same
    parameters and gradients; ``between(step, packed_opts, foreach_opts)`` runs after each step. ``optimizers``
    of each over the same parameters, stepped in turn; the parameter at index ``once`` has a gradient on the first
    step only; ``kwargs`` instead of the case's hyperparameters."""
    ours_cls, _, case_kwargs = CASES[name]
    kwargs = case_kwargs if kwargs is None else kwargs
    gen = torch.Generator().manual_seed(0)
    start = small_params(gen)
    sides = []
    for switch in (dict(fused=True), dict(foreach=True)):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        sides.append((params, [ours_cls(params, **switch, **kwargs) for _ in range(optimizers)]))
    (packed, packed_opts), (plain, plain_opts) = sides
    for step in range(steps):
        for i, (p, q) in enumerate(zip(packed, plain, strict=True)):
            g = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.grad, q.grad = (None, None) if i == once and step else (g.clone(), g.clone())
        for a, b in zip(packed_opts, plain_opts, strict=True):
            a.step()
            b.step()
        if between is not None:
            between(step, packed_opts, plain_opts)
    return (packed, packed_opts), (plain, plain_opts)


def assert_same(packed, plain, steps):
    """Parameters and state as the foreach path's: the same elementwise operations on the same numbers, in vector
    loops or their scalar tails (an FMA or not: a few ulps per step)."""
    (params, opts), (params_ref, opts_ref) = packed, plain
    for p, q in zip(params, params_ref, strict=True):
        torch.testing.assert_close(p, q, **tolerance(p.dtype, steps))
        for a, b in zip(opts, opts_ref, strict=True):
            assert a.state[p].keys() == b.state[q].keys()
            for key, value in b.state[q].items():
                torch.testing.assert_close(a.state[p][key], value, **tolerance(p.dtype, steps))


def test_sgd_without_momentum_steps_small_parameters_on_flat_buffers_too():
    """No state at all: the parameters and gradients are copied in, the parameters back."""
    packed, plain = packed_and_foreach("SGD", 3, kwargs=dict(lr=0.1, weight_decay=0.01))
    assert_same(packed, plain, 3)
    assert not torch.equal(packed[0][0], small_params(torch.Generator().manual_seed(0))[0])  # it moved
    assert packed[0][0] in fused_module._PACKS  # the buffers, by the first parameter


@pytest.mark.parametrize("name", CASES)
def test_small_parameters_step_on_flat_buffers_as_the_foreach_path(name):
    """Fused, the small parameters of each dtype are copied into a flat buffer and stepped there; the state lives
    in such buffers (each state tensor, the same object, a view of its place), the parameters are copied back."""
    packed, plain = packed_and_foreach(name, STEPS)
    assert_same(packed, plain, STEPS)
    params, (opt,) = packed[0], packed[1]
    for dtype in (torch.float32, torch.float64):
        states = [t for p in params if p.dtype == dtype for t in opt.state[p].values() if t.dim() > 0]
        assert len({t.untyped_storage().data_ptr() for t in states}) == len(states) // sum(
            p.dtype == dtype for p in params)  # one buffer per state key
    assert all(p.untyped_storage().size() == p.numel() * p.element_size() for p in params)  # parameters: their own


@pytest.mark.parametrize("name", ["Adam", "SGD"])
def test_packed_state_loaded_or_replaced_is_what_the_next_step_reads(name):
    """State loaded from a state_dict (new tensors) or a state tensor replaced by hand: the next step reads it, and
    the state_dict of a packed optimizer saves and loads as any other."""
    key = "exp_avg" if name == "Adam" else "momentum_buffer"

    def between(step, packed_opts, plain_opts):
        if step == 1:  # a round trip through torch.save of both
            for opt in (*packed_opts, *plain_opts):
                buffer = io.BytesIO()
                torch.save(opt.state_dict(), buffer)
                buffer.seek(0)
                opt.load_state_dict(torch.load(buffer))
        if step == 2:  # one state tensor replaced, in both
            for opt in (*packed_opts, *plain_opts):
                p = opt.param_groups[0]["params"][4]
                opt.state[p][key] = torch.full_like(p, 0.5)

    packed, plain = packed_and_foreach(name, STEPS, between)
    assert_same(packed, plain, STEPS)


def test_packed_optimizers_over_the_same_parameters_keep_their_own_state():
    """Two optimizers stepping the same parameters in turn: each its own buffers (they hold its state)."""
    packed, plain = packed_and_foreach("Adam", 3, optimizers=2)
    assert_same(packed, plain, 3)
    params, opts = packed
    assert opts[0].state[params[0]]["exp_avg"].data_ptr() != opts[1].state[params[0]]["exp_avg"].data_ptr()


def test_parameters_at_different_step_counts_are_not_packed_and_step_alike():
    """A parameter without a gradient on some steps falls behind in its step count: that group is stepped as it
    is (its parameters' updates depend on their own counts), with the same results."""
    packed, plain = packed_and_foreach("Adam", 3, once=2)
    assert_same(packed, plain, 3)
    params, (opt,) = packed[0], packed[1]
    assert opt.state[params[2]]["step"].item() == 1 and opt.state[params[0]]["step"].item() == 3


# ---- the flat views the kernels take (nothing compiled) -------------------------------------------------------------


def test_flat_views_alias_the_tensors_in_memory_order():
    n = FUSED_MIN_NUMEL
    p = torch.randn(256, n // 256).t()  # a transposed (dense, non-contiguous) parameter and its state alike
    state = torch.randn(256, n // 256).t()
    flat_p, flat_state = flat_views([p, state])
    assert flat_p._base is None and flat_p.data_ptr() == p.data_ptr() and flat_p.shape == (n,)
    assert torch.equal(flat_p.sort().values, p.flatten().sort().values)
    flat_p.add_(1)  # writes go to the parameter, and count as in-place on it (version counter shared)
    assert torch.equal(flat_p, (p.t().reshape(-1)))
    assert p._version > 0
    assert torch.equal(flat_state, state.t().reshape(-1))


def test_flat_views_refuse_what_the_kernel_cannot_take():
    n = FUSED_MIN_NUMEL
    assert flat_views([torch.ones(n - 1), torch.ones(n - 1)]) is None  # small: the foreach path
    assert flat_views([torch.ones(n), None]) is None  # SGD's first step (no momentum buffer yet)
    assert flat_views([torch.ones(256, n // 256), torch.ones(n // 256, 256).t()]) is None  # another layout
    assert flat_views([torch.ones(n), torch.ones(1).expand(n)]) is None  # an expanded gradient
    assert flat_views([torch.ones(2 * n)[::2], torch.ones(n)]) is None  # not dense
    z = torch.ones(n, dtype=torch.complex64)
    assert [v.shape for v in flat_views([z, z])] == [(2 * n,)] * 2  # complex: the real view
