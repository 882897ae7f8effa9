"""The smart link to the level story app: on the level and level-interaction cards, only when the app is
registered (a launch URL given), and as CDS Hooks 2.0 writes a smart link (label, absolute url, type)."""

from datetime import datetime
from typing import Any

import pytest

from cards import assemble
from cards.examples import EXAMPLES_DIR, as_of
from cds.clock import fixed
from cds.evaluate import Evaluator
from cds.main import assembled
from cds.service import Service
from cds.settings import Settings
from tests.builders import example, full_prefetch, hook_request, medication_request, tacrolimus

LAUNCH = "https://cds.example.org/smart/launch"
SMART_LINK = {
    "label": "Level story: levels, doses and interacting drugs over time",
    "url": LAUNCH,
    "type": "smart",
}
WRITTEN_FOR: datetime = as_of(EXAMPLES_DIR / "level-above-target.json")  # type: ignore[assignment]


async def cards(services: list[Service], service_id: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    response = await Evaluator(services, Settings(auth="off"), clock=fixed(WRITTEN_FOR)).evaluate(
        service_id, request
    )
    return [card.model_dump(exclude_none=True) for card in response.cards]


def by_topic(found: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    topics: dict[str, list[dict[str, Any]]] = {}
    for card in found:
        topics.setdefault(card["source"]["topic"]["code"], []).append(card)
    return topics


@pytest.fixture(scope="module")
def linked() -> list[Service]:
    return assemble(None, story_url=LAUNCH)[0]


@pytest.fixture(scope="module")
def unlinked() -> list[Service]:
    return assemble(None)[0]


async def test_the_level_card_carries_the_smart_link(linked: list[Service], unlinked: list[Service]) -> None:
    request = example("level-above-target.json")
    (level,) = by_topic(await cards(linked, "tacrolimus-patient-view", request))["trough-target"]
    assert level["links"] == [SMART_LINK]
    (plain,) = by_topic(await cards(unlinked, "tacrolimus-patient-view", request))["trough-target"]
    assert "links" not in plain
    assert {k: v for k, v in level.items() if k not in ("links", "uuid")} == {
        k: v for k, v in plain.items() if k != "uuid"
    }


async def test_a_level_interaction_card_carries_it_and_a_toxicity_card_does_not(
    linked: list[Service],
) -> None:
    request = example("order-select-r4-clarithromycin.json")
    (raises,) = by_topic(await cards(linked, "tacrolimus-order-select", request))["interaction-raises-level"]
    assert raises["links"] == [SMART_LINK]
    # ibuprofen with tacrolimus: added nephrotoxicity, not a change in levels
    ibuprofen = medication_request("ibu-1", "ibuprofen 400 MG Oral Tablet", code="197806")
    sign = hook_request("order-sign", full_prefetch([tacrolimus()]), drafts=[ibuprofen])
    found = by_topic(await cards(linked, "tacrolimus-order-sign", sign))
    assert found["interaction-toxicity"]
    assert all("links" not in card for card in found["interaction-toxicity"])


async def test_a_level_due_card_carries_it_too(linked: list[Service]) -> None:
    request = hook_request("patient-view", full_prefetch([tacrolimus()]))  # on tacrolimus, no level
    (due,) = by_topic(await cards(linked, "tacrolimus-patient-view", request))["trough-target"]
    assert due["summary"].startswith("Tacrolimus level due")
    assert due["links"] == [SMART_LINK]


async def test_the_assembled_services_link_only_when_the_app_is_registered() -> None:
    off = Settings(auth="off")
    assert off.smart_client_id is None
    on = Settings(
        auth="off",
        smart_client_id="level-story",
        public_base_url="https://cds.example.org/",
        smart_issuers=["https://ehr.example.org/fhir"],
    )
    request = example("level-above-target.json")
    (level,) = by_topic(await cards(assembled(on)[0], "tacrolimus-patient-view", request))["trough-target"]
    assert level["links"] == [SMART_LINK]  # the public base URL's trailing slash is not doubled
    (plain,) = by_topic(await cards(assembled(off)[0], "tacrolimus-patient-view", request))["trough-target"]
    assert "links" not in plain
