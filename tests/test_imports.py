"""The package's imports flow one way: no cycle, and no module imports a layer above its own.

Every import counts, also one inside a function (a lazy import still ties the two modules
together); only imports under `if TYPE_CHECKING:` (types, never executed) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "energybench"

# Lower layers never import higher ones (DESIGN.md: commands -> engine -> methods -> training ->
# cost/power -> models/data). Report and results read run directories: no training code.
LAYERS = {
    "energybench": 0, "errors": 0, "files": 0, "confusion": 0, "plugins": 0, "user_yaml": 0,
    "config": 0,  # the config's dataclass and parsing; what its values mean is checked in engine/preflight.py
    "data": 1, "models": 1, "rtl": 1,
    "cost": 2, "power": 2,
    "training": 3, "trackers": 3,
    "methods": 4,
    "results": 1, "calibration": 1, "rundir": 1,
    "engine": 6,
    "report": 2,
    "commands": 8, "cli": 8, "__main__": 9,
}
# What report/ and results.py may import: reading a run directory needs nothing that trains.
READERS_MAY_IMPORT = {"energybench", "errors", "files", "user_yaml", "confusion", "results", "calibration", "report",
                      "rundir"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the submodule pkg.mod when there is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `import energybench.cost.tables` -> that module
                name = name.rpartition(".")[0]
            if name.startswith("energybench") and name != me:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PKG.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "energybench.methods.base" in graph["energybench.methods"]  # imported inside a function
    assert "energybench.config" not in graph["energybench.methods.base"]  # TYPE_CHECKING only


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_config_imports_no_registry_it_is_checked_against():
    """config.py parses; the pre-flight checks names against methods, models, data and cost (no circle back)."""
    assert import_graph()["energybench.config"] == {"energybench.errors", "energybench.user_yaml"}


def test_imports_flow_down_the_layers():
    graph = import_graph()
    unknown = sorted({layer(m) for m in graph} - set(LAYERS))
    assert not unknown, f"give these folders a layer in LAYERS: {unknown}"
    upward = [f"{a} -> {b}" for a, deps in graph.items() for b in deps
              if LAYERS[layer(b)] > LAYERS[layer(a)] and layer(a) != layer(b)]
    assert upward == []


def test_run_directory_readers_import_no_training_code():
    graph = import_graph()
    bad = [f"{a} -> {b}" for a, deps in graph.items() if layer(a) in ("report", "results", "calibration", "rundir")
           for b in deps if layer(b) not in READERS_MAY_IMPORT]
    assert bad == []


@pytest.mark.parametrize("folder", ["cost"])
def test_cost_model_imports_no_power_code(folder):
    graph = import_graph()
    bad = [f"{a} -> {b}" for a, deps in graph.items() if layer(a) == folder for b in deps if layer(b) == "power"]
    assert bad == []
