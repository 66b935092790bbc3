"""Config values against the types of the parameters they are passed to: ``optim.lr=abc`` is one line
naming the key, the type expected and the value that came, before anything is built. Values of the right type
that no run can want (``trainer.max_epochs=0``, ``optim.lr=-0.1``, ``model.dropout=1.5``) are refused the same
way, by the parameter's name (:data:`VALUE_RULES`).

A value under a ``_target_`` node must fit the target's annotation for that parameter (or its default's
type, where the annotation says nothing a config can hold). The signatures are the one source of the types;
reading them means importing the targets (torch, Lightning: seconds). So the command line is checked before
that against :data:`TYPES_FILE`, the types of every key of the packaged configs, written from the signatures
by ``python -m c147.app.config_checks`` (a test fails when it differs from what the signatures say); the run
then checks its whole config against the signatures themselves (``use_table=False``).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
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
    if isinstance(hint, type) and issubclass(hint, (list, tuple)) and hint not in (list, tuple):
        return (list,) if issubclass(hint, list) else (tuple,)
    if hint in _PLAIN:
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


def signature_types(fn: Callable, keys: Iterator[str] | list[str]) -> dict[str, tuple[type, ...] | None]:
    """For each of ``keys`` that ``fn`` takes: the types a config value for it may have (None: can't tell)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: judge by defaults only
        hints = {}
    params = inspect.signature(fn).parameters
    out: dict[str, tuple[type, ...] | None] = {}
    for key in keys:
        if key.startswith("_") or key not in params:
            continue
        allowed = _allowed(hints[key]) if key in hints else None
        default = params[key].default
        if allowed is None and isinstance(default, (bool, int, float, str)):
            allowed = (type(default),)
        out[key] = allowed
    return out


# ---------------------------------------------------------------------------------- the table

TYPES_FILE = Path(__file__).with_name("config_types.json")
_NAMES = {t.__name__: t for t in (*_PLAIN, ListConfig)}


def target_key(node: DictConfig) -> str:
    """What a node instantiates: its ``_target_``, or for ``c147.make`` the part it looks up
    (``c147.make:optim:SGD:c147``)."""
    if node._target_ == "c147.make":
        return f"c147.make:{node.get('kind')}:{node.get('name')}:{node.get('impl')}"
    return str(node._target_)


def _packaged_nodes(config_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """``(target key, keys)`` of every ``_target_`` node in the packaged configs (``c147.make`` nodes once per
    impl, since ``impl: ${impl}``)."""
    from omegaconf import OmegaConf

    from c147.switch import IMPLS

    def nodes(node: Any) -> Iterator[dict]:
        if isinstance(node, dict):
            if "_target_" in node:
                yield node
            for v in node.values():
                yield from nodes(v)

    for path in sorted(config_dir.rglob("*.yaml")):
        for node in nodes(OmegaConf.to_container(OmegaConf.load(path), resolve=False)):
            keys = [str(k) for k in node if not str(k).startswith("_")]
            if node["_target_"] == "c147.make":
                for impl in IMPLS:
                    yield f"c147.make:{node.get('kind')}:{node.get('name')}:{impl}", keys
            else:
                yield str(node["_target_"]), keys


def build_table(config_dir: Path) -> dict[str, dict[str, list[str] | None]]:
    """The types of every key of the packaged configs, from the targets' signatures (imports them all)."""
    from omegaconf import OmegaConf

    wanted: dict[str, set[str]] = {}
    for key, keys in _packaged_nodes(config_dir):
        wanted.setdefault(key, set()).update(keys)
    table: dict[str, dict[str, list[str] | None]] = {}
    for key, keys in sorted(wanted.items()):
        node = (OmegaConf.create(dict(zip(("_target_", "kind", "name", "impl"), key.split(":"), strict=False)))
                if key.startswith("c147.make:") else OmegaConf.create({"_target_": key}))
        fn = _target_callable(node)
        if fn is None:
            continue
        types_ = signature_types(fn, sorted(keys))  # a key the target does not take (kind, name) stays null
        table[key] = {k: None if types_.get(k) is None else [x.__name__ for x in types_[k]] for k in sorted(keys)}
    return table


def dump_table(table: dict[str, dict[str, list[str] | None]]) -> str:
    """The table as :data:`TYPES_FILE` holds it: one line a target."""
    lines = [f" {json.dumps(key)}: {json.dumps(entry, sort_keys=True)}" for key, entry in sorted(table.items())]
    return "{\n" + ",\n".join(lines) + "\n}\n"


@cache
def _table() -> dict[str, dict[str, tuple[type, ...] | None]]:
    if not TYPES_FILE.is_file():
        return {}
    raw = json.loads(TYPES_FILE.read_text())
    return {key: {k: None if t is None else tuple(_NAMES[n] for n in t) for k, t in entry.items()}
            for key, entry in raw.items()}


# ---------------------------------------------------------------------------------- the values


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


POSITIVE = ("a positive integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1)
NON_NEGATIVE = ("a number >= 0", lambda v: _number(v) and v >= 0)
PROBABILITY = ("a number in [0, 1)", lambda v: _number(v) and 0 <= v < 1)
PROBABILITIES = ("numbers in [0, 1)", lambda v: isinstance(v, (list, tuple, ListConfig))
                 and all(PROBABILITY[1](x) for x in v))

# parameter -> (what is expected, test), for every target taking it: the types say "int", these what int; null
# (where the types allow it) always passes. (a target prefix, parameter) where the name means other things
# elsewhere: RMSprop's alpha is a decay rate, an ELU's is not.
VALUE_RULES: dict[str | tuple[str, str], tuple[str, Callable[[Any], bool]]] = {
    "max_epochs": POSITIVE,  # Lightning reads -1 as "no limit": a run that never ends
    "epochs": POSITIVE,
    "batch_size": POSITIVE,
    "image_size": POSITIVE,
    "lr": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "eps": NON_NEGATIVE,
    "dropout": PROBABILITY,  # p=1 zeroes every activation
    "dropout_aux": PROBABILITY,
    "label_smoothing": PROBABILITY,
    "val_fraction": PROBABILITY,
    "test_fraction": PROBABILITY,
    ("c147.make:optim:", "momentum"): PROBABILITY,  # 1 and above: the velocity never decays
    ("c147.make:optim:", "alpha"): PROBABILITY,
    ("c147.make:optim:", "betas"): PROBABILITIES,
}


def value_rule(target: str, key: str) -> tuple[str, Callable[[Any], bool]] | None:
    """The rule for ``key`` of a node instantiating ``target`` (its :func:`target_key`), if any."""
    for name, rule in VALUE_RULES.items():
        if name == key or (isinstance(name, tuple) and target.startswith(name[0]) and name[1] == key):
            return rule
    return None


# ---------------------------------------------------------------------------------- the check


def resolvable(node: DictConfig, key: str) -> bool:
    """Whether ``node[key]`` resolves now (an interpolation of Hydra's runtime values does not before Hydra runs)."""
    try:
        node[key]
    except OmegaConfBaseException:
        return False
    return True


def _node_types(node: DictConfig, use_table: bool) -> dict[str, tuple[type, ...] | None]:
    if use_table:
        entry = _table().get(target_key(node))
        if entry is not None and all(k in entry for k in node if not str(k).startswith("_")):
            return entry
    fn = _target_callable(node)  # a target or key of the user's own: ask its signature
    return {} if fn is None else signature_types(fn, [str(k) for k in node])


def check_config_types(cfg: DictConfig, keys: tuple[str, ...] | None = None, use_table: bool = True) -> None:
    """Every value under a ``_target_`` node fits the target's annotation (or its default's type).

    Args:
        cfg: a composed config (its ``hydra`` node is left out).
        keys: the top-level keys to check (default: all).
        use_table: read the types from :data:`TYPES_FILE` where it has them (no imports), else from the
            signatures.

    Raises:
        TypeError: naming the config key, the type expected and the value that came.
        ValueError: a value of the right type outside its range (:data:`VALUE_RULES`), naming the key.
    """

    def walk(node: Any, prefix: str) -> None:
        if not isinstance(node, DictConfig):
            return
        if "_target_" in node:
            check_node(node, prefix)
        for k in node:
            if not str(k).startswith("_") and OmegaConf.is_dict(node._get_node(k)):
                walk(node[k], f"{prefix}{k}.")

    interpolated: list[tuple[DictConfig, str, str, tuple[type, ...]]] = []

    def check_node(node: DictConfig, prefix: str) -> None:
        types_ = _node_types(node, use_table)
        for key in (str(k) for k in node if not str(k).startswith("_")):  # the rules also for **kwargs' keys
            allowed = types_.get(key) or ()
            if OmegaConf.is_missing(node, key) or not (allowed or value_rule(target_key(node), key)):
                continue
            if OmegaConf.is_interpolation(node, key):  # after the values it copies: name the key the user set
                interpolated.append((node, prefix, key, allowed))
            else:
                check_value(node, prefix, key, allowed)

    def check_value(node: DictConfig, prefix: str, key: str, allowed: tuple[type, ...]) -> None:
        value = node[key]
        if allowed and not _fits(value, allowed):
            names = " or ".join(dict.fromkeys("a list" if t in (list, tuple, ListConfig) else
                                              "null" if t is type(None) else t.__name__ for t in allowed))
            raise TypeError(f"{prefix}{key}: expected {names}, got {value!r} ({type(value).__name__})")
        rule = value_rule(target_key(node), key)
        if rule is not None and value is not None and not rule[1](value):
            shown = list(value) if isinstance(value, ListConfig) else value
            raise ValueError(f"{prefix}{key}: expected {rule[0]}, got {shown!r}")

    for key in keys or tuple(k for k in cfg if k != "hydra"):
        if key in cfg and OmegaConf.is_dict(cfg._get_node(key)):
            walk(cfg[key], f"{key}.")
    for node, prefix, key, allowed in interpolated:
        if resolvable(node, key):  # before Hydra runs, ${hydra:...} has nothing to resolve to yet
            check_value(node, prefix, key, allowed)


def name_the_key(message: str, node_key: str | None) -> str:
    """A target's error ``message`` naming the full config key: ``batch_size must be ...`` raised by the
    node at ``data`` becomes ``data.batch_size: must be ...`` (a message naming no parameter keeps
    ``(config key 'data')`` at its end)."""
    if not node_key or message.startswith(f"{node_key}."):
        return message
    head = re.match(r"([a-z_][a-z0-9_]*)(?::| must )", message)
    if head:
        return f"{node_key}.{head.group(1)}: {message[len(head.group(1)):].lstrip(': ')}"
    return f"{message} (config key '{node_key}')"


def main() -> None:
    """``python -m c147.app.config_checks``: write :data:`TYPES_FILE` from the signatures."""
    from c147.app.argv import CONFIG_DIR

    table = build_table(Path(CONFIG_DIR))
    TYPES_FILE.write_text(dump_table(table))
    print(f"wrote {TYPES_FILE} ({len(table)} targets)", file=sys.stderr)


if __name__ == "__main__":
    main()
