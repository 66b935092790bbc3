"""The sheet's linear algebra (lines 29-32, 100-120, 378): broadcasting, eigenvalues, the SVD, orthogonal
matrices and the covariance of an affine map, against torch.linalg and torch.broadcast_shapes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

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
    generator,
    holds_if,
    monte_carlo,
    ocr_if,
    randn,
    wrong_if,
)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The broadcasting rule: align the shapes at their last dim; two sizes are compatible when they are
    equal or one of them is 1, and the result takes the larger (a missing dim counts as 1).

    Example:
        >>> import torch
        >>> broadcast_shapes((2, 3), (2, 1)), torch.broadcast_shapes((2, 3), (2, 1))
        ((2, 3), torch.Size([2, 3]))
        >>> broadcast_shapes((2, 3), (3,))
        (2, 3)
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for dims in zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes], strict=True):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {shapes} are not broadcastable: sizes {sorted(sizes)} in one dim")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _torch_or_none(*shapes):
    try:
        return tuple(torch.broadcast_shapes(*shapes))
    except RuntimeError:
        return None


def _ours_or_none(*shapes):
    try:
        return broadcast_shapes(*shapes)
    except ValueError:
        return None


def broadcast_rule() -> Evidence:
    """Our rule against torch.broadcast_shapes on every pair of a grid of shapes (compatible or not)."""
    grid = [(), (1,), (3,), (2, 1), (2, 3), (3, 3), (1, 3), (4, 2, 3), (4, 1, 1), (2, 2)]
    pairs = list(itertools.product(grid, repeat=2))
    agree = sum(_ours_or_none(a, b) == _torch_or_none(a, b) for a, b in pairs)
    refused = sum(_torch_or_none(a, b) is None for a, b in pairs)
    return evidence(ocr_if(agree == len(pairs)), "the rule agrees with torch.broadcast_shapes on every pair",
                    pairs=len(pairs), agree=agree, incompatible=refused)


def broadcast_examples() -> Evidence:
    """(2,3)&(2,1) -> (2,3); (2,3)&(3) -> (2,3); (3)&(3) -> (3); (a,3)&(3,3) only for a in {1, 3}."""
    cases = {((2, 3), (2, 1)): (2, 3), ((2, 3), (3,)): (2, 3), ((3,), (3,)): (3,)}
    ok = all(_torch_or_none(*k) == v for k, v in cases.items())
    fits = [a for a in range(1, 6) if _torch_or_none((a, 3), (3, 3)) is not None]
    return evidence(ocr_if(ok and fits == [1, 3]),
                    f"the readable pairs broadcast as listed; (a,3)&(3,3) for a in {fits}", a_that_fit=str(fits))


def expected_outer(n: int = 200_000, sigma: float = 1.5) -> Evidence:
    """δ ~ N(0, σ²I₃): E[δδᵀ] = Cov(δ) = σ²I, sampled entry by entry; the literal reading, the zero matrix, is the
    contrast of the diagonal (an off-diagonal entry is 0 either way)."""
    d = sigma * torch.randn(n, 3, generator=generator(42), dtype=torch.float64)
    runs = [
        monte_carlo(f"E_dd{i}{j}", d[:, i] * d[:, j], sigma**2 * (i == j), 0.0 if i == j else sigma**2)
        for i, j in [(0, 0), (1, 1), (0, 1)]
    ]
    return evidence(
        ocr_if(all(r.ok for r in runs), not runs[0].separates), "'0^3' reads σ²(I): E[δδᵀ] = Cov(δ) = σ²I, not 0", *runs
    )


def eigen_unit_norm() -> Evidence:
    """|λ| = 1 for an orthogonal A (‖Av‖ = ‖v‖); a general A has other |λ|."""
    q, _ = torch.linalg.qr(randn(5, 5, seed=30))
    lam_q, lam_a = torch.linalg.eigvals(q).abs(), torch.linalg.eigvals(randn(5, 5, seed=31)).abs()
    return evidence(convention_if(close(lam_q, torch.ones(5), 5), close(lam_a, torch.ones(5), 5)),
                    "orthogonal Q: every |λ| = 1; a random A: not", max_dev_orthogonal=gap(lam_q, torch.ones(5)),
                    max_dev_random=gap(lam_a, torch.ones(5)))


def pd_eigenvalues() -> Evidence:
    """A = BBᵀ + I (symmetric positive definite): vᵀAv = λ‖v‖², every λ > 0."""
    b = randn(5, 5, seed=32)
    a = b @ b.T + torch.eye(5, dtype=torch.float64)
    lam, v = torch.linalg.eigh(a)
    quad = torch.einsum("ij,ik,kj->j", v, a, v)
    return evidence(ocr_if(bool((lam > 0).all()) and close(quad, lam * (v * v).sum(0), 25)),
                    "'b.d.' reads p.d.: vᵀAv = λ‖v‖² and min λ > 0", min_eigenvalue=lam.min().item())


def _svd(m: int = 5, n: int = 3, seed: int = 33):
    a = randn(m, n, seed=seed)
    u, s, vh = torch.linalg.svd(a)
    return a, u, s, vh


def svd() -> Evidence:
    a, u, s, vh = _svd()
    rebuilt = u[:, :3] @ torch.diag(s) @ vh
    return evidence(holds_if(close(rebuilt, a, 15) and bool((s[:-1] >= s[1:]).all())),
                    "torch.linalg.svd's UΣVᵀ rebuilds A", gap=gap(rebuilt, a))


def singular_values() -> Evidence:
    """The singular values are the square roots of the eigenvalues of AᵀA."""
    a, u, s, vh = _svd()
    lam = torch.linalg.eigvalsh(a.T @ a).flip(0)
    return evidence(wrong_if(close(s, lam, 15), close(s**2, lam, 15)), "σ_i² = λ_i(AᵀA), σ_i ≠ λ_i",
                    sigma=str([round(x, 4) for x in s.tolist()]), eig_AtA=str([round(x, 4) for x in lam.tolist()]))


def ata_diagonal() -> Evidence:
    """AᵀA is not diagonal in general; V diagonalizes it: VᵀAᵀAV = ΣᵀΣ."""
    a, u, s, vh = _svd()
    ata = a.T @ a
    off = (ata - torch.diag(torch.diag(ata))).abs().max().item()
    return evidence(wrong_if(off == 0.0, close(vh @ ata @ vh.T, torch.diag(s**2), 15)),
                    "AᵀA has off-diagonal entries; VᵀAᵀAV = diag(σ²)", max_off_diagonal=off)


def aat() -> Evidence:
    """AAᵀ = UΣVᵀVΣᵀUᵀ = UΣΣᵀUᵀ; the sheet's UΣ²Vᵀ is not AAᵀ."""
    a, u, s, vh = _svd(4, 4, 34)
    sheet = u @ torch.diag(s**2) @ vh
    right = u @ torch.diag(s**2) @ u.T
    return evidence(wrong_if(close(sheet, a @ a.T, 16), close(right, a @ a.T, 16)), "AAᵀ = UΣΣᵀUᵀ",
                    gap_sheet=gap(sheet, a @ a.T), gap_corrected=gap(right, a @ a.T))


