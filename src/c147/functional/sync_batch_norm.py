"""Synchronized batch normalization: the sheet's batch norm over the union of the processes' batches.

With data parallelism each of P processes sees a shard of the mini-batch (n_p values per channel,
shards of any sizes, some possibly empty). Batch norm's statistics are those of the whole batch,
N = sum_p n_p values per channel, exchanged with sums (``torch.distributed.all_reduce``), never
with local means (a local mean of an empty shard is 0 / 0):

    N  = sum_p n_p,    mu = 1/N sum_p sum_j x_pj                      (all-reduce 1: [n_p, sum_j x_pj])
    sigma^2 = 1/N sum_p sum_j (x_pj - mu)^2                            (all-reduce 2, biased)
    x_hat = (x - mu) / sqrt(sigma^2 + eps),   y = gamma x_hat + beta

The variance takes a second pass over x, centered on the *global* mean, rather than one all-reduce of
[n, sum x, sum x^2] and E[x^2] - E[x]^2: in float32 that difference cancels catastrophically when
|mu| >> sigma. With mu = 1e4 and sigma = 1, E[x^2] = 1e8 is rounded in steps of 8, so sigma^2 = 1 is
lost in 1e8 - 1e8 (off by ~30 over 512 values), while the two-pass form is off by ~1e-6 relative, as
accurate as :mod:`c147.functional.batch_norm`'s (tests/nn/test_sync_batchnorm.py checks it).

The running statistics are updated as torch does, on every process alike (they all hold the same
global mu and sigma^2), with Bessel's correction for the global count N:

    running_mean = (1 - momentum) running_mean + momentum mu
    running_var  = (1 - momentum) running_var  + momentum sigma^2 N / (N - 1)

Backward, with g = dL/dy on each process and sigma = sqrt(sigma^2 + eps). mu and sigma^2 depend on
every process's x, so dL/dx needs the two sums of batch norm's backward over the whole batch, one
all-reduce of [sum_j g_pj, sum_j g_pj x_hat_pj]:

    dL/dx_pj = gamma / sigma * (g_pj - 1/N sum_all g - x_hat_pj 1/N sum_all(g x_hat))

while the parameter gradients stay *local* sums, dL/dgamma = sum_j g_pj x_hat_pj and
dL/dbeta = sum_j g_pj: DistributedDataParallel all-reduces parameter gradients itself (and divides by
P), as it does for every other layer; ``torch.nn.SyncBatchNorm`` returns local sums too. Summed over
the processes they are the whole batch's gradients.

Collectives are not differentiable, so the backward is ``once_differentiable`` (no double backward).
A process with an empty shard joins every collective (with zero sums), and gets an empty output,
an empty dL/dx and zero parameter gradients. Half and bfloat16 inputs are computed in float32 (as in
:mod:`c147.functional.batch_norm`); the counts and sums travel in float64, so that N is exact.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor
from torch.autograd.function import once_differentiable

from c147.functional.batch_norm import (
    _batch_grad_input,
    _check,
    _gamma_invstd,
    _grads,
    _layout,
    _normalize,
    _update_running,
    batch_norm,
)


def _all_reduce(t: Tensor, group) -> Tensor:
    """Sum of ``t`` over the processes of ``group`` (None: the default group), in place; the callers pass
    float64, so that counts stay exact and the sums of the shards lose nothing in the exchange."""
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return t


class SyncBatchNormFunction(torch.autograd.Function):
    """Training-mode batch norm with statistics over all processes of ``process_group``.

    Always runs its collectives (two in forward, one in backward when dL/dx is needed), so it also
    works, and is gradchecked, in a group of one process; :func:`sync_batch_norm` picks it only where
    synchronizing matters. Every process of the group must call it, with the same C.

    Example (a group of one process, where it equals batch norm):
        >>> import tempfile, torch, torch.distributed as dist
        >>> from c147.functional.batch_norm import batch_norm
        >>> x, w, b = torch.randn(4, 3, 5, 5), torch.rand(3), torch.randn(3)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=0, world_size=1)
        ...     y = SyncBatchNormFunction.apply(x, None, None, w, b, 0.1, 1e-5, None)
        ...     dist.destroy_process_group()
        >>> torch.allclose(y, batch_norm(x, None, None, w, b, training=True), atol=1e-6)
        True
    """

    @staticmethod
    def forward(
        ctx,
        input: Tensor,
        running_mean: Tensor | None,
        running_var: Tensor | None,
        weight: Tensor | None,
        bias: Tensor | None,
        momentum: float,
        eps: float,
        process_group,
    ) -> Tensor:
        C, dims, shape, n, x = _layout(input)  # n: this process's values per channel; x: float32 for half
        # all-reduce 1: [n_p, sum_j x_pj] -> [N, sum_all x]
        packed = torch.empty(C + 1, dtype=torch.float64, device=x.device)
        packed[0] = n
        packed[1:] = x.sum(dims)
        _all_reduce(packed, process_group)
        N = int(packed[0].item())
        if N <= 1:  # every process sees the same N, so every process raises: no collective is left waiting
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(input.shape)} ({N} value(s) per channel over the process group)")
        mean = (packed[1:] / N).to(x.dtype)  # mu
        # all-reduce 2: sum_j (x_pj - mu)^2 -> N sigma^2 (two passes: no E[x^2] - E[x]^2 cancellation)
        buffer = x - mean.view(shape)
        squares = buffer.mul_(buffer).sum(dims).to(torch.float64)
        var = (_all_reduce(squares, process_group) / N).to(x.dtype)  # biased sigma^2
        invstd = (var + eps).rsqrt()
        if running_mean is not None:
            _update_running(running_mean, running_var, mean, var, N, momentum)  # Bessel's correction for all N values
        ctx.count, ctx.process_group = N, process_group
        return _normalize(ctx, input, x, mean, invstd, weight, bias, shape, out=buffer)  # into the squares' temporary

    @staticmethod
    @once_differentiable  # the all-reduce is not differentiable: no double backward
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor | None, ...]:
        input, weight, mean, invstd = ctx.saved_tensors
        C, dims, shape, _, x = _layout(input)
        g = grad_output.to(x.dtype)
        x_hat = (x - mean.view(shape)) * invstd.view(shape)
        sum_g = g.sum(dims)  # local sum_j g_pj: dL/dbeta (zeros for an empty shard)
        sum_g_xhat = (g * x_hat).sum(dims)  # local sum_j g_pj x_hat_pj: dL/dgamma
        grad_input = None
        if ctx.needs_input_grad[0]:
            # one all-reduce of [sum g, sum g x_hat] over all processes; skipped where dL/dx is not needed,
            # as torch does (the same on every process of a data-parallel model)
            packed = _all_reduce(torch.cat([sum_g, sum_g_xhat]).to(torch.float64), ctx.process_group)
            total_g, total_g_xhat = (packed / ctx.count).to(x.dtype).split(C)
            # dL/dx = gamma / sigma * (g - sum_all g / N - x_hat sum_all(g x_hat) / N)
            grad_input = _batch_grad_input(g, x_hat, total_g, total_g_xhat, _gamma_invstd(invstd, weight, x.dtype),
                                           shape, input.dtype)
        return _grads(ctx, grad_input, weight, sum_g_xhat, sum_g)


def _group_size(process_group) -> int:
    """The number of processes to synchronize over: 1 where torch.distributed is unavailable or not
    initialized."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(process_group)


