"""Shared helper for the ``torch._foreach_*`` paths of the optimizers."""

from __future__ import annotations

from collections.abc import Iterator

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


__all__ = ["chunked"]
