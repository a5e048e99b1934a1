"""Imports point one way: scripts -> pipeline -> exclusion -> influence -> training ->
{tracin, models, losses, datasets} -> utils. No package imports a later step, and the four
base packages do not import each other."""
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