def sync_batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    process_group=None,
) -> Tensor:
    """Batch normalization with the statistics of the whole batch across processes (training), else
    :func:`c147.functional.batch_norm`.

    ``torch.nn.functional`` has no such function; the twin is the module, ``torch.nn.SyncBatchNorm``.
    In training, with torch.distributed initialized and more than one process in ``process_group``,
    every process of the group must call it (it runs collectives); otherwise (evaluation, no process
    group, a group of one) it is plain batch norm.

    Args:
        input: (N, C, *), this process's shard of the batch (N may differ between processes, and be 0).
        running_mean, running_var: (C,) statistics, updated in place (identically on every process)
            when ``training``; None (both) in training for batch statistics only.
        weight, bias: gamma and beta, (C,) or None (gamma = 1, beta = 0).
        training: normalize with the (global) batch statistics, else with the running statistics.
        momentum: weight of the new batch in the running averages.
        eps: added to the variance under the square root.
        process_group: the processes to synchronize over; None for the default (world) group.

    Returns:
        y, same shape and dtype as ``input``.

    Raises:
        ValueError: as :func:`c147.functional.batch_norm` (rank below 2, bad (C,) tensors, a
            non-positive eps in training); in training, a single value per channel over the whole
            group (torch's message).

    Shape:
        - Input: (N, C) or (N, C, *).
        - running_mean, running_var, weight, bias: (C,).
        - Output: the input's shape.

    Example (no process group: batch norm):
        >>> import torch
        >>> from c147.functional.batch_norm import batch_norm
        >>> x, w, b = torch.randn(4, 3, 5, 5), torch.rand(3), torch.randn(3)
        >>> torch.equal(sync_batch_norm(x, None, None, w, b, True), batch_norm(x, None, None, w, b, True))
        True
    """
    if not training or _group_size(process_group) <= 1:
        return batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
    # batch_norm's checks on an empty view of the shard (its C and dtype): a shard may hold one value per
    # channel, or none; the count over the whole group is checked in the Function, after its first all-reduce
    _check(input if input.dim() < 2 else input[:0], running_mean, running_var, weight, bias, True, eps)
    return SyncBatchNormFunction.apply(input, running_mean, running_var, weight, bias, momentum, eps, process_group)


__all__ = ["SyncBatchNormFunction", "sync_batch_norm"]
