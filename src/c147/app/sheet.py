"""``c147-sheet``: run the check of every claim on the cheat sheet and print the verdicts.

    c147-sheet                          # the table and a summary line (counts per verdict)
    c147-sheet -k lse                   # only the claims whose id contains "lse"
    c147-sheet --markdown docs/SHEET.md # also write the table as a markdown document

Exit status: 0 when every check observes its registered verdict, 1 when one does not (or raises), 2 on bad
input, e.g. a ``--markdown`` path holding a file that c147-sheet did not write (never overwritten).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from c147.theory.claims import CLAIMS, counts, evaluate
from c147.theory.evidence import VERDICTS, Claim, Evidence, Number

HEADER = "<!-- written by c147-sheet (c147.app.sheet); rerun `c147-sheet --markdown PATH` to update -->"
STYLE = {"holds": "green", "wrong": "red", "convention": "yellow", "ocr": "cyan"}


@dataclass(frozen=True)
class Row:
    claim: Claim
    evidence: Evidence | None
    error: str = ""

    @property
    def observed(self) -> str:
        return self.evidence.verdict if self.evidence else f"error: {self.error}"

    @property
    def ok(self) -> bool:
        return self.evidence is not None and self.evidence.verdict == self.claim.verdict


def _fmt(value: Number) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def numbers(evidence: Evidence | None, limit: int = 6) -> str:
    if evidence is None:
        return ""
    items = list(evidence.numbers.items())
    text = ", ".join(f"{k}={_fmt(v)}" for k, v in items[:limit])
    return text + (f", (+{len(items) - limit})" if len(items) > limit else "")


def run(claims: Sequence[Claim]) -> list[Row]:
    rows = []
    for claim in claims:
        try:
            rows.append(Row(claim, evaluate(claim)))
        except Exception as exc:  # a broken check is a failed check, reported with the rest
            rows.append(Row(claim, None, f"{type(exc).__name__}: {exc}"))
    return rows


def summary(rows: Sequence[Row]) -> str:
    n = counts(tuple(r.claim for r in rows))
    failed = [r for r in rows if not r.ok]
    head = f"{len(rows)} claims: " + ", ".join(f"{n[v]} {v}" for v in VERDICTS)
    if not failed:
        return head + "; every check agrees"
    return (head + f"; {len(failed)} FAILED: " + ", ".join(
            f"{r.claim.id} (line {r.claim.line}: registered {r.claim.verdict}, observed {r.observed})" for r in failed))


def table(rows: Sequence[Row]) -> Table:
    t = Table(title="The cheat sheet, claim by claim", show_lines=False)
    for name in ("line", "claim", "sheet", "verdict", "corrected", "evidence"):
        t.add_column(name, overflow="fold")
    for r in rows:
        verdict = f"[{STYLE[r.claim.verdict]}]{r.claim.verdict}[/]"
        if not r.ok:
            verdict = f"[bold red]FAILED[/] registered {r.claim.verdict}, observed {escape(r.observed)}"
        evidence = r.evidence.summary + "; " + numbers(r.evidence) if r.evidence else r.error
        t.add_row(
            str(r.claim.line),
            f"{escape(r.claim.id)}\n[dim]{escape(r.claim.section)}[/]",
            escape(r.claim.sheet),
            verdict,
            escape(r.claim.corrected),
            escape(evidence),
        )
    return t


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[Row]) -> str:
    lines = [
        HEADER,
        "# The cheat sheet, claim by claim",
        "",
        "Every claim on the sheet (`cheatsheet.md`, by line), judged in the sheet's own notation: **holds**, "
        "**wrong** (the correct statement beside it), **convention** (holds under the stated convention or "
        "reading), **ocr** (a transcription artefact; the stated reading holds). Each verdict is observed by a "
        "check in `c147.theory` (exact in float64 or Fractions, or seeded Monte Carlo within 6 standard errors "
        "that also rules out the contrasting formula) and proved by the named test. The mistakes are discussed "
        "in [ERRATA.md](ERRATA.md).",
        "",
        f"**{summary(rows)}**",
        "",
        "| line | claim | the sheet says | verdict | correct | evidence | test |",
        "|---:|---|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = r.claim.verdict if r.ok else f"FAILED: registered {r.claim.verdict}, observed {r.observed}"
        evidence = f"{r.evidence.summary} ({numbers(r.evidence)})" if r.evidence else r.error
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    str(r.claim.line),
                    f"`{r.claim.id}` ({r.claim.section})",
                    r.claim.sheet,
                    verdict,
                    r.claim.corrected,
                    evidence,
                    f"`{r.claim.test}`",
                )
            )
            + " |"
        )
    return "\n".join(lines) + "\n"


def _writable(path: Path) -> str | None:
    """Why ``path`` must not be written, or None: only a missing or empty file, or one c147-sheet wrote."""
    if not path.parent.is_dir():
        return f"folder {path.parent} does not exist"
    if path.is_dir():
        return f"{path} is a folder"
    if path.exists() and path.stat().st_size:
        with path.open(encoding="utf-8", errors="replace") as f:
            first = f.readline().rstrip("\n")
        if first != HEADER:
            return f"{path} exists and was not written by c147-sheet (its first line is not c147-sheet's header)"
    return None


def main(argv: Sequence[str] | None = None, claims: Sequence[Claim] = CLAIMS) -> int:
    parser = argparse.ArgumentParser(prog="c147-sheet", description="Check every claim on the cheat sheet.")
    parser.add_argument(
        "--markdown",
        metavar="PATH",
        type=Path,
        help="also write the table as markdown to PATH (a new file, or one c147-sheet wrote before)",
    )
    parser.add_argument("-k", metavar="TEXT", default="", help="only the claims whose id contains TEXT")
    args = parser.parse_args(argv)
    selected = [c for c in claims if args.k in c.id]
    if not selected:
        print(f"c147-sheet: no claim id contains {args.k!r}", file=sys.stderr)
        return 2
    if args.markdown is not None and (why := _writable(args.markdown)):
        print(f"c147-sheet: refusing to write --markdown {args.markdown}: {why}", file=sys.stderr)
        return 2
    rows = run(selected)
    console = Console()
    console.print(table(rows))
    console.print(summary(rows), markup=False)
    if args.markdown is not None:
        args.markdown.write_text(markdown(rows), encoding="utf-8")
        console.print(f"wrote {args.markdown}", markup=False)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
