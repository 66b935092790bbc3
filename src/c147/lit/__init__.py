"""Lightning glue: the :class:`Classifier` module and the callbacks that make runs resumable.

The names below import on first use (PEP 562): ``import c147.lit.checkpoint`` or ``c147.lit.figures`` does not
pay for Lightning's import.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ClassificationLoss": "c147.lit.losses",
    "Classifier": "c147.lit.classifier",
    "EarlyStopping": "c147.lit.early_stopping",
    "LastCheckpoint": "c147.lit.callbacks",
    "NonFiniteLoss": "c147.lit.callbacks",
    "RunGuard": "c147.lit.callbacks",
    "TrainingInterrupted": "c147.lit.callbacks",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'c147.lit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
