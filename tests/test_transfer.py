"""Transfer learning: finetune.from / finetune.freeze, and the digits' class and sample subsets."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from c147.data import DigitsDataModule
from c147.models import lenet5, mlp
from c147.train import build, train
from c147.transfer import finetune, freeze, head_name

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


def test_finetune_beats_scratch_and_frozen_weights_stay(train_config, capsys):
    trunk = train(train_config(*LENET, "data.classes=[0,1,2,3,4]", "trainer.max_epochs=4"))
    assert trunk["test/acc"] > 0.9, trunk
    ckpt = trunk["best_checkpoint"]
    few = [*LENET, "data.classes=[5,6,7,8,9]", "data.train_samples=50", "trainer.max_epochs=4"]
    scratch = train(train_config(*few))
    tuned = train(train_config(*few, f"finetune.from='{ckpt}'", "finetune.new_head=true"))
    print(f"fine-tune {tuned['test/acc']:.3f} vs scratch {scratch['test/acc']:.3f}")
    assert tuned["test/acc"] > scratch["test/acc"] + 0.03, (tuned["test/acc"], scratch["test/acc"])
    # frozen convolutions: in the fine-tuned run's last checkpoint they equal the pretrained ones, bit for bit
    frozen_run = train(train_config(*few, "trainer.max_epochs=1", f"finetune.from='{ckpt}'",
                                    "finetune.freeze=[features]", "finetune.new_head=true"))
    old = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    new = torch.load(frozen_run["last_checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    frozen = [k for k in old if k.startswith("net.features.")]
    assert len(frozen) == 4
    for k in frozen:
        assert torch.equal(old[k], new[k]), k
    for k in ("net.classifier.1.weight", "net.classifier.5.weight"):
        assert not torch.equal(old[k], new[k]), k


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
