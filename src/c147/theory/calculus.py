"""The sheet's derivative and trace identities (lines 5-98, 236), each against torch autograd in float64.

The sheet's gradients are in denominator layout: ``∇_x f`` has the shape of x (line 76's
``∇_x(xᵀAx) = (A + Aᵀ)x`` is a column), so the gradient of a vector y = f(x) is the matrix
(∇_x y)_ij = ∂y_j / ∂x_i, the transpose of torch's Jacobian.
"""

from __future__ import annotations

import torch

from c147.theory.evidence import (
    CONVENTION,
    FINDINGS,
    HOLDS,
    OCR,
    WRONG,
    Evidence,
    Section,
    close,
    convention_if,
    evidence,
    gap,
    grad,
    holds_if,
    ocr_if,
    randn,
    wrong_if,
)


def l2_penalty_gradient() -> Evidence:
    """∇_W (α/2 WᵀW) = αW for the weights W as one vector."""
    alpha, w = 0.3, randn(7, seed=0)
    g = grad(lambda v: alpha / 2 * (v @ v), w)
    return evidence(holds_if(close(g, alpha * w, 7) and not close(g, alpha / 2 * w)),
                    "autograd of (α/2) wᵀw is αw (not α/2 w)", autograd_vs_alpha_w=gap(g, alpha * w))


def l2_objective_gradient() -> Evidence:
    """J̃ = J + (α/2) WᵀW has ∇J̃ = ∇J + αW; J the squared error of a linear model."""
    alpha, x, y, w = 0.3, randn(20, 5, seed=1), randn(20, seed=2), randn(5, seed=3)

    def j(v):
        return 0.5 * ((x @ v - y) ** 2).sum()

    g_tilde, g_j = grad(lambda v: j(v) + alpha / 2 * (v @ v), w), grad(j, w)
    return evidence(holds_if(close(g_tilde, g_j + alpha * w, 20)), "autograd of J + (α/2) wᵀw equals ∇J + αw",
                    gap=gap(g_tilde, g_j + alpha * w))


def frobenius_trace() -> Evidence:
    x = randn(4, 6, seed=4)
    fro2, tr = torch.linalg.matrix_norm(x, "fro") ** 2, torch.trace(x.T @ x)
    return evidence(holds_if(close(fro2, tr, 24)), "torch's Frobenius norm squared equals tr(XᵀX)",
                    fro_squared=fro2.item(), trace=tr.item())


def grad_theta_x() -> Evidence:
    """∇_θ(θᵀx) is x; the sheet writes θ."""
    theta, x = randn(5, seed=5), randn(5, seed=6)
    g = grad(lambda t: t @ x, theta)
    return evidence(wrong_if(close(g, theta), close(g, x)), "autograd gives x; θ differs", gap_to_x=gap(g, x),
                    gap_to_theta=gap(g, theta))


def grad_quadratic(matrix_seed: int = 7) -> Evidence:
    """∇_x(xᵀAx) = (A + Aᵀ)x for a non-symmetric A (2Ax would be wrong)."""
    a, x = randn(5, 5, seed=matrix_seed), randn(5, seed=matrix_seed + 1)
    g = grad(lambda v: v @ a @ v, x)
    right = (a + a.T) @ x
    return evidence(holds_if(close(g, right, 10) and not close(g, 2 * a @ x)),
                    "autograd equals (A + Aᵀ)x; 2Ax differs for non-symmetric A", gap=gap(g, right),
                    gap_to_2Ax=gap(g, 2 * a @ x))


def least_squares() -> Evidence:
    """θ = (XᵀX)⁻¹XᵀY zeroes d/dθ ½Σ(y - θᵀx)² and equals torch.linalg.lstsq."""
    x, y = randn(30, 4, seed=9), randn(30, seed=10)
    theta = torch.linalg.solve(x.T @ x, x.T @ y)
    ref = torch.linalg.lstsq(x, y.unsqueeze(1)).solution.squeeze(1)
    g = grad(lambda t: 0.5 * ((y - x @ t) ** 2).sum(), theta)
    cond = torch.linalg.cond(x.T @ x).item()
    ok = gap(theta, ref) <= 16 * 30 * cond * 2.2e-16 and g.abs().max().item() <= 1e-12 * (1 + cond)
    return evidence(holds_if(ok), "the normal equations' θ matches torch.linalg.lstsq and zeroes the gradient",
                    gap_to_lstsq=gap(theta, ref), max_gradient=g.abs().max().item(), cond=cond)


def trace_transpose() -> Evidence:
    a = randn(6, 6, seed=11)
    return evidence(holds_if(close(torch.trace(a), torch.trace(a.T), 6)), "tr(A) = tr(Aᵀ)", trace=torch.trace(a).item())


