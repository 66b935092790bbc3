"""What the ``torch._foreach_*`` paths of the optimizers share."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor


def chunked(tensor_lists: list[list[Tensor]], chunk_bytes: int = 1 << 18) -> Iterator[list[list[Tensor]]]:
    """The lists whole on an accelerator; on CPU, cut into chunks of about ``chunk_bytes`` per list.

    On CPU a foreach op is a loop over the tensors, and its temporaries (``denoms``) are as large as all
    the parameters: every op then streams the whole model through memory. Chunks small enough for the
    L2 cache keep the temporaries and the operands cached from one op to the next (2x faster on 10M
    parameters in 50 tensors), and still batch small tensors into few calls.
    """
    params = tensor_lists[0]
    if params[0].device.type != "cpu":
        yield tensor_lists
        return
    start, size = 0, 0
    for i, p in enumerate(params):
        size += p.numel() * p.element_size()
        if size >= chunk_bytes or i == len(params) - 1:
            yield [tensors[start : i + 1] for tensors in tensor_lists]
            start, size = i + 1, 0


def foreach_grads(grads: list[Tensor], params: list[Tensor], weight_decay: float, maximize: bool) -> list[Tensor]:
    """``g_t = ±∇f(θ_{t-1}) + λ θ_{t-1}`` for lists: the ``.grad`` tensors themselves when neither the
    sign nor the L2 term applies, else a fresh list (a parameter's ``.grad`` is never written)."""
    if maximize:
        # g_t = -∇f(θ_{t-1})  (ascend)
        grads = torch._foreach_neg(grads)
        if weight_decay != 0:
            # g_t = g_t + λ θ_{t-1}  (in the fresh copy)
            torch._foreach_add_(grads, params, alpha=weight_decay)
    elif weight_decay != 0:
        # g_t = g_t + λ θ_{t-1}
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    return grads


__all__ = ["chunked", "foreach_grads"]
