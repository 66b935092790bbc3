"""The sheet's update rules (lines 301-348, 451-461): momentum, Nesterov, Adagrad and RMSProp, each written
as the sheet writes it and run side by side with its torch.optim twin in float64 (Adam: :mod:`adam`).

The sheet's velocity V is torch's buffer times -lr (V = -lr·b) while lr is constant. Adagrad's "directions"
argument is simulated on the elongated quadratic f(w) = ½(w₁² + 100w₂²): the steep direction accumulates
more squared gradient, so its effective step ε/(√a + ν) is the smaller one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from c147.optim import NAdam, RMSprop
from c147.theory.evidence import (
    CONVENTION,
    FINDINGS,
    HOLDS,
    WRONG,
    Evidence,
    Section,
    close,
    convention_if,
    evidence,
    gap,
    holds_if,
    wrong_if,
)

A = torch.diag(torch.tensor([1.0, 100.0], dtype=torch.float64))
B = torch.tensor([0.5, -2.0], dtype=torch.float64)
SGD, ADAGRAD, RMSPROP = "tests/optim/test_sgd.py::", "tests/optim/test_adagrad.py::", "tests/optim/test_rmsprop.py::"


def quadratic_grad(theta: Tensor, a: Tensor = A) -> Tensor:
    """∇ of ½θᵀAθ - bᵀθ."""
    return a @ theta - B


def torch_run(cls, steps: int = 30, theta0: Tensor | None = None, a: Tensor = A, **kwargs):
    """θ_1..θ_steps and the final state of a torch optimizer on the quadratic."""
    theta = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64) if theta0 is None else theta0.clone())
    opt = cls([theta], **kwargs)
    out = []
    for _ in range(steps):
        theta.grad = quadratic_grad(theta.detach(), a)
        opt.step()
        out.append(theta.detach().clone())
    return torch.stack(out), opt.state[theta]


def _sheet_run(update: Callable[[Tensor, Tensor, dict, int], Tensor], steps: int = 30) -> Tensor:
    """θ_1..θ_steps of an update written as on the sheet: update(θ, g, state, t) -> θ."""
    theta, state, out = torch.tensor([1.0, 1.0], dtype=torch.float64), {}, []
    for t in range(1, steps + 1):
        theta = update(theta, quadratic_grad(theta), state, t)
        out.append(theta)
    return torch.stack(out)


def _same(sheet: Tensor, ours: Tensor) -> bool:
    return close(sheet, ours, 30 * 100)


def momentum_form() -> Evidence:
    def update(theta, g, s, t, lr=0.005, alpha=0.9):
        s["V"] = alpha * s.get("V", 0.0) - lr * g  # V = αV - ε∇J
        return theta + s["V"]  # θ += V

    sheet, (ref, _) = _sheet_run(update), torch_run(torch.optim.SGD, lr=0.005, momentum=0.9)
    return evidence(
        holds_if(_same(sheet, ref)), "equals torch.optim.SGD(momentum=0.9) for 30 steps", gap=gap(sheet, ref)
    )


def nesterov_form() -> Evidence:
    def update(theta, g, s, t, lr=0.005, alpha=0.9):
        temp = s.get("P", torch.zeros(2, dtype=torch.float64))
        s["P"] = alpha * temp - lr * g  # P = αP - εg
        return theta + s["P"] + alpha * (s["P"] - temp)  # θ += P + α(P - temp)

    sheet, (ref, _) = _sheet_run(update), torch_run(torch.optim.SGD, lr=0.005, momentum=0.9, nesterov=True)
    return evidence(holds_if(_same(sheet, ref)), "equals torch.optim.SGD(nesterov=True)", gap=gap(sheet, ref))


def adagrad_accumulator() -> Evidence:
    traj, state = torch_run(torch.optim.Adagrad, 5, lr=0.1)
    a, theta = torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64)
    for t in range(5):
        g = quadratic_grad(theta)
        a = a + g * g  # a = a + g ⊙ g
        theta = traj[t]
    return evidence(holds_if(close(state["sum"], a, 5 * 100)), "a = a + g⊙g is torch Adagrad's state 'sum'",
                    gap=gap(state["sum"], a))


def _effective_steps(steps: int = 20, lr: float = 0.3):
    """Adagrad on ½(w₁² + 100w₂²): the accumulated a and the effective step ε/(√a + ν) per coordinate, per step."""
    theta = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
    opt = torch.optim.Adagrad([theta], lr=lr)
    rows = []
    for _ in range(steps):
        theta.grad = A @ theta.detach()
        opt.step()
        a = opt.state[theta]["sum"].clone()
        rows.append((a, lr / (a.sqrt() + 1e-10)))
    return rows


def adagrad_lr_decreases() -> Evidence:
    rows = _effective_steps()
    lrs = torch.stack([r[1] for r in rows])
    return evidence(holds_if(bool((lrs[1:] <= lrs[:-1]).all())), "each coordinate's ε/(√a + ν) never increases",
                    first=str([round(v, 4) for v in lrs[0].tolist()]), last=str([round(v, 4) for v in lrs[-1].tolist()])
                )


def adagrad_directions() -> Evidence:
    """At every step the steep coordinate (w₂) has the larger a and the smaller effective step."""
    rows = _effective_steps()
    ok = all(a[1] > a[0] and lr[1] < lr[0] for a, lr in rows)
    return evidence(holds_if(ok), "more accumulated gradient along w₂: a smaller step along w₂ at every step",
                    a_last=str([round(v, 2) for v in rows[-1][0].tolist()]),
                    step_last=str([round(v, 4) for v in rows[-1][1].tolist()]))


def adagrad_plot() -> Evidence:
    """The plot's text: more accumulated along W₂ and 'the step along W₂ is more': the simulation says less."""
    rows = _effective_steps()
    sheet = all(lr[1] > lr[0] for a, lr in rows if a[1] > a[0])
    right = all(lr[1] < lr[0] for a, lr in rows if a[1] > a[0])
    return evidence(wrong_if(sheet, right), "where a₂ > a₁ the step along W₂ is the smaller",
                    step_last=str([round(v, 4) for v in rows[-1][1].tolist()]))


