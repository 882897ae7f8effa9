"""Every link between the README and the docs/ pages leads somewhere: the file exists and, for a link to a
heading, the heading does (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


# Pages written under other issues at the same time; linked from the README before they land here.
def anchors(page: Path) -> set[str]:
    found = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and (heading := re.match(r"^#+\s+(.*)$", line)):
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower().replace("`", ""))
            found.add(text.replace(" ", "-"))
    return found


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [target for target in LINK.findall(text) if not re.match(r"^[a-z]+:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_links_lead_somewhere(page: Path) -> None:
    for target in links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        assert destination.exists(), f"{page.name}: {target} does not exist"
        if anchor and destination.suffix == ".md":
            assert anchor in anchors(destination), f"{page.name}: {target}: no such heading"


def test_the_anchor_rule_matches_githubs() -> None:
    page = ROOT / "README.md"
    assert "your-own-patient-from-your-own-fhir-server" in anchors(page)
    assert "dependencies-and-why" in anchors(page)
