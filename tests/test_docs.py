"""The README and docs/*.md say what is there: every repository path they show exists, every test they name is
defined, and every command line they show composes (``--cfg job``, in-process: the command's Hydra config with
the line's overrides, then the value types c147 checks before Hydra runs)."""

from __future__ import annotations

import ast
import re
import shlex
from functools import cache
from pathlib import Path

import pytest

from c147.app.argv import compose_check, config_groups, pop_config_dirs, rewrite_null_groups, sweep_samples
from c147.app.config_checks import check_config_types

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "c147"
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))

# console script -> its Hydra config (c147-sheet is argparse: checked on its own)
CONFIGS = {"c147-train": "train", "c147-eval": "eval", "c147-ensemble": "ensemble", "c147-summary": "summary",
           "c147-classic": "classic", "c147-bench": "bench", "c147-study": "study"}
# a placeholder the reader fills in (<time>, <run>): a value of the same shape, which composing does not open
PLACEHOLDER = re.compile(r"<[a-z ]+>")
# the user's own config of the --config-dir example (docs/guide.md), as the reader would write it
USER_CONFIGS = {"model/my_net.yaml": (PACKAGE / "configs" / "model" / "mlp.yaml")}
# top-level folders and files of the repository a doc may name (other paths are a run's outputs: outputs/,
# figures/, runs/<label>/, data/)
ROOTS = ("src/", "tests/", "docs/", "configs/", "scripts/", ".ci/")
SUBPACKAGES = tuple(p.name + "/" for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("_"))


