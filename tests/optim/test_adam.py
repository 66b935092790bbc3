"""c147.optim.Adam and AdamW against torch's twins, and the sheet's Adam and bias-correction claims."""

from __future__ import annotations

import copy
import functools
import inspect
import math
from typing import Any

import pytest
import torch

from c147.optim._foreach import chunked
from c147.optim.adam import Adam
from c147.optim.adamw import AdamW
from tests.optim.trajectory import assert_same_params, assert_same_state, make_loss, make_model, run
from tests.twins import DEVICES

EXACT = dict(rtol=0, atol=0)

ADAM_CASES = {
    "default": {},
    "lr": dict(lr=0.01),
    "betas": dict(betas=(0.5, 0.9)),
    "eps": dict(eps=1e-3),
    "weight_decay": dict(weight_decay=0.1),
    "amsgrad": dict(amsgrad=True),
    "maximize": dict(maximize=True),
    "maximize_weight_decay": dict(maximize=True, weight_decay=0.1),
    "decoupled": dict(weight_decay=0.1, decoupled_weight_decay=True),
    "everything": dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
}
ADAMW_CASES = {
    "default": {},
    "weight_decay": dict(weight_decay=0.1),
    "amsgrad": dict(amsgrad=True),
    "maximize": dict(maximize=True),
    "everything": dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
}
TWINS = {Adam: (torch.optim.Adam, ADAM_CASES), AdamW: (torch.optim.AdamW, ADAMW_CASES)}
TABLE = [pytest.param(cls, name, id=f"{cls.__name__}-{name}") for cls, (_, cases) in TWINS.items() for name in cases]


@functools.cache
def twin_run(ours, case: str, foreach: bool):
    """torch's run of a table case, computed once for both of our paths."""
    theirs, cases = TWINS[ours]
    return run(theirs, dict(cases[case], foreach=foreach), two_groups=True)


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, start: int = 0) -> None:
    """Continue the trajectory of tests/optim/trajectory.py from step ``start``."""
    for step in range(start, start + steps):

        def closure(step=step):
            opt.zero_grad()
            loss = make_loss(model, step)
            loss.backward()
            return loss

        opt.step(closure)


def check_round_trip(src_cls, dst_cls, kwargs: dict[str, Any]) -> None:
    """20 steps with ``src_cls``, its state_dict into a fresh ``dst_cls``, 20 more steps with both: identical."""
    model_a = make_model()
    opt_a = src_cls(model_a.parameters(), **kwargs)
    train(model_a, opt_a, 20)
    model_b = copy.deepcopy(model_a)
    opt_b = dst_cls(model_b.parameters(), **kwargs)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    train(model_a, opt_a, 20, start=20)
    train(model_b, opt_b, 20, start=20)
    assert_same_params(model_b, model_a)
    assert_same_state(opt_b, opt_a)


def same_signature(ours, theirs) -> None:
    """Names, kinds and defaults of the constructor arguments (annotations are strings on our side)."""
    mine, twin = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
    assert [(p.name, p.kind, p.default) for p in mine.values()] == [(p.name, p.kind, p.default) for p in twin.values()]


# ---- parity with the twin -------------------------------------------------------------------------------------


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("ours, case", TABLE)
def test_trajectory_matches_torch(ours, case, foreach):
    """Both of our paths against both of torch's: 60 steps, two param groups, a parameter sometimes without grad."""
    model, opt = run(ours, dict(TWINS[ours][1][case], foreach=foreach), two_groups=True)
    for torch_foreach in (False, True):
        model_t, opt_t = twin_run(ours, case, torch_foreach)
        assert_same_params(model, model_t)
        assert_same_state(opt, opt_t)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("ours, theirs", [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)])
def test_bit_identical_to_torch_on_cpu(ours, theirs, foreach):
    """torch's order of operations is kept (√v / √(1 - β2^t) + δ, step size ε / (1 - β1^t)): not one bit differs."""
    kwargs = dict(weight_decay=0.1, amsgrad=True)
    model, opt = run(ours, dict(kwargs, foreach=foreach), two_groups=True)
    model_t, opt_t = run(theirs, dict(kwargs, foreach=foreach), two_groups=True)
    assert_same_params(model, model_t, **EXACT)
    assert_same_state(opt, opt_t, **EXACT)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours, theirs", [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)])
