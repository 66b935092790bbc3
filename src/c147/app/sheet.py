"""``c147-sheet``: run the check of every claim on the cheat sheet and print the verdicts.

    c147-sheet                          # the table (a line per claim under 160 columns) and a summary line
    c147-sheet -k lse                   # only the claims whose id contains "lse", every field in full
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
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text

from c147.app.help import argparse_texts

if TYPE_CHECKING:  # the claims import torch: not before the command line is parsed (--help is instant)
    from c147.theory.evidence import Claim, Evidence, Number

HEADER = "<!-- written by c147-sheet (c147.app.sheet); rerun `c147-sheet --markdown PATH` to update -->"
STYLE = {"holds": "green", "wrong": "red", "convention": "yellow", "ocr": "cyan"}
# the narrowest terminal for the wide table: below it, its six columns break ids and claims mid-word
WIDE = 160
GAP = 3  # the narrow view's columns between two of its columns (padding, a space, padding)
SHEET_MIN = 12  # the narrow view shows what the sheet says when it has this many columns for it
HINT = ("c147-sheet -k ID: the claims whose id contains ID, every field in full\n"
        "c147-sheet --markdown PATH: the whole table, as markdown (as in docs/SHEET.md)")


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
    from c147.theory.claims import evaluate

    rows = []
    for claim in claims:
        try:
            rows.append(Row(claim, evaluate(claim)))
        except Exception as exc:  # a broken check is a failed check, reported with the rest
            rows.append(Row(claim, None, f"{type(exc).__name__}: {exc}"))
    return rows


def summary(rows: Sequence[Row]) -> str:
    from c147.theory.claims import counts
    from c147.theory.evidence import VERDICTS

    n = counts(tuple(r.claim for r in rows))
    failed = [r for r in rows if not r.ok]
    head = f"{len(rows)} claim{'s' * (len(rows) != 1)}: " + ", ".join(f"{n[v]} {v}" for v in VERDICTS)
    if not failed:
        return head + "; every check agrees"
    return (head + f"; {len(failed)} FAILED: " + ", ".join(
            f"{r.claim.id} (line {r.claim.line}: registered {r.claim.verdict}, observed {r.observed})" for r in failed))


def table(rows: Sequence[Row]) -> Table:
    """The wide view: every claim with what the sheet says, the verdict, the correction and the evidence."""
    t = Table(title="The cheat sheet, claim by claim", show_lines=False)
    for name in ("line", "claim", "sheet", "verdict", "corrected", "evidence"):
        t.add_column(name, overflow="fold")
    for r in rows:
        evidence = r.evidence.summary + "; " + numbers(r.evidence) if r.evidence else r.error
        t.add_row(
            str(r.claim.line),
            f"{escape(r.claim.id)}\n[dim]{escape(r.claim.section)}[/]",
            escape(r.claim.sheet),
            _verdict(r, observed=True),
            escape(r.claim.corrected),
            escape(evidence),
        )
    return t


def _verdict(r: Row, observed: bool) -> str:
    """The verdict as markup: in its colour, or FAILED (with what was registered and observed when ``observed``)."""
    if r.ok:
        return f"[{STYLE[r.claim.verdict]}]{r.claim.verdict}[/]"
    return "[bold red]FAILED[/]" + (f" registered {r.claim.verdict}, observed {escape(r.observed)}" if observed else "")


def compact(rows: Sequence[Row], width: int) -> Table:
    """The narrow view, ``width`` columns wide: a line per claim (its line on the sheet, id, verdict, and what the
    sheet says, shortened to fit; left out below :data:`SHEET_MIN` columns of room)."""
    from c147.theory.evidence import VERDICTS

    widths = {"line": max(len("line"), *(len(str(r.claim.line)) for r in rows)),
              "claim": max(len(r.claim.id) for r in rows), "verdict": max(map(len, VERDICTS))}
    room = width - sum(widths.values()) - len(widths) * GAP
    t = Table(title="The cheat sheet, claim by claim", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, w in widths.items():
        t.add_column(name, justify="right" if name == "line" else "left", width=w, no_wrap=True)
    if room >= SHEET_MIN:
        t.add_column("the sheet says", width=room, no_wrap=True, overflow="ellipsis")
    for r in rows:
        sheet = [escape(_shorten(r.claim.sheet, room))] if room >= SHEET_MIN else []
        t.add_row(str(r.claim.line), escape(r.claim.id), _verdict(r, observed=False), *sheet)
    return t


def details(r: Row) -> Table:
    """One claim in full: every field of its row, wrapped to the terminal."""
    evidence = r.evidence.summary if r.evidence else r.error
    every_number = ", ".join(f"{k}={_fmt(v)}" for k, v in r.evidence.numbers.items()) if r.evidence else ""
    fields = {
        "claim": f"[bold]{escape(r.claim.id)}[/] ({escape(r.claim.section)})",
        "line": f"{r.claim.line} of cheatsheet.md",
        "the sheet says": escape(r.claim.sheet),
        "verdict": _verdict(r, observed=True),
        "correct": escape(r.claim.corrected),
        "evidence": escape(evidence),
        "numbers": escape(every_number),
        "test": escape(r.claim.test),
    }
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    for name, value in fields.items():
        t.add_row(name, value)
    return t


def _shorten(text: str, width: int) -> str:
    """``text`` on one line of at most ``width`` cells and characters (a combining accent is a character of
    no width), ending in "…" when shortened."""
    text = " ".join(text.split())
    if cell_len(text) <= width and len(text) <= width:
        return text
    cut = text[: width - 1]
    while cell_len(cut) > width - 1:
        cut = cut[:-1]
    return cut.rstrip() + "…"


def trimmed(console: Console, renderable: RenderableType) -> Segments:
    """``renderable`` as ``console`` draws it, less the spaces that end its lines (rich pads every cell)."""
    out: list[Segment] = []
    for line in console.render_lines(renderable, pad=False):
        while line and not line[-1].control and not line[-1].text.rstrip(" "):
            line.pop()
        if line:
            line[-1] = Segment(line[-1].text.rstrip(" "), line[-1].style, line[-1].control)
        out += [*line, Segment.line()]
    return Segments(out)


def show(console: Console, rows: Sequence[Row], in_full: bool) -> None:
    """Print ``rows``: each in full (``-k``), or the table (wide or, on a narrower terminal, a line per claim)
    with the summary line, and how to see more."""
    if in_full:
        for r in rows:
            console.rule(Text(r.claim.id), align="left")
            console.print(trimmed(console, details(r)))
    else:
        console.print(table(rows) if console.width >= WIDE else trimmed(console, compact(rows, console.width)))
    console.print(summary(rows), markup=False)
    if not in_full:
        console.print(HINT, markup=False)


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


def main(argv: Sequence[str] | None = None, claims: Sequence[Claim] | None = None) -> int:
    parser = argparse.ArgumentParser(**argparse_texts("c147-sheet", "[-k TEXT] [--markdown PATH]"))
    parser.add_argument(
        "--markdown",
        metavar="PATH",
        type=Path,
        help="also write the table as markdown to PATH (a new file, or one c147-sheet wrote before)",
    )
    parser.add_argument("-k", metavar="TEXT", default="", help="only the claims whose id contains TEXT")
    args = parser.parse_args(argv)
    if claims is None:
        from c147.theory.claims import CLAIMS as claims
    selected = [c for c in claims if args.k in c.id]
    if not selected:
        print(f"c147-sheet: no claim id contains {args.k!r}", file=sys.stderr)
        return 2
    if args.markdown is not None and (why := _writable(args.markdown)):
        print(f"c147-sheet: refusing to write --markdown {args.markdown}: {why}", file=sys.stderr)
        return 2
    rows = run(selected)
    console = Console()
    show(console, rows, in_full=bool(args.k))
    if args.markdown is not None:
        args.markdown.write_text(markdown(rows), encoding="utf-8")
        console.print(f"wrote {args.markdown}", markup=False)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
