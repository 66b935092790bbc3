"""Every private PyTorch API c147 depends on, in one place.

torch versions covered: 2.11 (the GPU machines) through 2.14 (pyproject: ``torch>=2.11,<2.15``);
``tests/test_compat.py`` checks each name exists and behaves as c147 uses it, so a torch upgrade
that moves one fails there, with its name, rather than deep inside an optimizer.

Semi-private attributes of public classes that c147's schedulers read (``LRScheduler._is_initial``,
``_step_count``, ``_get_closed_form_lr``) are part of torch's documented subclassing contract and
are checked by the scheduler tests.

Behaviour that differs across those versions is probed here too (:func:`trunc_normal_by_rejection`),
so a test can tell "torch changed" from "c147 is wrong".
"""

from __future__ import annotations

import torch
from torch.nn._reduction import legacy_get_string  # size_average / reduce -> reduction, torch's deprecation path
from torch.optim.lr_scheduler import EPOCH_DEPRECATION_WARNING  # the warning text of step(epoch)
from torch.optim.optimizer import (
    _default_to_fused_or_foreach,  # torch's rule for foreach=None
    _get_scalar_dtype,  # the dtype of an optimizer's "step" tensor
    _view_as_real,  # complex parameters as real views (Adam)
)
from torch.utils._foreach_utils import (
    _device_has_foreach_support,
    _group_tensors_by_device_and_dtype,
    _has_foreach_support,
)
from torch.utils._python_dispatch import (
    TorchDispatchMode,  # to count the operators a call runs (count_kernels)
    _get_current_dispatch_mode_stack,
)


def dispatch_mode_active() -> bool:
    """Whether a ``TorchDispatchMode`` (``FlopCounterMode``, ``FakeTensorMode``, ...) is on the stack:
    ``torch._C._len_torch_dispatch_stack() > 0``. Read as a constant under ``torch.compile``
    (:func:`torch.compiler.is_compiling` first: dynamo cannot trace the private call)."""
    if torch.compiler.is_compiling():
        return False
    if torch._C._len_torch_dispatch_stack() == 0:
        return False
    return not all(isinstance(mode, _KernelCounter) for mode in _get_current_dispatch_mode_stack())


class _KernelCounter(TorchDispatchMode):
    """Counts the aten operators that pass over tensor memory: not views, aliases or detaches (they only describe
    a tensor), nor operators on single numbers (a scalar made a 0-d tensor)."""

    _DESCRIBE = ("aten.detach", "aten.alias", "aten.lift_fresh", "aten._unsafe_view")

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view and not str(func).startswith(self._DESCRIBE):
            tensors = [t for t in torch.utils._pytree.tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
            self.count += any(t.numel() > 1 for t in tensors)
        return out


def count_kernels(fn) -> int:
    """How many operators one call of ``fn()`` runs that pass over tensor memory, a backward's included (autograd
    carries a dispatch mode into its threads). :func:`dispatch_mode_active` does not see this mode: the library
    takes the forms of a plain call."""
    with _KernelCounter() as counter:
        fn()
    return counter.count


def trunc_normal_by_rejection() -> bool:
    """Whether the installed ``torch.nn.init.trunc_normal_`` samples by rejection, as
    ``c147.nn.init.trunc_normal_`` does (torch 2.14; older versions used the inverse CDF), so that the
    same seed gives the same numbers. Probed, not read from the version: in the wide-interval case
    rejection keeps the values of one ``normal_`` draw that fall inside [-2, 2]."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(0)
        drawn = torch.nn.init.trunc_normal_(torch.empty(64))
        torch.manual_seed(0)
        normal = torch.empty(64).normal_()
    finally:
        torch.random.set_rng_state(state)
    inside = normal.abs() <= 2
    return bool(torch.equal(drawn[inside], normal[inside]))


def tensorboard_file_writer(writer):
    """The ``FileWriter`` of a ``torch.utils.tensorboard.SummaryWriter`` (``writer._get_file_writer()``, reopened
    if it was closed), for summaries ``SummaryWriter`` has no public method for: an HParams session without its
    experiment summary (torch's own ``add_hparams`` and Lightning's logger call it the same way)."""
    return writer._get_file_writer()


__all__ = [
    "count_kernels",
    "tensorboard_file_writer",
    "EPOCH_DEPRECATION_WARNING",
    "_default_to_fused_or_foreach",
    "_device_has_foreach_support",
    "_get_scalar_dtype",
    "_group_tensors_by_device_and_dtype",
    "_has_foreach_support",
    "_view_as_real",
    "dispatch_mode_active",
    "legacy_get_string",
    "trunc_normal_by_rejection",
]
