"""Transfer learning: finetune.from / finetune.freeze, and the digits' class and sample subsets."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from c147.app.build import build
from c147.app.studies.transfer import untrained_copy
from c147.app.train import train
from c147.data import DigitsDataModule
from c147.lit.transfer import finetune, freeze, head_name
from c147.models import lenet5, mlp

# small and quick: an MLP on 16x16 digits
FAST = ["model=mlp", "data.image_size=16", "model.hidden=[64]", "~scheduler", "optim.lr=0.02"]
# LeNet-5 at its smallest input: its convolutions are the features that transfer from digits 0-4 to 5-9
LENET = ["model=lenet5", "data.image_size=16", "~scheduler", "optim.lr=0.01"]


def test_digits_class_and_sample_subsets():
    dm = DigitsDataModule(classes=[5, 6, 7, 8, 9], train_samples=50)
    dm.setup("fit")
    full = DigitsDataModule()
    full.setup("fit")
    x, y = dm.train_set.tensors
    assert dm.num_classes == 5 and len(y) == 50 and set(y.tolist()) <= set(range(5))
    assert set(dm.val_set.tensors[1].tolist()) == set(range(5))
    # relabelled digit d -> d - 5; the images are the full set's 5-9 in split order
    fx, fy = full.train_set.tensors
    keep = fy >= 5
    assert torch.equal(x, fx[keep][:50]) and torch.equal(y, fy[keep][:50] - 5)


@pytest.mark.parametrize("kwargs, key", [({"classes": [3]}, "data.classes"), ({"classes": [1, 1]}, "data.classes"),
                                         ({"classes": [0, 10]}, "data.classes"),
                                         ({"train_samples": 0}, "data.train_samples")])
def test_bad_subset_values_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        DigitsDataModule(**kwargs)


def test_head_per_model_and_refusal():
    assert head_name(lenet5()) == "classifier.5" and head_name(mlp(hidden=[8])) == "net.3"
    from c147.models import alexnet

    with pytest.raises(ValueError, match="finetune: the head of AlexNet is not known"):
        head_name(alexnet(image_size=64))


def test_freeze_features_and_prefixes():
    net = lenet5()
    frozen = freeze(net, "features")
    assert frozen and all(not n.startswith("classifier.5") for n in frozen)
    assert [n for n, p in net.named_parameters() if p.requires_grad] == ["classifier.5.weight", "classifier.5.bias"]
    net = lenet5()
    assert freeze(net, ["features", "classifier.1"]) == ["features.0.weight", "features.0.bias", "features.3.weight",
                                                          "features.3.bias", "classifier.1.weight", "classifier.1.bias"]
    with pytest.raises(ValueError, match="finetune.freeze: 'trunk' names no parameters"):
        freeze(lenet5(), ["trunk"])
    with pytest.raises(ValueError, match="finetune.freeze: needs finetune.from"):
        finetune(lenet5(), {"from": None, "freeze": "features"})


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_hand_written_optimizers_leave_frozen_parameters_alone(name):
    """Frozen (grad None) parameters are skipped by _init_group: weight decay and momentum do not move them."""
    from c147.optim import SGD, AdamW

    net = mlp(hidden=[8], image_size=4)
    freeze(net, ["net.1"])
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt = (SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1) if name == "sgd"
           else AdamW(net.parameters(), lr=0.1, weight_decay=0.1))
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(4, 1, 4, 4)).square().sum().backward()
        opt.step()
    assert torch.equal(before["net.1.weight"], net.net[1].weight) and torch.equal(before["net.1.bias"], net.net[1].bias)
    assert not torch.equal(before["net.3.weight"], net.net[3].weight)


def test_features_learned_on_0_4_transfer_to_5_9_and_frozen_weights_stay(train_config, tmp_path):
    """A head trained on LeNet-5's frozen trunk learned on digits 0-4 classifies 5-9 from 50 labelled images far
    better than the same head on the same trunk untrained: the features transfer. (Fine-tuning does not beat
    training from scratch on these 50 images: see c147.lit.transfer's docstring for the measured figures.)"""
    trunk = train(train_config(*LENET, "data.classes=[0,1,2,3,4]", "trainer.max_epochs=6"))
    assert trunk["test/acc"] > 0.9, trunk
    ckpt = trunk["best_checkpoint"]
    # the same checkpoint with the network's weights drawn afresh: an untrained trunk of the same shape
    untrained = untrained_copy(ckpt, tmp_path / "untrained.ckpt")
    head_only = [*LENET, "data.classes=[5,6,7,8,9]", "data.train_samples=50", "data.batch_size=10",
                 "trainer.max_epochs=15", "finetune.new_head=true", "finetune.freeze=features"]
    learned = train(train_config(*head_only, f"finetune.from='{ckpt}'"))
    drawn = train(train_config(*head_only, f"finetune.from='{untrained}'"))
    print(f"head on the learned trunk {learned['test/acc']:.3f}, on an untrained one {drawn['test/acc']:.3f}")
    assert learned["test/acc"] > drawn["test/acc"] + 0.15, (learned["test/acc"], drawn["test/acc"])
    # every frozen weight in the head-only run's last checkpoint is the pretrained one, bit for bit
    old = state_dict(ckpt)
    new = state_dict(learned["last_checkpoint"])
    frozen = [k for k in old if k.startswith("net.") and not k.startswith("net.classifier.5.")]
    assert len(frozen) == 8
    for k in frozen:
        assert torch.equal(old[k], new[k]), k
    assert not torch.equal(old["net.classifier.5.bias"][:5], new["net.classifier.5.bias"])


def state_dict(path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_finetune_errors_name_the_key(train_config, tmp_path):
    with pytest.raises(FileNotFoundError, match="finetune.from"):
        build(train_config(*FAST, f"finetune.from={tmp_path / 'nope.ckpt'}"))
    bad = tmp_path / "bad.ckpt"
    torch.save({"c147_config": {"a": 1}, "state_dict": {"net.x": torch.zeros(1)}}, bad)
    with pytest.raises(ValueError, match="finetune.from: the network in .* does not fit"):
        build(train_config(*FAST, f"finetune.from={bad}"))
    with pytest.raises(ValueError, match="finetune: the head of AlexNet"):
        net = __import__("c147.models", fromlist=["alexnet"]).alexnet(image_size=64)
        finetune(net, OmegaConf.create({"from": str(bad), "freeze": None}))


def test_class_keep_makes_an_imbalanced_training_split():
    dm, full = DigitsDataModule(class_keep={0: 0.1, 3: 0.5}), DigitsDataModule()
    dm.setup("fit")
    full.setup("fit")
    counts, all_counts = (torch.bincount(d.train_set.tensors[1], minlength=10) for d in (dm, full))
    assert counts[0] == round(0.1 * int(all_counts[0])) and counts[3] == round(0.5 * int(all_counts[3]))
    assert torch.equal(counts[[1, 2, 4, 5, 6, 7, 8, 9]], all_counts[[1, 2, 4, 5, 6, 7, 8, 9]])
    assert torch.equal(dm.test_set.tensors[0], full.test_set.tensors[0])  # val and test unchanged
    for bad in ({0: 0}, {10: 0.5}, {}):
        with pytest.raises(ValueError, match="data.class_keep"):
            DigitsDataModule(class_keep=bad)
