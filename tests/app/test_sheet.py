"""c147-sheet, run in-process: the table and its summary line, the markdown document (docs/SHEET.md is what
it writes now), the refusal to overwrite a file it did not write, and a failing check's non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len

from c147.app import sheet
from c147.theory.claims import CLAIMS, counts, evaluate
from c147.theory.evidence import HOLDS, WRONG, Claim, Evidence

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at the terminal width; keep the rows whole


def expected_summary(claims=CLAIMS) -> str:
    n = counts(tuple(claims))
    return (f"{len(claims)} claim{'s' * (len(claims) != 1)}: {n['holds']} holds, {n['wrong']} wrong, "
            f"{n['convention']} convention, {n['ocr']} ocr; every check agrees")


def test_a_terminal_80_columns_wide_gets_a_line_per_claim_and_the_markdown_every_field(tmp_path, capsys,
                                                                                       monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "SHEET.md"
    assert sheet.main(["--markdown", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(CLAIMS) < len(printed) < 400
    too_wide = [line for line in printed if max(len(line), cell_len(line)) > 80]
    assert not too_wide, too_wide[:3]
    by_id = {line.split()[1]: line.split() for line in printed if line[:4].strip().isdigit()}
    assert [by_id[c.id][:3] for c in CLAIMS] == [[str(c.line), c.id, c.verdict] for c in CLAIMS]
    assert printed[-4:] == [expected_summary(), *sheet.HINT.splitlines(), f"wrote {out}"]
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[0] == sheet.HEADER
    assert f"**{expected_summary()}**" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| line")]
    assert len(rows) == len(CLAIMS)
    assert all(f"`{c.id}`" in row and f"`{c.test}`" in row for c, row in zip(CLAIMS, rows, strict=True))
    assert sheet.main(["-k", "trace-cyclic", "--markdown", str(out)]) == 0  # its own file: rewritten
    assert "`trace-cyclic`" in out.read_text(encoding="utf-8") and "`l2-objective`" not in out.read_text()


@pytest.mark.parametrize("columns", [sheet.WIDE - 1, sheet.WIDE])
def test_the_wide_table_from_its_width_on(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    claims = CLAIMS[:4]
    assert sheet.main([], claims=claims) == 0
    printed = capsys.readouterr().out
    assert max(cell_len(line) for line in printed.splitlines()) <= columns
    wide = "┃ corrected" in printed
    assert wide == (columns >= sheet.WIDE)
    if wide:  # ids whole, each claim's correction and evidence
        assert all(f"│ {c.id} " in printed and c.corrected.split()[0] in printed for c in claims)
    assert printed.splitlines()[-2:] == sheet.HINT.splitlines()


@pytest.mark.parametrize("columns", ["80", "250"])
def test_one_claim_in_full(capsys, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    (claim,) = [c for c in CLAIMS if "xavier-both" in c.id]
    assert sheet.main(["-k", "xavier-both"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0].startswith(claim.id) and lines[-1] == expected_summary([claim])
    assert max(cell_len(line) for line in lines) <= int(columns)
    if columns == "250":  # every field on its own line, every number (the table shows 6)
        evidence = evaluate(claim)
        assert len(evidence.numbers) > 6
        fields = {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in lines[1:-1]}
        assert fields == {
            "claim": f"{claim.id} ({claim.section})", "line": f"{claim.line} of cheatsheet.md",
            "the sheet says": claim.sheet, "verdict": claim.verdict, "correct": claim.corrected,
            "evidence": evidence.summary, "test": claim.test,
            "numbers": ", ".join(f"{k}={sheet._fmt(v)}" for k, v in evidence.numbers.items())}


def _without_evidence(markdown: str) -> list[list[str]]:
    """The document's lines, table rows split into cells with the evidence column (numbers that may differ in
    the last digits from one CPU or torch version to another) left out."""
    out = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.split(" | ")]
        out.append(cells[:5] + cells[6:] if line.startswith("| ") and len(cells) == 7 else [line])
    return out


def test_docs_sheet_md_is_what_c147_sheet_writes():
    """docs/SHEET.md is generated (c147-sheet --markdown docs/SHEET.md) and kept in step with the registry:
    every line, claim, verdict, correction and test as the registry has them now."""
    written = (ROOT / "docs" / "SHEET.md").read_text(encoding="utf-8")
    assert _without_evidence(written) == _without_evidence(sheet.markdown(sheet.run(CLAIMS)))


def test_select_by_id(capsys):
    assert sheet.main(["-k", "lse-bounds"]) == 0
    selected = [c for c in CLAIMS if "lse-bounds" in c.id]
    assert expected_summary(selected) in capsys.readouterr().out
    assert sheet.main(["-k", "no-such-claim"]) == 2
    assert capsys.readouterr().err.strip() == "c147-sheet: no claim id contains 'no-such-claim'"


@pytest.mark.parametrize("content", ["my notes\n", sheet.HEADER + " (edited)\n"])
def test_refuses_to_overwrite_a_file_it_did_not_write(tmp_path, capsys, content):
    out = tmp_path / "notes.md"
    out.write_text(content, encoding="utf-8")
    assert sheet.main(["-k", "trace-cyclic", "--markdown", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before any check ran
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"c147-sheet: refusing to write --markdown {out}: ")
    assert "not written by c147-sheet" in err[0]
    assert out.read_text(encoding="utf-8") == content


def test_refuses_a_missing_folder_and_writes_an_empty_file(tmp_path, capsys):
    assert sheet.main(["-k", "trace-cyclic", "--markdown", str(tmp_path / "no" / "SHEET.md")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty.md"
    empty.touch()
    assert sheet.main(["-k", "trace-cyclic", "--markdown", str(empty)]) == 0
    assert empty.read_text(encoding="utf-8").startswith(sheet.HEADER)


def _claim(id: str, verdict: str, check) -> Claim:
    return Claim(id, "Test", 1, "a claim", verdict, "as written", check)


def test_a_failing_check_is_reported_and_exits_1(tmp_path, capsys, monkeypatch):
    def observes_wrong():
        return Evidence(WRONG, {"x": 1.0}, "observed wrong")

    def raises():
        raise RuntimeError("boom")

    def holds():
        return Evidence(HOLDS, {}, "fine")

    claims = [_claim("fake-ok", HOLDS, holds), _claim("fake-disagrees", HOLDS, observes_wrong),
              _claim("fake-raises", HOLDS, raises)]
    out = tmp_path / "SHEET.md"
    assert sheet.main(["--markdown", str(out)], claims=claims) == 1
    printed = capsys.readouterr().out
    summary = [line for line in printed.splitlines() if line.startswith("3 claims")]
    assert summary == ["3 claims: 3 holds, 0 wrong, 0 convention, 0 ocr; 2 FAILED: fake-disagrees (line 1: registered "
                       "holds, observed wrong), fake-raises (line 1: registered holds, observed error: RuntimeError: "
                       "boom)"]
    assert "FAILED" in out.read_text(encoding="utf-8")
    assert sheet.main([], claims=claims[:1]) == 0
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "80")  # a line per claim: FAILED in the verdict column, the exit status as wide
    assert sheet.main([], claims=claims) == 1
    verdicts = {line.split()[1]: line.split()[2] for line in capsys.readouterr().out.splitlines()
                if line.split()[:1] == ["1"]}
    assert verdicts == {"fake-ok": "holds", "fake-disagrees": "FAILED", "fake-raises": "FAILED"}