def trace_cyclic() -> Evidence:
    """tr(ABC) = tr(CAB) = tr(BCA) for 3x4, 4x5, 5x3 (products of different sizes); tr(ACB) differs."""
    a, b, c = randn(3, 4, seed=12), randn(4, 5, seed=13), randn(5, 3, seed=14)
    t1, t2, t3 = torch.trace(a @ b @ c), torch.trace(c @ a @ b), torch.trace(b @ c @ a)
    sa, sb, sc = randn(4, 4, seed=15), randn(4, 4, seed=16), randn(4, 4, seed=17)
    non_cyclic = torch.trace(sa @ sc @ sb) - torch.trace(sa @ sb @ sc)
    ok = close(t1, t2, 60) and close(t1, t3, 60) and abs(non_cyclic.item()) > 1e-3
    return evidence(holds_if(ok), "the three cyclic orders agree; a non-cyclic order (ACB) does not", tr_ABC=t1.item(),
                    tr_CAB=t2.item(), tr_BCA=t3.item(), tr_ACB_minus_ABC=non_cyclic.item())


def grad_wx() -> Evidence:
    """∇_x(Wx) = Wᵀ in the sheet's denominator layout; torch's Jacobian (numerator layout) is W."""
    w, x, v = randn(3, 5, seed=18), randn(5, seed=19), randn(3, seed=20)
    jac = torch.autograd.functional.jacobian(lambda t: w @ t, x)
    chain = grad(lambda t: v @ (w @ t), x)  # ∇_x (vᵀWx) = (∇_x Wx) v in denominator layout
    under = close(jac.T, w.T) and close(chain, w.T @ v, 5)
    return evidence(convention_if(under, close(jac, w.T)),
                    "torch's Jacobian is W (3x5); the sheet's Wᵀ is its denominator-layout transpose",
                    jacobian_shape=str(tuple(jac.shape)), chain_rule_gap=gap(chain, w.T @ v))


def _wx_grads():
    w, x, gy = randn(3, 4, seed=21), randn(4, 5, seed=22), randn(3, 5, seed=23)
    w_, x_ = w.clone().requires_grad_(), x.clone().requires_grad_()
    ((w_ @ x_) * gy).sum().backward()  # δ with ∂δ/∂Y = gy
    return w, x, gy, w_.grad, x_.grad


def grad_w_of_wx() -> Evidence:
    """Y = WX: ∂δ/∂W = (∂δ/∂Y) Xᵀ; the sheet writes (∂δ/∂X) Xᵀ (a 4x4 matrix for a 3x4 W)."""
    w, x, gy, gw, gx = _wx_grads()
    sheet = gx @ x.T
    return evidence(wrong_if(close(gw, sheet), close(gw, gy @ x.T, 5)), "autograd ∂δ/∂W = (∂δ/∂Y)Xᵀ",
                    sheet_shape=str(tuple(sheet.shape)), W_shape=str(tuple(w.shape)), gap=gap(gw, gy @ x.T))


def grad_x_of_wx() -> Evidence:
    w, x, gy, gw, gx = _wx_grads()
    return evidence(holds_if(close(gx, w.T @ gy, 3)), "autograd ∂δ/∂X = Wᵀ(∂δ/∂Y)", gap=gap(gx, w.T @ gy))


def _columns(k: int = 4):
    """x_i ∈ R^4 and u_i ∈ R^4 as the columns of X and Y, and W (4x4)."""
    return randn(4, k, seed=24), randn(4, k, seed=25), randn(4, 4, seed=26)


def trace_outer_sum() -> Evidence:
    """Σ_i x_i u_iᵀ = XYᵀ when X, Y hold x_i, u_i as columns; with rows (line 78's XᵀX) it is XᵀY."""
    x, y, w = _columns()
    outer = sum(torch.outer(x[:, i], y[:, i]) for i in range(x.shape[1]))
    lhs = -torch.trace(w @ outer)
    rows = -torch.trace(w @ x.T @ y)  # the same symbols with x_i, u_i as rows of X, Y
    return evidence(convention_if(close(lhs, -torch.trace(w @ x @ y.T), 16), close(lhs, rows, 16)),
                    "equal with columns; with the rows of line 78's X it would be -tr(WXᵀY)", lhs=lhs.item(),
                    columns=(-torch.trace(w @ x @ y.T)).item(), rows=rows.item())


def hw_fragment() -> Evidence:
    """Reading: ∂/∂W(-½Σ‖y_i - W x_i‖²) = YXᵀ - WXXᵀ, whose W-linear part is ∂/∂W tr(WXYᵀ) = YXᵀ."""
    x, y, w = _columns()
    g = grad(lambda v: -0.5 * ((y - v @ x) ** 2).sum(), w)
    g_trace = grad(lambda v: torch.trace(v @ x @ y.T), w)
    return evidence(ocr_if(close(g, y @ x.T - w @ x @ x.T, 16) and close(g_trace, y @ x.T, 4)),
                    "a scalar equated with a gradient (θ for W); the reading checks by autograd",
                    gap=gap(g, y @ x.T - w @ x @ x.T))


