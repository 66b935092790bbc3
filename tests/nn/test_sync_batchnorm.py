"""c147.nn.SyncBatchNorm / c147.functional.sync_batch_norm: two gloo processes on CPU with uneven shards
against batch norm of the whole batch (c147's and torch's), the Function's gradcheck in a process group
of one, the fallback without a process group against torch.nn.SyncBatchNorm, conversion and state_dicts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.autograd import gradcheck

import c147
from c147.functional.batch_norm import BatchNormFunction, batch_norm
from c147.functional.sync_batch_norm import SyncBatchNormFunction, sync_batch_norm
from c147.nn import BatchNorm1d, BatchNorm2d, Conv2d, ReLU, SyncBatchNorm
from tests.twins import DTYPES, assert_backward_is, assert_module_parity, assert_reduced_precision, rand, tol

WORLD = 2
STEPS = 2  # training steps before the running statistics are compared
# float64 on both sides, which differ only in the order of the sums (per shard, then across the two processes)
# over at most 8 * 16 = 128 values per channel of size O(1) to O(10): |difference| <~ 128 * 1.1e-16 * 10 ~ 1e-13.
# 1e-12 keeps a 10x margin, while a formula slip is far larger (Bessel's N / (N - 1) with a local instead of the
# global count is 8/7 vs 5/4 on the running variance; a local mean shifts outputs by O(0.1)).
EXACT = dict(rtol=1e-12, atol=1e-12)


@dataclass(frozen=True)
class Case:
    """One layer in the two-process run: our module, its reference on the whole batch (c147's and torch's),
    the number of samples on each rank, the rest of the shape (C, *) and the constructor kwargs."""

    references: tuple[type, type]
    shards: tuple[int, int]
    rest: tuple[int, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


CASES = {
    "NCHW-shards-5-3": Case((BatchNorm2d, torch.nn.BatchNorm2d), (5, 3), (3, 4, 4)),
    "NC-shards-4-1": Case((BatchNorm1d, torch.nn.BatchNorm1d), (4, 1), (3,)),
    "NCL-shards-2-3": Case((BatchNorm1d, torch.nn.BatchNorm1d), (2, 3), (3, 5), dict(momentum=0.3, eps=1e-3)),
    "empty-rank-shards-4-0": Case((BatchNorm2d, torch.nn.BatchNorm2d), (4, 0), (3, 2, 3)),
    "momentum-None": Case((BatchNorm2d, torch.nn.BatchNorm2d), (3, 2), (2, 3, 3), dict(momentum=None)),
    "affine-False": Case((BatchNorm1d, torch.nn.BatchNorm1d), (3, 4), (4, 2), dict(affine=False)),
}
CONVERTED = Case((BatchNorm2d, torch.nn.BatchNorm2d), (5, 3), (3, 6, 6))  # Conv2d(3, 4, 3), BatchNorm2d(4), ReLU


def full_input(case: Case, step: int) -> torch.Tensor:
    """The whole batch of ``step`` (both ranks' shards), means away from 0 so that centering matters."""
    return rand(sum(case.shards), *case.rest, seed=10 * step + 1) * 2 + 3


def full_upstream(case: Case, step: int, channels: int | None = None) -> torch.Tensor:
    """dL/dy for the whole batch of ``step``; ``channels`` for a layer that changes (C, *)."""
    rest = case.rest if channels is None else (channels, case.rest[1] - 2, case.rest[2] - 2)
    return rand(sum(case.shards), *rest, seed=10 * step + 2)


def shard(t: torch.Tensor, case: Case, rank: int) -> torch.Tensor:
    start = sum(case.shards[:rank])
    return t[start:start + case.shards[rank]].clone()


def set_params(module: torch.nn.Module) -> None:
    """gamma and beta away from (1, 0), so that they matter."""
    if getattr(module, "affine", False):
        with torch.no_grad():
            module.weight.copy_(rand(module.num_features, seed=5).exp())
            if module.bias is not None:
                module.bias.copy_(rand(module.num_features, seed=6))


def converted_model() -> torch.nn.Sequential:
    torch.manual_seed(0)
    model = torch.nn.Sequential(Conv2d(3, 4, 3), BatchNorm2d(4), ReLU()).double()
    set_params(model[1])
    return model


def grads(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.clone() for name, p in module.named_parameters()}


# ------------------------------------------------------------------------- the two-process worker (gloo)


def _run_case(case: Case, rank: int) -> dict[str, Any]:
    module = SyncBatchNorm(case.rest[0], **case.kwargs, dtype=torch.float64)
    set_params(module)
    steps = []
    for step in range(STEPS):
        x = shard(full_input(case, step), case, rank).requires_grad_(True)
        out = module(x)
        out.backward(shard(full_upstream(case, step), case, rank))
        synced = getattr(out.grad_fn, "_forward_cls", None) is SyncBatchNormFunction
        steps.append(dict(out=out.detach(), grad=x.grad, params=grads(module), synced=synced))
        module.zero_grad()
    buffers = {name: b.clone() for name, b in module.named_buffers()}
    module.eval()
    return dict(steps=steps, buffers=buffers, eval=module(shard(full_input(case, STEPS), case, rank)).detach())


def _run_converted(rank: int) -> dict[str, Any]:
    model = converted_model()
    weight = model[1].weight
    model = SyncBatchNorm.convert_sync_batchnorm(model)
    x = shard(full_input(CONVERTED, 0), CONVERTED, rank).requires_grad_(True)
    out = model(x)
    out.backward(shard(full_upstream(CONVERTED, 0, channels=4), CONVERTED, rank))
    return dict(out=out.detach(), grad=x.grad, params=grads(model), type=type(model[1]),
                same_weight=model[1].weight is weight, training=model[1].training,
                buffers={name: b.clone() for name, b in model.named_buffers()})


def _too_few_values(rank: int) -> str:
    """One value per channel over both ranks ((1, 3) and (0, 3)): every rank must raise, none may hang."""
    try:
        SyncBatchNorm(3, dtype=torch.float64)(rand(1 - rank, 3))
    except ValueError as e:
        return str(e)
    return "no error"


def _worker(rank: int, folder: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))
    try:
        results = {name: _run_case(case, rank) for name, case in CASES.items()}
        results["converted"] = _run_converted(rank)
        results["too few values"] = _too_few_values(rank)  # last: the ranks raise after one collective
    finally:
        dist.destroy_process_group()
    torch.save(results, f"{folder}/rank{rank}.pt")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict[str, Any]]:
    """Every case run once in two gloo processes (one spawn: each costs seconds); each rank's results."""
    folder = tmp_path_factory.mktemp("sync_batchnorm")
    torch.multiprocessing.spawn(_worker, args=(str(folder),), nprocs=WORLD, join=True)
    return [torch.load(folder / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def assert_exact(ours: torch.Tensor, reference: torch.Tensor, what: str) -> None:
    torch.testing.assert_close(ours, reference, **EXACT, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("impl", [0, 1], ids=["c147-reference", "torch-reference"])
@pytest.mark.parametrize("name", list(CASES))
def test_two_processes_match_batch_norm_of_the_whole_batch(ranks, name, impl):
    case = CASES[name]
    reference = case.references[impl](case.rest[0], **case.kwargs, dtype=torch.float64)
    set_params(reference)
    for step in range(STEPS):
        x = full_input(case, step).requires_grad_(True)
        out = reference(x)
        out.backward(full_upstream(case, step))
        results = [r[name]["steps"][step] for r in ranks]
        assert all(r["synced"] for r in results), "the output's grad_fn is not SyncBatchNormFunction on every rank"
        assert_exact(torch.cat([r["out"] for r in results]), out, f"step {step}: output")
        assert_exact(torch.cat([r["grad"] for r in results]), x.grad, f"step {step}: dL/dx")
        # parameter gradients are local sums (DDP reduces them): summed over the ranks, the whole batch's
        ref_grads = grads(reference)
        assert set(results[0]["params"]) == set(ref_grads) == ({"weight", "bias"} if reference.affine else set())
        for p, g in ref_grads.items():
            assert_exact(sum(r["params"][p] for r in results), g, f"step {step}: sum over ranks of dL/d{p}")
        reference.zero_grad()
    for rank in ranks:
        assert rank[name]["buffers"].keys() == dict(reference.named_buffers()).keys()
        for b, value in reference.named_buffers():
            assert_exact(rank[name]["buffers"][b], value, f"{b} after {STEPS} steps")
    reference.eval()
    assert_exact(torch.cat([r[name]["eval"] for r in ranks]), reference(full_input(case, STEPS)), "eval output")


def test_running_statistics_identical_on_every_rank(ranks):
    """Every rank computes them from the same all-reduced sums: bit for bit the same."""
    for name in CASES:
        for b, value in ranks[0][name]["buffers"].items():
            assert torch.equal(value, ranks[1][name]["buffers"][b]), f"{name}: {b} differs between the ranks"
        assert ranks[0][name]["buffers"]["num_batches_tracked"].item() == STEPS


def test_a_rank_with_no_samples_joins_and_gets_empty_outputs_and_zero_gradients(ranks):
    empty = ranks[1]["empty-rank-shards-4-0"]
    for step in empty["steps"]:
        assert step["synced"]
        assert step["out"].shape == step["grad"].shape == (0, *CASES["empty-rank-shards-4-0"].rest)
        for p, g in step["params"].items():
            assert torch.equal(g, torch.zeros_like(g)), f"dL/d{p} on the empty rank: {g}"
    for b, value in empty["buffers"].items():
        assert torch.isfinite(value.double()).all(), f"{b} on the empty rank: {value}"
        assert torch.equal(value, ranks[0]["empty-rank-shards-4-0"]["buffers"][b]), b


def test_too_few_values_over_the_group_raise_on_every_rank(ranks):
    for rank, r in enumerate(ranks):
        assert r["too few values"].startswith("Expected more than 1 value per channel when training, got input "
                                              f"size [{1 - rank}, 3] (1 value(s) per channel"), r["too few values"]


def test_converted_c147_model_in_two_processes(ranks):
    reference = converted_model()
    x = full_input(CONVERTED, 0).requires_grad_(True)
    out = reference(x)
    out.backward(full_upstream(CONVERTED, 0, channels=4))
    ranks = [r["converted"] for r in ranks]
    for r in ranks:
        assert r["type"] is SyncBatchNorm and r["same_weight"] and r["training"]
        for b, value in reference.named_buffers():
            assert_exact(r["buffers"][b], value, b)
    assert_exact(torch.cat([r["out"] for r in ranks]), out, "output")
    assert_exact(torch.cat([r["grad"] for r in ranks]), x.grad, "dL/dx")
    for p, g in grads(reference).items():  # the conv's and the batch norm's, summed over the ranks
        assert_exact(ranks[0]["params"][p] + ranks[1]["params"][p], g, f"sum over ranks of dL/d{p}")


# ---------------------------------------------------------------------- a process group of one process


@pytest.fixture
def group_of_one(tmp_path):
    """torch.distributed initialized with gloo and this process alone (destroyed after the test)."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    try:
        yield dist.group.WORLD
    finally:
        dist.destroy_process_group()


def sync_function(x, weight=None, bias=None, running=(None, None), momentum=0.1, eps=1e-5):
    """The Function itself, which runs its collectives in any group (sync_batch_norm skips a group of one)."""
    return SyncBatchNormFunction.apply(x, *running, weight, bias, momentum, eps, None)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (3, 2, 4), (2, 3, 2, 3)])
def test_gradcheck_in_a_group_of_one(group_of_one, shape, affine):
    C = shape[1]
    x = (rand(*shape) * 2 + 0.5).requires_grad_(True)
    params = [rand(C, seed=1).requires_grad_(True), rand(C, seed=2).requires_grad_(True)] if affine else []
    assert gradcheck(sync_function, (x, *params))


def test_no_double_backward(group_of_one):
    x = rand(4, 3).requires_grad_(True)
    (grad,) = torch.autograd.grad(sync_function(x).pow(3).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (3, 2, 4, 5)])
def test_function_in_a_group_of_one_is_batch_norm(group_of_one, shape):
    C = shape[1]
    ours_running, theirs_running = (rand(C, seed=3), rand(C, seed=4).exp()), (rand(C, seed=3), rand(C, seed=4).exp())
    x = rand(*shape) * 3 + 1
    w, b = rand(C, seed=1), rand(C, seed=2)
    out = sync_function(x, w, b, ours_running, momentum=0.3)
    ref = F.batch_norm(x, *theirs_running, w, b, training=True, momentum=0.3)
    torch.testing.assert_close(out, ref, **tol(torch.float64))
    for a, r in zip(ours_running, theirs_running, strict=True):
        torch.testing.assert_close(a, r, **tol(torch.float64))


def test_bfloat16_statistics_in_float32(group_of_one):
    x = (rand(16, 4, 5, 5) * 2 + 1).to(torch.bfloat16)
    w, b = rand(4, seed=1).float(), rand(4, seed=2).float()
    out = sync_function(x, w, b)
    assert out.dtype == torch.bfloat16
    twin = F.batch_norm(x, None, None, w, b, training=True)
    exact = F.batch_norm(x.double(), None, None, w.double(), b.double(), training=True)
    # as tests/nn/test_dropout_batchnorm.py: 400 values a channel summed in float32 twice, then a few roundings
    assert_reduced_precision(out, twin, exact, terms=3, accumulated=2 * 400)


def test_two_pass_variance_is_accurate_when_the_mean_dwarfs_the_deviation(group_of_one):
    """mean 1e4, deviation 1: E[x^2] - E[x]^2 in float32 would be off by ~1e2; two passes by ~1e-5."""
    x = (rand(512, 2) + 1e4).float()
    running = (torch.zeros(2), torch.ones(2))
    sync_function(x, running=running, momentum=1.0)  # running_var = the unbiased batch variance
    torch.testing.assert_close(running[1].double(), x.double().var(0), rtol=1e-4, atol=0)


@pytest.mark.parametrize("n", [0, 1])
def test_function_needs_two_values_per_channel(group_of_one, n):
    with pytest.raises(ValueError, match=rf"Expected more than 1 value per channel when training, got input size "
                                         rf"\[{n}, 3\] \({n} value\(s\) per channel over the process group\)"):
        sync_function(rand(n, 3))


def test_module_in_a_group_of_one_is_batch_norm_where_torch_refuses_cpu(group_of_one):
    x = rand(4, 3, 2, 2).requires_grad_(True)
    out = SyncBatchNorm(3, dtype=torch.float64)(x)
    assert_backward_is(out, BatchNormFunction)  # a group of one: nothing to synchronize
    torch.testing.assert_close(out, BatchNorm2d(3, dtype=torch.float64)(x), **tol(torch.float64))
    with pytest.raises(ValueError, match="SyncBatchNorm expected input tensor to be on GPU"):  # torch 2.14, CPU
        torch.nn.SyncBatchNorm(3, dtype=torch.float64)(x)


# ------------------------------------------------------------------- no process group: batch norm, as torch's

SHAPES = [(8, 4), (5, 4, 7), (3, 4, 5, 6), (2, 4, 2, 3, 3)]
KWARGS = [dict(), dict(momentum=None, eps=1e-3), dict(affine=False, track_running_stats=False)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("kwargs", KWARGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_without_process_group_matches_torch_sync_batchnorm(shape, kwargs, mode, dtype):
    assert not dist.is_initialized()
    C = shape[1]
    twin = torch.nn.SyncBatchNorm(C, **kwargs, dtype=dtype)  # on CPU without a process group: batch norm
    set_params(twin)
    ours = SyncBatchNorm(C, **kwargs, dtype=dtype)
    ours.train(mode == "train"), twin.train(mode == "train")
    x = rand(*shape, dtype=dtype, seed=20) * 3 - 1
    assert_module_parity(ours, twin, x, steps=2)
    assert_backward_is(ours(x.requires_grad_(True)), BatchNormFunction)
    if mode == "train" and len(shape) == 4:  # and the same as c147's BatchNorm2d
        plain = BatchNorm2d(C, **kwargs, dtype=dtype)
        plain.load_state_dict(ours.state_dict())
        torch.testing.assert_close(ours(x), plain(x), rtol=0, atol=0)


def test_sync_batch_norm_without_process_group_is_batch_norm():
    x, w, b = rand(4, 3, 5), rand(3, seed=1), rand(3, seed=2)
    for training in (True, False):
        running = (rand(3, seed=3), rand(3, seed=4).exp())
        out = sync_batch_norm(x, *running, w, b, training, 0.2, 1e-4)
        assert torch.equal(out, batch_norm(x, rand(3, seed=3), rand(3, seed=4).exp(), w, b, training, 0.2, 1e-4))


BAD = [
    (rand(3), r"expected at least 2D input \(got 1D input\)"),
    (rand(2, 4, 3), r"SyncBatchNorm: expected input with 3 channels \(dim 1\), got 4"),
    (rand(1, 3), r"Expected more than 1 value per channel when training, got input size \[1, 3\]"),
]


@pytest.mark.parametrize("x, msg", BAD)
def test_bad_inputs(x, msg):
    with pytest.raises(ValueError, match=msg):
        SyncBatchNorm(3, dtype=torch.float64)(x)


def test_bad_input_rank_message_is_torchs():
    with pytest.raises(ValueError, match=r"^expected at least 2D input \(got 1D input\)$"):
        torch.nn.SyncBatchNorm(3)(torch.randn(3))


# ------------------------------------------------------------------------ conversion and state_dicts


def assert_converted(old: torch.nn.Module, new: torch.nn.Module, process_group=None) -> None:
    assert type(new) is SyncBatchNorm and new.process_group is process_group
    for attr in ("num_features", "eps", "momentum", "affine", "track_running_stats", "training"):
        assert getattr(new, attr) == getattr(old, attr), attr
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        assert getattr(new, name) is getattr(old, name), f"{name} is not the same object"
    for (n, p), (_, q) in zip(new.named_parameters(), old.named_parameters(), strict=True):
        assert p.requires_grad == q.requires_grad, n


@pytest.mark.parametrize("impl", ["c147", "torch"])
def test_convert_sync_batchnorm(impl):
    nn = c147.layers(impl)
    torch.manual_seed(0)
    model = torch.nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, eps=1e-3, momentum=None), nn.ReLU(),
                                torch.nn.Sequential(nn.Flatten(2), nn.BatchNorm1d(4, affine=False)),
                                nn.BatchNorm1d(4, track_running_stats=False, bias=False)).double()
    x = rand(3, 3, 5, 5) * 2 + 1
    model(x)  # running statistics away from (0, 1)
    model[1].weight.requires_grad_(False)
    model[3][1].eval()
    before = copy.deepcopy(model)
    old = [model[1], model[3][1], model[4]]
    group = object()  # only stored
    converted = SyncBatchNorm.convert_sync_batchnorm(model, group)
    assert converted is model and type(model[0]) is type(before[0])
    for o, n in zip(old, [model[1], model[3][1], model[4]], strict=True):
        assert_converted(o, n, group)
    torch.testing.assert_close(model(x), before(x), **tol(torch.float64))  # no process group: the same math


@pytest.mark.parametrize("layer", [BatchNorm1d(3), torch.nn.BatchNorm3d(3), torch.nn.SyncBatchNorm(3),
                                   SyncBatchNorm(3)])
def test_convert_a_batchnorm_layer_itself(layer):
    new = SyncBatchNorm.convert_sync_batchnorm(layer)
    assert new is not layer
    assert_converted(layer, new)


TWINS = [torch.nn.SyncBatchNorm, torch.nn.BatchNorm2d, BatchNorm2d]


@pytest.mark.parametrize("kwargs", [dict(), dict(affine=False), dict(track_running_stats=False), dict(bias=False)])
@pytest.mark.parametrize("twin_cls", TWINS)
def test_state_dict_both_ways(twin_cls, kwargs):
    ours, twin = SyncBatchNorm(3, **kwargs), twin_cls(3, **kwargs)
    if twin_cls is torch.nn.SyncBatchNorm:
        assert repr(ours) == repr(twin)
    assert ours.state_dict().keys() == twin.state_dict().keys()
    x = rand(4, 3, 2, 2, dtype=torch.float32, seed=1)
    ours(x)
    twin.load_state_dict(ours.state_dict())
    twin(x * 2)
    ours.load_state_dict(twin.state_dict())
    for (n, a), (_, b) in zip(ours.state_dict().items(), twin.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    ours.eval(), twin.eval()
    torch.testing.assert_close(ours(x), twin(x), **tol(x.dtype))


def test_switch_hands_out_the_twins():
    assert c147.layers("c147").SyncBatchNorm is SyncBatchNorm
    assert c147.layers("torch").SyncBatchNorm is torch.nn.SyncBatchNorm


# ------------------------------------------------------------------------------------------------- CUDA


def _nccl_worker(rank: int, folder: str) -> None:
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"file://{folder}/store", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))
    case = CASES["NCHW-shards-5-3"]
    results = {}
    try:
        for dtype in DTYPES:
            modules = [cls(case.rest[0], dtype=dtype, device="cuda") for cls in (SyncBatchNorm, torch.nn.SyncBatchNorm)]
            for m in modules:
                set_params(m)
            for i, m in enumerate(modules):
                steps = []
                for step in range(STEPS):
                    x = shard(full_input(case, step), case, rank).to("cuda", dtype).requires_grad_(True)
                    out = m(x)
                    out.backward(shard(full_upstream(case, step), case, rank).to("cuda", dtype))
                    steps.append(dict(out=out.detach().cpu(), grad=x.grad.cpu(),
                                      params={k: v.cpu() for k, v in grads(m).items()},
                                      fn=getattr(out.grad_fn, "_forward_cls", None) is SyncBatchNormFunction))
                    m.zero_grad()
                results[str(dtype), i] = dict(steps=steps, buffers={k: b.cpu() for k, b in m.named_buffers()})
    finally:
        dist.destroy_process_group()
    torch.save(results, f"{folder}/rank{rank}.pt")


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices (NCCL, one process each)")
def test_nccl_two_gpus_match_torch_sync_batchnorm(tmp_path):
    torch.multiprocessing.spawn(_nccl_worker, args=(str(tmp_path),), nprocs=WORLD, join=True)
    for rank in range(WORLD):
        results = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        for dtype in DTYPES:
            ours, theirs = results[str(dtype), 0], results[str(dtype), 1]
            t = tol(dtype)  # torch gathers (mean, invstd) and combines them: not the same roundings as ours
            for a, b in zip(ours["steps"], theirs["steps"], strict=True):
                assert a["fn"]
                for key in ("out", "grad"):
                    torch.testing.assert_close(a[key], b[key], **t, msg=lambda m, k=key, r=rank: f"rank {r} {k}: {m}")
                for p in b["params"]:
                    torch.testing.assert_close(a["params"][p], b["params"][p], **t)
            for name, value in theirs["buffers"].items():
                torch.testing.assert_close(ours["buffers"][name], value, **t, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_without_process_group_matches_torch(dtype):
    twin = torch.nn.SyncBatchNorm(4, device="cuda", dtype=dtype)
    set_params(twin)
    ours = SyncBatchNorm(4, device="cuda", dtype=dtype)
    assert_module_parity(ours, twin, rand(3, 4, 5, 6, dtype=dtype, device="cuda") * 2 + 1, steps=2)
