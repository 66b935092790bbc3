"""Lightning glue: the :class:`Classifier` module and the callbacks that make runs resumable."""

from c147.lit.callbacks import LastCheckpoint, NonFiniteLoss, RunGuard, TrainingInterrupted
from c147.lit.classifier import Classifier
from c147.lit.early_stopping import EarlyStopping
from c147.lit.losses import ClassificationLoss

__all__ = ["ClassificationLoss", "Classifier", "EarlyStopping", "LastCheckpoint", "NonFiniteLoss", "RunGuard",
           "TrainingInterrupted"]
