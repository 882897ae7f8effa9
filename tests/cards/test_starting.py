"""Scenario tests: the before-starting card, one card that merges baseline results, counselling, the
info-level interactions of current medicines, hepatic impairment and, for an infusion, castor oil."""

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.builders import bundle, full_prefetch, hook_request, medication_request, observation, tacrolimus
from tests.cards.test_site import only

OSEL, OSIGN = "/cds-services/tacrolimus-order-select", "/cds-services/tacrolimus-order-sign"
LABS = [
    observation("o1", "2160-0", 1.4, "mg/dL", "2026-11-20"),
    observation("o2", "2160-0", 1.1, "mg/dL", "2026-10-01"),
    observation("o3", "2823-3", 5.1, "mmol/L", "2026-11-20"),
    observation("o4", "1975-2", 2.3, "mg/dL", "2026-11-19"),
]


def start(
    client: TestClient,
    draft: dict[str, Any] | None = None,
    current: list[dict[str, Any]] = (),  # type: ignore[assignment]
    observations: list[dict[str, Any]] = (),  # type: ignore[assignment]
    conditions: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    prefetch = full_prefetch(list(current))
    prefetch["observations"] = bundle(list(observations))
    prefetch["conditions"] = bundle(list(conditions))
    body = hook_request("order-select", prefetch, drafts=[draft or tacrolimus("d1", status="draft")])
    response = client.post(OSEL, content=orjson.dumps(body))
    assert response.status_code == 200
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def topic(cards: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [c for c in cards if c["source"]["topic"]["code"] == code]


def test_one_before_starting_card_with_baseline_and_counselling(client: TestClient) -> None:
    [card] = topic(start(client, observations=LABS), "before-starting")
    assert card["indicator"] == "info"
    assert "Creatinine: 1.4 mg/dL (2026-11-20)" in card["detail"]
    assert "1.1 mg/dL" not in card["detail"]
    assert "Potassium: 5.1 mmol/L (2026-11-20)" in card["detail"]
    assert "grapefruit" in card["detail"].lower()
    assert "1 hour before or 2 to 3 hours after a meal" in card["detail"]
    assert "St John's wort" in card["detail"]


def test_no_baseline_results_is_said(client: TestClient) -> None:
    [card] = topic(start(client), "before-starting")
    assert "No creatinine, eGFR, potassium, glucose or liver tests on record" in card["detail"]


def test_info_interactions_of_current_medicines_are_folded_in(client: TestClient) -> None:
    current = [
        medication_request("m1", "Mycophenolate mofetil 500 MG Oral Tablet"),
        medication_request("m2", "Omeprazole 20 MG Oral Capsule"),
    ]
    cards = start(client, current=current)
    [card] = topic(cards, "before-starting")
    assert "**Medicines already taken**" in card["detail"]
    assert "Mycophenolate" in card["detail"]
    assert "Omeprazole" in card["detail"]
    assert not [c for c in cards if c["source"]["topic"]["code"].startswith("interaction-")]


def test_a_warning_interaction_is_still_its_own_card_at_a_start(client: TestClient) -> None:
    cards = start(client, current=[medication_request("m1", "Clarithromycin 500 MG Oral Tablet")])
    assert [c["indicator"] for c in topic(cards, "interaction-raises-level")] == ["warning"]


def test_starting_tacrolimus_gives_at_most_two_routine_cards(client: TestClient) -> None:
    conditions = [
        {
            "resourceType": "Condition",
            "id": "c1",
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z94.0"}]},
        },
        {
            "resourceType": "Condition",
            "id": "c2",
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "K74.60"}]},
        },
    ]
    current = [medication_request("m1", "Mycophenolate mofetil 500 MG Oral Tablet")]
    weight = observation("w", "29463-7", 70, "kg", "2026-11-20")
    cards = start(client, current=current, observations=[*LABS, weight], conditions=conditions)
    assert sorted(c["source"]["topic"]["code"] for c in cards) == ["before-starting", "dosing"]
    [card] = topic(cards, "before-starting")
    assert "Hepatic impairment recorded" in card["detail"]


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_an_intravenous_start_folds_in_castor_oil_as_a_warning(client: TestClient, hook: str) -> None:
    draft = medication_request("d1", "Tacrolimus 5 MG/ML Injection", status="draft")
    body = hook_request(hook, full_prefetch(), drafts=[draft])
    cards = client.post(f"/cds-services/tacrolimus-{hook}", content=orjson.dumps(body)).json()["cards"]
    [card] = topic(cards, "before-starting")
    assert card["indicator"] == "warning"
    assert "polyoxyl castor oil" in card["detail"]
    assert topic(cards, "hypersensitivity") == []  # not a second card
    # the reason it is a warning comes first; taking it with food does not apply to an infusion
    assert card["detail"].startswith("**Intravenous**")
    assert "after a meal" not in card["detail"]


def test_nothing_for_a_patient_already_on_tacrolimus(client: TestClient) -> None:
    assert topic(start(client, current=[tacrolimus()]), "before-starting") == []


def test_the_starting_family_alone_reads_the_therapy_itself(tmp_path: Path) -> None:
    with only("starting", tmp_path) as alone:
        [card] = topic(start(alone), "before-starting")
    assert card["summary"] == (
        "Before starting tacrolimus: baseline results, grapefruit, herbal products and food, the other"
        " medicines"
    )
