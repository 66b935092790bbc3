"""The sheet's L2 / L1 / ∞-norm penalties, the activity L1 penalty and the max-norm constraint."""

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from c147.app.train import train
from c147.models import mlp
from c147.nn.regularize import (
    InfNormPenaltyFunction,
    L1PenaltyFunction,
    L2PenaltyFunction,
    Regularizer,
    activity_l1_penalty,
    inf_norm_penalty,
    l1_penalty,
    l2_penalty,
    max_norm_,
)
from tests.optim.trajectory import TIGHT, assert_same_params, make_model
from tests.twins import assert_backward_is


def tensors(dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(s, generator=g, dtype=dtype, requires_grad=True) for s in ((4, 3), (5,), (2, 3, 3))]


@pytest.mark.parametrize(
    "ours, plain, function",
    [
        (l2_penalty, lambda ps, a: 0.5 * a * sum((p**2).sum() for p in ps), L2PenaltyFunction),
        (l1_penalty, lambda ps, a: a * sum(p.abs().sum() for p in ps), L1PenaltyFunction),
        (inf_norm_penalty, lambda ps, a: a * sum(inf_norm(p) for p in ps), InfNormPenaltyFunction),
    ],
)
def test_penalties_match_the_plain_formula_and_its_autograd(ours, plain, function):
    a, b = tensors(), tensors()
    out, ref = ours(a, 0.3), plain(b, 0.3)
    torch.testing.assert_close(out, ref, **TIGHT)
    assert_backward_is(out, function)
    out.backward()
    ref.backward()
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x.grad, y.grad, **TIGHT)
    assert gradcheck(lambda *ps: ours(ps, 0.7), tuple(tensors()))
    if ours is l2_penalty:  # |W| has no second derivative at 0; the L2 term's is constant
        assert gradgradcheck(lambda *ps: ours(ps, 0.7), tuple(tensors()))


def inf_norm(p):
    """torch's matrix ∞-norm of ``p`` seen as (rows, rest); a vector as a column: its largest |p_k|."""
    return torch.linalg.matrix_norm(p.reshape(p.shape[0], -1), ord=float("inf"))


def test_inf_norm_penalty_is_the_largest_absolute_row_sum():
    w = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -0.25], [-1.0, -1.0, -1.0]], dtype=torch.float64)
    assert inf_norm_penalty([w], 2.0).item() == 2.0 * 3.5  # row sums 3.5, 3.25, 3
    torch.testing.assert_close(inf_norm_penalty([w], 1.0), torch.linalg.matrix_norm(w, ord=float("inf")), **TIGHT)


