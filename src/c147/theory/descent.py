"""The sheet's gradient-descent statements (lines 140-143, 291-293, 375, 429-434, 443): batch, minibatch and
stochastic gradients on seeded least-squares problems, a double well, and gradient clipping, against torch.

For a loss that is a mean over m samples, the minibatch gradient (1/K) Σ_{i∈batch} ∇J_i is an unbiased
estimate of the full gradient ∇J; drawn without replacement its covariance is (m-K)/(K(m-1)) Σ, with Σ the
covariance of the per-sample gradients (0 for K = m, the batch gradient).
"""

from __future__ import annotations

import itertools
import math
from functools import cache

import torch

from c147.optim.clip import clip_grad_norm_
from c147.theory.evidence import (
    HOLDS,
    WRONG,
    Evidence,
    Section,
    close,
    evidence,
    gap,
    generator,
    grad,
    holds_if,
    randn,
    wrong_if,
)


def _least_squares(m: int = 8, d: int = 3, seed: int = 140):
    x, y = randn(m, d, seed=seed), randn(m, seed=seed + 1)
    return x, y, randn(d, seed=seed + 2)


def _per_sample_grads(x, y, w):
    """∇_w ½(x_iᵀw - y_i)² per sample, by autograd."""
    return torch.stack([grad(lambda v, i=i: 0.5 * (x[i] @ v - y[i]) ** 2, w) for i in range(len(y))])


def numerical_gradient() -> Evidence:
    """Central differences cost 2P loss evaluations for P parameters (one backward gives all P); they agree with
    autograd to ~1e-9, which is what they are for: checking."""
    x, y, _ = _least_squares(20, 50)
    w, calls, h = randn(50, seed=143), [0], 1e-5

    def loss(v):
        calls[0] += 1
        return 0.5 * ((x @ v - y) ** 2).mean()

    numeric = torch.stack([(loss(w + h * e) - loss(w - h * e)) / (2 * h) for e in torch.eye(50, dtype=torch.float64)])
    evaluations = calls[0]
    exact = grad(loss, w)
    # central differences: O(h²) truncation (~1e-10) + O(eps/h) round-off (~1e-11); 1e-7 leaves room for both
    return evidence(holds_if(evaluations == 100 and gap(numeric, exact) < 1e-7), "100 evaluations for 50 parameters",
                    loss_evaluations=evaluations, gap_to_autograd=gap(numeric, exact))


def batch_sizes() -> Evidence:
    """Batch (K = m): the full gradient; every minibatch partition (K) and SGD (K = 1) average to it."""
    x, y, w = _least_squares()
    full = grad(lambda v: 0.5 * ((x @ v - y) ** 2).mean(), w)
    per = _per_sample_grads(x, y, w)
    minibatches = per.view(4, 2, 3).mean(1)  # K = 2
    ok = close(per.mean(0), full, 8) and close(minibatches.mean(0), full, 8)
    return evidence(
        holds_if(ok), "the K = 1 and K = 2 estimates average to the batch gradient", gap=gap(per.mean(0), full)
    )


def minibatch_gradient() -> Evidence:
    x, y, w = _least_squares()
    full = grad(lambda v: 0.5 * ((x @ v - y) ** 2).mean(), w)
    return evidence(holds_if(close(_per_sample_grads(x, y, w).mean(0), full, 8)),
                    "(1/m)Σ ∇J_i = ∇ of the mean loss (J_i: one sample's loss)",
                    gap=gap(_per_sample_grads(x, y, w).mean(0), full))


def sgd_step() -> Evidence:
    x, y, w0 = _least_squares()
    w = torch.nn.Parameter(w0.clone())
    g = grad(lambda v: 0.5 * ((x @ v - y) ** 2).mean(), w0)
    w.grad = g.clone()
    torch.optim.SGD([w], lr=0.1).step()
    return evidence(
        holds_if(close(w.detach(), w0 - 0.1 * g)), "θ - εg = torch.optim.SGD's step", gap=gap(w.detach(), w0 - 0.1 * g)
    )


def clipping() -> Evidence:
    """g/‖g‖₁·ε rescales every gradient (short ones too) to 1-norm ε; clipping leaves ‖g‖ ≤ ε alone."""
    g, eps = torch.tensor([0.1, -0.2, 0.05], dtype=torch.float64), 1.0
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    p.grad = g.clone()
    clip_grad_norm_([p], eps)
    sheet = g / g.abs().sum() * eps
    long = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    long.grad = 10 * g
    torch.nn.utils.clip_grad_norm_([long], eps)
    ok = close(p.grad, g) and abs(long.grad.norm().item() - eps) < 1e-6  # torch divides by ‖g‖ + 1e-6
    return evidence(wrong_if(close(sheet, p.grad), ok),
                    "c147's clip leaves a short gradient as it is (torch's shortens a long one "
                    "to ε); the sheet's rescales every gradient", sheet_scale=(sheet / g)[0].item(),
                    clipped_norm2=p.grad.norm().item())