def _steps_to_converge(cls, rotation: float, steps: int = 3000, **kwargs) -> tuple[int, int]:
    """(steps until ‖w‖ < 1e-3, sign flips of the steep coordinate) on ½(100u₁² + u₂²), u = Rw, from u = (1, 1)."""
    c, s = math.cos(rotation), math.sin(rotation)
    r = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    a = r.T @ torch.diag(torch.tensor([100.0, 1.0], dtype=torch.float64)) @ r
    w = torch.nn.Parameter(r.T @ torch.ones(2, dtype=torch.float64))
    opt, flips, prev = cls([w], **kwargs), 0, 1.0
    for t in range(steps):
        w.grad = a @ w.detach()
        opt.step()
        u = (r @ w.detach())[0].item()
        flips, prev = flips + (u * prev < 0), u
        if w.detach().norm() < 1e-3:
            return t + 1, flips
    return steps, flips


def adagrad_zigzag() -> Evidence:
    """Axis-aligned elongation: Adagrad (ε = 0.5) needs 13 steps, no zig-zag; GD (lr 0.019) 361 steps, 361 sign
    flips. Rotated by 45° the per-coordinate scaling no longer fits and Adagrad needs more steps than GD."""
    gd = _steps_to_converge(torch.optim.SGD, 0.0, lr=0.019)
    aligned = _steps_to_converge(torch.optim.Adagrad, 0.0, lr=0.5)
    rotated = _steps_to_converge(torch.optim.Adagrad, math.pi / 4, lr=0.5)
    gd_rotated = _steps_to_converge(torch.optim.SGD, math.pi / 4, lr=0.019)
    under = aligned[0] < gd[0] / 5 and aligned[1] < gd[1] / 10
    return evidence(convention_if(under, rotated[0] < gd_rotated[0]), "aligned: faster, no zig-zag; rotated: slower",
                    gd_steps=gd[0], gd_flips=gd[1], adagrad_steps=aligned[0], adagrad_flips=aligned[1],
                    adagrad_rotated_steps=rotated[0], gd_rotated_steps=gd_rotated[0])


