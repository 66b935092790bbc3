"""The cheat sheet's math as ``torch.autograd.Function`` subclasses with hand-written backward
passes, behind functions with ``torch.nn.functional``'s names and signatures.

Each function here is a twin: ``c147.functional.conv2d`` <-> ``torch.nn.functional.conv2d``.
The ``*Function`` classes live in the submodules (``c147.functional.conv.Conv2dFunction``).
"""

from c147.functional.activation import elu, leaky_relu, prelu, relu, sigmoid, softplus, tanh
from c147.functional.adaptive_pool import adaptive_avg_pool2d
from c147.functional.batch_norm import batch_norm
from c147.functional.bce import binary_cross_entropy, binary_cross_entropy_with_logits
from c147.functional.conv import conv2d
from c147.functional.cross_entropy import cross_entropy, nll_loss
from c147.functional.dropout import dropout, dropout2d
from c147.functional.linear import linear
from c147.functional.loss import class_weights, mse_loss, multi_margin_loss
from c147.functional.lrn import local_response_norm
from c147.functional.maxout import maxout
from c147.functional.noise import gaussian_noise
from c147.functional.pooling import avg_pool2d, max_pool2d
from c147.functional.softmax import log_softmax, logsumexp, softmax
from c147.functional.sync_batch_norm import sync_batch_norm

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "class_weights",
    "conv2d",
    "cross_entropy",
    "dropout",
    "dropout2d",
    "elu",
    "gaussian_noise",
    "leaky_relu",
    "linear",
    "local_response_norm",
    "log_softmax",
    "logsumexp",
    "max_pool2d",
    "maxout",
    "mse_loss",
    "multi_margin_loss",
    "nll_loss",
    "prelu",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "sync_batch_norm",
    "tanh",
]
