"""Parity of c147.optim.lr_scheduler with torch.optim.lr_scheduler: lr sequences, chains, state_dicts, errors."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler as tls

from c147.optim import lr_scheduler as ols
from tests.optim.trajectory import assert_same_params, assert_same_state, run

TOL = dict(rtol=1e-12, atol=1e-15)  # lrs are Python floats; only the order of operations could differ
STEPS = 60

# (class name, kwargs): every case runs ours and torch's class of that name side by side
CASES: list[tuple[str, dict[str, Any]]] = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=1, gamma=0.5)),
    ("StepLR", dict(step_size=10, gamma=0.9)),
    ("MultiStepLR", dict(milestones=[5, 20, 20, 41])),  # a repeated milestone decays by gamma**2
    ("MultiStepLR", dict(milestones=[30, 10], gamma=0.5)),  # unsorted
    ("ExponentialLR", dict(gamma=0.95)),
    ("ExponentialLR", dict(gamma=1.0)),
    ("CosineAnnealingLR", dict(T_max=STEPS)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),  # past T_max: back up, period 2 T_max
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.05)),
    ("CosineAnnealingLR", dict(T_max=1)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, total_iters=20)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=30)),
    ("LinearLR", dict(start_factor=0.5, end_factor=0.0, total_iters=10)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for name, kw in CASES]
CLOSED_FORM_CASES = CASES + [("LinearLR", dict(total_iters=0))]  # recursive form only: closed form divides by 0


def make_optimizer(two_groups: bool = False, lr: float | torch.Tensor = 0.1) -> torch.optim.SGD:
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2))]
    groups: list[Any] = [{"params": params[:1]}, {"params": params[1:], "lr": 0.03}] if two_groups else params
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def lr_sequence(
    optimizer: torch.optim.Optimizer,
    schedulers: list[Any],
    steps: int = STEPS,
    hook: Callable[[int, torch.optim.Optimizer], None] | None = None,
) -> list[list[float]]:
    """``get_last_lr()`` of the last scheduler after construction and after every step."""
    seq = [list(schedulers[-1].get_last_lr())]
    for t in range(steps):
        optimizer.step()  # no gradients: the parameters stay, the scheduler protocol is followed
        for s in schedulers:
            s.step()
        if hook is not None:
            hook(t, optimizer)
        seq.append(list(schedulers[-1].get_last_lr()))
    return seq


def assert_same_lrs(ours: list[list[Any]], theirs: list[list[Any]]) -> None:
    assert len(ours) == len(theirs)
    for t, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert [type(x) for x in a] == [type(x) for x in b], t
        torch.testing.assert_close(
            torch.tensor([float(x) for x in a], dtype=torch.float64),
            torch.tensor([float(x) for x in b], dtype=torch.float64),
            **TOL,
            msg=lambda m, t=t: f"step {t}: {m}",
        )


def both(name: str) -> tuple[type, type]:
    return getattr(ols, name), getattr(tls, name)


# ---------------------------------------------------------------------------------------------- sequences


@pytest.mark.parametrize("two_groups", [False, True])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_lr_sequence_matches_torch(name, kwargs, two_groups):
    ours_cls, torch_cls = both(name)
    assert issubclass(ours_cls, tls.LRScheduler) and ours_cls is not torch_cls
    opt_a, opt_b = make_optimizer(two_groups), make_optimizer(two_groups)
    seq_a = lr_sequence(opt_a, [ours_cls(opt_a, **kwargs)])
    seq_b = lr_sequence(opt_b, [torch_cls(opt_b, **kwargs)])
    assert_same_lrs(seq_a, seq_b)
    assert len({tuple(lrs) for lrs in seq_b}) > 1 or kwargs.get("gamma") == 1.0  # the schedule moves


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_manual_lr_change_and_tensor_lr_compose_like_torch(name, kwargs):
    """The chainable form multiplies the current lr, so a hand-set lr carries on, as in torch."""

    def halve_at_20(t, opt):
        if t == 20:
            for group in opt.param_groups:
                group["lr"] = group["lr"] * 0.5

    ours_cls, torch_cls = both(name)
    for lr in (0.1, torch.tensor(0.1, dtype=torch.float64)):
        opt_a, opt_b = make_optimizer(True, lr), make_optimizer(True, copy.deepcopy(lr))
        seq_a = lr_sequence(opt_a, [ours_cls(opt_a, **kwargs)], hook=halve_at_20)
        seq_b = lr_sequence(opt_b, [torch_cls(opt_b, **kwargs)], hook=halve_at_20)
        assert_same_lrs(seq_a, seq_b)


@pytest.mark.parametrize(("name", "kwargs"), CASES[::3], ids=IDS[::3])
def test_training_trajectory_matches_torch(name, kwargs):
    """The lrs reach the optimizer: 60 SGD steps on the shared seeded model give the same parameters."""
    ours_cls, torch_cls = both(name)
    sgd = dict(lr=0.1, momentum=0.9)
    model_a, opt_a = run(torch.optim.SGD, sgd, two_groups=True, scheduler=lambda o: ours_cls(o, **kwargs))
    model_b, opt_b = run(torch.optim.SGD, sgd, two_groups=True, scheduler=lambda o: torch_cls(o, **kwargs))
    assert_same_params(model_a, model_b)
    assert_same_state(opt_a, opt_b)


@pytest.mark.parametrize(("name", "kwargs"), CLOSED_FORM_CASES, ids=IDS + ["LinearLR-total_iters=0"])
def test_closed_form_and_resume_match_torch(name, kwargs):
    """step(epoch) uses _get_closed_form_lr; last_epoch > -1 resumes; a first step after a reset too."""
    ours_cls, torch_cls = both(name)
    results = []
    for cls in (ours_cls, torch_cls):
        opt = make_optimizer(True)
        sched = cls(opt, **kwargs)
        seq = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # step(epoch) is deprecated, and says so
            for epoch in [3, 0, 17, 9, 40, 41, 12] if kwargs.get("total_iters") != 0 else []:
                opt.step()
                sched.step(epoch)
                seq.append(sched.get_last_lr())
        opt.step()
        resumed = cls(opt, **kwargs, last_epoch=12)  # the groups carry "initial_lr" now
        seq += lr_sequence(opt, [resumed], steps=15)
        resumed._step_count = 0  # the next step is "the first": CosineAnnealingLR's closed-form branch
        seq += lr_sequence(opt, [resumed], steps=3)
        results.append(seq)
    assert_same_lrs(*results)


def test_get_lr_outside_step_warns_like_torch():
    for cls in both("StepLR"):
        sched = cls(make_optimizer(), step_size=3)
        with pytest.warns(UserWarning, match=r"please use `get_last_lr\(\)`"):
            sched.get_lr()


# ---------------------------------------------------------------------------------------------- chains

CHAINS: list[list[tuple[str, dict[str, Any]]]] = [
    [("LinearLR", dict(start_factor=0.1, total_iters=10)), ("StepLR", dict(step_size=15, gamma=0.5))],
    [("LinearLR", dict(start_factor=0.25, total_iters=8)), ("CosineAnnealingLR", dict(T_max=25, eta_min=1e-3))],
    [("ExponentialLR", dict(gamma=0.97)), ("MultiStepLR", dict(milestones=[10, 30], gamma=0.3))],
    [("CosineAnnealingLR", dict(T_max=12)), ("LinearLR", dict(start_factor=0.5, end_factor=0.9, total_iters=40))],
]


@pytest.mark.parametrize("mixed", [False, True], ids=["ours+ours", "ours+torch"])
@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: "+".join(n for n, _ in c))
def test_chain_of_two_stepping_schedulers_matches_torch(chain, mixed):
    """Two schedulers on one optimizer, both stepped every epoch (the usual warm-up + decay recipe)."""
    opt_a, opt_b = make_optimizer(True), make_optimizer(True)
    (n1, k1), (n2, k2) = chain
    second = getattr(tls if mixed else ols, n2)
    seq_a = lr_sequence(opt_a, [getattr(ols, n1)(opt_a, **k1), second(opt_a, **k2)])
    seq_b = lr_sequence(opt_b, [getattr(tls, n1)(opt_b, **k1), getattr(tls, n2)(opt_b, **k2)])
    assert_same_lrs(seq_a, seq_b)


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: "+".join(n for n, _ in c))
def test_chained_and_sequential_wrappers_match_torch(chain):
    """torch's ChainedScheduler and SequentialLR (which uses the closed form at its milestone) over ours."""
    (n1, k1), (n2, k2) = chain
    for wrap in (
        lambda opt, mod: tls.ChainedScheduler([getattr(mod, n1)(opt, **k1), getattr(mod, n2)(opt, **k2)]),
        lambda opt, mod: tls.SequentialLR(
            opt, [getattr(mod, n1)(opt, **k1), getattr(mod, n2)(opt, **k2)], milestones=[15]
        ),
    ):
        opt_a, opt_b = make_optimizer(True), make_optimizer(True)
        assert_same_lrs(lr_sequence(opt_a, [wrap(opt_a, ols)]), lr_sequence(opt_b, [wrap(opt_b, tls)]))


