"""Learning-rate schedulers, written by hand; twins of ``torch.optim.lr_scheduler``.

Each epoch-driven scheduler subclasses torch's ``LRScheduler`` (which owns ``step()``, ``base_lrs``,
``last_epoch``, ``_last_lr``, ``state_dict()``) and writes its own ``get_lr()`` in the *chainable*
form torch uses: the new lr is computed from each group's *current* ``group["lr"]`` times a factor,
so two schedulers stepping on one optimizer (or a manual ``group["lr"] = ...``) compose exactly as
with torch. ``_get_closed_form_lr()`` (lr from ``base_lrs`` and ``last_epoch`` alone) serves
``step(epoch)`` and ``SequentialLR``'s milestones. Attribute names are torch's, so a state_dict of
ours loads into torch's twin and the reverse.

Notation: η_0 = base lr (``group["initial_lr"]``), η_t = lr after t scheduler steps (t = last_epoch).

Torch 2.14 validates only LinearLR's factors and ReduceLROnPlateau's arguments; the other schedulers
take their arguments unchecked (e.g. ``T_max=0`` or ``step_size=0`` fail on the first ``step()``
with ZeroDivisionError), and these twins keep exactly that behaviour.
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal, SupportsFloat

from torch import Tensor, inf
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from c147._compat import EPOCH_DEPRECATION_WARNING

__all__ = ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ReduceLROnPlateau"]

Lr = float | Tensor


def _current_lrs(optimizer: Optimizer) -> list[Lr]:
    """Each group's current lr; tensor lrs are cloned so the list never aliases ``param_groups``."""
    return [g["lr"].clone() if isinstance(g["lr"], Tensor) else g["lr"] for g in optimizer.param_groups]


def _set_lr(group: dict[str, Any], lr: Lr) -> None:
    """Write ``lr`` into the group, in place when the group holds a tensor lr (as torch does)."""
    if isinstance(group["lr"], Tensor):
        group["lr"].fill_(float(lr))
    else:
        group["lr"] = lr


def _warn_outside_step(scheduler: LRScheduler) -> None:
    if not scheduler._get_lr_called_within_step:
        warnings.warn(
            "To get the last learning rate computed by the scheduler, please use `get_last_lr()`.",
            UserWarning,
            stacklevel=3,
        )