def adagrad_second_box() -> Evidence:
    """α ← α + g_t, θ ← θ + ε/α g_t climbs the quadratic (and divides by a sum of signed gradients)."""

    def update(theta, g, s, t, lr=0.1):
        s["a"] = s.get("a", 0.0) + g
        return theta + lr / s["a"] * g

    sheet, (ref, _) = _sheet_run(update, 10), torch_run(torch.optim.Adagrad, 10, lr=0.1)

    def f(th):
        return (0.5 * th @ A @ th - B @ th).item()

    start = f(torch.ones(2, dtype=torch.float64))
    return evidence(wrong_if(f(sheet[-1]) < start, f(ref[-1]) < start),
                    "the sheet's second box raises f; Adagrad lowers it", f_start=start, f_sheet=f(sheet[-1]),
                    f_adagrad=f(ref[-1]))


def rmsprop_ewma() -> Evidence:
    traj, state = torch_run(torch.optim.RMSprop, 6, lr=0.01, alpha=0.97)
    gs = [quadratic_grad(torch.tensor([1.0, 1.0], dtype=torch.float64))] + [quadratic_grad(t) for t in traj[:-1]]
    ewma = sum((1 - 0.97) * 0.97 ** (6 - i) * gs[i - 1] ** 2 for i in range(1, 7))
    return evidence(holds_if(close(state["square_avg"], ewma, 600)), "square_avg = Σ(1-β)β^{t-i} g_i²",
                    gap=gap(state["square_avg"], ewma))


def rmsprop_no_shutoff(steps: int = 1000) -> Evidence:
    """Constant gradient g = 1: Adagrad's effective step falls as 1/√t, RMSProp's settles at ε/(1 + ν)."""
    g = torch.ones(1, dtype=torch.float64)
    out = {}
    for cls, key in ((torch.optim.Adagrad, "sum"), (torch.optim.RMSprop, "square_avg")):
        p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        opt = cls([p], lr=0.01)
        for _ in range(steps):
            p.grad = g.clone()
            opt.step()
        out[key] = 0.01 / opt.state[p][key].sqrt().item()
    return evidence(holds_if(out["sum"] < 0.05 * 0.01 and out["square_avg"] > 0.9 * 0.01),
                    "after 1000 steps: Adagrad's step ε/√1000, RMSProp's ≈ ε", adagrad_step=out["sum"],
                    rmsprop_step=out["square_avg"])


def rmsprop_form(momentum: float = 0.0) -> Evidence:
    def update(theta, g, s, t, lr=0.01, beta=0.97, nu=1e-8):
        s["a"] = beta * s.get("a", 0.0) + (1 - beta) * g * g  # a = βa + (1-β) g⊙g
        if not momentum:
            return theta - lr / (s["a"].sqrt() + nu) * g  # θ = θ - ε/(√a + ν) ⊙ g
        s["V"] = momentum * s.get("V", 0.0) - lr / (s["a"].sqrt() + nu) * g  # V = αV - ε/(√a + ν) ⊙ g
        return theta + s["V"]

    sheet, (ref, _) = _sheet_run(update), torch_run(torch.optim.RMSprop, lr=0.01, alpha=0.97, momentum=momentum)
    return evidence(
        holds_if(_same(sheet, ref)), f"equals torch.optim.RMSprop(alpha=0.97, momentum={momentum})", gap=gap(sheet, ref)
    )


def rmsprop_nesterov() -> Evidence:
    """The sheet's Nesterov step (l.316: temp = V; V = αV - ε ĝ; θ += V + α(V - temp)) on RMSProp's normalized
    gradient ĝ = g / (√a + ν) equals ``c147.optim.RMSprop(nesterov=True)``; and NAdam, Adam with Nesterov
    momentum, is ``torch.optim.NAdam`` (c147's twin, trajectories equal)."""
    def update(theta, g, s, t, lr=0.01, beta=0.97, nu=1e-8, alpha=0.9):
        s["a"] = beta * s.get("a", 0.0) + (1 - beta) * g * g  # a = βa + (1-β) g⊙g
        temp = s.get("V", torch.zeros(2, dtype=torch.float64))
        s["V"] = alpha * temp - lr / (s["a"].sqrt() + nu) * g  # V = αV - ε/(√a + ν) ⊙ g
        return theta + s["V"] + alpha * (s["V"] - temp)  # θ += V + α(V - temp)

    sheet = _sheet_run(update)
    ours, _ = torch_run(RMSprop, lr=0.01, alpha=0.97, momentum=0.9, nesterov=True)
    plain, _ = torch_run(torch.optim.RMSprop, lr=0.01, alpha=0.97, momentum=0.9)
    nadam, _ = torch_run(NAdam, lr=0.01)
    ref_nadam, _ = torch_run(torch.optim.NAdam, lr=0.01)
    ok = _same(sheet, ours) and not _same(sheet, plain) and _same(nadam, ref_nadam)
    return evidence(holds_if(ok), "the sheet's Nesterov step on RMSProp = c147 RMSprop(nesterov=True) (not plain "
                    "momentum); c147 NAdam = torch.optim.NAdam", gap=gap(sheet, ours),
                    gap_plain_momentum=gap(sheet, plain), gap_nadam=gap(nadam, ref_nadam))