# ---------------------------------------------------------------------------------------------- state_dict


@pytest.mark.parametrize("direction", ["ours->torch", "torch->ours", "ours->ours"])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_state_dict_round_trip(name, kwargs, direction):
    """Save mid-sequence, load into a fresh twin (scheduler made before loading the optimizer), go on."""
    src_cls, dst_cls = {"ours->torch": both(name), "torch->ours": both(name)[::-1]}.get(
        direction, (getattr(ols, name),) * 2
    )
    ref_opt = make_optimizer(True)
    reference = lr_sequence(ref_opt, [getattr(tls, name)(ref_opt, **kwargs)], steps=45)

    opt = make_optimizer(True)
    src = src_cls(opt, **kwargs)
    first = lr_sequence(opt, [src], steps=20)
    sd = src.state_dict()
    assert sd.keys() == getattr(tls, name)(make_optimizer(True), **kwargs).state_dict().keys()

    new_opt = make_optimizer(True)
    dst = dst_cls(new_opt, **kwargs)
    new_opt.load_state_dict(opt.state_dict())
    dst.load_state_dict(copy.deepcopy(sd))
    assert dst.state_dict() == sd
    rest = lr_sequence(new_opt, [dst], steps=25)
    assert_same_lrs(first + rest[1:], reference)


