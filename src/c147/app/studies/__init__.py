"""The studies: each shows one of the sheet's claims with figures and checks it on its own output.

``c147-study study=NAME [reduced=true]`` (:mod:`c147.app.studies.command`) runs one. A study is one module of
this package: its settings as data at the top, the code that runs them, and the claim it checks; all of them
run on :mod:`c147.app.studies.harness`. This registry names them without importing them (they import torch
and Lightning), so that the command refuses an unknown name before paying for either.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# study name -> its module in this package
STUDIES: dict[str, str] = {
    "optimizer_paths": "optimizer_paths",
    "init": "init",
    "regularization": "regularization",
    "ensemble": "ensemble",
    "class_weights": "class_weights",
    "optimizers": "optimizers",
    "lr_decay": "lr_decay",
    "batch_size": "batch_size",
    "label_smoothing": "label_smoothing",
    "batchnorm": "batchnorm",
    "augmentation": "augmentation",
    "transfer": "transfer",
    "multitask": "multitask",
}


def check_name(name: object) -> str:
    """``name`` if it is a registered study, else a ``ValueError`` listing the registered ones."""
    if not isinstance(name, str) or name not in STUDIES:
        raise ValueError(f"study: expected one of {', '.join(STUDIES)}, got {name!r}")
    return name


def load(name: str) -> ModuleType:
    """The module of the study ``name`` (imported now: torch with it)."""
    return importlib.import_module(f"{__name__}.{STUDIES[check_name(name)]}")
