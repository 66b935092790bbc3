"""The registry's vocabulary: a :class:`Claim` of the sheet, the :class:`Evidence` its check returns, and
the two kinds of tolerance every check uses.

Verdicts, judged in the sheet's own notation and definitions:

* ``holds``: true as written.
* ``wrong``: false as written, and the corrected statement is checked true.
* ``convention``: true under a convention (or reading) the claim states as ``corrected``, false under the
  other one; e.g. a gradient in denominator layout.
* ``ocr``: the line as transcribed is no statement (a lost symbol, a garbled fragment); the reading given
  as ``corrected`` is checked true.

Tolerances:

* exact checks run in float64 and accept ``|a - b| <= 16 n eps max(1, |b|)`` with n the length of the
  longest reduction behind the numbers (:func:`close`); Fractions compare exactly.
* Monte Carlo checks are seeded and estimate a mean from n i.i.d. draws, with standard error s / sqrt(n)
  (CLT). The estimate must lie within ``Z`` = 6 standard errors of the correct value (a two-sided normal tail
  of 2e-9: the check does not fail by noise), and a contrasting value (the sheet's wrong one, or for a
  formula that holds its nearest wrong variant) must lie beyond ``SEPARATION`` = 3 tolerances (18 standard
  errors: it cannot pass by luck either). :class:`MonteCarlo` records both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

HOLDS, WRONG, CONVENTION, OCR = "holds", "wrong", "convention", "ocr"
VERDICTS = (HOLDS, WRONG, CONVENTION, OCR)
INCONCLUSIVE = "inconclusive"  # a check that could confirm neither the sheet nor the correction

Z = 6.0
SEPARATION = 3.0
EPS = torch.finfo(torch.float64).eps
CLAIM_TEST = "tests/theory/test_claims.py::test_claim"
FINDINGS = "tests/theory/test_findings.py::"  # the named tests of the registry's new findings

Number = float | int | str


@dataclass(frozen=True)
class MonteCarlo:
    """A seeded Monte Carlo estimate of a mean, with the value it must match and the one it must not."""

    name: str
    estimate: float
    standard_error: float
    n: int
    correct: float
    contrast: float

    @property
    def tolerance(self) -> float:
        return Z * self.standard_error

    @property
    def matches(self) -> bool:
        """The estimate is within Z standard errors of the correct value."""
        return abs(self.estimate - self.correct) <= self.tolerance

    @property
    def separates(self) -> bool:
        """The contrasting value lies beyond SEPARATION tolerances: the check tells the two apart."""
        return abs(self.estimate - self.contrast) > SEPARATION * self.tolerance

    @property
    def ok(self) -> bool:
        return self.matches and self.separates

    def numbers(self) -> dict[str, Number]:
        return {
            f"{self.name}": self.estimate,
            f"{self.name}_correct": self.correct,
            f"{self.name}_contrast": self.contrast,
            f"{self.name}_tol": self.tolerance,
            f"{self.name}_n": self.n,
        }


def monte_carlo(name: str, samples: Tensor, correct: float, contrast: float) -> MonteCarlo:
    """The mean of i.i.d. ``samples`` as an estimate of ``correct``, with its CLT standard error."""
    s = samples.detach().flatten().to(torch.float64)
    n = s.numel()
    return MonteCarlo(name, s.mean().item(), s.std().item() / math.sqrt(n), n, float(correct), float(contrast))


@dataclass(frozen=True)
class Evidence:
    """What a check observed: a verdict, the numbers behind it, a one-line summary, its Monte Carlo runs."""

    verdict: str
    numbers: dict[str, Number]
    summary: str
    monte_carlo: tuple[MonteCarlo, ...] = ()


@dataclass(frozen=True)
class Claim:
    """One claim of the sheet: where it is, what it says, the verdict, the correction, its check and test.

    ``line`` is 1-based in the sheet (``cheatsheet.md``); ``test`` is the pytest node that proves it
    (by default this claim's case of the registry test).
    """

    id: str
    section: str
    line: int
    sheet: str
    verdict: str
    corrected: str
    check: Callable[[], Evidence]
    test: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"claim {self.id}: verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if not self.test:
            object.__setattr__(self, "test", f"{CLAIM_TEST}[{self.id}]")


class Section:
    """A claim factory for one heading of the sheet: ``S = Section("Softmax"); S("id", 38, HOLDS, ...)``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, id: str, line: int, verdict: str, sheet: str, corrected: str, check: Callable[[], Evidence],
                 test: str = "") -> Claim:
        return Claim(id, self.name, line, sheet, verdict, corrected, check, test)


# ---- verdicts from facts --------------------------------------------------------------------------------


def holds_if(ok: bool) -> str:
    """A statement that should hold as written."""
    return HOLDS if ok else WRONG


def wrong_if(sheet_ok: bool, corrected_ok: bool) -> str:
    """A statement judged wrong: it is wrong when the sheet's version fails and the correction holds."""
    if sheet_ok:
        return HOLDS
    return WRONG if corrected_ok else INCONCLUSIVE


def convention_if(under_convention: bool, literally: bool) -> str:
    """True under the stated convention, false without it (else it simply holds, or is wrong)."""
    if not under_convention:
        return WRONG
    return HOLDS if literally else CONVENTION


def ocr_if(reading_ok: bool, literally: bool = False) -> str:
    """A garbled line: the stated reading holds (and the literal text does not)."""
    if not reading_ok:
        return WRONG
    return HOLDS if literally else OCR


def evidence(verdict: str, summary: str, *runs: MonteCarlo, **numbers: Number) -> Evidence:
    """Evidence with the Monte Carlo runs' numbers merged in."""
    merged: dict[str, Number] = {}
    for run in runs:
        merged.update(run.numbers())
    merged.update(numbers)
    return Evidence(verdict, merged, summary, runs)


# ---- exact comparisons ----------------------------------------------------------------------------------


def gap(a: Tensor | float, b: Tensor | float) -> float:
    """max |a - b| (inf when the shapes differ: a formula with the wrong shape is no match)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape:
        return math.inf
    return (a - b).abs().max().item() if a.numel() else 0.0


def tolerance(b: Tensor | float, n: int = 1) -> float:
    """16 n eps max(1, max|b|): float64 round-off of a reduction of length n."""
    scale = torch.as_tensor(b, dtype=torch.float64).abs().max().item() if torch.as_tensor(b).numel() else 0.0
    return 16 * n * EPS * max(1.0, scale)


def close(a: Tensor | float, b: Tensor | float, n: int = 1) -> bool:
    """a equals b up to float64 round-off (same shape)."""
    return gap(a, b) <= tolerance(b, n)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int, scale: float = 1.0) -> Tensor:
    """Seeded float64 N(0, scale²) draws."""
    return scale * torch.randn(*shape, generator=generator(seed), dtype=torch.float64)


def grad(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Autograd gradient of a scalar f at x (float64, x not modified)."""
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g
