"""c147: the ECE C147 cheat sheet as PyTorch code, each piece checked against its built-in twin."""

from c147.switch import IMPLS, fallbacks, layers, make

__version__ = "0.1.0"

__all__ = ["IMPLS", "__version__", "fallbacks", "layers", "make"]
