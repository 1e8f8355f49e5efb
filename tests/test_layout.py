"""The package's floor plan: no import circle, and no import from a layer up to a higher one.

Every `import` and `from ... import` in `envman/` is read with `ast` (those inside
functions and under `TYPE_CHECKING` too: a lazy import is still a dependency), and each
module is given the layer of its package. A failure names the offending import.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "envman"

# Lowest first. A module may import its own layer or a lower one, never a higher one.
LAYERS: Tuple[Tuple[str, ...], ...] = (
    # what every layer uses
    ("envman", "envman.ages", "envman.checkpoints", "envman.config", "envman.errors", "envman.fsutil",
     "envman.inputs", "envman.models", "envman.processes", "envman.sizes"),
    ("envman.store",),
    ("envman.python",),
    ("envman.create",),
    ("envman.projects",),
    ("envman.discovery",),
    ("envman.shell",),
    ("envman.ops",),
    ("envman.cli",),
    ("envman.__main__",),
)

# The fast paths run under `python -I -S` on every TAB and every `cd`: only the standard
# library and these modules of envman may be imported at their top level.
FAST_PATHS = {
    "envman.shell.complete_fast": {"envman", "envman.fsutil", "envman.checkpoints", "envman.shell"},
    "envman.shell.auto_fast": {"envman", "envman.fsutil", "envman.checkpoints", "envman.shell",
                               "envman.shell.complete_fast", "envman.shell.activation", "envman.python",
                               "envman.python.base"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: Dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, top_level_only: bool = False) -> List[Tuple[int, str]]:
    """(line, module) for each envman module `name` imports."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from envman.store import registry` imports the module envman.store.registry
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target not in MODULES and "." in target:
                target = target.rpartition(".")[0]
            if target in MODULES and target != name:
                found.append((node.lineno, target))
    return found


def shown(path: Path) -> str:
    """`path` from the repository's root where it lies inside it."""
    try:
        return str(path.relative_to(PACKAGE.parent))
    except ValueError:
        return str(path)


def layer_of(name: str) -> int:
    best, rank = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            exact = prefix in LAYERS[0] or prefix == "envman.__main__"
            if (name == prefix if exact else (name == prefix or name.startswith(prefix + "."))):
                if len(prefix) > best:
                    best, rank = len(prefix), index
    if rank < 0:
        raise AssertionError(f"{name} is on no layer: add it to LAYERS in {Path(__file__).name}")
    return rank


def upward(modules: Dict[str, Path]) -> List[str]:
    """Every import of a higher layer, as `module:line imports target (layer a -> b)`."""
    problems = []
    for name in modules:
        for line, target in imports(name):
            if layer_of(target) > layer_of(name):
                problems.append(f"{shown(modules[name])}:{line}: {name} imports {target}, "
                                f"a higher layer ({LAYERS[layer_of(name)][0]} -> {LAYERS[layer_of(target)][0]})")
    return problems


def circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The import circles of `graph` (Tarjan's strongly connected components)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_is_on_a_layer() -> None:
    for name in MODULES:
        layer_of(name)


def test_no_import_runs_up_a_layer() -> None:
    problems = upward(MODULES)
    assert not problems, "imports from a lower layer to a higher one:\n" + "\n".join(problems)


def test_no_import_circle() -> None:
    graph = {name: {target for _, target in imports(name)} for name in MODULES}
    found = circles(graph)
    detail = []
    for circle in found:
        for name in circle:
            detail += [f"  {name}:{line} imports {target}" for line, target in imports(name) if target in circle]
    assert not found, "import circles:\n" + "\n".join(detail)


@pytest.mark.parametrize("fast", sorted(FAST_PATHS))
def test_fast_paths_import_only_the_standard_library_and_cheap_modules(fast: str) -> None:
    allowed = FAST_PATHS[fast]
    extra = sorted({target for _, target in imports(fast, top_level_only=True)} - allowed)
    assert not extra, f"{fast} imports at its top level: {extra}"


def test_the_checks_name_what_breaks_them(tmp_path: Path) -> None:
    """The checks above on two made-up modules that import each other, store -> cli."""
    made = {"envman.store.a": tmp_path / "a.py", "envman.cli.b": tmp_path / "b.py"}
    made["envman.store.a"].write_text("from envman.cli import b\n")
    made["envman.cli.b"].write_text("def f():\n    from envman.store import a\n")
    saved = dict(MODULES)
    MODULES.update(made)
    try:
        problems = upward(made)
        assert len(problems) == 1 and "a.py:1: envman.store.a imports envman.cli.b" in problems[0], problems
        assert circles({name: {t for _, t in imports(name)} for name in made}) == [["envman.cli.b", "envman.store.a"]]
    finally:
        MODULES.clear()
        MODULES.update(saved)