# ---------------------------------------------------------------------------------------------- plateau


def plateau_metrics(n: int = STEPS) -> list[float]:
    """A scripted loss: drops, exact plateaus, improvements too small for the threshold, a bump."""
    out, value = [], 1.0
    for t in range(n):
        if t >= 44:
            pass  # a long exact plateau: more bad epochs than the default patience of 10
        elif t % 13 in (0, 1, 2):
            value *= 0.8  # clear improvement
        elif t % 13 == 5:
            value *= 1 - 5e-5  # below the default rel threshold 1e-4: not an improvement
        elif t % 13 == 9:
            value += 0.3  # worse
        elif t % 13 == 10:
            value -= 0.31  # back to a hair better than the best
        out.append(value)
    return out


PLATEAU_CASES: list[dict[str, Any]] = [
    dict(patience=2),
    dict(patience=0, factor=0.5),
    dict(mode="max", patience=2),
    dict(patience=1, threshold_mode="abs", threshold=0.05),
    dict(mode="max", patience=1, threshold_mode="abs", threshold=0.01),
    dict(patience=1, cooldown=3),
    dict(patience=0, factor=0.5, min_lr=0.01),
    dict(patience=0, factor=0.5, min_lr=[0.02, 0.001]),
    dict(patience=0, factor=0.9, eps=0.005),  # reductions smaller than eps are skipped
    dict(),  # defaults: patience 10
]


