"""What every c147 optimizer shares with its torch twin, tested once over the table of optim_db.py.

Each test is parametrized over ``OPTIMIZERS`` (and the cases of each), with ids such as
``Adam-amsgrad-foreach-two_groups``. The trajectories (tests/optim/trajectory.py: 60 steps of a seeded
model, a parameter sometimes without gradient) are computed once per optimizer, case, path and group
layout, and shared by the tests that compare them.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import re

import pytest
import torch

from c147._compat import _default_to_fused_or_foreach, _get_scalar_dtype
from c147.optim._foreach import chunked
from tests.optim.optim_db import BY_NAME, OPTIMIZERS, OptimizerInfo
from tests.optim.trajectory import (
    EXACT,
    TIGHT,
    assert_same_params,
    assert_same_state,
    make_model,
    param_groups,
    run,
    train,
)
from tests.twins import DEVICES

PATH = {False: "single", True: "foreach", None: "foreach_none"}


def cases(*dims: str, select=lambda info: info.cases):
    """pytest params ``info, case, *dims`` over every optimizer and the cases ``select`` names, with ids
    ``Name-case-single-two_groups``. Dimensions: ``foreach`` (the paths torch allows for the case),
    ``two_groups`` (the table's layouts)."""
    values = {"foreach": lambda info, case: info.foreach_values(case), "two_groups": lambda info, case: info.layouts}
    names = {"foreach": PATH, "two_groups": {False: "one_group", True: "two_groups"}}
    out = []
    for info in OPTIMIZERS:
        for case in select(info):
            combos = [((), ())]
            for dim in dims:
                combos = [(v + (x,), i + (names[dim][x],)) for v, i in combos for x in values[dim](info, case)]
            out += [pytest.param(info, case, *v, id="-".join((info.name, case, *i))) for v, i in combos]
    return out


def each(*foreach: bool | None, where=lambda info: True):
    """pytest params ``info`` (and each value of ``foreach``, if any) over the optimizers ``where`` selects."""
    if not foreach:
        return [pytest.param(info, id=info.name) for info in OPTIMIZERS if where(info)]
    return [pytest.param(info, f, id=f"{info.name}-{PATH[f]}") for info in OPTIMIZERS if where(info) for f in foreach]


def trajectory(name: str, side: str, case: str, foreach: bool, two_groups: bool = True, device: str = "cpu"):
    """``run`` of a table case by ours or torch's twin (``side``), float64; cached: read it, never step it."""
    return _trajectory(name, side, case, foreach, two_groups, device)  # one cache key however it is called


@functools.cache
def _trajectory(name: str, side: str, case: str, foreach: bool, two_groups: bool, device: str):
    info = BY_NAME[name]
    cls = info.ours if side == "ours" else info.twin
    return run(cls, dict(info.cases[case], foreach=foreach), two_groups=two_groups, device=device)


def same_device_state(ours: torch.optim.Optimizer, theirs: torch.optim.Optimizer) -> None:
    """Every state tensor on the device (and with the dtype) of torch's (``step`` stays on CPU, ...)."""
    params = [p for group in ours.param_groups for p in group["params"]]
    params_t = [q for group in theirs.param_groups for q in group["params"]]
    for p, q in zip(params, params_t, strict=True):
        mine, twin = ours.state.get(p, {}), theirs.state.get(q, {})
        assert mine.keys() == twin.keys()
        for key, value in twin.items():
            if torch.is_tensor(value):
                assert (mine[key].device, mine[key].dtype) == (value.device, value.dtype), key


# ---- parity of trajectories -------------------------------------------------------------------------------------


@pytest.mark.parametrize("info, case, foreach, two_groups", cases("foreach", "two_groups"))
def test_trajectory_matches_torch(info, case, foreach, two_groups):
    """Each of our paths against each of torch's: 60 steps, a parameter sometimes without grad, float64."""
    model, opt = trajectory(info.name, "ours", case, foreach, two_groups)
    for torch_foreach in info.foreach_values(case):
        model_t, opt_t = trajectory(info.name, "torch", case, torch_foreach, two_groups)
        assert_same_params(model, model_t)
        assert_same_state(opt, opt_t)


@pytest.mark.parametrize("info, case, foreach", cases("foreach", select=lambda info: info.exact_cases))
def test_bit_identical_to_torch_on_cpu(info, case, foreach):
    """torch's order of operations is kept: not one bit differs from torch's same path (float64)."""
    model, opt = trajectory(info.name, "ours", case, foreach)
    model_t, opt_t = trajectory(info.name, "torch", case, foreach)
    assert_same_params(model, model_t, **EXACT)
    assert_same_state(opt, opt_t, **EXACT)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("info, case, foreach", cases("foreach", select=lambda info: info.device_cases))
def test_trajectory_matches_torch_on_device(info, case, foreach, device):
    model, opt = trajectory(info.name, "ours", case, foreach, device=device)
    model_t, opt_t = trajectory(info.name, "torch", case, foreach, device=device)
    assert_same_params(model, model_t)
    assert_same_state(opt, opt_t)
    same_device_state(opt, opt_t)


@pytest.mark.parametrize("info, case, foreach", cases("foreach", select=lambda info: info.float32[:1]))
def test_float32_trajectory_matches_torch(info, case, foreach):
    """float32: bit-identical where torch's order of operations is kept, else within the table's rounding."""
    tol = info.float32[1]
    kwargs = dict(info.cases[case], foreach=foreach)
    model, opt = run(info.ours, kwargs, two_groups=True, dtype=torch.float32)
    model_t, opt_t = run(info.twin, kwargs, two_groups=True, dtype=torch.float32)
    assert_same_params(model, model_t, **tol)
    assert_same_state(opt, opt_t, **tol)


@pytest.mark.parametrize("info", each())
def test_lr_scheduler_matches_torch(info):
    """The lr is read from the group on every step, so a scheduler's changes take effect as in torch (a tensor
    lr is a case of test_trajectory_matches_torch)."""
    sched = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)  # noqa: E731
    model, opt = run(info.ours, info.cases[info.typical], scheduler=sched)
    model_t, opt_t = run(info.twin, info.cases[info.typical], scheduler=sched)
    assert_same_params(model, model_t)
    assert_same_state(opt, opt_t)


