"""What Lightning's DDP needs from c147: the hand-written SyncBatchNorm as a Lightning plugin.

``Trainer(sync_batchnorm=True)`` converts the model's batch norm layers with
``torch.nn.SyncBatchNorm.convert_sync_batchnorm``, which knows torch's layers only (and torch's
SyncBatchNorm refuses CPU tensors). With ``impl=c147`` c147-train hands Lightning
:class:`SyncBatchNormPlugin` instead: c147's layers become :class:`c147.nn.SyncBatchNorm` (statistics
all-reduced by hand with ``torch.distributed``, on the CPU with gloo as on GPUs with NCCL), and back
into the very classes they were after fitting.
"""

from __future__ import annotations

from lightning.pytorch.plugins.layer_sync import TorchSyncBatchNorm
from torch import nn

from c147.nn import SyncBatchNorm


class SyncBatchNormPlugin(TorchSyncBatchNorm):
    """Lightning's layer-sync plugin for c147's batch norm: :meth:`apply` converts every batch norm layer
    (c147's and torch's) into :class:`c147.nn.SyncBatchNorm`, :meth:`revert` turns each back into the class
    it was (sharing the parameters and running statistics), so checkpoints and the tested network are
    those of the original model.

    A subclass of Lightning's ``TorchSyncBatchNorm`` because Lightning accepts no other layer-sync plugin
    beside ``Trainer(sync_batchnorm=True)``.
    """

    def __init__(self) -> None:
        self._originals: dict[str, type[nn.Module]] = {}

    def apply(self, model: nn.Module) -> nn.Module:
        before = dict(model.named_modules())
        model = SyncBatchNorm.convert_sync_batchnorm(model)
        self._originals = {name: type(before[name]) for name, module in model.named_modules()
                           if isinstance(module, SyncBatchNorm) and name in before
                           and not isinstance(before[name], SyncBatchNorm)}
        return model

    def revert(self, model: nn.Module) -> nn.Module:
        for name, cls in self._originals.items():
            sync = model.get_submodule(name)
            plain = cls(sync.num_features, sync.eps, sync.momentum, sync.affine, sync.track_running_stats,
                        device="meta")
            plain.weight, plain.bias = sync.weight, sync.bias  # the same Parameters (None without affine)
            for buffer in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(plain, buffer, getattr(sync, buffer))
            plain.train(sync.training)
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, plain)
        self._originals = {}
        return model


__all__ = ["SyncBatchNormPlugin"]
