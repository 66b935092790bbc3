"""The LightningModule's loss with auxiliary heads (GoogLeNet) and with a regularizer."""

import pytest
import torch

import c147
from c147.lit import Classifier
from c147.models import GoogLeNet
from c147.nn.regularize import Regularizer


class TwoHeads(torch.nn.Module):
    """Returns (logits, aux) in training like GoogLeNet, logits in eval."""

    def __init__(self):
        super().__init__()
        self.main, self.aux = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
        self.aux_weight = GoogLeNet.aux_weight

    def forward(self, x):
        return (self.main(x), self.aux(x)) if self.training else self.main(x)


def test_auxiliary_losses_are_weighted_by_0_3():
    torch.manual_seed(0)
    net, loss = TwoHeads(), c147.layers("c147").CrossEntropyLoss()
    model = Classifier(net, loss, optimizer=lambda p: torch.optim.SGD(p, lr=0.1), num_classes=3)
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    value, preds = model._step((x, y))
    expected = loss(net.main(x), y) + 0.3 * loss(net.aux(x), y)
    torch.testing.assert_close(value, expected)
    assert torch.equal(preds, net.main(x).argmax(1))
    model.eval()
    value_eval, _ = model._step((x, y))
    torch.testing.assert_close(value_eval, loss(net.main(x), y))


def test_penalty_is_added_to_the_training_loss_only():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    reg = Regularizer(l2=0.5)
    model = Classifier(net, torch.nn.CrossEntropyLoss(), optimizer=lambda p: torch.optim.SGD(p, lr=0.1),
                       num_classes=3, regularizer=reg)
    model.log = lambda *args, **kwargs: None  # no trainer attached: logging is a no-op here
    x, y = torch.randn(8, 4), torch.randint(0, 3, (8,))
    total = model.training_step((x, y), 0)
    data_loss, _ = model._step((x, y))
    torch.testing.assert_close(total, data_loss + 0.25 * net.weight.pow(2).sum())


def test_auxiliary_outputs_without_their_weight_are_refused():
    net = TwoHeads()
    del net.aux_weight
    model = Classifier(net, torch.nn.CrossEntropyLoss(), optimizer=lambda p: torch.optim.SGD(p, lr=0.1), num_classes=3)
    with pytest.raises(TypeError, match="TwoHeads returns auxiliary outputs in training but has no aux_weight"):
        model._step((torch.randn(8, 4), torch.randint(0, 3, (8,))))
