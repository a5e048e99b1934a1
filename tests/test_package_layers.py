"""Imports point one way: scripts -> pipeline -> exclusion -> influence -> training ->
{tracin, models, losses, datasets} -> utils. No package imports a later step, and the four
base packages do not import each other. No two modules import each other, however indirectly
(function-level imports count), and no function outside tests/ and benchmarks/ is over 60 lines."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LEVEL = {"utils": 0, "datasets": 1, "models": 1, "losses": 1, "tracin": 1, "training": 2, "influence": 3, "exclusion": 4,
         "pipeline": 5}
SCRIPTS = {"train", "compute_tracin_influence", "generate_tracin_exclusions"}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_package_imports_a_later_step():
    wrong = []
    for package, level in LEVEL.items():
        for path in sorted((REPO / package).rglob("*.py")):
            for module in imported_modules(path):
                top = module.split(".")[0]
                later = top in LEVEL and top != package and LEVEL[top] >= level and package != "pipeline"
                if later or top in SCRIPTS:
                    wrong.append(f"{path.relative_to(REPO)} imports {module}")
    assert wrong == []


MAX_FUNCTION_LINES = 60
"""No function outside tests/ and benchmarks/ is longer (its decorators and docstring included)."""


def source_files() -> list[Path]:
    """Every module of the toolkit: the packages and the scripts (tests, benchmarks and the venv aside)."""
    skip = {"tests", "benchmarks", ".venv"}
    return sorted(p for p in REPO.rglob("*.py") if p.relative_to(REPO).parts[0] not in skip)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the toolkit's modules it imports, at any depth of its code (function-level imports too)."""
    modules = {module_name(p): p for p in source_files()}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                             for a in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    graph = import_graph()
    assert "influence.io" in graph and graph["influence.io"]  # the graph sees the toolkit's imports
    assert cycles(graph) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the check finds one


def test_no_function_over_60_lines():
    long = []
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - first + 1 > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - first + 1} lines)")
    assert long == []
