"""The ``impl`` switch: one name picks hand-written (``"c147"``) or built-in (``"torch"``) parts.

``nn = c147.layers(impl)`` then ``nn.Conv2d(3, 64, 3, padding=1)``: the same model code builds on
either namespace; ``c147.make(kind=..., name=..., impl=...)`` does the same for optimizers,
learning-rate schedulers and clipping. Every part has a hand-written twin, and ``impl="c147"`` never
hands out a built-in: a name with no hand-written twin is a ``ValueError`` naming torch's. Pieces torch
lacks (Maxout) come, for ``impl="torch"``, from ``c147.nn.reference``: plain compositions of torch ops.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

IMPLS = ("c147", "torch")

# kind -> (hand-written module, built-in module)
_MODULES = {
    "nn": ("c147.nn", "torch.nn"),
    "optim": ("c147.optim", "torch.optim"),
    "lr_scheduler": ("c147.optim.lr_scheduler", "torch.optim.lr_scheduler"),
    "clip": ("c147.optim.clip", "torch.nn.utils"),
    "init": ("c147.nn.init", "torch.nn.init"),
}

_fallbacks: set[str] = set()  # stays empty: see fallbacks()


def check_impl(impl: str) -> str:
    """Return ``impl`` if it is one of :data:`IMPLS`, else raise ``ValueError``."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    return impl


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name):
            return None
        raise


def lookup(kind: str, name: str, impl: str) -> Any:
    """The class or function ``name`` of ``kind`` (``nn``, ``optim``, ``lr_scheduler``, ``clip``, ``init``) of
    ``impl``.

    Raises:
        ValueError: unknown ``impl`` or ``kind``, or ``name`` exists on neither side.
    """
    check_impl(impl)
    if kind not in _MODULES:
        raise ValueError(f"kind must be one of {tuple(_MODULES)}, got {kind!r}")
    ours, builtin = _MODULES[kind]
    if impl == "c147":
        mod = _module(ours)
        if mod is not None and hasattr(mod, name):
            return getattr(mod, name)
        if hasattr(importlib.import_module(builtin), name):  # never a silent built-in under impl="c147"
            raise ValueError(f"impl='c147' has no hand-written {kind} {name!r} ({ours}.{name} does not exist); "
                             f"{builtin}.{name} is torch's: use impl='torch' for it")
    mod = importlib.import_module(builtin)
    if hasattr(mod, name):
        return getattr(mod, name)
    reference = importlib.import_module("c147.nn.reference")
    if kind == "nn" and impl == "torch" and hasattr(reference, name):
        return getattr(reference, name)  # twin-less piece: a plain composition of torch ops
    raise ValueError(f"unknown {kind} name {name!r}: {builtin} has no such attribute")


def fallbacks() -> list[str]:
    """Built-ins handed out for ``impl="c147"``: always empty now that every part has a hand-written
    twin and :func:`lookup` refuses a built-in under ``impl="c147"`` (``ValueError``). Kept so that
    callers of the old API keep working."""
    return sorted(_fallbacks)


class Layers:
    """Attribute access to the layer namespace of one ``impl``: ``Layers("c147").Linear``."""

    def __init__(self, impl: str) -> None:
        self.impl = check_impl(impl)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return lookup("nn", name, self.impl)
        except ValueError as e:
            raise AttributeError(str(e)) from None

    def __repr__(self) -> str:
        return f"Layers(impl={self.impl!r})"


def layers(impl: str) -> Layers:
    """The layer namespace for ``impl``: ``"c147"`` (hand-written) or ``"torch"`` (``torch.nn``)."""
    return Layers(impl)


def functional(impl: str) -> ModuleType:
    """The functional namespace for ``impl``: ``c147.functional`` or ``torch.nn.functional`` (for
    models that apply an op as a function, as torchvision's GoogLeNet does with ReLU)."""
    return importlib.import_module("c147.functional" if check_impl(impl) == "c147" else "torch.nn.functional")


def make(*args: Any, kind: str, name: str, impl: str, **kwargs: Any) -> Any:
    """Build ``name`` of ``kind`` for ``impl`` with the given arguments.

    Hydra configs use it with ``_partial_: true`` for optimizers and schedulers, so the
    same config serves both impls: ``make(params, kind="optim", name="SGD", impl="c147", lr=0.1)``.
    A config's lists (``betas: [0.9, 0.999]``) arrive as omegaconf containers: they are passed on as plain
    lists and dicts, which an optimizer's state_dict then holds (``torch.load(weights_only=True)`` refuses
    omegaconf's classes).
    """
    kwargs = {k: _plain(v) for k, v in kwargs.items()}
    return lookup(kind, name, impl)(*args, **kwargs)


def _plain(value: Any) -> Any:
    """``value`` with an omegaconf ListConfig / DictConfig turned into a plain list / dict."""
    if type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value, resolve=True)
    return value


__all__ = ["IMPLS", "Layers", "check_impl", "fallbacks", "layers", "lookup", "make"]
