"""The studies: each shows one of the sheet's claims with figures and checks it on its own output.

``c147-study study=NAME [reduced=true]`` (:mod:`c147.app.studies.command`) runs one. A study is one module of
this package: its settings as data at the top, the code that runs them, and the claim it checks; all of them
run on :mod:`c147.app.studies.harness`. This registry names them without importing them (they import torch
and Lightning), so that the command refuses an unknown name before paying for either.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# the studies, each the module of its name in this package
STUDIES = ("optimizer_paths", "init", "regularization", "ensemble", "class_weights", "optimizers", "lr_decay",
           "batch_size", "label_smoothing", "batchnorm", "augmentation", "transfer", "multitask",
           "depth")


def check_name(name: object) -> str:
    """``name`` if it is a registered study, else a ``ValueError`` listing the registered ones."""
    if not isinstance(name, str) or name not in STUDIES:
        raise ValueError(f"study: expected one of {', '.join(STUDIES)}, got {name!r}")
    return name


def load(name: str) -> ModuleType:
    """The module of the study ``name`` (imported now: torch with it)."""
    return importlib.import_module(f"{__name__}.{check_name(name)}")
