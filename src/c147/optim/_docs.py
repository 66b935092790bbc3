"""The argument docs every optimizer shares, written once.

A docstring marks where a shared entry goes with ``{name}`` alone on its line (inside its ``Args:``
section), and where the example goes with ``{example}`` (ours and torch's optimizer side by side,
with the class's ``example_hyper``); :func:`shared_docs` fills the marks in. Only these names are
replaced, so the braces of the equations (``m_{t-1}``) stay as they are.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T", bound=Callable)

ARGS = {
    "params": "params: the parameters to optimize: an iterable of tensors, of ``(name, tensor)`` pairs, or of "
    "dicts (param groups, each with its own hyperparameters).",
    "foreach": "foreach: ``True`` for the ``torch._foreach_*`` path, ``False`` for the per-tensor loop, "
    "``None`` to choose as torch does (foreach when every parameter is on an accelerator).",
    "maximize": "maximize: maximize the objective instead of minimizing it (the step uses ``-g``).",
    "capturable": "capturable: torch's CUDA-graph-safe variant; accepted so state_dicts round-trip, "
    "``True`` is not implemented.",
    "differentiable": "differentiable: torch's autograd-through-the-step variant; accepted so state_dicts "
    "round-trip, ``True`` is not implemented.",
    "fused": "fused: ``True`` for c147's fused path, a compiled kernel (torch's runs hand-written C++/CUDA ones): "
    "the single-tensor equations for one tensor, compiled by ``torch.compile(dynamic=True)`` into one pass "
    "over memory (θ, g and the state read once, θ and the state written once), on the parameters of at "
    "least 2**16 elements, up to 32 in one compiled call (horizontal fusion, as torch's kernels take lists); "
    "smaller ones take the foreach path. The first step compiles (10-30 s on 2 CPU cores per dtype and "
    "combination of the fixed hyperparameters, cached on disk afterwards; the lr and the step go in as tensors, "
    "so schedulers cause no recompilation) and needs what ``torch.compile`` needs (a C++ compiler on CPU). "
    "Fused wins over ``foreach`` in the functional; both ``True`` in the constructor is torch's RuntimeError. No AMP "
    "(``grad_scale``/``found_inf``). See ``c147.optim._fused``.",
    "has_complex": "has_complex: whether a parameter is complex (its real and imaginary parts are then "
    "updated as independent coordinates, as torch does).",
    "grad_scale, found_inf": "grad_scale, found_inf: the fused path's AMP arguments; must be ``None``.",
}

EXAMPLE = """Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> w_torch = torch.nn.Parameter(w.detach().clone())
    >>> hyper = dict({hyper})
    >>> ours, theirs = {Name}([w], **hyper), torch.optim.{Name}([w_torch], **hyper)
    >>> for _ in range(5):  # minimize |w|^2 with both, side by side
    ...     for param, opt in ((w, ours), (w_torch, theirs)):
    ...         opt.zero_grad()
    ...         (param**2).sum().backward()
    ...         opt.step()
    >>> torch.allclose(w, w_torch), w.abs().max() < 2
    (True, tensor(True))"""

FUNCTIONAL = """Functional API: one {Name} step on lists of tensors (the twin of ``torch.optim.{module}.{name}``).

    Updates ``params`` and the state lists in place; the lists are what ``{Name}._init_group`` collects
    from a param group (the tensors of parameters with a gradient, in order). The hyperparameters are
    those of :class:`{Name}`."""

_MARK = re.compile(r"^(?P<indent>[ \t]*)\{(?P<name>[\w, ]+)\}[ \t]*$", re.MULTILINE)


def shared_docs(obj: T) -> T:
    """Fill the ``{name}`` marks of ``obj.__doc__`` with :data:`ARGS`, at the mark's indentation."""

    def entry(match: re.Match) -> str:
        name, indent = match["name"], match["indent"]
        if name == "example":
            example = EXAMPLE.format(Name=obj.__name__, hyper=obj.example_hyper)
            return textwrap.indent(example, indent)
        if name not in ARGS:
            return match[0]
        return textwrap.fill(ARGS[name], width=104, initial_indent=indent, subsequent_indent=indent + "    ")

    obj.__doc__ = _MARK.sub(entry, obj.__doc__ or "")
    return obj


def functional_doc(name: str, module: str | None = None, extra: str = "") -> Callable[[T], T]:
    """The shared docstring of a functional twin (``extra`` appended: its own arguments)."""
    cls = {"sgd": "SGD", "rmsprop": "RMSprop", "adamw": "AdamW", "nadam": "NAdam"}.get(name, name.capitalize())

    def decorate(fn: T) -> T:
        fn.__doc__ = FUNCTIONAL.format(Name=cls, name=name, module=module or name) + extra
        return shared_docs(fn)

    return decorate


__all__ = ["ARGS", "EXAMPLE", "functional_doc", "shared_docs"]
