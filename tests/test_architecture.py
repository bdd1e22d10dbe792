"""The package's modules import one another without a cycle.

A cycle hidden behind an import inside a function still ties two modules together (neither
can be understood, tested or changed alone), so the graph holds every import: at module
level, inside functions and under `if TYPE_CHECKING:` alike.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import participation_xl

PACKAGE = participation_xl.__name__
SOURCE = Path(participation_xl.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SOURCE.rglob("*.py"))}


def _imported(node: ast.AST, here: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The package's modules one import statement names (`from . import x` names the
    module x when there is one, else the package itself)."""
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names)
        return
    if not isinstance(node, ast.ImportFrom):
        return
    if node.level:
        base = here.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        yield sub if sub in known else target


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in its code."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        found = {
            target
            for node in ast.walk(tree)
            for target in _imported(node, name, is_package, known)
            if target in known and target != name
        }
        graph[name] = found
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert f"{PACKAGE}.collect" in graph[f"{PACKAGE}.pipeline"]
    # The demo's explained feedback workbook: a module-level import of a sibling.
    assert f"{PACKAGE}.sample" in graph[f"{PACKAGE}.demo"]
    assert graph[f"{PACKAGE}.__main__"] == {f"{PACKAGE}.cli"}


def test_a_hidden_cycle_is_found_and_named():
    source = "def f():\n    from .b import x\n"
    tree = ast.parse(source)
    edges = {t for n in ast.walk(tree) for t in _imported(n, "p.a", False, {"p.a", "p.b"})}
    assert edges == {"p.b"}
    assert find_cycle({"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}}) == [
        "p.a",
        "p.b",
        "p.c",
        "p.a",
    ]
    assert find_cycle({"p.a": {"p.b"}, "p.b": set()}) is None