def orthogonal() -> Evidence:
    """A square orthogonal Q has QᵀQ = QQᵀ = I; a tall Q with orthonormal columns only QᵀQ = I."""
    q, _ = torch.linalg.qr(randn(5, 5, seed=35))
    tall, _ = torch.linalg.qr(randn(5, 3, seed=36))
    eye = torch.eye(5, dtype=torch.float64)
    ok = close(q.T @ q, eye, 5) and close(q @ q.T, eye, 5)
    return evidence(
        holds_if(ok), "QᵀQ = QQᵀ = I for square Q (a tall Q: QQᵀ is a projection)", tall_QQt_gap=gap(tall @ tall.T, eye)
    )


def orthogonal_norm() -> Evidence:
    q, _ = torch.linalg.qr(randn(5, 5, seed=37))
    v = randn(5, 3, seed=38)
    return evidence(holds_if(close(torch.linalg.vector_norm(q @ v, dim=0), torch.linalg.vector_norm(v, dim=0), 5)),
                    "‖Qv‖ = ‖v‖", norms=str([round(x, 4) for x in torch.linalg.vector_norm(v, dim=0).tolist()]))


def orthogonal_det() -> Evidence:
    """A reflection Q (det -1): det(QᵀQ) = 1 = det(Q)², not det(Q)."""
    v = randn(4, 1, seed=39)
    q = torch.eye(4, dtype=torch.float64) - 2 * v @ v.T / (v.T @ v)  # Householder reflection
    d, dqq = torch.linalg.det(q).item(), torch.linalg.det(q.T @ q).item()
    return evidence(wrong_if(abs(dqq - d) < 1e-12 and abs(d - 1) < 1e-12, abs(dqq - d**2) < 1e-12),
                    "a reflection: det(QᵀQ) = 1, det(Q) = -1", det_Q=d, det_QtQ=dqq)


def cov_affine(n: int = 200_000) -> Evidence:
    """Monte Carlo: y = Ax + b with x ~ N(m, Σ); each entry of Cov(y) against AΣAᵀ; contrast AΣAᵀ + bbᵀ."""
    g = generator(40)
    chol = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [-0.5, 0.3, 0.4]], dtype=torch.float64)
    m, sigma = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), chol @ chol.T
    a = torch.tensor([[1.0, 2.0, -1.0], [0.5, -1.0, 3.0]], dtype=torch.float64)
    b = torch.tensor([2.0, -3.0], dtype=torch.float64)
    x = m + torch.randn(n, 3, generator=g, dtype=torch.float64) @ chol.T
    y = x @ a.T + b
    mean_y, right = a @ m + b, a @ sigma @ a.T
    wrong = right + torch.outer(b, b)
    runs = [
        monte_carlo(f"cov{i}{j}", (y[:, i] - mean_y[i]) * (y[:, j] - mean_y[j]), right[i, j], wrong[i, j])
        for i, j in [(0, 0), (0, 1), (1, 1)]
    ]
    return evidence(holds_if(all(r.ok for r in runs)), "each sampled Cov(Ax+b) entry is within 6 SE of AΣAᵀ", *runs)