def sgd_noise() -> Evidence:
    """Exact, m = 8: the single-sample gradient's variance (trace) vs minibatches (K = 2, all 28) vs batch (0)."""
    x, y, w = _least_squares()
    per = _per_sample_grads(x, y, w)
    full = per.mean(0)
    v1 = ((per - full) ** 2).sum(1).mean().item()
    v2 = torch.stack([((per[list(b)].mean(0) - full) ** 2).sum() for b in itertools.combinations(range(8), 2)]).mean()
    ok = v1 > 0 and math.isclose(v2.item(), v1 * (8 - 2) / (2 * (8 - 1)), rel_tol=1e-12)
    return evidence(holds_if(ok), "variance: K = 1 > K = 2 (= (m-K)/(K(m-1)) of it) > batch = 0", var_sgd=v1,
                    var_minibatch_2=v2.item(), var_batch=0.0)


@cache
def _race(target_fraction: float = 0.01):
    """Least squares, m = 2000, d = 10 (condition 25): steps and per-sample gradient evaluations to reach 1% of
    the initial excess loss, for batch GD (step 1/L) and SGD (step 0.05, seeded sample order)."""
    g = generator(144)
    x = torch.randn(2000, 10, generator=g, dtype=torch.float64) * torch.linspace(0.3, 1.5, 10, dtype=torch.float64)
    w_true = torch.randn(10, generator=g, dtype=torch.float64)
    y = x @ w_true + 0.1 * torch.randn(2000, generator=g, dtype=torch.float64)

    def loss(v):
        return 0.5 * ((x @ v - y) ** 2).mean().item()

    best = torch.linalg.lstsq(x, y[:, None]).solution[:, 0]
    zero = torch.zeros(10, dtype=torch.float64)
    target = loss(best) + target_fraction * (loss(zero) - loss(best))
    w, gd_steps, lr = zero.clone(), 0, 2000 / torch.linalg.matrix_norm(x, 2).item() ** 2
    while loss(w) > target:
        w, gd_steps = w - lr * x.T @ (x @ w - y) / 2000, gd_steps + 1
    order = torch.randint(0, 2000, (20_000,), generator=g)
    w, sgd_steps = zero.clone(), 0
    while loss(w) > target and sgd_steps < len(order):
        i = order[sgd_steps]
        w, sgd_steps = w - 0.05 * (x[i] @ w - y[i]) * x[i], sgd_steps + 1
    return gd_steps, sgd_steps


def sgd_more_steps() -> Evidence:
    gd, sgd = _race()
    return evidence(holds_if(sgd > gd and sgd < gd * 2000), "SGD: more steps, far fewer per-sample gradients",
                    gd_steps=gd, sgd_steps=sgd, gd_gradient_evaluations=gd * 2000, sgd_gradient_evaluations=sgd)


def batch_cost() -> Evidence:
    gd, sgd = _race()
    return evidence(holds_if(gd * 2000 > sgd), "a batch step needs all m = 2000 per-sample gradients, an SGD step 1",
                    per_step_batch=2000, per_step_sgd=1)


def double_well(runs: int = 2000, steps: int = 1000) -> Evidence:
    """f(θ) = θ⁴/4 - θ²/2 + 0.3θ as the mean of f_i = f + a_iθ (Σa_i = 0): a poor minimum at 0.79, the global one
    at -1.13. From θ = 1.5 batch GD stays at 0.79; SGD's per-sample noise carries most runs to the global one."""
    a = torch.linspace(-1, 1, 101, dtype=torch.float64)
    a = a - a.mean()
    g = generator(145)
    theta, gd = torch.full((runs,), 1.5, dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64)
    for _ in range(steps):
        i = torch.randint(0, 101, (runs,), generator=g)
        theta = theta - 0.1 * (theta**3 - theta + 0.3 + a[i])
        gd = gd - 0.1 * (gd**3 - gd + 0.3)
    escaped = (theta < 0).double()
    p = escaped.mean().item()
    lower = p - 6 * math.sqrt(p * (1 - p) / runs)  # 6 standard errors below the estimate
    return evidence(holds_if(gd.item() > 0.7 and lower > 0.5),
                    "GD ends in the poor minimum; > 50% of SGD runs end in the global one (a tendency, no guarantee)",
                    gd_final=gd.item(), sgd_escaped=p, sgd_escaped_lower_6se=lower)


