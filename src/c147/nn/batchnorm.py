"""BatchNorm1d / BatchNorm2d, twins of ``torch.nn.BatchNorm1d`` / ``torch.nn.BatchNorm2d``.

The sheet ("Difference between batchnorm in training VS. testing"): in training each channel is
normalized with the mini-batch's mean and (biased) variance, then scaled and shifted by the
learnable gamma (``weight``) and beta (``bias``), and running averages of the statistics are
kept; at test time the fixed running averages are used instead, so the layer is a linear map.
The math and its hand-written backward live in :mod:`c147.functional.batch_norm`.

Running averages (torch's convention; the running variance uses the unbiased batch variance):

    running = (1 - momentum) running + momentum batch_stat          momentum a float
    running = (1 - 1/t) running + (1/t) batch_stat, t = num_batches_tracked   momentum None

the second being the cumulative (simple) average of the batch statistics seen so far.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Module, Parameter

from c147 import init
from c147.functional.batch_norm import batch_norm


class _BatchNorm(Module):
    """Shared base: parameters, buffers and forward of torch's ``_NormBase`` / ``_BatchNorm``."""

    _version = 2  # torch's: version 2 added num_batches_tracked
    _expected: str  # the accepted input ranks, for the error message

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(torch.empty(num_features, **factory_kwargs))  # gamma
            if bias:
                self.bias = Parameter(torch.empty(num_features, **factory_kwargs))  # beta
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory_kwargs))
            self.register_buffer("running_var", torch.ones(num_features, **factory_kwargs))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # torch's migration, which is what _version = 2 promises: a state_dict saved before version 2 has
        # no num_batches_tracked; it loads with this module's counter (0 when on the meta device)
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats and key not in state_dict:
            tracked = self.num_batches_tracked
            state_dict[key] = tracked if tracked.device.type != "meta" else torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def reset_running_stats(self) -> None:
        """running_mean = 0, running_var = 1, num_batches_tracked = 0 (when tracked)."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, then gamma = 1 and beta = 0 (the identity map)."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> bool:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        if not self._check_input_dim(input):
            raise ValueError(f"expected {self._expected} input (got {input.dim()}D input)")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected input with {self.num_features} channels (dim 1), "
                             f"got {input.shape[1]} (input of shape {tuple(input.shape)})")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            # momentum None: cumulative moving average, weight 1/t for the t-th batch
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # batch statistics in training, and in evaluation when no running statistics are kept
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        # the running statistics are passed only where they are updated or used
        keep = not self.training or self.track_running_stats
        return batch_norm(
            input,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) inputs over N (and L), per channel C.

    Args:
        num_features: C.
        eps: added to the variance under the square root.
        momentum: weight of each new batch in the running statistics; None for the cumulative
            average 1 / num_batches_tracked.
        affine: learn gamma (``weight``, init 1) and beta (``bias``, init 0).
        track_running_stats: keep ``running_mean``, ``running_var`` and ``num_batches_tracked``
            buffers; without them (None) batch statistics are used in evaluation too.
        device, dtype: of the parameters and buffers.
        bias: learn beta (keyword only, torch's; only with ``affine``).

    Raises:
        ValueError: an input that is not 2-D or 3-D (torch's message), or with C != num_features.

    Shape:
        - Input: (N, C) or (N, C, L).
        - Output: the input's shape.

    Example:
        >>> import torch
        >>> x = torch.randn(4, 3)
        >>> torch.allclose(BatchNorm1d(3)(x), torch.nn.BatchNorm1d(3)(x), atol=1e-6)
        True
    """

    _expected = "2D or 3D"

    def _check_input_dim(self, input: Tensor) -> bool:
        return input.dim() in (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) inputs over N, H and W, per channel C.

    Args: as :class:`BatchNorm1d`.

    Raises:
        ValueError: an input that is not 4-D (torch's message), or with C != num_features.

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, C, H, W).

    Example:
        >>> import torch
        >>> x = torch.randn(4, 3, 5, 5)
        >>> torch.allclose(BatchNorm2d(3)(x), torch.nn.BatchNorm2d(3)(x), atol=1e-6)
        True
    """

    _expected = "4D"

    def _check_input_dim(self, input: Tensor) -> bool:
        return input.dim() == 4


__all__ = ["BatchNorm1d", "BatchNorm2d"]