@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=lambda k: "-".join(f"{a}={b}" for a, b in k.items()) or "default")
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    metrics = plateau_metrics()
    if kwargs.get("mode") == "max":
        metrics = [2.0 - m for m in metrics]  # rising, positive (rel thresholds assume a positive best)
    runs = []
    for cls in both("ReduceLROnPlateau"):
        opt = make_optimizer(True)
        sched = cls(opt, **kwargs)
        trace = []
        for t, m in enumerate(metrics):
            opt.step()
            sched.step(torch.tensor(m) if t % 2 else m)  # a float or a 0-dim tensor
            trace.append((sched.get_last_lr(), sched.num_bad_epochs, sched.cooldown_counter, sched.best))
        runs.append((trace, sched.state_dict()))
    (trace_a, sd_a), (trace_b, sd_b) = runs
    assert_same_lrs([lr for lr, *_ in trace_a], [lr for lr, *_ in trace_b])
    assert [rest for _, *rest in trace_a] == [rest for _, *rest in trace_b]
    assert len({tuple(lr) for lr, *_ in trace_b}) > 1  # the script does trigger reductions
    assert sd_a == sd_b


def test_reduce_lr_on_plateau_tensor_lr_like_torch():
    """A tensor lr is reduced in place (never replaced by a float), as torch does."""
    traces = []
    for cls in both("ReduceLROnPlateau"):
        lr = torch.tensor(0.1, dtype=torch.float64)
        opt = make_optimizer(lr=lr)
        sched = cls(opt, patience=0, factor=0.5, min_lr=0.02)
        trace = []
        for m in plateau_metrics(20):
            sched.step(m)
            assert opt.param_groups[0]["lr"] is lr
            trace.append(sched.get_last_lr())
        traces.append(trace)
    assert_same_lrs(*traces)
    assert float(traces[0][-1][0]) == pytest.approx(0.02)


@pytest.mark.parametrize("direction", ["ours->torch", "torch->ours"])
def test_reduce_lr_on_plateau_state_dict_round_trip(direction):
    kwargs = dict(patience=1, cooldown=2, mode="max", threshold_mode="abs", threshold=0.01)
    metrics = [2.0 - m for m in plateau_metrics()]
    src_cls, dst_cls = both("ReduceLROnPlateau") if direction == "ours->torch" else both("ReduceLROnPlateau")[::-1]
    ref_opt = make_optimizer()
    ref = tls.ReduceLROnPlateau(ref_opt, **kwargs)
    expected = []
    for m in metrics:
        ref.step(m)
        expected.append(ref.get_last_lr())

    opt = make_optimizer()
    src = src_cls(opt, **kwargs)
    got = []
    for m in metrics[:27]:
        src.step(m)
        got.append(src.get_last_lr())
    new_opt = make_optimizer()
    dst = dst_cls(new_opt, mode="min")  # load_state_dict restores mode, threshold and the comparison
    new_opt.load_state_dict(opt.state_dict())
    dst.load_state_dict(copy.deepcopy(src.state_dict()))
    assert dst.state_dict() == src.state_dict()
    for m in metrics[27:]:
        dst.step(m)
        got.append(dst.get_last_lr())
    assert_same_lrs(got, expected)


def test_reduce_lr_on_plateau_new_param_group_like_torch():
    """A group added later: a scalar min_lr extends to it, a per-group list raises torch's error."""
    for min_lr in (0.001, [0.001]):
        outcomes = []
        for cls in both("ReduceLROnPlateau"):
            opt = make_optimizer()
            sched = cls(opt, patience=0, min_lr=min_lr)
            opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5})
            try:
                for m in (1.0, 2.0, 3.0):
                    sched.step(m)
                outcomes.append(("ok", sched.get_last_lr(), sched.min_lrs))
            except RuntimeError as e:
                outcomes.append(("error", str(e)))
        assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "error" and "differs from when `ReduceLROnPlateau` was initialized" in outcomes[0][1]


