"""c147: the ECE C147 cheat sheet as PyTorch code, each piece checked against its built-in twin.

``c147.layers``, ``c147.make`` and the rest of :mod:`c147.switch` import on first use (PEP 562), so a console
script checks its command line before it pays for torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_SWITCH = ("IMPLS", "fallbacks", "layers", "make")


def __getattr__(name: str) -> Any:
    if name in _SWITCH:
        from c147 import switch

        return getattr(switch, name)
    raise AttributeError(f"module 'c147' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SWITCH])


__all__ = ["IMPLS", "__version__", "fallbacks", "layers", "make"]
