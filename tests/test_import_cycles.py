"""No import circle anywhere in the package, by the rule the structure issue set: every import at
module level as written (those under `if TYPE_CHECKING` included), a package's `__init__` a module
of its own, so a submodule importing its own package while that package imports it is a circle.
(tests/test_imports.py also counts imports inside functions, between layers.) And no module of
cost/ reaches models/ or engine/ (costs are counted from what runs, whatever built it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from test_imports import find_cycle  # the one cycle finder of the import tests

PACKAGE = Path(__file__).resolve().parents[1] / "energybench"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(tree: ast.Module) -> list[ast.stmt]:
    """Imports run when the module is imported, and those under `if TYPE_CHECKING:`."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "handlers", []) + getattr(node, "finalbody", [])
        elif isinstance(node, ast.ExceptHandler):
            todo += node.body
    return found


def graph(folder: str) -> dict[str, set[str]]:
    modules = {module_name(p): p for p in (PACKAGE / folder).rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's package
                    pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            edges[name] |= {t for t in targets if t in modules and t != name}
    return edges


@pytest.mark.parametrize("folder", ["", "report", "cost", "power"])
def test_no_import_cycle(folder):
    assert find_cycle(graph(folder)) is None  # "": the whole package


def test_the_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_cost_imports_neither_models_nor_engine():
    bad = [f"{p.relative_to(PACKAGE.parent)}: {line.strip()}" for p in (PACKAGE / "cost").rglob("*.py")
           for line in p.read_text().splitlines()
           if line.lstrip().startswith(("from energybench.models", "from energybench.engine",
                                        "import energybench.models", "import energybench.engine"))]
    assert bad == []
