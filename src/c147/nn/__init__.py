"""Hand-written ``nn.Module`` twins of ``torch.nn``: same class names, constructor arguments,
parameter and buffer names, so state_dicts load both ways. ``c147.layers("c147")`` hands these out.
"""

from c147.nn.activation import ELU, LeakyReLU, Maxout, PReLU, ReLU, Sigmoid, Softplus, Tanh
from c147.nn.adaptive_pool import AdaptiveAvgPool2d
from c147.nn.batchnorm import BatchNorm1d, BatchNorm2d, SyncBatchNorm
from c147.nn.conv import Conv2d
from c147.nn.dropout import Dropout, Dropout2d
from c147.nn.flatten import Flatten
from c147.nn.linear import Linear
from c147.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, MultiMarginLoss, NLLLoss
from c147.nn.lrn import LocalResponseNorm
from c147.nn.noise import GaussianNoise
from c147.nn.pooling import AvgPool2d, MaxPool2d
from c147.nn.softmax import LogSoftmax, Softmax

__all__ = [
    "ELU",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Dropout2d",
    "Flatten",
    "GaussianNoise",
    "LeakyReLU",
    "Linear",
    "LocalResponseNorm",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Maxout",
    "MultiMarginLoss",
    "NLLLoss",
    "PReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "SyncBatchNorm",
    "Tanh",
]
