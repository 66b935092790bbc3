r"""Gradient clipping, written by hand; twins of ``torch.nn.utils.clip_grad_norm_`` and friends.

Clipping by norm (Pascanu et al., 2013), over all gradients :math:`g_1, \dots, g_n` at once:

.. math::
    \|g\|_p = \Big(\sum_i \sum_j |g_{ij}|^p\Big)^{1/p}, \qquad
    g_i \leftarrow g_i \cdot \min\Big(\frac{\text{max\_norm}}{\|g\|_p + 10^{-6}},\ 1\Big)

so the gradients change only when their total norm exceeds ``max_norm`` (the 1e-6 keeps the division
finite; ``p = inf`` takes :math:`\max_{ij} |g_{ij}|`). The norm is that of the per-tensor norms,
:math:`\|(\|g_1\|_p, \dots, \|g_n\|_p)\|_p`, as in torch; for every ``p`` except 0 this equals the
p-norm of all gradients concatenated (for ``p = 0``, torch's norm of norms counts the tensors that
have a non-zero entry, and so does this twin).

Sheet erratum: the sheet's "gradient clipping, :math:`g = \frac{g}{\|g\|_1} \cdot \epsilon`" always
rescales the gradient to length ε, also a small one, and measures it in the 1-norm. Standard clipping
(above) rescales only when :math:`\|g\| > \epsilon`, and its common default is the 2-norm.

The sums :math:`\sum_j |g_{ij}|^p` are computed one tensor at a time (``abs``, ``pow``, ``sum``) or
with one ``torch._foreach_powsum`` per device and dtype; never with a norm routine.
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable

import torch
from torch import Tensor

from c147._compat import _device_has_foreach_support, _group_tensors_by_device_and_dtype, _has_foreach_support

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]

TensorOrTensors = Tensor | Iterable[Tensor]


def _grouped(tensors: list[Tensor], foreach: bool | None) -> list[tuple[list[Tensor], bool]]:
    """Split ``tensors`` by (device, dtype) and say for each group whether to use the foreach path.

    ``foreach=None`` picks foreach where torch's clip_grad does: on CPU and CUDA, for plain tensors.
    The grouping is torch's (C++) helper, the one its optimizers use.
    """
    out = []
    for (device, _), ([group], _) in _group_tensors_by_device_and_dtype([tensors]).items():
        if foreach and not _device_has_foreach_support(device):
            raise RuntimeError(f"foreach=True was passed, but can't use the foreach API on {device.type} tensors")
        use_foreach = _has_foreach_support(group, device) if foreach is None else foreach
        out.append((group, use_foreach))
    return out


def _partial_single(g: Tensor, p: float) -> Tensor:
    """One tensor's share of the total norm, before the combining step."""
    if p == math.inf:
        return g.abs().amax()  # max_j |g_j|
    if p == -math.inf:
        return g.abs().amin()  # min_j |g_j|
    if p == 0:
        return (g != 0).sum().to(g.dtype)  # number of non-zero entries
    if p == 1:
        return g.abs().sum()  # s = Σ_j |g_j|
    if p == 2:
        return g.square().sum()  # s = Σ_j g_j²
    # s = Σ_j |g_j|^p
    return g.abs().pow_(p).sum()


def _partial_foreach(grads: list[Tensor], p: float) -> list[Tensor]:
    if p == math.inf:
        return list(torch._foreach_max(torch._foreach_abs(grads)))
    if p == 1:  # _foreach_powsum would take the slow pow route on CPU (10x on large tensors)
        return [a.sum() for a in torch._foreach_abs(grads)]
    if p in (-math.inf, 0):  # no foreach kernel for a min or a count
        return [_partial_single(g, p) for g in grads]
    # s_i = Σ_j |g_ij|^p, one kernel for the whole list
    return list(torch._foreach_powsum(grads, p))