def perpendicular() -> Evidence:
    """On the ellipse u(s) = A^{-1/2}(cos s, sin s), a contour of ½uᵀAu, the tangent du/ds ⟂ ∇f = Au."""
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    lam, q = torch.linalg.eigh(a)
    root_inv = q @ torch.diag(lam.rsqrt()) @ q.T
    worst, level = 0.0, []
    for s in torch.linspace(0, 6, 13, dtype=torch.float64):

        def u(t):
            return root_inv @ torch.stack([torch.cos(t), torch.sin(t)])

        tangent = torch.autograd.functional.jacobian(u, s)
        worst = max(worst, abs((a @ u(s)) @ tangent).item())
        level.append((0.5 * u(s) @ a @ u(s)).item())
    return evidence(
        holds_if(worst < 1e-14 and max(level) - min(level) < 1e-14), "∇f · tangent = 0 on the contour", max_dot=worst
    )


def _first_and_last_gradient(kind: str, depth: int = 30, width: int = 32) -> tuple[float, float]:
    """The gradient norms of the first and last of ``depth`` sigmoid layers (torch's default init, float64) on a
    seeded batch: ``plain`` h = σ(Wh + b), ``residual`` h = h + σ(Wh + b), ``batchnorm`` h = σ(BN(Wh + b))."""
    torch.manual_seed(114)
    layers = [torch.nn.Linear(width, width, dtype=torch.float64) for _ in range(depth)]
    norms = [torch.nn.BatchNorm1d(width, dtype=torch.float64) for _ in range(depth)]
    head = torch.nn.Linear(width, 10, dtype=torch.float64)
    h, y = torch.randn(64, width, dtype=torch.float64), torch.randint(0, 10, (64,))
    for layer, norm in zip(layers, norms, strict=True):
        z = layer(h)
        f = torch.sigmoid(norm(z) if kind == "batchnorm" else z)
        h = h + f if kind == "residual" else f
    torch.nn.functional.cross_entropy(head(h), y).backward()
    return layers[0].weight.grad.norm().item(), layers[-1].weight.grad.norm().item()


def vanishing_gradient() -> Evidence:
    """A 30-layer sigmoid net: the first layer's gradient is ~1e-25 of the last one's; a residual connection (the
    architecture) or batch norm (the sheet's regularizer, l.579) keeps it within a factor 100."""
    runs = {kind: _first_and_last_gradient(kind) for kind in ("plain", "residual", "batchnorm")}
    ratio = {kind: first / last for kind, (first, last) in runs.items()}
    ok = ratio["plain"] < 1e-10 and ratio["residual"] > 1e-2 and ratio["batchnorm"] > 1e-2
    return evidence(holds_if(ok), "first/last layer gradient norm, 30 sigmoid layers: plain vanishes, residual and "
                    "batch norm do not", **{f"first_over_last_{k}": v for k, v in ratio.items()})


S = Section("Gradient Descent")
CLAIMS = [
    S("numerical-gradient", 140, HOLDS, "don't use a numerical gradient: too slow, expensive",
      "as written (2P evaluations; use it to check the analytic gradient)", numerical_gradient),
    S("batch-sizes", 141, HOLDS, "batch: all m examples; minibatch: K; stochastic: 1", "as written (lines 141-143)",
      batch_sizes),
]
S = Section("Optimization")
CLAIMS += [
    S("minibatch-gradient", 291, HOLDS, "g = (1/m)Σ_{i=1}^m ∇_θJ(θ)", "as written, J the i-th sample's loss",
      minibatch_gradient),
    S("sgd-step", 293, HOLDS, "θ = θ - εg", "as written", sgd_step),
]
S = Section("Miscellaneous")
CLAIMS += [
    S("gradient-clipping", 375, WRONG, "gradient clipping: g = g/‖g‖₁ · ε",
      "if ‖g‖ > ε: g ← εg/‖g‖ (2-norm usually); shorter gradients are left alone", clipping,
      "tests/optim/test_clip.py::test_sheet_erratum_gradient_clipping"),
    S("vanishing-gradient", 376, HOLDS, "vanishing gradient ⇒ architecture, regularization",
      "as written, architecture read as the residual connection h + f(h) and regularization as batch norm (l.579): "
      "each keeps a deep sigmoid net's first-layer gradient where the plain net's vanishes (c147-study study=depth)",
      vanishing_gradient),
]
S = Section("SGD vs batch gradient descent")
CLAIMS += [
    S("sgd-noisier", 430, HOLDS, "① SGD gradients are noisier than batch GD's: a single-sample estimate", "as written",
      sgd_noise),
    S("sgd-more-steps", 431, HOLDS, "② SGD takes more steps than batch GD but converges faster in clock time",
      "as written, clock time counted in per-sample gradient evaluations", sgd_more_steps),
    S("sgd-local-minima", 433, HOLDS, "③ SGD avoids the trap of poor local minima",
      "as a tendency: its noise can carry it out of a poor minimum that traps batch GD (no guarantee)", double_well),
    S("batch-cost", 434, HOLDS, "④ batch GD is more expensive than SGD: it needs the entire data",
      "as written (per step)", batch_cost),
    S("perpendicular-to-contour", 443, HOLDS, "vanilla gradient descent is perpendicular to contour lines",
      "as written", perpendicular),
]
