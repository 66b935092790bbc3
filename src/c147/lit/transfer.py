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

Measured on the bundled digits (``c147-study study=transfer``, about 2.5 minutes here; LeNet-5, 32x32;
trunk: ``data.classes=[0,1,2,3,4] data.augment=[crop,rotate]``, 15 epochs, test accuracy 1.0;
target: ``data.classes=[5,6,7,8,9] data.train_samples=50 data.batch_size=10 trainer.max_epochs=30
~scheduler optim.lr=0.01``; test accuracy, mean of seeds 0-2 with each seed's value):

=========================================================  =====  ===================
from scratch                                               0.902  0.879 0.942 0.884
fine-tune everything (``optim.lr=0.001``)                   0.888  0.905 0.879 0.879
fine-tune everything (``optim.lr=0.01``)                    0.884  0.911 0.858 0.884
convolutions frozen (``finetune.freeze=[features]``)        0.891  0.916 0.868 0.889
head only (``finetune.freeze=features``)                    0.731  0.726 0.726 0.742
head only on the same trunk untrained                       0.342  0.337 0.342 0.347
=========================================================  =====  ===================

The features transfer (a head on the learned trunk: 0.73, on an untrained one: 0.34), but on these easy
8x8 digits training from scratch on 50 images is as good as fine-tuning (0.90 against 0.88-0.89, within
the seeds' spread; with 10 or 20 labelled images the same: 0.82 against 0.83, 0.84 against 0.86). So the
claim that fine-tuning beats scratch is not one this data set shows; the tests check the transfer of
features instead (tests/lit/test_transfer.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from c147.lit.checkpoint import net_weights, read_checkpoint, weight_mismatch
from c147.models.heads import HEADS, head_name


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