@torch.no_grad()
def get_total_norm(
    tensors: TensorOrTensors,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    r"""The p-norm of ``tensors`` viewed as one vector: :math:`(\sum_i \sum_j |t_{ij}|^p)^{1/p}`.

    Args:
        tensors: a tensor or an iterable of tensors.
        norm_type: ``p``; ``inf`` for the max norm.
        error_if_nonfinite: raise a RuntimeError when the norm is nan or inf.
        foreach: use the ``torch._foreach_*`` path; None chooses like torch.

    Returns:
        The total norm, a 0-dim tensor on the first tensor's device (``tensor(0.)`` for no tensors).
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    p = float(norm_type)
    if len(tensors) == 0:
        return torch.tensor(0.0)
    first_device = tensors[0].device
    partials: list[Tensor] = []
    for group, use_foreach in _grouped(tensors, foreach):
        part = _partial_foreach(group, p) if use_foreach else [_partial_single(g, p) for g in group]
        partials.extend(part if group[0].device == first_device else [x.to(first_device) for x in part])
    s = torch.stack(partials)
    if p == math.inf:
        total = s.amax()  # ‖g‖_∞ = max_i max_j |g_ij|
    elif p == -math.inf:
        total = s.amin()
    elif p == 0:
        total = (s != 0).sum().to(s.dtype)  # torch's norm of norms: tensors with a non-zero entry
    elif p == 2:
        total = s.sum().sqrt()  # ‖g‖_2 = sqrt(Σ_i s_i)
    else:
        total = s.sum().pow(1.0 / p)  # ‖g‖_p = (Σ_i s_i)^(1/p)
    if error_if_nonfinite and not torch.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    return total


@torch.no_grad()
def clip_grads_with_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    total_norm: Tensor,
    foreach: bool | None = None,
) -> None:
    r"""Scale the gradients in place by :math:`\min(\text{max\_norm} / (\text{total\_norm} + 10^{-6}), 1)`.

    The coefficient stays a tensor (no host sync) and multiplies every gradient, also when it is 1.
    """
    parameters = [parameters] if isinstance(parameters, Tensor) else parameters
    grads = [p.grad for p in parameters if p.grad is not None]
    if len(grads) == 0:
        return
    # c = min(max_norm / (‖g‖ + 1e-6), 1)
    clip_coef = torch.clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)
    for group, use_foreach in _grouped(grads, foreach):
        coef = clip_coef.to(group[0].device)
        if use_foreach:
            # g_i ← c g_i
            torch._foreach_mul_(group, coef)
        else:
            for g in group:
                # g ← c g
                g.mul_(coef)


@torch.no_grad()
def clip_grad_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    r"""Clip the gradients of ``parameters`` in place so that their total p-norm is at most ``max_norm``.

    .. math:: g_i \leftarrow g_i \cdot \min\Big(\frac{\text{max\_norm}}{\|g\|_p + 10^{-6}},\ 1\Big)

    Parameters whose ``.grad`` is None are skipped.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped.
        max_norm: largest allowed total norm.
        norm_type: ``p`` of the norm; ``inf`` for the max norm.
        error_if_nonfinite: raise a RuntimeError when the total norm is nan or inf.
        foreach: use the ``torch._foreach_*`` path; None chooses like torch.

    Returns:
        The total norm of the gradients before clipping (a 0-dim tensor).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)  # a generator is read once, used twice
        if is_generator and len(parameters) == 0:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


@torch.no_grad()
def clip_grad_value_(parameters: TensorOrTensors, clip_value: float, foreach: bool | None = None) -> None:
    r"""Clamp every gradient entry in place to :math:`[-\text{clip\_value}, \text{clip\_value}]`.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped (None grads skipped).
        clip_value: largest allowed absolute value.
        foreach: use the ``torch._foreach_*`` path; None chooses like torch.
    """
    parameters = [parameters] if isinstance(parameters, Tensor) else parameters
    v = float(clip_value)
    grads = [p.grad for p in parameters if p.grad is not None]
    for group, use_foreach in _grouped(grads, foreach):
        if use_foreach:
            # g ← min(max(g, -v), v)
            torch._foreach_clamp_min_(group, -v)
            torch._foreach_clamp_max_(group, v)
        else:
            for g in group:
                # g ← min(max(g, -v), v)
                g.clamp_(min=-v, max=v)
