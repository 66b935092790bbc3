"""What c147's optimizers share: the step loop, argument checks, old state_dicts, the choice of path.

Each optimizer is laid out as torch's are (torch/optim/adam.py is the model):

- the class validates its arguments, and ``_init_group`` collects a param group's parameters with a
  gradient and their state into lists, creating the state on a parameter's first gradient;
- a functional twin (``c147.optim.adam.adam``, with ``torch.optim.adam.adam``'s signature) takes
  those lists and picks a path;
- the paths are free functions over lists: ``_single_tensor_<name>``, the sheet's equations one
  tensor at a time, ``_multi_tensor_<name>``, the same lines as ``torch._foreach_*`` calls, and
  ``_fused_<name>`` (``fused=True``), the same lines for one tensor as a kernel compiled by
  ``torch.compile`` (``<name>_kernel``; c147.optim._fused says how).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import Optimizer

from c147._compat import _default_to_fused_or_foreach, _get_scalar_dtype


class TwinOptimizer(Optimizer):
    """The step loop of every c147 optimizer: run the closure, then ``_step_group`` each group.

    Attributes:
        unimplemented: torch's implementation switches (``fused``, ``capturable``, ...) that the
            subclass accepts, so state_dicts round-trip, but refuses when switched on.
        group_defaults: keys newer torch versions added to a param group, with the value an old
            state_dict without them means; :meth:`__setstate__` fills them in, as torch does.
    """

    unimplemented: tuple[str, ...] = ()
    group_defaults: dict[str, Any] = {}

    def _refuse_unimplemented(self, group: dict[str, Any]) -> None:
        refuse_unimplemented(type(self).__name__, {key: group.get(key) for key in self.unimplemented})

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.group_defaults.items():
                group.setdefault(key, value)
            for p in group["params"]:  # torch < 1.12 stored "step" as a Python number
                p_state = self.state.get(p, {})
                if "step" in p_state and not torch.is_tensor(p_state["step"]):
                    p_state["step"] = torch.tensor(float(p_state["step"]), dtype=_get_scalar_dtype())

    @torch.no_grad()
    def step(self, closure=None):
        """Perform a single optimization step.

        Args:
            closure: a callable that re-evaluates the model and returns the loss (run with
                gradients on).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._refuse_unimplemented(group)
            self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError


def refuse_unimplemented(name: str, switches: dict[str, Any]) -> None:
    """``NotImplementedError`` naming the first of torch's implementation switches that is on."""
    for key, value in switches.items():
        if value:
            raise NotImplementedError(f"c147.optim.{name} does not implement {key}=True (torch.optim.{name} does)")


def check_lr(lr: float | Tensor) -> None:
    """torch's checks of a learning rate: non-negative, and a tensor one has one element."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_non_negative(**values: float) -> None:
    """torch's ``Invalid <name> value: <value>`` for each negative hyperparameter."""
    for name, value in values.items():
        if not 0.0 <= value:
            raise ValueError(f"Invalid {name} value: {value}")


def use_foreach(foreach: bool | None, params: list[Tensor], differentiable: bool = False) -> bool:
    """The path a functional takes: ``foreach`` when given, else torch's rule (foreach when every
    parameter is on a device with foreach kernels, i.e. not on CPU)."""
    if foreach is not None:
        return foreach
    return _default_to_fused_or_foreach(params, differentiable, use_fused=False)[1]


def scalar(x: float | Tensor) -> float:
    """A Python number for a hyperparameter given as a float or a 1-element tensor."""
    return x.item() if isinstance(x, Tensor) else x


def check_steps(state_steps: list[Tensor]) -> None:
    """torch's check that ``state_steps`` holds tensors (torch < 1.12 passed Python numbers)."""
    if not all(isinstance(t, Tensor) for t in state_steps):
        raise RuntimeError("API has changed, `state_steps` argument must contain a list of singleton tensors")


__all__ = [
    "TwinOptimizer",
    "check_lr",
    "check_non_negative",
    "check_steps",
    "refuse_unimplemented",
    "scalar",
    "use_foreach",
]
