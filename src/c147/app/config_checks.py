"""Config values against the types of the parameters they are passed to: ``optim.lr=abc`` is one line
naming the key, the type expected and the value that came, before anything is built.

A value under a ``_target_`` node must fit the target's annotation for that parameter (or its default's
type, where the annotation says nothing a config can hold).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

_PLAIN = (bool, int, float, str, list, tuple, dict, type(None))


def _allowed(hint: Any) -> tuple[type, ...] | None:
    """The plain types a config value may have for a parameter annotated ``hint``; None: can't tell."""
    if hint is typing.Any:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_allowed(h) for h in typing.get_args(hint)]
        return None if any(p is None for p in parts) else tuple(t for p in parts for t in p)
    if origin is typing.Literal:
        return tuple({type(a) for a in typing.get_args(hint)})
    if origin is not None:
        hint = origin
    if getattr(hint, "__module__", "") == "torch" and getattr(hint, "__name__", "") == "Tensor":
        return ()  # never in a config: the other members of the union decide
    if hint in _PLAIN or hint in (list, tuple, dict) or (isinstance(hint, type) and issubclass(hint, (list, tuple))):
        return (hint,)
    if hint in (typing.Sequence, typing.Iterable) or getattr(hint, "__module__", "") == "collections.abc":
        return (list, tuple, ListConfig)
    return None


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, ListConfig):
        value = list(value)
    if isinstance(value, DictConfig):
        value = dict(value)
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int) and float in allowed:
        return True
    if isinstance(value, (list, tuple)) and (list in allowed or tuple in allowed):
        return True
    return isinstance(value, allowed)


def _target_callable(node: DictConfig) -> Callable | None:
    from hydra.utils import get_object

    try:
        target = get_object(node._target_)
        if node._target_ == "c147.make":
            from c147.switch import lookup

            target = lookup(node.kind, node.name, node.impl)
    except Exception:  # noqa: BLE001 - instantiate reports an unknown target in its own words
        return None
    return target.__init__ if isinstance(target, type) else target


def resolvable(node: DictConfig, key: str) -> bool:
    """Whether ``node[key]`` resolves now (an interpolation of Hydra's runtime values does not before Hydra runs)."""
    try:
        node[key]
    except OmegaConfBaseException:
        return False
    return True


def check_config_types(cfg: DictConfig, keys: tuple[str, ...] | None = None) -> None:
    """Every value under a ``_target_`` node fits the target's annotation (or its default's type).

    Raises:
        TypeError: naming the config key, the type expected and the value that came.
    """

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, DictConfig):
            return
        if "_target_" in node:
            check_node(node, prefix)
        for k in node:
            if not str(k).startswith("_") and OmegaConf.is_dict(node._get_node(k)):
                walk(node[k], f"{prefix}{k}.")

    def check_node(node: DictConfig, prefix: str) -> None:
        fn = _target_callable(node)
        if fn is None:
            return
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # noqa: BLE001 - unresolvable annotations: judge by defaults only
            hints = {}
        params = inspect.signature(fn).parameters
        for key in node:
            if key.startswith("_") or key not in params or OmegaConf.is_missing(node, key):
                continue
            if OmegaConf.is_interpolation(node, key) and not resolvable(node, key):
                continue  # before Hydra runs, ${hydra:...} has nothing to resolve to yet
            value = node[key]
            param = params[key]
            allowed = _allowed(hints[key]) if key in hints else None
            if allowed is None and param.default not in (inspect.Parameter.empty, None):
                allowed = (type(param.default),) if isinstance(param.default, (bool, int, float, str)) else None
            if allowed and not _fits(value, allowed):
                names = " or ".join(dict.fromkeys("a list" if t in (list, tuple, ListConfig) else
                                                  "null" if t is type(None) else t.__name__ for t in allowed))
                raise TypeError(f"{prefix}{key}: expected {names}, got {value!r} ({type(value).__name__})")

    for key in keys or tuple(k for k in cfg if k != "hydra"):
        if key in cfg and OmegaConf.is_dict(cfg._get_node(key)):
            walk(cfg[key], f"{key}.")
