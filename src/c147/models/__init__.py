"""Networks written once against ``c147.layers(impl)``: ``impl="c147"`` builds them from
hand-written layers, ``impl="torch"`` from torch.nn (state_dicts equal torchvision's where it has
the model). Every factory takes ``impl``, ``num_classes``, ``in_channels`` and ``image_size``.
"""

from c147.models.alexnet import AlexNet, alexnet
from c147.models.googlenet import GoogLeNet, googlenet
from c147.models.lenet import LeNet5, lenet5
from c147.models.mlp import MLP, mlp
from c147.models.multitask import MultitaskNet, multitask
from c147.models.resnet import ResNet, resnet18, resnet34, resnet50
from c147.models.vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from c147.models.zfnet import ZFNet, zfnet

__all__ = [
    "MLP",
    "VGG",
    "AlexNet",
    "GoogLeNet",
    "LeNet5",
    "MultitaskNet",
    "ResNet",
    "ZFNet",
    "alexnet",
    "googlenet",
    "lenet5",
    "mlp",
    "multitask",
    "resnet18",
    "resnet34",
    "resnet50",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "zfnet",
]