def test_trajectory_matches_torch_on_device(ours, theirs, device, foreach):
    kwargs = dict(weight_decay=0.1, amsgrad=True, foreach=foreach)
    model, opt = run(ours, kwargs, device=device)
    model_t, opt_t = run(theirs, kwargs, device=device)
    assert_same_params(model, model_t)
    assert_same_state(opt, opt_t)
    assert all(st["step"].device.type == "cpu" for st in opt.state.values())  # like torch's non-capturable


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_float32_trajectory_matches_torch(foreach):
    model, opt = run(Adam, dict(foreach=foreach), dtype=torch.float32)
    model_t, opt_t = run(torch.optim.Adam, dict(foreach=foreach), dtype=torch.float32)
    assert_same_params(model, model_t, **EXACT)
    assert_same_state(opt, opt_t, **EXACT)


def test_lr_scheduler_and_tensor_lr_match_torch():
    """The lr is read from the group on every step (schedulers), and may be a 1-element tensor."""
    sched = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)  # noqa: E731
    model, opt = run(Adam, dict(lr=0.01), scheduler=sched)
    model_t, opt_t = run(torch.optim.Adam, dict(lr=0.01), scheduler=sched)
    assert_same_params(model, model_t)
    # float64: torch computes lr / (1 - β1^t) in the tensor's dtype, ours in Python floats (a float32 tensor lr
    # gives steps 1e-9 apart in relative terms, torch's being the less exact)
    lr = torch.tensor(0.01, dtype=torch.float64)
    model, opt = run(Adam, dict(lr=lr, foreach=False))
    model_t, opt_t = run(torch.optim.Adam, dict(lr=lr.clone(), foreach=False))
    assert_same_params(model, model_t)
    assert_same_state(opt, opt_t)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_complex_parameters_match_torch(foreach):
    """Real and imaginary parts are independent coordinates, as in torch (amsgrad state included)."""
    results = []
    for cls in (Adam, torch.optim.Adam):
        torch.manual_seed(0)
        z = torch.nn.Parameter(torch.randn(6, dtype=torch.complex128))
        opt = cls([z], lr=0.1, weight_decay=0.1, amsgrad=True, foreach=foreach)
        for _ in range(10):
            opt.zero_grad()
            ((z - (1 + 2j)).abs() ** 2).sum().backward()
            opt.step()
        results.append((z.detach().clone(), opt))
    (z, opt), (z_t, opt_t) = results
    torch.testing.assert_close(z, z_t, rtol=1e-10, atol=1e-12)
    assert_same_state(opt, opt_t)


def test_signatures_match_torch():
    same_signature(Adam, torch.optim.Adam)
    same_signature(AdamW, torch.optim.AdamW)


def test_adamw_is_adam_with_decoupled_weight_decay():
    """AdamW shares Adam's code: the same trajectory as Adam(decoupled_weight_decay=True, weight_decay=1e-2)."""
    assert issubclass(AdamW, Adam)
    model, opt = run(AdamW, {})
    model_a, opt_a = run(Adam, dict(weight_decay=1e-2, decoupled_weight_decay=True))
    assert_same_params(model, model_a, **EXACT)
    assert opt.defaults["weight_decay"] == 1e-2 and opt.defaults["decoupled_weight_decay"] is True


def test_decoupled_decay_differs_from_l2():
    """The two weight decays are different algorithms: the test above is not vacuous."""
    model, _ = run(Adam, dict(weight_decay=0.1))
    model_w, _ = run(Adam, dict(weight_decay=0.1, decoupled_weight_decay=True))
    assert not torch.allclose(model[0].weight, model_w[0].weight, rtol=1e-3)


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_foreach_none_chooses_like_torch(foreach, monkeypatch):
    """On CPU torch's default is the single-tensor loop; foreach=None must take that path here."""
    monkeypatch.setattr(Adam, "_step_foreach" if not foreach else "_step_single", None)
    model = make_model()
    opt = Adam(model.parameters(), foreach=None if not foreach else True)
    train(model, opt, 2)  # would call None (TypeError) on the wrong path
    assert opt.state


