"""Hand-written optimizers, twins of ``torch.optim``: same arguments, defaults, validation, param
groups, closures and state keys, so state_dicts load both ways. Laid out as torch's: each module has
the class, whose ``_init_group`` collects a param group into lists, a functional twin over those lists
with torch's signature (``c147.optim.adam.adam`` for ``torch.optim.adam.adam``, ...), and three paths,
``_single_tensor_<name>`` (the sheet's equations, one per line), ``_multi_tensor_<name>`` (the same
lines as ``torch._foreach_*`` calls) and ``_fused_<name>`` (``fused=True``: the same lines for one tensor,
compiled by ``torch.compile`` into one pass over memory; the first step compiles, a few seconds, and on
CPU needs a C++ compiler; ``c147.optim._fused``). ``c147.optim._docs`` holds the argument docs they share.

NAdam (Adam with Nesterov momentum) has no fused path: torch has none to be the twin of.

Also: ``c147.optim.lr_scheduler`` (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR,
ReduceLROnPlateau) and ``c147.optim.clip`` (clip_grad_norm_, clip_grad_value_: twins of
``torch.nn.utils``).
"""

from c147.optim import clip, lr_scheduler
from c147.optim.adagrad import Adagrad
from c147.optim.adam import Adam
from c147.optim.adamw import AdamW
from c147.optim.clip import clip_grad_norm_, clip_grad_value_
from c147.optim.nadam import NAdam
from c147.optim.rmsprop import RMSprop
from c147.optim.sgd import SGD

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "NAdam", "RMSprop", "clip", "clip_grad_norm_", "clip_grad_value_", "lr_scheduler"
]
