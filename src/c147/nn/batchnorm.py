"""BatchNorm1d / BatchNorm2d / SyncBatchNorm, twins of ``torch.nn.BatchNorm1d`` / ``torch.nn.BatchNorm2d`` /
``torch.nn.SyncBatchNorm``.

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

from typing import Any

import torch
from torch import Tensor
from torch.nn import Module, Parameter

from c147.functional.batch_norm import batch_norm
from c147.functional.sync_batch_norm import sync_batch_norm
from c147.nn import init


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
        return self._normalize(
            input,
            self.running_mean if keep else None,
            self.running_var if keep else None,
            use_batch,
            factor,
        )

    def _normalize(self, input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, use_batch: bool,
                   factor: float) -> Tensor:
        """The normalization itself, once the running statistics and the factor are chosen: batch norm."""
        return batch_norm(input, running_mean, running_var, self.weight, self.bias, use_batch, factor, self.eps)

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


class SyncBatchNorm(_BatchNorm):
    """Batch normalization of (N, C, *) inputs with the statistics of the whole batch across processes.

    In training, with torch.distributed initialized and more than one process in ``process_group``,
    the mean and variance of each channel are those of the union of the processes' shards (of any
    sizes, empty ones included), and the running statistics stay identical on every process; see
    :mod:`c147.functional.sync_batch_norm`. Otherwise (evaluation, no process group, a group of one)
    it is batch norm (:mod:`c147.functional.batch_norm`). As torch's, it does not synchronize in
    evaluation, and its parameter gradients are this process's sums (DistributedDataParallel
    averages them).

    Unlike torch's, it runs on CPU with the gloo backend as well as on CUDA with NCCL: torch 2.14's
    ``torch.nn.SyncBatchNorm`` raises ``ValueError: SyncBatchNorm expected input tensor to be on GPU
    ...`` for a CPU input in training once torch.distributed is initialized (even in a group of one
    process), and falls back to batch norm only when it is not.

    Args:
        num_features: C.
        eps, momentum, affine, track_running_stats, device, dtype, bias: as :class:`BatchNorm1d`.
        process_group: the processes to synchronize over; None for the default (world) group.

    Raises:
        ValueError: an input of fewer than 2 dimensions (torch's message), or with C != num_features;
            in training, a single value per channel over the whole group.

    Shape:
        - Input: (N, C, *).
        - Output: the input's shape.

    Example (no process group: batch norm, as torch's):
        >>> import torch
        >>> x = torch.randn(4, 3, 5, 5)
        >>> torch.allclose(SyncBatchNorm(3)(x), torch.nn.SyncBatchNorm(3)(x), atol=1e-6)
        True
        >>> model = SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm1d(3)))
        >>> type(model[0]).__module__
        'c147.nn.batchnorm'
        >>> model[0]
        SyncBatchNorm(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    """

    _expected = "at least 2D"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input: Tensor) -> bool:
        return input.dim() >= 2

    def _normalize(self, input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, use_batch: bool,
                   factor: float) -> Tensor:
        if not self.training:  # never synchronized in evaluation (batch statistics without running ones included)
            return super()._normalize(input, running_mean, running_var, use_batch, factor)
        return sync_batch_norm(input, running_mean, running_var, self.weight, self.bias, True, factor, self.eps,
                               self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any | None = None) -> Module:
        """Replace every batch norm layer in ``module`` (c147's and torch's ``BatchNorm1d/2d/3d``, torch's
        ``SyncBatchNorm``) by a c147 :class:`SyncBatchNorm`, as ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``
        does: the new layer holds the very same parameters (so ``requires_grad`` and optimizer references
        carry over) and buffers, and the old layer's training flag (and ``qconfig``, if any).

        Args:
            module: a model, or a batch norm layer itself.
            process_group: the processes to synchronize over; None for the default (world) group.

        Returns:
            ``module`` with its batch norm layers replaced; a new :class:`SyncBatchNorm` where ``module``
            itself is a batch norm layer.

        Example:
            >>> import torch
            >>> from c147.nn import BatchNorm2d, Conv2d
            >>> model = torch.nn.Sequential(Conv2d(3, 4, 3), BatchNorm2d(4), torch.nn.ReLU())
            >>> weight = model[1].weight
            >>> model = SyncBatchNorm.convert_sync_batchnorm(model)
            >>> type(model[1]).__name__, model[1].weight is weight
            ('SyncBatchNorm', True)
        """
        module_output = module
        if isinstance(module, (_BatchNorm, torch.nn.modules.batchnorm._BatchNorm)):
            module_output = cls(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats, process_group, bias=module.bias is not None)
            if module.affine:
                with torch.no_grad():  # the same Parameter objects, not copies
                    module_output.weight = module.weight
                    module_output.bias = module.bias
            module_output.running_mean = module.running_mean
            module_output.running_var = module.running_var
            module_output.num_batches_tracked = module.num_batches_tracked
            module_output.training = module.training
            if hasattr(module, "qconfig"):
                module_output.qconfig = module.qconfig
        for name, child in module.named_children():
            module_output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return module_output


__all__ = ["BatchNorm1d", "BatchNorm2d", "SyncBatchNorm"]