# ---------------------------------------------------------------------------------------------- errors

INVALID: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("LinearLR", dict(start_factor=0.0), ValueError, "Starting multiplicative factor expected to be greater than 0"),
    ("LinearLR", dict(start_factor=1.5), ValueError, "Starting multiplicative factor expected to be greater than 0"),
    ("LinearLR", dict(end_factor=-0.1), ValueError, "Ending multiplicative factor expected to be between 0 and 1"),
    ("LinearLR", dict(end_factor=1.1), ValueError, "Ending multiplicative factor expected to be between 0 and 1"),
    ("ReduceLROnPlateau", dict(factor=1.0), ValueError, r"Factor should be < 1\.0\."),
    ("ReduceLROnPlateau", dict(mode="avg"), ValueError, "mode avg is unknown!"),
    ("ReduceLROnPlateau", dict(threshold_mode="pct"), ValueError, "threshold mode pct is unknown!"),
    ("ReduceLROnPlateau", dict(min_lr=[0.0, 0.0, 0.0]), ValueError, "expected 2 min_lrs, got 3"),
    # resuming (last_epoch >= 0) needs "initial_lr" in every group, which a fresh optimizer lacks
    ("StepLR", dict(step_size=3, last_epoch=4), KeyError, r"param 'initial_lr' is not specified in param_groups\[0\]"),
    ("CosineAnnealingLR", dict(T_max=3, last_epoch=4), KeyError, "param 'initial_lr' is not specified"),
]


@pytest.mark.parametrize(("name", "kwargs", "exc", "message"), INVALID)
def test_invalid_arguments_raise_torchs_errors(name, kwargs, exc, message):
    for cls in both(name):
        with pytest.raises(exc, match=message):
            cls(make_optimizer(True), **kwargs)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR"])
def test_not_an_optimizer_raises_typeerror_like_torch(name):
    kwargs = dict(StepLR=dict(step_size=2), MultiStepLR=dict(milestones=[2]), ExponentialLR=dict(gamma=0.9),
                  CosineAnnealingLR=dict(T_max=3), LinearLR=dict())[name]  # fmt: skip
    for cls in both(name) + both("ReduceLROnPlateau"):
        with pytest.raises(TypeError, match="list is not an Optimizer"):
            cls([torch.zeros(1)], **(kwargs if "Plateau" not in cls.__name__ else {}))


@pytest.mark.parametrize(("name", "kwargs"), [("StepLR", dict(step_size=0)), ("CosineAnnealingLR", dict(T_max=0))])
def test_unchecked_arguments_fail_like_torch(name, kwargs):
    """Torch 2.14 does not check step_size or T_max (there is no "Expected positive integer T_max" in
    CosineAnnealingLR; that message belongs to CosineAnnealingWarmRestarts' T_0): both twins accept
    0 and fail on the first step with ZeroDivisionError."""
    for cls in both(name):
        opt = make_optimizer()
        sched = cls(opt, **kwargs)
        opt.step()
        with pytest.raises(ZeroDivisionError):
            sched.step()


def test_cosine_restart_branch_is_exercised():
    """Past T_max the recursion would be 0/0; the lr climbs back and reaches base_lr at 2 T_max."""
    opt = make_optimizer()
    seq = lr_sequence(opt, [ols.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)], steps=20)
    assert seq[10][0] == pytest.approx(0.001, abs=1e-15)
    assert seq[11][0] > seq[10][0]
    assert seq[20][0] == pytest.approx(0.1, rel=1e-12)
    closed = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(21)]
    assert [lrs[0] for lrs in seq] == pytest.approx(closed, rel=1e-12)