S = Section("Optimization")
CLAIMS = [
    S("momentum-form", 305, HOLDS, "V = αV - ε∇_θJ(θ); θ += V", "as written (V = -lr·torch's buffer)", momentum_form,
      SGD + "test_sheet_momentum_forms_equal_torch"),
    S("nesterov-form", 316, HOLDS, "temp = P; P = αP - εg; θ += P + α(P - temp)", "as written", nesterov_form,
      SGD + "test_sheet_nesterov_form_equals_torch_nesterov"),
    S("adagrad-lr-decreases", 322, HOLDS, "Adagrad: learning rate decreased by grad norm",
      "as written, per coordinate: ε/(√a + ν)", adagrad_lr_decreases),
    S("adagrad-accumulator", 326, HOLDS, "a = a + g ⊗ g", "as written", adagrad_accumulator,
      ADAGRAD + "test_sheet_adagrad_box_equals_adagrad"),
    S("adagrad-directions", 328, HOLDS,
      "'if we've already stepped far in one direction, we'll step less in that direction'",
      "as written, with 'far' meaning much accumulated squared gradient", adagrad_directions),
    S("rmsprop-ewma", 332, HOLDS, "RMSProp: the accumulator as an exponentially weighted moving average", "as written",
      rmsprop_ewma),
    S("rmsprop-no-shutoff", 334, HOLDS, "recent history, so we don't shut off one direction too much", "as written",
      rmsprop_no_shutoff),
    S("rmsprop-accumulator", 336, HOLDS, "a = βa + (1-β) g ⊗ g, β = 0.97",
      "as written (β a choice; torch's default alpha is 0.99)", rmsprop_form,
      RMSPROP + "test_sheet_rmsprop_form_equals_torch"),
    S("rmsprop-step", 338, HOLDS, "θ = θ - ε/(√a + ν) ⊗ g", "as written", rmsprop_form,
      RMSPROP + "test_sheet_rmsprop_form_equals_torch"),
    S("rmsprop-momentum", 348, HOLDS, "V = αV - ε/(√a + ν) ⊗ g; θ = θ + V", "as written", lambda: rmsprop_form(0.9),
      RMSPROP + "test_sheet_rmsprop_momentum_form_equals_torch"),
    S("rmsprop-nesterov", 346, HOLDS, "RMSProp + momentum (can also use nesterov)",
      "as written: temp = V; V = αV - ε/(√a + ν) ⊙ g; θ += V + α(V - temp) (c147's RMSprop(nesterov=True); for Adam "
      "the same idea is NAdam)", rmsprop_nesterov, RMSPROP + "test_nesterov_follows_the_sheets_form"),
    S("adagrad-second-box", 455, WRONG, "α ← α + g_t; θ ← θ + ε/α g_t", "a ← a + g⊙g; θ ← θ - εg/(√a + ν)",
      adagrad_second_box, ADAGRAD + "test_sheet_erratum_adagrad_update"),
    S("adagrad-less-where-accumulated", 457, HOLDS, "more gradient accumulated in a direction → smaller step there",
      "as written", adagrad_directions),
    S("adagrad-plot", 459, WRONG, "gradients accumulated along W₂ are more; the step along W₂ is more",
      "the step along W₂ (more accumulated) is less, as line 457 says", adagrad_plot,
      FINDINGS + "test_sheet_erratum_adagrad_plot_steps_less_along_w2"),
    S("adagrad-zigzag", 461, CONVENTION, "Adagrad converges faster to minima w/o much zig-zagging",
      "when the elongation is along the coordinate axes (Adagrad scales per coordinate); rotated, it can be slower "
      "than gradient descent", adagrad_zigzag),
]