@pytest.mark.parametrize("info, foreach", each(False, True))
def test_complex_parameters_match_torch(info, foreach):
    """Real and imaginary parts are independent coordinates, as in torch (all state included)."""
    results = []
    for cls in (info.ours, info.twin):
        torch.manual_seed(0)
        z = torch.nn.Parameter(torch.randn(6, dtype=torch.complex128))
        opt = cls([z], **dict(info.cases[info.typical], foreach=foreach))
        for _ in range(10):
            opt.zero_grad()
            ((z - (1 + 2j)).abs() ** 2).sum().backward()
            opt.step()
        results.append((z.detach().clone(), opt))
    (z, opt), (z_t, opt_t) = results
    torch.testing.assert_close(z, z_t, **TIGHT)
    assert_same_state(opt, opt_t)


def test_cpu_foreach_chunks_cover_every_tensor_once():
    """On CPU the foreach paths run on chunks of about 256 kB per list (c147.optim._foreach.chunked),
    in order, none lost."""
    tensors = [torch.zeros(n) for n in (10, 70_000, 5, 5, 200_000, 3)]  # float32: 40 B to 800 kB
    lists = [tensors, [t + 1 for t in tensors]]
    chunks = list(chunked(lists, chunk_bytes=1 << 18))
    index = {id(t): i for i, t in enumerate(tensors)}
    assert [[index[id(t)] for t in chunk[0]] for chunk in chunks] == [[0, 1], [2, 3, 4], [5]]
    assert all(len(chunk[0]) == len(chunk[1]) and chunk[1][0].sum() > 0 for chunk in chunks)


@pytest.mark.parametrize("info", each())
def test_foreach_on_several_chunks_matches_torch(info):
    """Parameters large enough to be cut into several CPU chunks, float32 (the table's float32 tolerance),
    steps of different ``t`` per tensor."""
    results = []
    for cls in (info.ours, info.twin):
        gen = torch.Generator().manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(n, generator=gen)) for n in (300_000, 100, 70_000, 7)]
        opt = cls(params, **dict(info.cases[info.typical], foreach=True))
        for step in range(4):
            for i, p in enumerate(params):
                p.grad = None if (step == 0 and i == 1) else torch.randn(p.shape, generator=gen)
            opt.step()
        results.append((params, opt))
    (params, opt), (params_t, opt_t) = results
    for p, q in zip(params, params_t, strict=True):
        torch.testing.assert_close(p, q, **info.float32[1])
    assert_same_state(opt, opt_t, **info.float32[1])


# ---- the class ----------------------------------------------------------------------------------------------------


