"""Networks written once against ``c147.layers(impl)``."""

from c147.models.lenet import LeNet5, lenet5
from c147.models.mlp import MLP, mlp

__all__ = ["MLP", "LeNet5", "lenet5", "mlp"]
