"""The committed mutation report (docs/mutants-report.md, written by make mutants) agrees with itself and
with the explanations: every survivor it shows as explained has an explanation, every explanation names a
mutant that still survives, and its counts add up. Survivors not yet killed or explained are listed by
name (issue 21 is done when there are none)."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = (ROOT / "docs" / "mutants-report.md").read_text()
EXPLAINED: dict[str, str] = json.loads((ROOT / "tests" / "mutants-explained.json").read_text())


def explained() -> list[str]:
    return re.findall(r"^### (\S+)$", REPORT, flags=re.MULTILINE)


def waiting() -> list[str]:
    return re.findall(r"^- `(\S+)`$", REPORT, flags=re.MULTILINE)


def test_every_survivor_shown_as_explained_has_its_explanation() -> None:
    assert [name for name in explained() if name not in EXPLAINED] == []
    for name in explained():
        assert f"### {name}\n\n{EXPLAINED[name]}\n" in REPORT


def test_no_survivor_is_both_explained_and_waiting() -> None:
    assert set(explained()) & set(waiting()) == set()
    assert [name for name in waiting() if name in EXPLAINED] == []


def test_the_report_says_what_it_covers() -> None:
    count = re.search(r"Survivors explained: (\d+) of (\d+)", REPORT)
    assert count is not None
    assert int(count.group(1)) == len(explained())
    assert int(count.group(2)) == len(explained()) + len(waiting())
    tested = re.search(r"survived (\d+);", REPORT)
    assert tested is not None
    assert int(tested.group(1)) == int(count.group(2))
    assert re.search(r"Score \(refused by mypy, killed or timed out, of tested\): \d+\.\d %", REPORT)


def pending() -> list[str]:
    """Explanations whose mutant has not been tested again since (its module not finished)."""
    return re.findall(r"^- `(\S+)` \(pending\)$", REPORT, flags=re.MULTILINE)


def test_no_explanation_is_left_for_a_mutant_that_no_longer_survives() -> None:
    assert sorted(set(EXPLAINED) - set(explained()) - set(pending())) == []
    assert set(pending()) <= set(EXPLAINED)