def test_inf_norm_subgradient_splits_ties_equally():
    """Rows 0 and 2 tie at 3: each gets sign(W) / 2; row 1 (sum 2) nothing; sign(0) = 0."""
    w = torch.tensor([[1.0, -2.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    inf_norm_penalty([w], 0.5).backward()
    expected = 0.5 * torch.tensor([[0.5, -0.5, 0.0], [0.0, 0.0, 0.0], [-0.5, 0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(w.grad, expected, rtol=0, atol=0)
    twin = w.detach().clone().requires_grad_()
    (0.5 * torch.linalg.matrix_norm(twin, ord=float("inf"))).backward()  # autograd's amax splits ties too
    torch.testing.assert_close(twin.grad, expected, rtol=0, atol=0)
    unique = torch.tensor([[1.0, -2.5, 0.0], [1.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    inf_norm_penalty([unique], 1.0).backward()  # one maximizing row: all of it, sign(0) = 0 included
    torch.testing.assert_close(unique.grad, torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64))


def test_inf_norm_penalty_on_conv_weights_and_in_the_regularizer():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Flatten(), torch.nn.Linear(12, 2)).double()
    reg = Regularizer(inf_norm=0.1)
    expected = 0.1 * sum(inf_norm(p) for p in (model[0].weight, model[2].weight))  # weights only
    torch.testing.assert_close(reg.penalty(model), expected, **TIGHT)


def sgd_run(weight_decay: float, l2: float, steps: int = 50):
    # every parameter gets a gradient at every step (SGD skips weight decay for grad-less ones)
    model = make_model()
    del model.extra
    opt = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=weight_decay)
    reg = Regularizer(l2=l2, apply_to="all")
    for step in range(steps):
        opt.zero_grad()
        g = torch.Generator().manual_seed(step)
        x = torch.randn(16, 5, generator=g, dtype=torch.float64)
        y = torch.randn(16, 1, generator=g, dtype=torch.float64)
        loss = (model(x) - y).pow(2).mean()
        penalty = reg.penalty(model)
        (loss if penalty is None else loss + penalty).backward()
        opt.step()
    return model


def test_sgd_with_l2_penalty_equals_sgd_with_weight_decay():
    """The sheet: J~ = J + (α/2) WᵀW gives W <- (1 - εα) W - ε∇J, i.e. SGD's weight_decay=α."""
    assert_same_params(sgd_run(weight_decay=0.0, l2=0.01), sgd_run(weight_decay=0.01, l2=0.0), rtol=1e-9, atol=1e-12)


def test_sheet_erratum_l2_update_rule():
    """The sheet writes W <- (I - εI) W - ε∇J and W = (1 - α) W - ε∇J; the step is (1 - εα) W - ε∇J."""
    eps, alpha = 0.1, 0.01
    w = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    grad_j = torch.tensor([0.5], dtype=torch.float64)
    opt = torch.optim.SGD([w], lr=eps, weight_decay=alpha)
    w.grad = grad_j.clone()
    w0 = w.detach().clone()
    opt.step()
    correct = (1 - eps * alpha) * w0 - eps * grad_j
    torch.testing.assert_close(w.detach(), correct, **TIGHT)
    for sheet in ((1 - eps) * w0 - eps * grad_j, (1 - alpha) * w0 - eps * grad_j):
        assert not torch.allclose(sheet, w.detach())


def test_penalties_apply_to_weights_only_by_default():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    names = {id(p): n for n, p in model.named_parameters()}
    chosen = {names[id(p)] for p in Regularizer(l2=1.0).parameters(model)}
    assert chosen == {"0.weight", "2.weight"}
    assert len(Regularizer(l2=1.0, apply_to="all").parameters(model)) == 6
    assert Regularizer().penalty(model) is None


@pytest.mark.parametrize("shape", [(6, 4), (5, 3, 2, 2)])
def test_max_norm_matches_torch_renorm(shape):
    w = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    expected = torch.renorm(w, p=2, dim=0, maxnorm=1.5)
    ours = max_norm_(w.clone(), 1.5)
    torch.testing.assert_close(ours, expected, rtol=1e-6, atol=1e-9)  # both use eps = 1e-7 in the scale
    norms = ours.reshape(shape[0], -1).norm(dim=1)
    assert (norms <= 1.5 + 1e-9).all()
    small = w.reshape(shape[0], -1).norm(dim=1) <= 1.5
    torch.testing.assert_close(ours[small], w[small], rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(l2=-1.0), "l2 must be >= 0, got -1.0"),
        (dict(l1=-0.5), "l1 must be >= 0, got -0.5"),
        (dict(inf_norm=-1.0), "inf_norm must be >= 0, got -1.0"),
        (dict(activity_l1=-1.0), "activity_l1 must be >= 0, got -1.0"),
        (dict(max_norm=0.0), "max_norm must be > 0 or None, got 0.0"),
        (dict(apply_to="biases"), "apply_to must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Regularizer(**kwargs)


@pytest.mark.parametrize("name", ["l2", "l1", "inf_norm", "activity_l1", "max_norm"])
def test_training_with_each_regularizer_config(train_config, name):
    metrics = train(train_config("data=synthetic", "model=mlp", "trainer.max_epochs=1", f"regularizer={name}",
                                 "callbacks.model_checkpoint=null", "~logger"))
    assert ("train/penalty" in metrics) == (name != "max_norm")
    assert metrics["val/acc"] > 0.3


def hidden_net():
    torch.manual_seed(0)
    return mlp(in_channels=1, image_size=2, hidden=[5, 3], num_classes=2).double()  # net.2, net.4: the ReLUs


def test_activity_penalty_is_alpha_times_the_mean_l1_norm_of_the_hidden_activations():
    net = hidden_net()
    reg = Regularizer(activity_l1=0.3)
    reg.attach(net)
    x = torch.randn(7, 1, 2, 2, dtype=torch.float64)
    net(x)
    penalty = reg.penalty(net)
    assert_backward_is(penalty, L1PenaltyFunction)
    h1 = torch.relu(net.net[1](x.flatten(1)))
    h2 = torch.relu(net.net[3](h1))
    torch.testing.assert_close(penalty, 0.3 * (h1.abs().sum() + h2.abs().sum()) / 7, **TIGHT)
    assert reg.penalty(net) is None  # taken: the next step's forward brings its own
    with torch.no_grad():
        net(x)  # validation: nothing kept
    net.eval()
    net(x)
    assert reg.penalty(net) is None


def test_activity_penalty_gradient_equals_autograd_of_its_formula():
    nets = hidden_net(), hidden_net()
    reg = Regularizer(activity_l1=0.3, layers=["net.1", "net.4"])  # a Linear's output (negative too) and a ReLU's
    reg.attach(nets[0])
    x = torch.randn(7, 1, 2, 2, dtype=torch.float64)
    out = nets[0](x).sum()
    (out + reg.penalty(nets[0])).backward()
    a1 = nets[1].net[1](x.flatten(1))
    a4 = torch.relu(nets[1].net[3](torch.relu(a1)))
    (nets[1](x).sum() + 0.3 * (a1.abs().sum() + a4.abs().sum()) / 7).backward()
    for p, q in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, **TIGHT)
    assert gradcheck(lambda h: activity_l1_penalty([h], 0.7), (torch.randn(4, 3, dtype=torch.float64,
                                                                           requires_grad=True),))


def test_activity_penalty_layers_default_to_the_activations_and_unknown_names_are_refused():
    net = hidden_net()
    reg = Regularizer(activity_l1=1.0)
    reg.attach(net)
    net(torch.randn(2, 1, 2, 2, dtype=torch.float64))
    assert [h.shape[1] for h in reg._activations] == [5, 3]  # the two ReLUs' outputs
    with pytest.raises(ValueError, match=r"unknown module 'relu'; the modules of MLP are: net, net.0, net.1"):
        Regularizer(activity_l1=1.0, layers=["relu"]).attach(net)
    with pytest.raises(ValueError, match="Sequential has no activation module; name the modules .*, one of: 0$"):
        Regularizer(activity_l1=1.0).attach(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    Regularizer(layers=["relu"]).attach(net)  # off: nothing to check, nothing hooked


def digits_hidden(activity_l1: float) -> tuple[torch.Tensor, float]:
    """The mlp's second hidden ReLU outputs on the digits after 60 seeded Adam steps, and its accuracy."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(y)
    torch.manual_seed(0)
    net = mlp(in_channels=1, image_size=8, hidden=[64, 64], num_classes=10)
    reg = Regularizer(activity_l1=activity_l1)
    reg.attach(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        i = torch.randint(len(x), (64,), generator=g)
        loss = torch.nn.functional.cross_entropy(net(x[i]), y[i])
        penalty = reg.penalty(net)
        opt.zero_grad()
        (loss if penalty is None else loss + penalty).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        return net.net[:5](x), (net(x).argmax(1) == y).float().mean().item()


@pytest.mark.slow  # two short trainings (about 2 s) and the digits
def test_activity_penalty_makes_the_hidden_units_sparser():
    (plain, plain_acc), (sparse, sparse_acc) = digits_hidden(0.0), digits_hidden(1e-2)
    assert (sparse == 0).float().mean() > (plain == 0).float().mean() + 0.1  # more units exactly 0
    assert sparse.abs().mean() < 0.5 * plain.abs().mean()
    assert min(plain_acc, sparse_acc) > 0.9  # both still learn the digits
