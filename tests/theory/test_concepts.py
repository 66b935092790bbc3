"""The concept registry (``c147.theory.concepts``) points at what is there: each code path and test exists, each
twin imports, each command composes, each sheet line says the concept, and ``docs/concepts.md`` is current."""

from __future__ import annotations

import hashlib
import importlib
from collections import Counter
from pathlib import Path

import pytest

from c147.app.studies import STUDIES
from c147.theory.concepts import CONCEPTS, HEADER, Concept, main, markdown
from tests.test_docs import check_command, missing
from tests.theory.test_claims import SHEET, SHEET_SHA256, text_lines

REPO = Path(__file__).resolve().parents[2]
IDS = [f"{c.line}-{c.name}" for c in CONCEPTS]
# the registry's (line, cue) pairs as checked against the sheet (SHEET_SHA256) where it is beside the repository,
# as in this project's workplace; on any other machine the pairs are checked against this record
CUES_SHA256 = "53a784817a8cfebd4786f7719ead5708a8ff1cf49310582ced7246a17ee25b61"


def cues_digest() -> str:
    return hashlib.sha256("\n".join(f"{c.line}:{c.cue}" for c in CONCEPTS).encode()).hexdigest()


@pytest.mark.parametrize("concept", CONCEPTS, ids=IDS)
def test_the_sheet_line_says_it(concept: Concept):
    """The concept's line holds text (the recorded map of the sheet, tests/theory/test_claims.py), and with the
    sheet at hand its cue is within 3 lines of it."""
    assert concept.line in text_lines()
    if SHEET.is_file():
        raw = SHEET.read_bytes()
        assert hashlib.sha256(raw).hexdigest() == SHEET_SHA256, "the sheet changed: check the lines again"
        lines = raw.decode("utf-8").split("\n")
        near = "\n".join(lines[max(0, concept.line - 4): concept.line + 3]).lower()
        assert concept.cue.lower() in near, f"{concept.cue!r} is not within 3 lines of sheet line {concept.line}"


def test_the_lines_and_cues_are_the_checked_ones():
    """A changed line or cue is checked against the sheet before it is recorded here (CUES_SHA256)."""
    assert cues_digest() == CUES_SHA256, "a concept's line or cue changed: check it against the sheet, record again"


@pytest.mark.parametrize("concept", CONCEPTS, ids=IDS)
def test_code_and_test_exist(concept: Concept):
    for field in (concept.code, concept.test):
        if field:
            assert (REPO / field.split("::")[0]).exists(), field
            assert missing(field) is None, missing(field)
    if concept.test:
        assert concept.test.startswith("tests/") and "::test_" in concept.test
    assert concept.study in ("", *STUDIES)
    if concept.implemented:
        assert concept.test and concept.run, "an implemented concept names its test and a command"
    else:
        assert concept.note.startswith("not yet"), "a concept without code says what is missing"


TWINS = [(i, c) for i, c in zip(IDS, CONCEPTS, strict=True) if c.twin]


@pytest.mark.parametrize("concept", [c for _, c in TWINS], ids=[i for i, _ in TWINS])
def test_the_twin_imports(concept: Concept):
    module, _, name = concept.twin.rpartition(".")
    assert hasattr(importlib.import_module(module), name), concept.twin


@pytest.mark.parametrize("run", sorted({c.run for c in CONCEPTS if c.run}))
def test_the_command_composes(run: str):
    check_command(run)


def test_claim_ids_in_tests_are_registered():
    from c147.theory.claims import CLAIMS

    ids = {c.id for c in CLAIMS}
    for c in CONCEPTS:
        if "[" in c.test and "test_claim[" in c.test:
            assert c.test.split("[", 1)[1].rstrip("]") in ids, c.test


def test_sheet_order_no_duplicates_and_the_count():
    assert [c.line for c in CONCEPTS] == sorted(c.line for c in CONCEPTS)
    names = Counter(c.name.lower() for c in CONCEPTS)
    assert [n for n, k in names.items() if k > 1] == []
    assert len(CONCEPTS) >= 60
    # the sheet, complete (issue 23): every concept is implemented
    assert [c.name for c in CONCEPTS if not c.implemented] == []


def test_docs_concepts_md_is_what_the_generator_writes():
    page = REPO / "docs" / "concepts.md"
    assert page.read_text(encoding="utf-8") == markdown(), \
        "docs/concepts.md is stale: run python -m c147.theory.concepts --markdown docs/concepts.md"


def test_the_generator_writes_and_refuses_a_file_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "concepts.md"
    assert main(["--markdown", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[0] == HEADER
    other = tmp_path / "notes.md"
    other.write_text("mine\n")
    assert main(["--markdown", str(other)]) == 2
    assert other.read_text() == "mine\n"
