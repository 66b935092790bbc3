"""Lightning glue: the :class:`Classifier` module and the callbacks that make runs resumable."""

from c147.lit.callbacks import LastCheckpoint, NonFiniteLoss, RunGuard, TrainingInterrupted
from c147.lit.classifier import Classifier

__all__ = ["Classifier", "LastCheckpoint", "NonFiniteLoss", "RunGuard", "TrainingInterrupted"]
