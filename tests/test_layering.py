"""The house's import rule (docs/architecture.md): imports flow one way, ``recommendations`` →
``products`` and ``recommendations`` → ``ui_templates``; ``products`` and ``ui_templates`` never
import ``recommendations``, and ``ui_templates`` imports neither. ``homeservice`` wires."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "products": ("recommendations",),
    "ui_templates": ("recommendations", "products"),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_lower_apps_do_not_import_upwards(app: str) -> None:
    files = sorted((ROOT / app).rglob("*.py"))
    assert files, f"{app}/ has no modules"
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN[app]
    }
    assert not offending, sorted(offending)


def test_the_top_level_layout_holds_the_apps_it_names() -> None:
    """The plan finder and the interaction loop are rooms of ``recommendations``, not of their own."""
    apps = {p.parent.name for p in ROOT.glob("*/apps.py")}
    assert apps <= {"products", "ui_templates", "recommendations", "webclient"}, apps
    assert (ROOT / "recommendations" / "plans" / "apps.py").exists()
    assert (ROOT / "recommendations" / "interactions" / "apps.py").exists()
