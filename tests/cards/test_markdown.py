"""Every card's Markdown renders as intended (issue 14): a bold heading never runs into the list item above
it (it would become that item's continuation text in every CommonMark renderer), and never has a list glued
under it. Checked with the project's own renderer on every example and every burden-panel call."""

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cds.preview import MARKDOWN

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = sorted(p for p in (ROOT / "cards" / "examples").glob("*.json") if p.name != "index.json")
PANEL = sorted((ROOT / "bench" / "panel").glob("*.json"))


def requests() -> list[tuple[str, dict[str, Any]]]:
    found = [(p.name, json.loads(p.read_text())) for p in EXAMPLES]
    for path in PANEL:
        for n, call in enumerate(json.loads(path.read_text())["calls"]):
            found.append((f"{path.name}#{n}", call["request"]))
    return found


def problems(detail: str) -> list[str]:
    found = []
    lines = detail.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("**") and n > 0 and lines[n - 1].strip():
            found.append(f"line {n + 1}: heading without a blank line before it: {line!r}")
    for token in MARKDOWN.parse(detail):  # the renderer of the preview page
        if token.type == "inline" and "\n**" in token.content:
            found.append(f"a heading ran into the text above it: {token.content!r}")
    return found


@pytest.mark.parametrize(("name", "request_body"), requests(), ids=[n for n, _ in requests()])
def test_every_card_renders_its_headings_apart(
    client: TestClient, name: str, request_body: dict[str, Any]
) -> None:
    response = client.post(
        f"/cds-services/tacrolimus-{request_body['hook']}", content=orjson.dumps(request_body)
    )
    assert response.status_code == 200, response.text
    for card in response.json()["cards"]:
        assert problems(card.get("detail", "")) == [], (card["summary"], card.get("detail"))


def test_the_check_catches_a_heading_glued_to_a_list() -> None:
    assert problems("- an item\n**Data not available:**\n\n- x")
    assert not problems("- an item\n\n**Data not available:**\n\n- x")
