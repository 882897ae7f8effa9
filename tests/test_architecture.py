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


# -- the suite has one clock (tests/clock.py): no test reads the real one
REAL_CLOCK = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time")}
TAKES_A_CLOCK = {"build_app", "Evaluator"}


def clock_offences(path: Path) -> list[str]:
    where, found = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name, []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and (function.value.id, function.attr) in REAL_CLOCK
        ):
            found.append(f"{where}:{node.lineno} {function.value.id}.{function.attr}()")
        name = function.id if isinstance(function, ast.Name) else None
        if name in TAKES_A_CLOCK and not any(k.arg == "clock" for k in node.keywords):
            found.append(f"{where}:{node.lineno} {name}() without clock=")
    return found


def test_no_test_reads_the_real_clock() -> None:
    offences = [o for path in sorted((ROOT / "tests").rglob("*.py")) for o in clock_offences(path)]
    assert offences == []


def test_the_clock_check_finds_a_real_clock(tmp_path: Path) -> None:
    """Guards the test above against passing because it reads nothing."""
    sample = tmp_path / "sample.py"
    sample.write_text("time.time()\ndatetime.now(UTC)\nbuild_app(1, 2)\nEvaluator(1, 2, clock=c)\n")
    assert clock_offences(sample) == [
        "sample.py:1 time.time()",
        "sample.py:2 datetime.now()",
        "sample.py:3 build_app() without clock=",
    ]
