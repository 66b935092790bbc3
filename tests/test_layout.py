"""The shape of the code: imports run one way (the library never imports the application, no cycles), the
application keeps no module state, the README's layout names what is there, the config types table is current,
and a console script's path to a user error imports neither torch nor Lightning."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from c147.app import config_checks
from c147.app.argv import CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = SRC / "c147"
APP = "c147.app"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(path: Path, module_level_only: bool) -> set[str]:
    """The c147 modules ``path`` imports (``from pkg import sub`` counts ``pkg.sub`` where that is a module):
    at module level (what runs on import; ``if TYPE_CHECKING`` blocks left out) or anywhere."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)
            if module_level_only:
                if isinstance(node, (ast.If, ast.Try)):
                    visit(node.body + node.orelse + getattr(node, "finalbody", []) +
                          [s for h in getattr(node, "handlers", []) for s in h.body])
            else:
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.stmt):
                        visit([child])

    visit(tree.body)
    out = set()
    for target in found:
        if target.split(".")[0] != "c147":
            continue
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = target.split(".")
        out.update(".".join(parts[:i]) for i in range(2, len(parts) + 1) if ".".join(parts[:i]) in MODULES)
    # a module's own packages are already being imported when it runs (partly initialized): not an edge
    return out - {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}


def test_the_library_never_imports_the_application():
    offenders = {name: sorted(m for m in imports(path, module_level_only=False) if m.startswith(APP))
                 for name, path in MODULES.items() if not name.startswith(APP)}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles():
    graph = {name: imports(path, module_level_only=True) for name, path in MODULES.items()}
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert len(state) == len(MODULES)


MUTATORS = {"append", "extend", "update", "clear", "pop", "popitem", "add", "insert", "remove", "discard",
            "setdefault"}


def test_the_application_keeps_no_module_state():
    """No ``global`` rebinding, and module-level lists, dicts, sets are constants (UPPER_CASE, never mutated)."""
    problems = []
    for name, path in MODULES.items():
        if not name.startswith(APP):
            continue
        tree = ast.parse(path.read_text())
        problems += [f"{name}:{n.lineno}: global {', '.join(n.names)}" for n in ast.walk(tree)
                     if isinstance(n, ast.Global)]
        containers = set()
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) and node.value is not None else []
            value = getattr(node, "value", None)
            mutable = isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in
                ("list", "dict", "set"))
            for t in targets:
                if isinstance(t, ast.Name) and (mutable or (isinstance(value, ast.Constant) and value.value is None)):
                    if mutable and not t.id.lstrip("_").isupper() and not t.id.startswith("__"):
                        problems.append(f"{name}:{node.lineno}: module-level {t.id} is mutable and not a constant")
                    containers.add(t.id)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in containers):
                problems.append(f"{name}:{node.lineno}: {node.func.value.id}.{node.func.attr}(...) mutates state")
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in containers:
                        problems.append(f"{name}:{node.lineno}: {t.value.id}[...] = mutates module state")
    assert problems == []


def readme_layout() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```\n(.*?)```", section, flags=re.S)
    return block.splitlines()


def test_the_readme_layout_is_short_and_names_what_is_there():
    lines = readme_layout()
    assert len(lines) <= 25
    text = "\n".join(lines)
    named = set(re.findall(r"(?<![\w/.])([\w.-]+/(?:[\w.-]+/)*[\w.-]*)", text))
    for token in named:
        candidates = [REPO / token, PACKAGE / token, PACKAGE / "app" / token]
        assert any(c.exists() for c in candidates), f"README layout names {token!r}, which does not exist"
    packages = sorted(p.parent.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("__init__.py")
                      if p.parent != PACKAGE)
    for pkg in packages:
        leaf = pkg.rsplit("/", 1)[-1]
        assert re.search(rf"(?<![\w]){re.escape(leaf)}/", text), f"README layout does not name the package {pkg}/"


def test_the_config_types_table_is_what_the_signatures_say():
    written = json.loads(config_checks.TYPES_FILE.read_text())
    assert written == json.loads(config_checks.dump_table(config_checks.build_table(Path(CONFIG_DIR)))), \
        "src/c147/app/config_types.json is stale: run python -m c147.app.config_checks"


@pytest.mark.parametrize("command, args, message", [
    ("train", ["optim.lr=abc"], "c147-train: error: optim.lr: expected float, got 'abc' (str)"),
    ("train", ["trainer.max_epochs=0"], "trainer.max_epochs: expected a positive integer"),
    ("train", ["model=nonexistent"], "model=nonexistent: no such option"),
    ("eval", [], "c147-eval: error: ckpt_path: expected the checkpoint to evaluate"),
    ("summary", ["model=nope"], "model=nope: no such option"),
    ("classic", ["task=nope"], "task=nope: no such option"),
    ("bench", ["size=huge"], "c147-bench: error: size must be one of"),
    ("ensemble", ["checkpoint=worst"], "checkpoint"),
    ("study", ["study=nope"], "study"),
    ("sheet", ["--bogus"], "unrecognized arguments: --bogus"),
    ("tensorboard", ["no_such_folder"], "c147-tensorboard: error: no such folder: no_such_folder"),
])
def test_a_user_error_imports_neither_torch_nor_lightning(command, args, message, tmp_path):
    """The path from a console script (``c147.app.cli``, as pyproject's [project.scripts] names it) to its first
    user error: Hydra and OmegaConf only (about 0.5 s, against 2-3 s for torch and 5-7 s for Lightning), and the
    exit status 2 the console script returns."""
    probe = (f"import sys; sys.argv = ['prog', *{args!r}]\n"
             f"from c147.app.cli import {command} as main\n"
             "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
             "print('EXIT', code, sorted(m for m in ('torch', 'lightning', 'torchvision', 'torch._dynamo')"
             " if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert message in proc.stderr, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "EXIT 2 []", proc.stdout + proc.stderr
