"""cds is the protocol layer: it never imports the clinical cards package, except where the app
is assembled."""

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
ASSEMBLY = {"cds/main.py"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_cds_does_not_import_cards() -> None:
    offenders = []
    for path in sorted((ROOT / "cds").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in ASSEMBLY:
            continue
        if any(name == "cards" or name.startswith("cards.") for name in imported_modules(path)):
            offenders.append(relative)
    assert offenders == []


def test_the_assembly_point_does_import_cards() -> None:
    """Guards the test above against passing because it reads nothing."""
    assert "cards" in imported_modules(ROOT / "cds/main.py")
