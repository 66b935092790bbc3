"""The registry of the sheet's claims: every check observes its registered verdict, every Monte Carlo check
tells the right value from the contrasting one, and the registry's bookkeeping (ids, lines, tests) holds."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import torch

from c147.theory.claims import CLAIMS, counts, evaluate
from c147.theory.evidence import CLAIM_TEST, SEPARATION, VERDICTS, MonteCarlo, Z, monte_carlo

ROOT = Path(__file__).resolve().parents[2]
SHEET = ROOT.parent / "shared" / "cheatsheet.md"  # the source document, beside the repository when present
SHEET_LINES = 754
# the sheet's lines that hold text (1-based, as its line numbers count), recorded from the sheet with this sha256
SHEET_SHA256 = "3bb8fdb265e910377971671943732375543896ab0809714b7614eedc6e3d600d"
TEXT_LINES = (
    "3 5 7 9 11 13 15-16 18 20 22 24-25 27 29-32 34 36 38 40 42 44 46 48 50 52 54 56 58 60 62-63 65-67 69-70 72 "
    "74 76 78 80 82 84 86 88 90 92 94 96 98 100 102 104 106 108-110 112 114 116 118 120 122-123 125 127 129 131 "
    "133 135 137-143 145 147 149 151 153 155 157 159-160 162 164 166 168 170 172 174 176 178 180 182 184 186 188 "
    "190 192 194 196 198 200-202 204 206 208 210 212 214 216 218 220 222 224 226 228 230 232 234 236 238 240 242 "
    "244 246 248 250 252 254 256 258 260 262 264-265 267 269 271 273 275 277 279 281 283 285 287 289 291 293 295 "
    "297 299 301 303 305 307 309 311 313 315-318 320 322 324 326 328 330 332 334 336 338 340 342 344 346 348 350 "
    "352-360 362 364-366 368 370 372 374-376 378 380 382 384-385 387 389 391 393-399 401 403-406 408 410-411 413 "
    "415-416 418 421-427 429-434 439 441 443 447 451 453 455 457 459 461 463 465 467 469 471 473 475 477 479 481 "
    "483 485 487 489 491 493 495 497 499 501 503 505 507 509 511 513 515 517 519 521 523 525 527 529 531 533 535 "
    "537 539 541 543 545 547 549 551 553 555 557 559 561 563 565 567 569 571 573 575 577 579 581 583 585 587 589 "
    "591 593 595 597 599 601 603 605 607 609 611 613 615 617 619 621 624 626 628 630 632 636 638 640 642-643 645 "
    "647-648 650 654 656-657 659 661-663 665 669-672 674-676 678 680 682 684 686 688 690 692 694 696 698 700 "
    "702-703 705 707 709-710 712 714-715 717-723 725 727-732 734-748 750 752-754"
)


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


def text_lines() -> set[int]:
    """The recorded line numbers of the sheet that hold text."""
    lines = set()
    for part in TEXT_LINES.split():
        first, _, last = part.partition("-")
        lines.update(range(int(first), int(last or first) + 1))
    return lines


def test_the_recorded_text_lines_are_the_sheets():
    """The record below is the sheet's (checked against the sheet itself wherever it is beside the repository,
    as in this project's workplace), so the claims are checked against the sheet's lines on any machine."""
    if SHEET.exists():
        raw = SHEET.read_bytes()
        text = raw.decode("utf-8").split("\n")  # as the sheet's line numbers count (not splitlines)
        assert hashlib.sha256(raw).hexdigest() == SHEET_SHA256, "the sheet changed: record its lines again"
        assert {i for i, line in enumerate(text, 1) if line.strip()} == text_lines()
        assert len(text) - (text[-1] == "") == SHEET_LINES
    assert len(text_lines()) == 419 and max(text_lines()) == SHEET_LINES


def test_every_claim_points_at_a_line_with_text():
    assert [c.id for c in CLAIMS if c.line not in text_lines()] == []


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
