"""Lightning glue: the :class:`Classifier` module."""

from c147.lit.classifier import Classifier

__all__ = ["Classifier"]