def test_cpu_foreach_chunks_cover_every_tensor_once():
    """On CPU the foreach path runs on chunks of about 256 kB per list (c147.optim._foreach.chunked),
    in order, none lost."""
    tensors = [torch.zeros(n) for n in (10, 70_000, 5, 5, 200_000, 3)]  # float32: 40 B to 800 kB
    lists = [tensors, [t + 1 for t in tensors]]
    chunks = list(chunked(lists, chunk_bytes=1 << 18))
    index = {id(t): i for i, t in enumerate(tensors)}
    assert [[index[id(t)] for t in chunk[0]] for chunk in chunks] == [[0, 1], [2, 3, 4], [5]]
    assert all(len(chunk[0]) == len(chunk[1]) and chunk[1][0].sum() > 0 for chunk in chunks)


@pytest.mark.parametrize("cls, twin", [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)])
def test_foreach_on_several_chunks_is_bit_identical_to_torch(cls, twin):
    """Parameters large enough to be cut into several chunks, float32, steps of different ``t`` per tensor."""
    results = []
    for opt_cls in (cls, twin):
        gen = torch.Generator().manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(n, generator=gen)) for n in (300_000, 100, 70_000, 7)]
        opt = opt_cls(params, lr=0.01, weight_decay=0.1, amsgrad=True, foreach=True)
        for step in range(4):
            for i, p in enumerate(params):
                p.grad = None if (step == 0 and i == 1) else torch.randn(p.shape, generator=gen)
            opt.step()
        results.append((params, opt))
    (params, opt), (params_t, opt_t) = results
    for p, q in zip(params, params_t, strict=True):
        torch.testing.assert_close(p, q, **EXACT)
    assert_same_state(opt, opt_t, **EXACT)


# ---- state ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize(
    "src, dst",
    [
        (Adam, torch.optim.Adam),
        (torch.optim.Adam, Adam),
        (Adam, Adam),
        (AdamW, torch.optim.AdamW),
        (torch.optim.AdamW, AdamW),
    ],
    ids=["ours-torch", "torch-ours", "ours-ours", "W-ours-torch", "W-torch-ours"],
)
def test_state_dict_round_trip(src, dst, amsgrad):
    check_round_trip(src, dst, dict(lr=0.01, weight_decay=0.1, amsgrad=amsgrad))


def test_adamw_loading_an_adam_state_dict_stays_decoupled():
    model = make_model()
    adam = torch.optim.Adam(model.parameters(), weight_decay=0.1)
    train(model, adam, 3)
    opt = AdamW(model.parameters())
    opt.load_state_dict(adam.state_dict())
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    assert opt.param_groups[0]["weight_decay"] == 0.1


def test_old_state_dict_with_float_step_is_upgraded():
    """__setstate__ fills missing defaults and turns a float ``step`` into torch's scalar tensor."""
    model = make_model()
    opt = Adam(model.parameters())
    train(model, opt, 3)
    sd = copy.deepcopy(opt.state_dict())
    for st in sd["state"].values():
        st["step"] = float(st["step"])
    for group in sd["param_groups"]:
        del group["amsgrad"], group["decoupled_weight_decay"], group["foreach"]
    fresh = Adam(make_model().parameters())
    fresh.load_state_dict(sd)
    group = fresh.param_groups[0]
    assert group["amsgrad"] is False and group["decoupled_weight_decay"] is False and group["foreach"] is None
    for st in fresh.state.values():
        assert torch.is_tensor(st["step"]) and st["step"].dtype == torch.float32 and st["step"].item() > 0