def trace_gradient() -> Evidence:
    """-∂/∂W tr(XᵀWᵀY) = -YXᵀ, and tr(XᵀWᵀY) = tr(WXYᵀ) (line 90's trace)."""
    x, y, w = _columns()
    same = close(torch.trace(x.T @ w.T @ y), torch.trace(w @ x @ y.T), 16)
    g = grad(lambda v: -torch.trace(x.T @ v.T @ y), w)
    return evidence(holds_if(same and close(g, -y @ x.T, 4) and not close(g, -x @ y.T)),
                    "the traces agree; autograd gives -YXᵀ", gap=gap(g, -y @ x.T))


def grad_theta_g() -> Evidence:
    theta, g_vec = randn(6, seed=27), randn(6, seed=28)
    g = grad(lambda t: t @ g_vec, theta)
    return evidence(holds_if(close(g, g_vec)), "autograd of θᵀg is g", gap=gap(g, g_vec))


S = Section("L2 Regularization")
CLAIMS = [
    S("l2-penalty-gradient", 5, HOLDS, "∇_W(α/2 WᵀW) = αW", "as written (W the weights as one vector)",
      l2_penalty_gradient),
    S("l2-objective", 9, HOLDS, "J̃(W) = J(W) + (α/2) WᵀW", "as written: the L2-regularized objective",
      l2_objective_gradient),
]
S = Section("Frobenius Norm")
CLAIMS += [S("frobenius-trace", 60, HOLDS, "‖X‖_F² = tr(XᵀX)", "as written", frobenius_trace)]
S = Section("Derivatives & Traces")
CLAIMS += [
    S("grad-theta-x", 74, WRONG, "∇_θ(θᵀx) = θ", "∇_θ(θᵀx) = x (as the sheet's own line 96 has)", grad_theta_x,
      FINDINGS + "test_sheet_erratum_gradient_of_theta_x_is_x"),
    S("grad-quadratic", 76, HOLDS, "∇_x(xᵀAx) = (A + Aᵀ)x", "as written (2Ax only for symmetric A)", grad_quadratic),
    S("least-squares", 78, HOLDS, "d/dθ ½Σ(y⁽ⁱ⁾ - θᵀx⁽ⁱ⁾)² = 0 at θ = (XᵀX)⁻¹XᵀY", "as written (X full column rank)",
      least_squares),
    S("trace-transpose", 80, HOLDS, "tr(A) = tr(Aᵀ)", "as written", trace_transpose),
    S("trace-cyclic", 82, HOLDS, "tr(ABC) = tr(CAB) = tr(BCA)", "as written (cyclic shifts only)", trace_cyclic),
    S("grad-wx", 84, CONVENTION, "∇_x(Wx) = Wᵀ",
      "Wᵀ in denominator layout ((∇_x y)_ij = ∂y_j/∂x_i, the sheet's layout); the Jacobian is W", grad_wx),
    S("grad-w-of-wx", 86, WRONG, "Y = WX: ∂δ/∂W = (∂δ/∂X) Xᵀ", "∂δ/∂W = (∂δ/∂Y) Xᵀ", grad_w_of_wx,
      FINDINGS + "test_sheet_erratum_gradient_of_wx_wrt_w_uses_dy"),
    S("grad-x-of-wx", 88, HOLDS, "∂δ/∂X = Wᵀ ∂δ/∂Y", "as written", grad_x_of_wx),
    S("trace-outer-sum", 90, CONVENTION, "-tr(W Σ_i x_i u_iᵀ) = -tr(WXYᵀ)",
      "holds with x_i, u_i the columns of X, Y (with rows, as in line 78's XᵀX, it is -tr(WXᵀY))", trace_outer_sum),
    S("hw-fragment", 92, OCR, "= ∂/∂W(-½Σ(y⁽ⁱ⁾ - θᵀx⁽ⁱ⁾)²)",
      "a fragment (a scalar equated with a gradient, θ for W); reading: ∂/∂W(-½Σ‖y_i - Wx_i‖²) = YXᵀ - WXXᵀ, "
      "with ∂/∂W tr(WXYᵀ) = YXᵀ", hw_fragment),
    S("trace-gradient", 94, HOLDS, "= -∂/∂W tr(XᵀWᵀY)", "as written: tr(XᵀWᵀY) = tr(WXYᵀ); the gradient is -YXᵀ",
      trace_gradient),
    S("grad-theta-g", 96, HOLDS, "∇_θ θᵀg = g", "as written", grad_theta_g),
    S("grad-theta-h-theta", 98, HOLDS, "∇_θ(θᵀHθ) = (H + Hᵀ)θ", "as written", lambda: grad_quadratic(29)),
]
S = Section("Regularization")
CLAIMS += [
    S("l2-objective-again", 234, HOLDS, "J̃ = J + (α/2) WᵀW", "as written (line 9)", l2_objective_gradient),
    S("l2-regularized-gradient", 236, HOLDS, "∇_w J̃ = ∇_w J + αW", "as written", l2_objective_gradient),
]
