"""What c147's optimizers share: the step loop over param groups and the choice of path."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer

from c147._compat import _default_to_fused_or_foreach


class TwoPathOptimizer(Optimizer):
    """An optimizer with a readable single-tensor path and a ``torch._foreach_*`` path.

    ``step`` re-evaluates the closure (with gradients on), then updates each param group on the
    path its ``foreach`` asks for; ``foreach=None`` chooses as torch does (foreach when every
    parameter is on an accelerator). Subclasses write ``_step_single`` and ``_step_foreach``.

    Attributes:
        unimplemented: torch's implementation switches (``fused``, ``capturable``, ...) that the
            subclass accepts, so state_dicts round-trip, but refuses when switched on.
        foreach_with_tensor_lr: whether ``foreach=None`` may pick foreach when ``lr`` is a tensor.
    """

    unimplemented: tuple[str, ...] = ()
    foreach_with_tensor_lr: bool = True

    def _refuse_unimplemented(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for key in self.unimplemented:
            if group.get(key):
                raise NotImplementedError(f"c147.optim.{name} does not implement {key}=True (torch.optim.{name} does)")

    def _use_foreach(self, group: dict[str, Any]) -> bool:
        if group["foreach"] is not None:
            return group["foreach"]
        # torch decides on the group's parameters; a group that does not mix devices gets one answer
        _, foreach = _default_to_fused_or_foreach(group["params"], differentiable=False, use_fused=False)
        return foreach and (self.foreach_with_tensor_lr or not isinstance(group["lr"], Tensor))

    @torch.no_grad()
    def step(self, closure=None):
        """Perform a single optimization step.

        Args:
            closure: a callable that re-evaluates the model and returns the loss.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._refuse_unimplemented(group)
            if self._use_foreach(group):
                self._step_foreach(group)
            else:
                self._step_single(group)
        return loss

    def _step_single(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _step_foreach(self, group: dict[str, Any]) -> None:
        raise NotImplementedError


__all__ = ["TwoPathOptimizer"]
