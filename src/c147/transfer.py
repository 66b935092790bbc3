"""Transfer learning: start from a trained network's weights, freeze part of it, give it a new head.

``finetune.from=<checkpoint>`` loads the weights of a c147-train checkpoint into the run's network; when
the new task has another number of classes, the old head is dropped and the network keeps its own
freshly drawn head, sized for the new task. ``finetune.freeze=features`` freezes everything but the head
(the trunk); a list of module names or prefixes (``[features, classifier.1]``) freezes those instead.
Frozen parameters get ``requires_grad=False``: they have no gradient, so the optimizers (which skip
parameters whose ``grad`` is None, weight decay included), the regularizer's penalties and max-norm
constraint all leave them alone, bit for bit.

The head of each model family (:data:`HEADS`): the last layer of ``classifier`` (LeNet-5) or of ``net``
(MLP). Other models are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from c147.checkpoint import net_weights, read_checkpoint, weight_mismatch

# model class name -> the Sequential whose last layer is the head
HEADS = {"LeNet5": "classifier", "MLP": "net"}


def head_name(net: nn.Module) -> str:
    """The qualified name of ``net``'s output layer (``classifier.6`` for LeNet-5).

    Raises:
        ValueError: a model family without a known head.
    """
    kind = type(net).__name__
    if kind not in HEADS:
        raise ValueError(f"finetune: the head of {kind} is not known (fine-tuning supports "
                         f"{', '.join(HEADS)}: model=lenet5|mlp)")
    parent = HEADS[kind]
    return f"{parent}.{len(getattr(net, parent)) - 1}"


def _owned(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def load_pretrained(net: nn.Module, path: str, new_head: bool | None = None) -> dict[str, Any]:
    """Copy the weights of the c147-train checkpoint at ``path`` into ``net``; the head only if its shape
    fits (same number of classes) and ``new_head`` is not True (True: always a fresh head, for a new task
    with as many classes; False: refuse to replace it). Returns what was done: ``{"head_replaced": bool}``.

    Raises:
        FileNotFoundError, ValueError: no checkpoint, not a c147 one, or a network of another shape.
    """
    head = head_name(net)
    state = read_checkpoint(path, key="finetune.from")
    weights = net_weights(state.get("state_dict", {}))
    own = net.state_dict()
    replaced = any(_owned(k, head) and k in own and v.shape != own[k].shape for k, v in weights.items())
    if replaced and new_head is False:
        raise ValueError(f"finetune.new_head: false, but the checkpoint's head has another number of classes "
                         f"than this run's {own[head + '.weight'].shape[0]}")
    replaced = replaced or new_head is True
    if replaced:
        weights = {k: v for k, v in weights.items() if not _owned(k, head)}
    missing, unexpected, wrong = weight_mismatch(own, weights)
    missing = [k for k in missing if not (replaced and _owned(k, head))]  # a fresh head loads nothing
    if missing or unexpected or wrong:
        what = "; ".join(f"{label}: {', '.join(keys[:4])}" for label, keys in
                         (("missing", missing), ("unexpected", unexpected), ("other shape", wrong)) if keys)
        raise ValueError(f"finetune.from: the network in {path} does not fit this run's model ({what}); "
                         f"use the same model (and options) as the run that wrote it")
    with torch.no_grad():
        for k, v in weights.items():
            own[k].copy_(v)
    return {"head_replaced": replaced}


def freeze(net: nn.Module, spec: str | Sequence[str] | None) -> list[str]:
    """Set ``requires_grad=False`` on the parameters ``spec`` names: ``"features"`` (all but the head) or a
    list of module names / prefixes. Returns the frozen parameters' names.

    Raises:
        ValueError: a name that matches no parameter, or a freeze that leaves nothing to train.
    """
    if spec is None:
        return []
    names = [n for n, _ in net.named_parameters()]
    if spec == "features":
        head = head_name(net)
        chosen = [n for n in names if not _owned(n, head)]
    else:
        if isinstance(spec, str) or not isinstance(spec, Sequence) or not all(isinstance(s, str) for s in spec):
            raise ValueError(f"finetune.freeze: expected 'features' or a list of module names, got {spec!r}")
        chosen = []
        for prefix in spec:
            hit = [n for n in names if _owned(n, prefix)]
            if not hit:
                modules = sorted({n.split(".")[0] for n in names})
                raise ValueError(f"finetune.freeze: {prefix!r} names no parameters of {type(net).__name__} "
                                 f"(its modules: {', '.join(modules)})")
            chosen += [n for n in hit if n not in chosen]
    if len(chosen) == len(names):
        raise ValueError("finetune.freeze: that freezes every parameter; nothing would train")
    params = dict(net.named_parameters())
    for n in chosen:
        params[n].requires_grad_(False)
    return chosen


def finetune(net: nn.Module, cfg: Any, load: bool = True) -> nn.Module:
    """Apply the run config's ``finetune`` node (``from``, ``freeze``) to ``net``: load (when ``load``:
    not for c147-eval, whose checkpoint holds the weights) then freeze."""
    if not cfg:
        return net
    unknown = set(cfg) - {"from", "freeze", "new_head"}
    if unknown:
        raise ValueError(f"finetune: unknown key(s) {', '.join(sorted(unknown))} (expected from, freeze, new_head)")
    if cfg.get("new_head") not in (None, True, False):
        raise ValueError(f"finetune.new_head: expected true, false or null (new when the class count differs), "
                         f"got {cfg.get('new_head')!r}")
    if cfg.get("freeze") is not None and not cfg.get("from"):
        raise ValueError("finetune.freeze: needs finetune.from (the trained network whose layers to freeze)")
    if cfg.get("from") and load:
        load_pretrained(net, str(cfg["from"]), cfg.get("new_head"))
    freeze(net, cfg.get("freeze"))
    return net


__all__ = ["HEADS", "finetune", "freeze", "head_name", "load_pretrained"]
