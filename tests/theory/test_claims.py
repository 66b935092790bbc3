"""The registry of the sheet's claims: every check observes its registered verdict, every Monte Carlo check
tells the right value from the contrasting one, and the registry's bookkeeping (ids, lines, tests) holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from c147.theory.claims import CLAIMS, counts, evaluate
from c147.theory.evidence import CLAIM_TEST, SEPARATION, VERDICTS, MonteCarlo, Z, monte_carlo

ROOT = Path(__file__).resolve().parents[2]
SHEET = ROOT.parent / "shared" / "cheatsheet.md"  # the source document, beside the repository when present
SHEET_LINES = 754


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_claim(claim):
    """The check observes the registered verdict; each of its Monte Carlo runs matches the correct value within
    Z standard errors and lies SEPARATION tolerances away from the contrasting (wrong) value."""
    evidence = evaluate(claim)
    assert evidence.verdict == claim.verdict, (evidence.summary, evidence.numbers)
    assert evidence.summary and evidence.numbers is not None
    for run in evidence.monte_carlo:
        assert run.n >= 1000 and run.standard_error > 0, run
        assert abs(run.estimate - run.correct) <= Z * run.standard_error, run
        assert abs(run.estimate - run.contrast) > SEPARATION * Z * run.standard_error, run


def test_registry_is_in_sheet_order_with_unique_ids():
    ids = [c.id for c in CLAIMS]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids)
    lines = [c.line for c in CLAIMS]
    assert lines == sorted(lines) and 1 <= lines[0] and lines[-1] <= SHEET_LINES
    assert all(c.verdict in VERDICTS and c.sheet and c.corrected and c.section for c in CLAIMS)


def test_every_verdict_occurs_and_the_counts_add_up():
    n = counts()
    assert sum(n.values()) == len(CLAIMS) and all(n[v] > 0 for v in VERDICTS)


@pytest.mark.parametrize("node", sorted({c.test for c in CLAIMS}))
def test_each_claims_test_exists(node):
    """Every registered test node names a test function that exists (a renamed test breaks this, not a link)."""
    path, name = node.split("::")
    name = name.split("[")[0]
    source = (ROOT / path).read_text(encoding="utf-8")
    assert re.search(rf"^def {re.escape(name)}\(", source, re.MULTILINE), node
    if node.startswith(CLAIM_TEST):
        assert node[len(CLAIM_TEST) + 1:-1] in {c.id for c in CLAIMS}


def test_errata_links_name_existing_tests():
    """docs/ERRATA.md's `tests/<file>::<test>` (and `::<test>` in the same file) links all exist."""
    errata = (ROOT / "docs" / "ERRATA.md").read_text(encoding="utf-8")
    nodes, current = [], None
    for path, name in re.findall(r"`(tests/[\w/]+\.py)?::(\w+)(?:\[[\w-]+\])?`", errata):
        current = path or current
        nodes.append((current, name))
    assert len(nodes) > 100
    missing = [f"{p}::{n}" for p, n in nodes
               if not re.search(rf"^def {n}\(", (ROOT / p).read_text(encoding="utf-8"), re.MULTILINE)]
    assert missing == []


def test_the_reviewed_lines_are_covered():
    """The lines the review of the sheet asked for (KNN distances, broadcasting, E[δδᵀ], softmax gradients, the trace
    identities, the linear-algebra list, the initialization, momentum and Adam derivations, the LSE chain)."""
    lines = {c.line for c in CLAIMS}
    wanted = {5, 11, 16, 25, 29, 34, 40, 42, 54, 56, 60, 74, 76, 78, 80, 82, 84, 86, 88, 96, 98, 102, 104, 106, 112,
              114, 116, 118, 120, 138, 141, 164, 168, 176, 180, 186, 190, 194, 208, 212, 214, 218, 222, 224, 256, 262,
              283, 328, 336, 357, 370, 375, 387, 389, 424, 430, 431, 433, 434, 507, 513, 541, 543, 607, 611, 613, 615,
              626, 672, 705, 707}
    assert wanted <= lines, sorted(wanted - lines)


@pytest.mark.skipif(not SHEET.exists(), reason="the sheet (../shared/cheatsheet.md) is not beside the repository")
def test_every_claim_points_at_a_line_with_text():
    text = SHEET.read_text(encoding="utf-8").split("\n")  # as the sheet's line numbers count (not splitlines)
    assert len(text) - (text[-1] == "") == SHEET_LINES
    assert [c.id for c in CLAIMS if not text[c.line - 1].strip()] == []


def test_monte_carlo_tolerance_comes_from_the_sample_size():
    """The tolerance is Z standard errors, s/√n: four times the draws, half the tolerance. Samples ±1 (mean 0,
    s = 1): at n = 10,000 the tolerance is 0.06 and a contrast at 0.12 is not separated (it needs 3 tolerances),
    at n = 40,000 it is 0.03 and the same contrast is."""

    def alternating(n):
        return torch.tensor([1.0, -1.0], dtype=torch.float64).repeat(n // 2)

    small, large = (monte_carlo("m", alternating(n), 0.0, 0.12) for n in (10_000, 40_000))
    assert isinstance(small, MonteCarlo) and small.estimate == large.estimate == 0.0
    assert abs(small.tolerance - Z / 100) < 1e-4 and abs(large.tolerance - Z / 200) < 1e-4
    assert small.matches and large.matches
    assert not small.separates and large.separates
