import pytest
import torch

import c147
from c147.switch import lookup, make


def test_torch_namespace_is_torch_nn():
    nn = c147.layers("torch")
    assert nn.Linear is torch.nn.Linear
    assert nn.CrossEntropyLoss is torch.nn.CrossEntropyLoss


def test_c147_never_hands_out_a_builtin():
    nn = c147.layers("c147")
    assert nn.Flatten.__module__.startswith("c147.")
    # torch has it, c147 does not: an error naming torch's, not a silent built-in
    with pytest.raises(ValueError, match=r"impl='c147' has no hand-written nn 'GRU'.*torch.nn.GRU is torch's"):
        lookup("nn", "GRU", "c147")
    with pytest.raises(AttributeError, match="GRU"):
        nn.GRU  # noqa: B018
    with pytest.raises(ValueError, match="no hand-written optim 'LBFGS'"):
        lookup("optim", "LBFGS", "c147")
    assert lookup("nn", "GRU", "torch") is torch.nn.GRU
    assert c147.fallbacks() == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: c147.layers("numpy"), "impl must be one of ('c147', 'torch'), got 'numpy'"),
        (lambda: lookup("optim", "NoSuchOptimizer", "torch"), "unknown optim name 'NoSuchOptimizer'"),
        (lambda: lookup("loss", "MSELoss", "torch"), "kind must be one of"),
    ],
)
def test_bad_names_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_unknown_layer_is_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchLayer"):
        c147.layers("torch").NoSuchLayer  # noqa: B018


@pytest.mark.parametrize("impl", c147.IMPLS)
def test_make_builds_optimizer_and_scheduler(impl):
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = make(params, kind="optim", name="SGD", impl=impl, lr=0.5, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["momentum"] == 0.9
    sched = make(opt, kind="lr_scheduler", name="StepLR", impl=impl, step_size=1, gamma=0.1)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


def test_twinless_pieces_come_from_the_reference_for_torch():
    from c147.nn import reference

    assert c147.layers("torch").Maxout is reference.Maxout
    assert c147.layers("c147").Maxout is not reference.Maxout
    assert c147.layers("c147").Maxout.__module__ == "c147.nn.activation"


@pytest.mark.parametrize("impl", ["c147", "torch"])
@pytest.mark.parametrize("name", ["Adam", "NAdam", "AdamW"])
def test_make_passes_a_configs_lists_on_as_plain_lists(impl, name, tmp_path):
    """``betas: [0.9, 0.999]`` arrives as a ListConfig; the optimizer's state_dict must load with weights_only."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"betas": [0.9, 0.999]})
    p = torch.nn.Parameter(torch.zeros(2))
    opt = make([p], kind="optim", name=name, impl=impl, lr=0.1, betas=cfg.betas)
    p.grad = torch.ones(2)
    opt.step()
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    loaded = torch.load(tmp_path / "opt.pt", weights_only=True)
    assert list(loaded["param_groups"][0]["betas"]) == [0.9, 0.999]