@pytest.mark.parametrize("default_dtype", [torch.float32, torch.float64])
def test_state_keys_and_step_dtype_match_torch(default_dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(default_dtype)
    try:
        states = []
        for cls in (Adam, torch.optim.Adam):
            p = torch.nn.Parameter(torch.ones(3))
            opt = cls([p], amsgrad=True)
            p.grad = torch.ones(3)
            opt.step()
            states.append(opt.state[p])
    finally:
        torch.set_default_dtype(previous)
    ours, theirs = states
    assert ours.keys() == theirs.keys() == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert ours["step"].dtype == theirs["step"].dtype == default_dtype and ours["step"].shape == ()


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_parameter_without_grad_gets_no_state(foreach):
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = Adam([a, b], foreach=foreach)
    a.grad = torch.ones(2)
    opt.step()
    assert a in opt.state and b not in opt.state
    assert torch.equal(b, torch.ones(2))
    opt.zero_grad()
    opt.step()  # no gradient at all: nothing happens
    assert opt.state[a]["step"].item() == 1


@pytest.mark.parametrize("foreach", [False, True], ids=["single", "foreach"])
def test_sparse_gradient_is_refused(foreach):
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3).to_sparse()
    with pytest.raises(RuntimeError, match="does not support sparse gradients"):
        Adam([p], foreach=foreach).step()


def test_closure_is_run_with_grad_enabled_and_its_loss_returned():
    p = torch.nn.Parameter(torch.ones(2))
    opt = Adam([p])

    def closure():
        assert torch.is_grad_enabled()
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        assert opt.step(closure).item() == 2.0


# ---- invalid arguments ------------------------------------------------------------------------------------------