def svd_transpose() -> Evidence:
    """W = UAVᵀ gives Wᵀ = VAᵀUᵀ, not UAᵀVᵀ."""
    w, u, s, vh = _svd(4, 4, 41)
    a = torch.diag(s)
    sheet, right = u @ a.T @ vh, vh.T @ a.T @ u.T
    return evidence(wrong_if(close(sheet, w.T, 16), close(right, w.T, 16)), "Wᵀ = VAᵀUᵀ", gap_sheet=gap(sheet, w.T),
                    gap_corrected=gap(right, w.T))


S = Section("Broadcasting")
CLAIMS = [
    S("broadcast-rule", 29, OCR, "'class edges  one has size 1'",
      "reading: align shapes at the last dim; sizes are compatible when equal or one is 1 (torch.broadcast_shapes)",
      broadcast_rule),
    S("broadcast-examples", 30, OCR, "(2x3) (2x1) (3) / (3) (3) / ax3 3x3",
      "reading: (2,3) broadcasts with (2,1) and with (3,) to (2,3); (3) with (3) to (3); (a,3) with (3,3) only "
      "for a = 1 or 3", broadcast_examples),
]
S = Section("ML basics")
CLAIMS += [
    S("expected-outer", 34, OCR, "E[δδᵀ] = 0^3, if E[δ] = 0",
      "'0^3' is σ² (I): for E[δ] = 0, E[δδᵀ] = Cov(δ) = σ²I when δ has i.i.d. coordinates of variance σ² (the "
      "fact used at line 607); read as the zero matrix it is wrong", expected_outer),
]
S = Section("Linear Algebra")
CLAIMS += [
    S("eigen-unit-norm", 102, CONVENTION, "① Av = λv → ‖v‖² = |λ|²‖v‖², norm of eigenvalues = 1",
      "holds for orthogonal A (the step ‖Av‖ = ‖v‖ needs AᵀA = I); not for a general A", eigen_unit_norm),
    S("pd-eigenvalues", 104, OCR, "② vᵀAv = λ‖v‖², ∀A b.d. ⇒ λ > 0",
      "'b.d.' is p.d.: for symmetric positive definite A every eigenvalue is > 0", pd_eigenvalues),
    S("svd", 106, HOLDS, "③ A = UΣVᵀ", "as written (torch.linalg.svd)", svd),
    S("singular-values", 109, WRONG, "singular [values] = eigenvalues of AᵀA",
      "σ_i = √λ_i(AᵀA): the eigenvalues of AᵀA are the squared singular values", singular_values,
      FINDINGS + "test_sheet_erratum_singular_values_are_square_roots_of_eigenvalues"),
    S("ata-diagonal", 110, WRONG, "AᵀA is diagonal",
      "AᵀA is diagonalized by V: VᵀAᵀAV = ΣᵀΣ (AᵀA itself is diagonal only for orthogonal columns)", ata_diagonal,
      FINDINGS + "test_sheet_erratum_ata_is_diagonalized_not_diagonal"),
    S("aat-svd", 112, WRONG, "AAᵀ = UΣΣᵀVᵀV = UΣ²Vᵀ (V orthogonal)",
      "AAᵀ = UΣVᵀVΣᵀUᵀ = UΣΣᵀUᵀ (VᵀV = I cancels in the middle)", aat,
      FINDINGS + "test_sheet_erratum_aat_is_u_sigma2_ut"),
    S("orthogonal", 114, HOLDS, "④ QᵀQ = QQᵀ = I", "as written for square orthogonal Q", orthogonal),
    S("orthogonal-norm", 116, HOLDS, "⑤ ‖Qv‖ = ‖v‖", "as written", orthogonal_norm),
    S("orthogonal-det", 118, WRONG, "⑥ det(QᵀQ) = det(Q) = det(I)",
      "det(QᵀQ) = det(Q)² = det(I) = 1, so det(Q) = ±1 (a reflection has -1)", orthogonal_det,
      FINDINGS + "test_sheet_erratum_orthogonal_determinant_is_plus_or_minus_one"),
    S("cov-affine", 120, HOLDS, "cov(Ax + b) = A cov(x) Aᵀ", "as written", cov_affine),
]
S = Section("Miscellaneous")
CLAIMS += [
    S("svd-transpose", 378, WRONG, "W = UAVᵀ, Wᵀ = UAᵀVᵀ", "Wᵀ = VAᵀUᵀ", svd_transpose,
      FINDINGS + "test_sheet_erratum_svd_transpose")
]
