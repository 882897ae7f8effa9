"""The committed mutation report (docs/mutants-report.md, written by make mutants) names no survivor that
is neither killed nor explained (issue 21), and every explanation names a mutant the report still shows."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = (ROOT / "docs" / "mutants-report.md").read_text()
EXPLAINED: dict[str, str] = json.loads((ROOT / "tests" / "mutants-explained.json").read_text())


def survivors() -> list[str]:
    return re.findall(r"^### (\S+)$", REPORT, flags=re.MULTILINE)


def test_every_survivor_in_the_report_is_explained() -> None:
    assert "**Not explained.**" not in REPORT
    assert [name for name in survivors() if name not in EXPLAINED] == []


def test_the_report_says_what_it_covers() -> None:
    count = re.search(r"Survivors explained: (\d+) of (\d+)", REPORT)
    assert count is not None
    assert count.group(1) == count.group(2) == str(len(survivors()))
    assert re.search(r"Score \(killed or timed out, of tested\): \d+\.\d %", REPORT)


def test_no_explanation_is_left_for_a_mutant_that_no_longer_survives() -> None:
    assert sorted(set(EXPLAINED) - set(survivors())) == []