class StepLR(LRScheduler):
    r"""Decay each group's lr by ``gamma`` every ``step_size`` epochs.

    .. math:: \eta_t = \eta_0 \, \gamma^{\lfloor t / \text{step\_size} \rfloor}

    Chainable form: :math:`\eta_t = \gamma\,\eta_{t-1}` when ``t`` is a non-zero multiple of
    ``step_size``, else :math:`\eta_t = \eta_{t-1}`.

    Sheet: "Learning rate decay may cause sudden drops in loss landscape" -- each decay is a visible
    step down in the training loss.

    Args:
        optimizer: wrapped optimizer.
        step_size: period of the decay, in epochs.
        gamma: multiplicative decay factor.
        last_epoch: index of the last epoch; -1 starts a new schedule.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Lr]:
        _warn_outside_step(self)
        t = self.last_epoch
        if t == 0 or t % self.step_size != 0:
            return _current_lrs(self.optimizer)
        # η_t = γ η_{t-1}
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Lr]:
        # η_t = η_0 γ^⌊t / step_size⌋
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    r"""Decay each group's lr by ``gamma`` at each milestone epoch.

    .. math:: \eta_t = \eta_0 \, \gamma^{\#\{m \in \text{milestones} : m \le t\}}

    A milestone listed ``k`` times decays by :math:`\gamma^k` (milestones are kept in a ``Counter``,
    like torch).

    Args:
        optimizer: wrapped optimizer.
        milestones: epoch indices, increasing.
        gamma: multiplicative decay factor.
        last_epoch: index of the last epoch; -1 starts a new schedule.
    """

    def __init__(
        self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Lr]:
        _warn_outside_step(self)
        hits = self.milestones[self.last_epoch]  # a Counter: 0 for an epoch that is no milestone
        if hits == 0:
            return _current_lrs(self.optimizer)
        # η_t = γ^k η_{t-1}, k = times t appears in milestones
        return [group["lr"] * self.gamma**hits for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Lr]:
        passed = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        # η_t = η_0 γ^(milestones passed)
        return [base_lr * self.gamma**passed for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""Decay each group's lr by ``gamma`` every epoch.

    .. math:: \eta_t = \eta_0 \, \gamma^t \qquad (\text{chainable: } \eta_t = \gamma\,\eta_{t-1})

    Args:
        optimizer: wrapped optimizer.
        gamma: multiplicative decay factor.
        last_epoch: index of the last epoch; -1 starts a new schedule.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Lr]:
        _warn_outside_step(self)
        if self._is_initial:  # the constructor's step (also when resuming) leaves the lr as it is
            return _current_lrs(self.optimizer)
        # η_t = γ η_{t-1}
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[Lr]:
        # η_t = η_0 γ^t
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the base lr down to ``eta_min`` over ``T_max`` epochs (SGDR, no restarts).

    Closed form (Loshchilov & Hutter, 2017):

    .. math:: \eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})\left(1 + \cos\frac{\pi t}{T_{max}}\right)

    Chainable form, used by ``step()``:

    .. math:: \eta_t = \eta_{min} + (\eta_{t-1} - \eta_{min})
              \frac{1 + \cos(\pi t / T_{max})}{1 + \cos(\pi (t-1) / T_{max})}

    The ratio is 0/0 one step past each trough (``t - 1 = T_max, 3 T_max, ...``); there, like torch,
    the lr climbs by the closed form's first increment
    :math:`\eta_t = \eta_{t-1} + \tfrac12(\eta_0 - \eta_{min})(1 - \cos(\pi / T_{max}))`, so past
    ``T_max`` the lr rises back towards :math:`\eta_0` along the cosine (period ``2 T_max``).

    Args:
        optimizer: wrapped optimizer.
        T_max: half period, in epochs.
        eta_min: lowest lr.
        last_epoch: index of the last epoch; -1 starts a new schedule.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Lr]:
        _warn_outside_step(self)
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._is_initial:
            return _current_lrs(self.optimizer)
        if self._step_count == 1 and t > 0:  # first step of a scheduler made with last_epoch > -1
            return self._get_closed_form_lr()
        if (t - 1 - T) % (2 * T) == 0:  # just past a trough: the ratio below would be 0/0
            # η_t = η_{t-1} + ½ (η_0 - η_min)(1 - cos(π / T))
            return [
                group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for base_lr, group in zip(self.base_lrs, groups, strict=True)
            ]
        # η_t = η_min + (η_{t-1} - η_min) (1 + cos(π t / T)) / (1 + cos(π (t-1) / T))
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (group["lr"] - eta_min) + eta_min for group in groups]

    def _get_closed_form_lr(self) -> list[Lr]:
        # η_t = η_min + ½ (η_0 - η_min)(1 + cos(π t / T))
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (base_lr - self.eta_min) * cosine / 2 for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    r"""Scale each group's lr by a factor moving linearly from ``start_factor`` to ``end_factor`` (warm-up).

    .. math:: \eta_t = \eta_0 \left(s + (e - s)\frac{\min(t, T)}{T}\right),
              \quad s = \text{start\_factor},\ e = \text{end\_factor},\ T = \text{total\_iters}

    Chainable form: :math:`\eta_0 \leftarrow s\,\eta_0` at ``t = 0``, then for ``1 <= t <= T``
    the ratio of consecutive factors,

    .. math:: \eta_t = \eta_{t-1}\left(1 + \frac{e - s}{T s + (t - 1)(e - s)}\right),

    and :math:`\eta_t = \eta_{t-1}` once ``t > T``.

    Args:
        optimizer: wrapped optimizer.
        start_factor: factor at epoch 0, in (0, 1].
        end_factor: factor from epoch ``total_iters`` on, in [0, 1].
        total_iters: number of epochs of the ramp.
        last_epoch: index of the last epoch; -1 starts a new schedule.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[Lr]:
        _warn_outside_step(self)
        t, s, e, T = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
        groups = self.optimizer.param_groups
        if t == 0:
            # η_0 ← s η_0
            return [group["lr"] * s for group in groups]
        if self._is_initial or t > T:
            return _current_lrs(self.optimizer)
        # η_t = η_{t-1} (1 + (e - s) / (T s + (t - 1)(e - s)))
        ratio = 1.0 + (e - s) / (T * s + (t - 1) * (e - s))
        return [group["lr"] * ratio for group in groups]

    def _get_closed_form_lr(self) -> list[Lr]:
        s, e, T = self.start_factor, self.end_factor, self.total_iters
        # η_t = η_0 (s + (e - s) min(t, T) / T)
        factor = s + (e - s) * min(T, self.last_epoch) / T
        return [base_lr * factor for base_lr in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    r"""Reduce each group's lr by ``factor`` when a metric stops improving for ``patience`` epochs.

    ``step(metrics)`` compares the metric with the best so far; with ``mode='min'`` it improves when

    * ``threshold_mode='rel'``: :math:`m < \text{best}\,(1 - \text{threshold})`
    * ``threshold_mode='abs'``: :math:`m < \text{best} - \text{threshold}`

    (``mode='max'``: :math:`m > \text{best}(1 + \text{threshold})`, :math:`m > \text{best} + \text{threshold}`).
    Epochs without improvement are counted in ``num_bad_epochs`` (reset to 0 during the ``cooldown``
    epochs after a reduction); once ``num_bad_epochs > patience``, for every group

    .. math:: \eta \leftarrow \max(\eta \cdot \text{factor},\ \text{min\_lr}_i)
              \quad \text{if the decrease exceeds eps}

    and the cooldown starts. Like torch 2.14 it subclasses ``LRScheduler`` but does not call its
    constructor (no ``base_lrs``, ``initial_lr`` or optimizer patching; ``last_epoch`` starts at 0).

    Args:
        optimizer: wrapped optimizer.
        mode: ``'min'`` (the metric should decrease) or ``'max'``.
        factor: multiplicative reduction, < 1.
        patience: bad epochs tolerated before a reduction.
        threshold: how much better counts as an improvement.
        threshold_mode: ``'rel'`` or ``'abs'``.
        cooldown: epochs after a reduction during which bad epochs are not counted.
        min_lr: lower bound on the lr, one for all groups or a list with one per group.
        eps: reductions smaller than this are skipped.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: list[float] | float = 0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise ValueError(f"expected {n_groups} min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n_groups
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = _current_lrs(optimizer)
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self) -> None:
        """Forget the best metric and the bad-epoch and cooldown counters."""
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: SupportsFloat, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's metric (a float or a 0-dim tensor) and reduce the lr if it has plateaued."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch

        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr(epoch)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _current_lrs(self.optimizer)

    def _reduce_lr(self, epoch: int) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the `optimizer` ({len(groups)}) differs from when "
                    f"`ReduceLROnPlateau` was initialized ({len(self.min_lrs)}), usually due to a new param "
                    "group being added to the optimizer. Please modify the `min_lrs` field to match the "
                    "length of the `optimizer` param groups."
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            # η ← max(η · factor, min_lr), skipped when the change is within eps
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                _set_lr(group, new_lr)

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return a < best * (1.0 - self.threshold)
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode_worse = inf if mode == "min" else -inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load the scheduler's state (a dict from ``state_dict()``, of ours or of torch's twin)."""
        self.__dict__.update(state_dict)
        self._init_is_better(mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode)