def doc_id(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# --- commands -------------------------------------------------------------------------------------------------

def bash_lines(text: str) -> list[str]:
    """The lines of the ```bash blocks, continuations joined, comments dropped."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"(^|\s)#.*", "", line).strip()
            if line:
                out.append(line)
    return out


def inline_commands(text: str) -> list[str]:
    """Backticked spans that start with a console script (``c147-train model=mlp``)."""
    return [s for s in re.findall(r"`([^`\n]+)`", text) if s.split()[0] in CONFIGS]


def commands(line: str) -> list[str]:
    """The console-script invocations on a shell line (``cd X && c147-train ...``; ``make train ARGS="..."`` and
    ``scripts/compare-impls ARGS`` as the c147-train line they run)."""
    out = []
    for part in line.split("&&"):
        part = part.strip()
        if part.startswith("make train"):
            args = re.search(r'ARGS="([^"]*)"', part)
            out.append("c147-train " + (args.group(1) if args else ""))
        elif part.startswith("scripts/compare-impls"):
            out.append("c147-train -m impl=c147,torch " + part.split(None, 1)[1] if " " in part else "")
        elif part.split() and (part.split()[0] in CONFIGS or part.split()[0] == "c147-sheet"):
            out.append(part)
    return [c for c in out if c]


@cache
def claim_ids() -> tuple[str, ...]:
    from c147.theory.claims import CLAIMS

    return tuple(c.id for c in CLAIMS)


def check_command(command: str, cwd: Path | None = None) -> None:
    """Compose ``command`` as its console script would (``--cfg job``), or check c147-sheet's arguments; raises on
    a config name, key or value the command would refuse. ``--config-dir DIR`` is ``cwd / DIR``, holding
    :data:`USER_CONFIGS`."""
    tokens = shlex.split(PLACEHOLDER.sub("2026-01-01_00-00-00_000000", command))
    script, args = tokens[0], tokens[1:]
    if script == "c147-sheet":
        while args:
            flag = args.pop(0)
            assert flag in ("-k", "--markdown") and args, f"c147-sheet takes -k TEXT and --markdown PATH, not {flag}"
            value = args.pop(0)
            if flag == "-k":
                assert any(value in i for i in claim_ids()), f"c147-sheet -k {value}: no claim id contains it"
        return
    args, dirs = pop_config_dirs(args)
    config_dirs = tuple((cwd or Path.cwd()) / d for d in dirs)
    for d in config_dirs:
        for name, source in USER_CONFIGS.items():
            (d / name).parent.mkdir(parents=True, exist_ok=True)
            (d / name).write_text(source.read_text())
    multirun = any(a in ("-m", "--multirun") for a in args)
    flags = [a for a in args if a.startswith("-") and a not in ("-m", "--multirun")]
    assert not flags, f"unexpected flags {flags}"
    overrides = [a for a in args if not a.startswith("-")]
    if multirun:
        overrides = sweep_samples(overrides)[0]  # its first job
    overrides = rewrite_null_groups(overrides, config_groups(config_dirs))
    cfg = compose_check(CONFIGS[script], overrides, config_dirs)
    check_config_types(cfg)


def doc_commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for line in [*bash_lines(text), *inline_commands(text)]:
            found += [(doc_id(doc), c) for c in commands(line)]
    return list(dict.fromkeys(found))


COMMANDS = doc_commands()


def test_the_docs_show_commands():
    scripts = {shlex.split(c)[0] for _, c in COMMANDS}
    assert set(CONFIGS) | {"c147-sheet"} <= scripts


@pytest.mark.parametrize("doc, command", COMMANDS, ids=[f"{d}: {c}" for d, c in COMMANDS])
def test_every_command_line_composes(doc, command, tmp_path):
    check_command(command, tmp_path)


@pytest.mark.parametrize("command, error", [
    ("c147-train optim.lr=abc", TypeError),
    ("c147-train model=nonexistent", Exception),
    ("c147-train trainer.no_such_key=1", Exception),
    ("c147-sheet -k no-such-claim", AssertionError),
    ("c147-train -m optim=nope,sgd", Exception),
])
def test_a_wrong_command_line_fails(command, error):
    with pytest.raises(error):
        check_command(command)


def test_sweeps_compose_their_first_combination():
    assert sweep_samples(["optim=sgd,adam", "data.augment=[flip,crop]", "seed=0,1"])[0] == \
        ["optim=sgd", "data.augment=[flip,crop]", "seed=0"]


# --- paths ----------------------------------------------------------------------------------------------------

@cache
def defined_names(path: Path) -> frozenset[str]:
    """Functions and classes defined anywhere in ``path``, and its module-level assignments."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return frozenset(names)


def resolve(span: str) -> Path | None:
    """The repository file or folder a backticked ``span`` names, or None when it names none (a command, a run's
    output folder, a placeholder)."""
    path = span.split("::", 1)[0]
    if " " in span or "<" in span or "*" in span or "=" in span or "/" not in path:
        return None
    if path.startswith(ROOTS):
        return REPO / path
    if path.startswith(SUBPACKAGES):
        return PACKAGE / path
    return None


def missing(span: str) -> str | None:
    """Why ``span`` (``path`` or ``path::name[param]``) does not exist, or None."""
    path = resolve(span)
    if path is None:
        return None
    if not path.exists():
        return f"{span}: no such file or folder"
    if "::" in span:
        name = re.sub(r"\[.*\]$", "", span.split("::", 1)[1]).split("::")[-1]
        if path.suffix == ".py" and name not in defined_names(path):
            return f"{span}: {path.name} does not define {name}"
    return None


def spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def links(text: str) -> list[str]:
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+://|#|mailto:", t)]


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_path_and_test_named_exists(doc):
    text = doc.read_text(encoding="utf-8")
    problems = [m for s in spans(text) if (m := missing(s))]
    problems += [f"link {t}: no such file" for t in links(text) if not (doc.parent / t.split("#")[0]).exists()]
    assert problems == []


def test_the_path_check_can_fail():
    assert missing("src/c147/nope.py") and missing("tests/test_docs.py::test_nope")
    assert missing("nn/init.py::nope_") and missing("tests/theory/test_claims.py::test_nope[lse]")
    assert missing("tests/theory/test_claims.py::test_claim[lse]") is None
    assert missing("outputs/train/runs/<time>/") is None


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 180