# arguments c147 adds to torch's signatures: torch.optim.RMSprop (class and functional) has no fused variant and no
# Nesterov momentum, c147's has both (keyword-only, last: test_fused.py, test_rmsprop.py); compared without them, the
# rest must still be torch's exactly
C147_ADDITIONS = {"RMSprop": ("fused", "nesterov"), "rmsprop": ("fused", "nesterov")}


def same_signature(ours, theirs) -> None:
    """Names, kinds, defaults and annotations (ours are strings until evaluated) of every argument (but those
    of :data:`C147_ADDITIONS`)."""
    mine, twin = inspect.signature(ours, eval_str=True), inspect.signature(theirs, eval_str=True)
    added = C147_ADDITIONS.get(ours.__name__, ())
    mine = mine.replace(parameters=[p for p in mine.parameters.values() if p.name not in added])
    assert list(mine.parameters.values()) == list(twin.parameters.values()), (str(mine), str(twin))
    assert mine == twin


@pytest.mark.parametrize("info", each())
def test_signature_matches_torch(info):
    same_signature(info.ours, info.twin)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("info, foreach", each(None, False, True))
def test_foreach_none_chooses_like_torch(info, foreach, device, monkeypatch):
    """``foreach`` picks the path; ``None`` picks as torch does (the per-tensor loop on CPU, foreach on an
    accelerator). The path not taken is replaced by a function that fails."""
    model = make_model(device=device)
    params = list(model.parameters())
    multi = foreach if foreach is not None else _default_to_fused_or_foreach(params, False, use_fused=False)[1]
    taken, avoided = ("_multi_tensor_", "_single_tensor_") if multi else ("_single_tensor_", "_multi_tensor_")
    module, calls = info.paths_module, []
    path = getattr(module, taken + info.paths)

    def spy(*args, **kwargs):
        calls.append(taken)
        return path(*args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError(f"{avoided}{info.paths} called with foreach={foreach} on {device}")

    monkeypatch.setattr(module, taken + info.paths, spy)
    monkeypatch.setattr(module, avoided + info.paths, refuse)
    opt = info.ours(params, foreach=foreach)
    train(model, opt, 2)
    assert calls == [taken] * 2  # one call per step of the one param group


@pytest.mark.parametrize("info", each())
def test_closure_is_run_with_grad_enabled_and_its_loss_returned(info):
    p = torch.nn.Parameter(torch.ones(2))
    opt = info.ours([p])

    def closure():
        assert torch.is_grad_enabled()
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        assert opt.step(closure).item() == 2.0
    assert opt.step() is None


@pytest.mark.parametrize("info, foreach", each(False, True))
def test_parameter_without_grad_gets_no_state(info, foreach):
    """A parameter without a gradient is not touched and gets no state (Adagrad: keeps the state built at
    construction); a step with no gradient at all changes nothing. As in torch."""
    opts = []
    for cls in (info.ours, info.twin):
        a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
        opt = cls([a, b], **dict(info.cases[info.typical], foreach=foreach))
        a.grad = torch.ones(2)
        opt.step()
        opts.append(opt)
    (ours, theirs), (a, b) = opts, opts[0].param_groups[0]["params"]
    assert (b in ours.state) == info.state_at_construction
    assert torch.equal(b, torch.ones(2))
    assert_same_state(ours, theirs)
    before = a.detach().clone()
    ours.zero_grad()
    ours.step()
    assert torch.equal(a, before)
    assert_same_state(ours, theirs)  # step included: it counts the steps with a gradient


@pytest.mark.parametrize("default_dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("info, case", cases(select=lambda info: [case for case, _ in info.state_keys]))
def test_state_keys_and_step_dtype_match_torch(info, case, default_dtype):
    """torch's state keys, tensors of torch's dtype, shape and device; ``step`` a scalar of the scalar dtype."""
    keys = dict(info.state_keys)[case]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(default_dtype)
    try:
        for foreach in (False, True):
            states = []
            for cls in (info.ours, info.twin):
                p = torch.nn.Parameter(torch.ones(3))
                opt = cls([p], **dict(info.cases[case], foreach=foreach))
                p.grad = torch.ones(3)
                opt.step()
                states.append((opt.state.get(p, {}), opt.state_dict()["state"].keys()))
            (ours, ours_ids), (theirs, theirs_ids) = states
            assert ours_ids == theirs_ids  # no entry at all where torch keeps no state (SGD without momentum)
            assert ours.keys() == theirs.keys() == keys, (foreach, sorted(ours), sorted(theirs))
            for key, value in theirs.items():
                assert (ours[key].dtype, ours[key].shape, ours[key].device) == (value.dtype, value.shape, value.device)
            if "step" in keys:
                assert ours["step"].dtype == _get_scalar_dtype() == default_dtype and ours["step"].shape == ()
                assert ours["step"].item() == 1
    finally:
        torch.set_default_dtype(previous)


# ---- state_dicts ---------------------------------------------------------------------------------------------------

DIRECTIONS = {"ours_to_torch": ("ours", "torch"), "torch_to_ours": ("torch", "ours"), "ours_to_ours": ("ours", "ours")}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("info, case", cases(select=lambda info: info.round_trip_cases))
def test_state_dict_round_trip(info, case, direction):
    """60 steps with one side, its state_dict into a fresh optimizer of the other; 20 more steps each: the same."""
    src, dst = DIRECTIONS[direction]
    model, opt = trajectory(info.name, src, case, False)
    continued = []
    for side in (src, dst):
        cls = info.ours if side == "ours" else info.twin
        model_copy = copy.deepcopy(model)
        opt_copy = cls(param_groups(model_copy, True), **info.cases[case])
        # load_state_dict keeps the very tensors it is given when dtype and device match: a deep copy each, as a
        # checkpoint on disk would be, so the two runs share no state
        opt_copy.load_state_dict(copy.deepcopy(opt.state_dict()))
        train(model_copy, opt_copy, 20, start=60)
        continued.append((model_copy, opt_copy))
    (model_src, opt_src), (model_dst, opt_dst) = continued
    assert_same_params(model_dst, model_src)
    assert_same_state(opt_dst, opt_src)


@pytest.mark.parametrize("info", each())
def test_old_state_dict_is_upgraded(info):
    """A state_dict of an older torch: a float ``step``, and none of the param-group keys added since. Loading
    fills the keys in with torch's values and turns ``step`` into torch's scalar tensor."""
    _, opt = trajectory(info.name, "ours", info.typical, False)
    sd = copy.deepcopy(opt.state_dict())
    for st in sd["state"].values():
        if "step" in st:
            st["step"] = float(st["step"])
    for group in sd["param_groups"]:
        for key in info.newer_keys:
            del group[key]
    loaded = []
    for cls in (info.ours, info.twin):
        fresh = cls(param_groups(make_model(), True), **info.cases[info.typical])
        fresh.load_state_dict(copy.deepcopy(sd))
        loaded.append(fresh)
    ours, theirs = loaded
    for group, group_t in zip(ours.param_groups, theirs.param_groups, strict=True):
        for key, value in info.newer_keys.items():
            assert group[key] == value == group_t[key], (key, group[key], value, group_t[key])
    state = ours.state_dict()["state"]
    for idx, st in sd["state"].items():
        if "step" in st:
            step = state[idx]["step"]
            assert torch.is_tensor(step) and step.dtype == _get_scalar_dtype() and step.shape == ()
            assert step.item() == st["step"] > 0
    assert_same_state(ours, theirs, **EXACT)  # torch's step tensors too


# ---- sparse gradients ------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")  # raised inside torch's own sparse Adagrad
@pytest.mark.parametrize("info, case, foreach", cases("foreach", select=lambda info: info.sparse_cases))
def test_sparse_gradients_match_torch(info, case, foreach):
    """nn.Embedding(sparse=True) gradients, with a repeated index (summed when coalesced)."""

    def train_embedding(cls):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(10, 3, sparse=True, dtype=torch.float64)
        opt = cls(emb.parameters(), **dict(info.cases[case], foreach=foreach))
        for step in range(6):
            opt.zero_grad()
            idx = torch.tensor([[step % 10, 3, 3, (2 * step) % 10]])
            emb(idx).pow(2).sum().backward()
            opt.step()
        return emb, opt

    (emb, opt), (emb_t, opt_t) = train_embedding(info.ours), train_embedding(info.twin)
    assert_same_params(emb, emb_t)
    assert_same_state(opt, opt_t)


@pytest.mark.parametrize("info, foreach", each(False, True, where=lambda info: info.sparse_refused))
def test_sparse_gradients_are_refused(info, foreach):
    """The same RuntimeError as torch's (the torch rows check the table itself)."""
    for cls in (info.ours, info.twin):
        p = torch.nn.Parameter(torch.ones(3))
        p.grad = torch.ones(3).to_sparse()
        with pytest.raises(RuntimeError, match=f"^{re.escape(info.sparse_refused)}$"):
            cls([p], foreach=foreach).step()


# ---- arguments -----------------------------------------------------------------------------------------------------


def invalid_cases():
    return [
        pytest.param(info, kwargs, message, side, id=f"{info.name}-{name}-{side}")
        for info in OPTIMIZERS
        for name, kwargs, message in info.invalid
        for side in ("ours", "torch")
    ]


@pytest.mark.parametrize("info, kwargs, message, side", invalid_cases())
def test_invalid_arguments(info, kwargs, message, side):
    """The same ValueError as torch's (the torch rows check the table itself)."""
    cls = info.ours if side == "ours" else info.twin
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        cls([torch.nn.Parameter(torch.ones(1))], **kwargs)


def switches():
    return [pytest.param(info, key, id=f"{info.name}-{key}") for info in OPTIMIZERS for key in info.unimplemented]


@pytest.mark.parametrize("info, key", switches())
def test_unimplemented_switches_are_refused(info, key):
    with pytest.raises(NotImplementedError, match=f"{key}=True"):
        info.ours([torch.nn.Parameter(torch.ones(1))], **{key: True})
    info.ours([torch.nn.Parameter(torch.ones(1))], **{key: False})  # off: accepted, kept for state_dicts


@pytest.mark.parametrize("info, key", switches())
def test_unimplemented_switch_in_a_loaded_group_is_refused_at_step(info, key):
    p = torch.nn.Parameter(torch.ones(1))
    opt = info.ours([p])
    opt.param_groups[0][key] = True  # e.g. from a torch state_dict saved with it on
    p.grad = torch.ones(1)
    with pytest.raises(NotImplementedError, match=f"{key}=True"):
        opt.step()


# ---- the functional twins ------------------------------------------------------------------------------------------


def functionals(info: OptimizerInfo):
    """Ours (``c147.optim.adam.adam``) and torch's (``torch.optim.adam.adam``)."""
    twin = importlib.import_module(f"torch.optim.{info.functional}")
    return getattr(info.module, info.functional), getattr(twin, info.functional)


@pytest.mark.parametrize("info", each())
def test_functional_signature_matches_torch(info):
    same_signature(*functionals(info))


def clone_list(tensors):
    return [t.clone() if torch.is_tensor(t) else t for t in tensors]


@pytest.mark.parametrize("info, case, foreach", cases("foreach"))
def test_functional_matches_torch(info, case, foreach):
    """Ours and torch's functional on copies of the same lists (parameters, gradients, state): 4 steps, float64.
    The state lists are those the class's ``_init_group`` builds on a first step."""
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=gen, dtype=torch.float64) for shape in ((3, 4), (5,), (2, 1, 3))]
    state, kwargs = info.functional_inputs(params, info.group(case))
    sides = [(clone_list(params), [clone_list(lst) for lst in state]) for _ in range(2)]
    for step in range(4):
        grads = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
        for fn, (ps, st) in zip(functionals(info), sides, strict=True):
            fn(ps, clone_list(grads), *st, foreach=foreach, **kwargs)
        (ps, st), (ps_t, st_t) = sides
        torch.testing.assert_close(ps, ps_t, **TIGHT, msg=lambda m, s=step: f"params after step {s}: {m}")
        for i, (lst, lst_t) in enumerate(zip(st, st_t, strict=True)):
            assert [t is None for t in lst] == [t is None for t in lst_t], (step, i)
            torch.testing.assert_close(
                [t for t in lst if t is not None], [t for t in lst_t if t is not None], **TIGHT,
                msg=lambda m, s=step, i=i: f"state list {i} after step {s}: {m}",
            )


@pytest.mark.parametrize("info", each())
def test_functional_refuses_unimplemented_switches(info):
    """torch's implementation switches of the functional (capturable, differentiable, the AMP tensors): refused
    when on, rather than ignored (fused is implemented: test_fused.py)."""
    fn, _ = functionals(info)
    names = inspect.signature(fn).parameters
    on = {"capturable": True, "differentiable": True, "grad_scale": torch.ones(()), "found_inf": torch.zeros(())}
    checked = [key for key in on if key in names]
    assert checked, "torch's functional has no switch of these"
    for key in checked:
        value = on[key]
        params = [torch.ones(3, dtype=torch.float64)]
        state, kwargs = info.functional_inputs(params, info.group(info.typical))
        with pytest.raises(NotImplementedError, match=key):
            fn(params, [torch.ones(3, dtype=torch.float64)], *state, **kwargs, **{key: value})