INVALID = [
    (dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    (dict(eps=-1.0), "Invalid epsilon value: -1.0"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (dict(betas=(-0.1, 0.999)), "Invalid beta parameter at index 0: -0.1"),
    (dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (dict(betas=(0.9, torch.tensor(0.999))), "betas must be either both floats or both Tensors"),
    (dict(lr=torch.tensor([0.1, 0.2])), "Tensor lr must be 1-element"),
    (dict(lr=torch.tensor(0.1), foreach=True), "lr as a Tensor is not supported for capturable=False and foreach=True"),
]


@pytest.mark.parametrize("cls", [Adam, AdamW, torch.optim.Adam, torch.optim.AdamW])
@pytest.mark.parametrize("kwargs, message", INVALID)
def test_invalid_arguments(cls, kwargs, message):
    """The same ValueError as torch's (the torch rows check the table itself)."""
    with pytest.raises(ValueError, match=f"^{message.replace('(', '[(]').replace(')', '[)]')}$"):
        cls([torch.nn.Parameter(torch.ones(1))], **kwargs)


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize("key", ["capturable", "differentiable", "fused"])
def test_unimplemented_switches_are_refused(cls, key):
    with pytest.raises(NotImplementedError, match=f"{key}=True"):
        cls([torch.nn.Parameter(torch.ones(1))], **{key: True})
    cls([torch.nn.Parameter(torch.ones(1))], **{key: False})  # off: accepted, kept for state_dicts


def test_unimplemented_switch_in_a_loaded_group_is_refused_at_step():
    p = torch.nn.Parameter(torch.ones(1))
    opt = Adam([p])
    opt.param_groups[0]["capturable"] = True  # e.g. from a torch state_dict saved with capturable=True
    p.grad = torch.ones(1)
    with pytest.raises(NotImplementedError, match="capturable=True"):
        opt.step()


# ---- the sheet ---------------------------------------------------------------------------------------------------


def test_sheet_erratum_second_moment_is_g_squared_not_g_log():
    """Sheet: ``a = B2 a + (1 - B2) g log``. Adam's second moment accumulates g ⊙ g (as the RMSprop line does)."""
    beta2 = 0.999
    g = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)
    for cls in (Adam, torch.optim.Adam):
        p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
        opt = cls([p], betas=(0.9, beta2))
        p.grad = g.clone()
        opt.step()
        v = opt.state[p]["exp_avg_sq"]
        torch.testing.assert_close(v, (1 - beta2) * g * g, rtol=0, atol=0)
        g_log = (1 - beta2) * g * torch.log(g)  # the literal reading: NaN for negative gradients
        assert torch.isnan(g_log[1]) and not torch.allclose(v[[0, 2]], g_log[[0, 2]])


def sheet_adam_step(theta, m, t, g, lr=0.1, beta1=0.9):
    """The sheet's last line as written: Θ = Θ - ε / V̂ ⊙ V, with V = β1 V + (1 - β1) g, V̂ = V / (1 - β1^t)."""
    m = beta1 * m + (1 - beta1) * g
    m_hat = m / (1 - beta1**t)
    return theta - lr / m_hat * m, m


def test_sheet_erratum_adam_update_ignores_the_gradient():
    """Sheet: ``Θ = Θ - ε / V̂ ⊙ V``. Since V / V̂ = 1 - β1^t, that moves every coordinate by -ε (1 - β1^t):
    the same step for g and -g, for any scale, and it never uses the second moment. Adam's step is
    -ε m̂ / (√v̂ + δ), whose first step is -ε sign(g)."""
    lr, beta1 = 0.1, 0.9
    g = torch.tensor([1e-3, -1.0, 50.0], dtype=torch.float64)
    theta0 = torch.zeros(3, dtype=torch.float64)
    sheet_plus, _ = sheet_adam_step(theta0, torch.zeros(3, dtype=torch.float64), 1, g, lr, beta1)
    sheet_minus, _ = sheet_adam_step(theta0, torch.zeros(3, dtype=torch.float64), 1, -g, lr, beta1)
    torch.testing.assert_close(sheet_plus, sheet_minus)  # blind to the gradient's sign...
    torch.testing.assert_close(sheet_plus, torch.full((3,), -lr * (1 - beta1), dtype=torch.float64))  # ...and size
    p = torch.nn.Parameter(theta0.clone())
    opt = Adam([p], lr=lr, betas=(beta1, 0.999), eps=0.0)
    p.grad = g.clone()
    opt.step()
    torch.testing.assert_close(p.detach(), -lr * g.sign())


def test_sheet_erratum_adam_update_does_not_minimize():
    """On f(θ) = (θ - 3)² / 2 from θ = 5, the sheet's rule walks down forever (past 3, to -∞); Adam settles at 3."""
    steps, lr = 300, 0.1
    theta, m = torch.tensor([5.0], dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    for t in range(1, steps + 1):
        theta, m = sheet_adam_step(theta, m, t, theta - 3.0, lr)
    assert theta.item() < 3.0 - 20.0  # ~ 5 - 0.1 (300 - 9): monotone, gradient-blind
    p = torch.nn.Parameter(torch.tensor([5.0], dtype=torch.float64))
    opt = Adam([p], lr=lr)
    for _ in range(steps):
        p.grad = p.detach() - 3.0
        opt.step()
    assert abs(p.item() - 3.0) < 0.05


@pytest.mark.parametrize("beta1, beta2", [(0.9, 0.999), (0.5, 0.9)])
def test_sheet_bias_correction_unbiases_both_moments(beta1, beta2):
    """Sheet: bias correction 'fixes 1st & 2nd moments' and 'amplifies' them: both are divided by 1 - β^t < 1.
    Right (for both moments, not only the 2nd): under a constant gradient g, m̂_t = g and v̂_t = g ⊙ g exactly,
    while the raw averages m_t = (1 - β1^t) g and v_t = (1 - β2^t) g ⊙ g start near 0."""
    g = torch.tensor([0.3, -1.7, 4.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = Adam([p], betas=(beta1, beta2))
    for t in range(1, 8):
        p.grad = g.clone()
        opt.step()
        m, v = opt.state[p]["exp_avg"], opt.state[p]["exp_avg_sq"]
        torch.testing.assert_close(m, (1 - beta1**t) * g)
        torch.testing.assert_close(v, (1 - beta2**t) * g * g)
        torch.testing.assert_close(m / (1 - beta1**t), g)  # m̂_t
        torch.testing.assert_close(v / (1 - beta2**t), g * g)  # v̂_t
        assert 1 / (1 - beta1**t) > 1 and 1 / (1 - beta2**t) > 1  # 'amplifies'


def first_moments_of_noisy_gradients(mean: float, sigma: float, beta1: float, t: int, n: int):
    """m_t of our Adam after t steps of i.i.d. N(mean, sigma²) gradients, n independent coordinates."""
    gen = torch.Generator().manual_seed(0)
    p = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
    opt = Adam([p], betas=(beta1, 0.999))
    for _ in range(t):
        p.grad = mean + sigma * torch.randn(n, generator=gen, dtype=torch.float64)
        opt.step()
    return opt.state[p]["exp_avg"]


@pytest.mark.parametrize("t", [1, 3, 10])
def test_sheet_expected_first_moment(t):
    """Sheet: E[V_t] = M (1 - β1^t) for E[g_i] = M (right): Monte Carlo over 50k coordinates of our Adam."""
    beta1, mean, sigma, n = 0.9, 2.0, 1.0, 50_000
    m = first_moments_of_noisy_gradients(mean, sigma, beta1, t, n)
    var = sigma**2 * (1 - beta1) / (1 + beta1) * (1 - beta1 ** (2 * t))
    # the sample mean is off by less than 5 standard errors sqrt(var / n) (seeded: deterministic)
    assert abs(m.mean().item() - mean * (1 - beta1**t)) < 5 * math.sqrt(var / n)


@pytest.mark.parametrize("beta1", [0.9, 0.99, 0.3])
@pytest.mark.parametrize("t", [1, 4, 25])
def test_sheet_erratum_expected_first_moment_geometric_sum(beta1, t):
    """Sheet: (1 - β1) M Σ β1^{t-i} = M (1 - β1) (1 - β1^t) / (1 - (1 - β1)). The geometric sum is
    (1 - β1^t) / (1 - β1), not / β1; only that gives the sheet's own (right) result M (1 - β1^t)."""
    mean = 2.0
    exact = (1 - beta1) * mean * sum(beta1 ** (t - i) for i in range(1, t + 1))
    assert math.isclose(exact, mean * (1 - beta1**t), rel_tol=1e-12)
    assert math.isclose(exact, mean * (1 - beta1) * (1 - beta1**t) / (1 - beta1), rel_tol=1e-12)
    sheet = mean * (1 - beta1) * (1 - beta1**t) / (1 - (1 - beta1))
    assert not math.isclose(exact, sheet, rel_tol=1e-3)  # equal only at β1 = 1/2


@pytest.mark.parametrize("t", [1, 3, 10])
def test_sheet_erratum_first_moment_variance(t):
    """Sheet: Var[V_t] = M (1 - β1^t) / (1 - β1^t) = M. Wrong: for i.i.d. N(M, σ²) gradients
    Var[m_t] = σ² (1 - β1)² Σ β1^{2(t-i)} = σ² (1 - β1) / (1 + β1) (1 - β1^{2t}), independent of M."""
    beta1, sigma, n = 0.9, 1.5, 50_000
    weights = sum(((1 - beta1) * beta1 ** (t - i)) ** 2 for i in range(1, t + 1))
    closed = sigma**2 * (1 - beta1) / (1 + beta1) * (1 - beta1 ** (2 * t))
    assert math.isclose(sigma**2 * weights, closed, rel_tol=1e-12)
    variances = {mean: first_moments_of_noisy_gradients(mean, sigma, beta1, t, n).var().item() for mean in (0.0, 5.0)}
    for mean, var in variances.items():
        # the sample variance's relative standard error is sqrt(2 / n) ≈ 0.6%: allow 5 of them
        assert abs(var / closed - 1) < 5 * math.sqrt(2 / n), (mean, var, closed)
        assert not math.isclose(var, mean, rel_tol=0.1)  # the sheet's value M
    assert math.isclose(variances[0.0], variances[5.0], rel_tol=5 * math.sqrt(2 / n))  # M plays no part
