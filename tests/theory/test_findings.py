"""The sheet's mistakes found by the claim registry (docs/ERRATA.md links here), each shown directly against
torch (autograd, torch.linalg, torch.nn.init, torch.optim) in float64. The registry's own checks are run by
test_claims.py; these tests state the finding with the numbers that decide it."""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F

from c147.theory import adaptive, initialization, knn, momentum


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def autograd(f, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(f(x), x)
    return g


# ---- ML basics, derivatives and traces -------------------------------------------------------------------


def test_sheet_erratum_l2_distance_2n_var_is_for_a_pair_of_rows():
    """Line 25: "L2 dist between rows: √(x_{1,1}² + ... + x_{1,n}²) = √(2n var(x_i))". √(Σ_k x_{1,k}²) is one row's
    norm: for i.i.d. N(0, s²) entries E‖x₁‖² = n s². The distance between two independent rows has E‖x₁ - x₂‖² =
    2n s², so ‖x₁ - x₂‖ ≈ √(2n var), with a spread that shrinks as 1/√n (all pairs look alike in high dimension)."""
    evidence = knn.distance_2n_var()
    pair, row = evidence.monte_carlo
    assert pair.matches and pair.correct == 2 * 50 * 1.5**2
    assert row.matches and row.correct == 50 * 1.5**2 and row.separates  # one row: n·var, not 2n·var
    assert evidence.numbers["relative_spread_of_distance"] < 0.15


def test_sheet_erratum_gradient_of_theta_x_is_x():
    """Line 74: ∇_θ(θᵀx) = θ. It is x (the sheet's own line 96: ∇_θ θᵀg = g)."""
    theta, x = rand(5, seed=1), rand(5, seed=2)
    g = autograd(lambda t: t @ x, theta)
    torch.testing.assert_close(g, x)
    assert not torch.allclose(g, theta)


def test_sheet_erratum_gradient_of_wx_wrt_w_uses_dy():
    """Line 86: for Y = WX, ∂δ/∂W = (∂δ/∂X) Xᵀ. It is (∂δ/∂Y) Xᵀ; the sheet's product has the wrong shape."""
    w, x, gy = rand(3, 4, seed=3), rand(4, 5, seed=4), rand(3, 5, seed=5)
    w_, x_ = w.clone().requires_grad_(), x.clone().requires_grad_()
    ((w_ @ x_) * gy).sum().backward()  # δ with ∂δ/∂Y = gy
    torch.testing.assert_close(w_.grad, gy @ x.T)
    torch.testing.assert_close(x_.grad, w.T @ gy)  # line 88, right
    assert (x_.grad @ x.T).shape == (4, 4) != w.shape


# ---- linear algebra ---------------------------------------------------------------------------------------


def test_sheet_erratum_singular_values_are_square_roots_of_eigenvalues():
    """Lines 108-109: the singular values are "eigenvalues of AᵀA". They are their square roots."""
    a = rand(5, 3, seed=6)
    s, lam = torch.linalg.svdvals(a), torch.linalg.eigvalsh(a.T @ a).flip(0)
    torch.testing.assert_close(s**2, lam)
    assert not torch.allclose(s, lam)


def test_sheet_erratum_ata_is_diagonalized_not_diagonal():
    """Line 110: "AᵀA is diagonal". V diagonalizes it (VᵀAᵀAV = ΣᵀΣ); AᵀA itself is not diagonal."""
    a = rand(5, 3, seed=6)
    _, s, vh = torch.linalg.svd(a, full_matrices=False)
    ata = a.T @ a
    assert (ata - torch.diag(torch.diag(ata))).abs().max() > 0.1
    torch.testing.assert_close(vh @ ata @ vh.T, torch.diag(s**2))


def test_sheet_erratum_aat_is_u_sigma2_ut():
    """Line 112: AAᵀ = UΣΣᵀVᵀV = UΣ²Vᵀ. AAᵀ = UΣVᵀVΣᵀUᵀ = UΣΣᵀUᵀ: U on both sides."""
    a = rand(4, 4, seed=7)
    u, s, vh = torch.linalg.svd(a)
    torch.testing.assert_close(u @ torch.diag(s**2) @ u.T, a @ a.T)
    assert not torch.allclose(u @ torch.diag(s**2) @ vh, a @ a.T)


def test_sheet_erratum_orthogonal_determinant_is_plus_or_minus_one():
    """Line 118: det(QᵀQ) = det(Q) = det(I). det(QᵀQ) = det(Q)² = 1, so det(Q) = ±1: a reflection has -1."""
    v = rand(4, 1, seed=8)
    q = torch.eye(4, dtype=torch.float64) - 2 * v @ v.T / (v.T @ v)
    torch.testing.assert_close(q.T @ q, torch.eye(4, dtype=torch.float64))
    assert math.isclose(torch.linalg.det(q).item(), -1.0)
    assert math.isclose(torch.linalg.det(q.T @ q).item(), 1.0)


def test_sheet_erratum_svd_transpose():
    """Line 378: W = UAVᵀ, Wᵀ = UAᵀVᵀ. Wᵀ = VAᵀUᵀ."""
    w = rand(4, 4, seed=9)
    u, s, vh = torch.linalg.svd(w)
    torch.testing.assert_close(vh.T @ torch.diag(s) @ u.T, w.T)
    assert not torch.allclose(u @ torch.diag(s) @ vh, w.T)


# ---- softmax and hinge gradients ---------------------------------------------------------------------------


def _softmax_model():
    return rand(6, 3, seed=10), rand(4, 3, seed=11), rand(4, seed=12), torch.tensor([0, 2, 1, 2, 3, 2])


def test_sheet_erratum_log_softmax_weight_gradient():
    """Lines 54 and 131: ∇_{w_i} log softmax_j(x) written as Σ_k ∇_{w_k} e^{z_k} / Σ_k e^{z_k} (= x) and, for j = i,
    as softmax_i(x). It is (1[i = j] - softmax_i(x)) x; softmax_i(x) x is the gradient of log Σ_k e^{z_k} alone."""
    x, w, b, _ = _softmax_model()
    xi = x[0]
    p = torch.softmax(w @ xi + b, 0)
    for i, j in [(1, 1), (1, 2)]:
        g = autograd(lambda v, j=j: torch.log_softmax(v @ xi + b, 0)[j], w)[i]
        torch.testing.assert_close(g, (float(i == j) - p[i]) * xi)
        assert not torch.allclose(g, p[i] * xi) and not torch.allclose(g, xi)


def test_sheet_erratum_weight_gradient_objective():
    """Line 125: ∇_{w_i}L = ∇_{w_i}((1/m)Σ_j(log softmax_j(x⁽ⁱ⁾) - (w_jᵀx⁽ⁱ⁾ + b_j))). Each bracket is -log Σ_k e^{z_k}:
    the objective is -C·LSE, not the log-likelihood, and its gradient differs."""
    x, w, b, y = _softmax_model()
    z = x @ w.T + b
    torch.testing.assert_close((torch.log_softmax(z, 1) - z).sum(1), -4 * torch.logsumexp(z, 1))
    g_sheet = autograd(lambda v: (torch.log_softmax(x @ v.T + b, 1) - (x @ v.T + b)).sum(1).mean(), w)
    g_l = autograd(lambda v: -F.cross_entropy(x @ v.T + b, y), w)
    assert not torch.allclose(g_sheet, g_l)


def test_sheet_erratum_weight_gradient_is_a_vector():
    """Line 133: ∂L/∂w_i = (1/m)[Σ_j softmax_j(x⁽ⁱ⁾) - z⁽ⁱ⁾], a scalar. For the log-likelihood L (line 44) it is the
    vector (1/m)Σ_n (1[y⁽ⁿ⁾ = i] - softmax_i(x⁽ⁿ⁾)) x⁽ⁿ⁾."""
    x, w, b, y = _softmax_model()
    g = autograd(lambda v: -F.cross_entropy(x @ v.T + b, y), w)
    p, onehot = torch.softmax(x @ w.T + b, 1), F.one_hot(y, 4).double()
    torch.testing.assert_close(g, (onehot - p).T @ x / 6)
    assert g[2].shape == (3,)


def test_sheet_erratum_hinge_gradient():
    """Line 138: the hinge gradient with an extra factor y⁽ⁱ⁾(wᵀx⁽ⁱ⁾ + b) and the indicator 1{wᵀx + b ≤ 1} (no y).
    ∇_w (1/K)Σ max(0, 1 - y⁽ⁱ⁾(wᵀx⁽ⁱ⁾ + b)) = (1/K)Σ 1{y⁽ⁱ⁾(wᵀx⁽ⁱ⁾ + b) < 1}(-y⁽ⁱ⁾x⁽ⁱ⁾)."""
    x, w, b = rand(12, 3, seed=13), rand(3, seed=14), 0.2
    y = torch.where(rand(12, seed=15) > 0, 1.0, -1.0).double()
    g = autograd(lambda v: torch.relu(1 - y * (x @ v + b)).mean(), w)
    z = x @ w + b
    torch.testing.assert_close(g, ((y * z < 1).double() * -y) @ x / 12)
    assert not torch.allclose(g, ((y * z * (z <= 1).double()) * -y) @ x / 12)


# ---- activations and initialization ------------------------------------------------------------------------


def test_sheet_erratum_prelu_learns_alpha():
    """Line 192: "if α is hyperparam, PReLU". PReLU's α is a parameter learned by backprop (torch.nn.PReLU.weight,
    gradient Σ_{x<0} x·∂L/∂y); a fixed α is leaky ReLU."""
    prelu = torch.nn.PReLU(init=0.25).double()
    x = torch.tensor([-2.0, -1.0, 3.0], dtype=torch.float64)
    prelu(x).sum().backward()
    assert prelu.weight.requires_grad and list(prelu.parameters()) == [prelu.weight]
    assert prelu.weight.grad.item() == -3.0
    torch.optim.SGD(prelu.parameters(), lr=0.1).step()
    assert math.isclose(prelu.weight.item(), 0.55)


def test_sheet_erratum_xavier_both_is_variance_2_over_fan_sum():
    """Line 218: "Both: 𝒰(0, 2/(n_in + n_out))". Glorot's compromise is mean 0 and Var(w) = 2/(n_in + n_out)
    (torch.nn.init.xavier_normal_); a uniform on [0, 2/(n_in + n_out)] has mean 1/(n_in + n_out) and variance
    (2/(n_in + n_out))²/12, 3000 times too small at n_in + n_out = 500."""
    evidence = initialization.xavier_both()
    (run,) = evidence.monte_carlo
    assert run.matches and run.separates and evidence.verdict == "wrong"
    a = 2 / 500
    assert math.isclose(a**2 / 12 / a, 1 / 3000)


def test_sheet_erratum_he_init_for_relu():
    """Line 224 ("2015 ... if ReLU", with the Xavier-form bound ±√6/(n_in + n_out)): He et al.'s initialization
    for ReLU is Var(w) = 2/n_in (torch.nn.init.kaiming_normal_), which keeps E[z²] through ReLU layers."""
    w = torch.empty(400, 300, dtype=torch.float64)
    torch.nn.init.kaiming_normal_(w, nonlinearity="relu", generator=torch.Generator().manual_seed(0))
    assert abs(w.var().item() * 300 - 2) < 6 * math.sqrt(2) * 2 / math.sqrt(w.numel())
    (run,) = initialization.he_relu().monte_carlo
    assert run.matches and run.separates and run.contrast < 1e-8  # the sheet's bound: E[z_5²] ≈ 2e-9


# ---- optimization ------------------------------------------------------------------------------------------


def test_sheet_erratum_adagrad_plot_steps_less_along_w2():
    """Line 459: more gradient accumulated along W₂ and "the step along W₂ is more". Adagrad's step ε/(√a + ν)
    is the smaller along the direction with more accumulation (as line 457 says): torch.optim.Adagrad on
    ½(w₁² + 100w₂²)."""
    theta = torch.nn.Parameter(torch.tensor([1.0, 1.0], dtype=torch.float64))
    opt = torch.optim.Adagrad([theta], lr=0.3)
    for _ in range(10):
        theta.grad = adaptive.A @ theta.detach()
        opt.step()
        a = opt.state[theta]["sum"]
        step = 0.3 / (a.sqrt() + 1e-10)
        assert a[1] > a[0] and step[1] < step[0]


def test_sheet_erratum_momentum_v4_expansion():
    """Line 473: V_4 = -ε(g₁ + αg₂ + α²g₃ + α³g₄) (the powers of lines 469-471, swapped). V_4 = -ε(g₄ + αg₃ + α²g₂ +
    α³g₁), as the sheet's own closed form (line 475) says, and as torch.optim.SGD(momentum) moves."""
    g, eps, alpha = momentum.GRADS[:4], momentum.EPS, momentum.ALPHA
    v4 = momentum.velocities(g)[-1]
    assert v4 == -eps * (g[3] + alpha * g[2] + alpha**2 * g[1] + alpha**3 * g[0])
    assert v4 != -eps * (g[0] + alpha * g[1] + alpha**2 * g[2] + alpha**3 * g[3])
    theta = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
    opt = torch.optim.SGD([theta], lr=float(eps), momentum=float(alpha))
    for gi in g:
        before = theta.item()
        theta.grad = torch.tensor(float(gi), dtype=torch.float64)
        opt.step()
    assert math.isclose(theta.item() - before, float(v4), rel_tol=1e-14)


def test_sheet_erratum_expected_double_sum():
    """Line 531: E[θ_t] = -ε Σ_{j=1}^t Σ_{i=1}^{j-1} α^{j-i} E[g_i]. The inner sum runs to i = j and θ_0 is added:
    E[θ_t] = θ_0 - ε Σ_j Σ_{i=1}^{j} α^{j-i} E[g_i] (E[g_i] = M: the trajectory with every g_i = M, exactly)."""
    t, eps, alpha, m = 5, momentum.EPS, momentum.ALPHA, momentum.M
    for theta0 in (Fraction(0), Fraction(1)):
        exact = momentum.expected_theta(t, theta0)
        right = theta0 - eps * sum(alpha ** (j - i) * m for j in range(1, t + 1) for i in range(1, j + 1))
        sheet = -eps * sum(alpha ** (j - i) * m for j in range(1, t + 1) for i in range(1, j))
        assert exact == right and exact != sheet


# ---- log-sum-exp -------------------------------------------------------------------------------------------


def test_sheet_erratum_lse_temperature_steps():
    """Lines 541 and 543. From ‖tx‖_∞ ≤ ln Σ e^{|tx_i|} ≤ ‖tx‖_∞ + ln n (line 539, right) the sheet writes the upper
    bound ‖x‖_∞ + ln n (it is t‖x‖_∞ + ln n), then drops the t from the exponent: (1/t) ln Σ e^{|x_i|}. Right:
    ‖x‖_∞ ≤ (1/t) ln Σ e^{t|x_i|} ≤ ‖x‖_∞ + ln(n)/t. x = (1, 0), t = 10 breaks both sheet lines."""
    x, t = torch.tensor([1.0, 0.0], dtype=torch.float64), 10.0
    middle = torch.logsumexp(t * x.abs(), 0).item()
    assert middle > 1 + math.log(2)  # line 541's upper bound fails ...
    assert t * 1 <= middle <= t * 1 + math.log(2)  # ... t‖x‖_∞ + ln n holds
    assert torch.logsumexp(x.abs(), 0).item() / t < 1  # line 543's lower bound fails
    for s in (0.1, 1.0, 3.0, 10.0):
        for v in (x, rand(7, seed=16), -rand(3, seed=17).abs()):
            inf = v.abs().max().item()
            assert inf - 1e-12 <= torch.logsumexp(s * v.abs(), 0).item() / s <= inf + math.log(len(v)) / s + 1e-12


def test_sheet_erratum_lse_strict_lower_bound_needs_abs():
    """Line 553: LSE(x) > ‖x‖_∞. With the sheet's LSE(x) = ln Σ e^{x_i} it fails for x = (-5, -6) (-4.69 < 6); the
    chain above proves it for ln Σ e^{|x_i|} (n ≥ 2)."""
    x = torch.tensor([-5.0, -6.0], dtype=torch.float64)
    assert torch.logsumexp(x, 0).item() < x.abs().max().item()
    assert torch.logsumexp(x.abs(), 0).item() > x.abs().max().item()
