"""Every claim of the sheet (``cheatsheet.md``), in sheet order: where it is, what it says, the verdict, the
correct statement, the check that decides it, and the test that proves it.

The claims live beside their checks, one module per subject (:mod:`calculus`, :mod:`linalg`, :mod:`knn`,
:mod:`likelihood`, :mod:`losses`, :mod:`activations`, :mod:`initialization`, :mod:`regularization`,
:mod:`ensembles`, :mod:`normalization`, :mod:`descent`, :mod:`adaptive`, :mod:`adam`, :mod:`momentum`,
:mod:`lse`, :mod:`cnn`, :mod:`architectures`); this module gathers them. :func:`evaluate` runs a check once
per process; :func:`agrees` says whether it observed the registered verdict. The vocabulary (verdicts,
tolerances) is :mod:`c147.theory.evidence`.

Example:
    >>> from c147.theory.claims import CLAIMS, evaluate
    >>> claim = next(c for c in CLAIMS if c.id == "trace-cyclic")
    >>> claim.line, claim.verdict, evaluate(claim).verdict
    (82, 'holds', 'holds')
"""

from __future__ import annotations

from collections import Counter
from functools import cache

from c147.theory import (
    activations,
    adam,
    adaptive,
    architectures,
    calculus,
    cnn,
    descent,
    ensembles,
    initialization,
    knn,
    likelihood,
    linalg,
    losses,
    lse,
    momentum,
    normalization,
    regularization,
)
from c147.theory.evidence import VERDICTS, Claim, Evidence

MODULES = (calculus, linalg, knn, likelihood, losses, activations, initialization, regularization, ensembles,
           normalization, descent, adaptive, adam, momentum, lse, cnn, architectures)
CLAIMS: tuple[Claim, ...] = tuple(sorted((c for m in MODULES for c in m.CLAIMS), key=lambda c: c.line))


@cache
def evaluate(claim: Claim) -> Evidence:
    """The claim's evidence (its check runs once per process)."""
    return claim.check()


def agrees(claim: Claim) -> bool:
    """The check observed the registered verdict."""
    return evaluate(claim).verdict == claim.verdict


def counts(claims: tuple[Claim, ...] = CLAIMS) -> dict[str, int]:
    """Registered verdicts, in the order holds, wrong, convention, ocr."""
    c = Counter(claim.verdict for claim in claims)
    return {v: c[v] for v in VERDICTS}
