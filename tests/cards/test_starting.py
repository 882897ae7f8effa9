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


def hepatic(rid: str, code: str, display: str) -> dict[str, Any]:
    coding = {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code, "display": display}
    return {"resourceType": "Condition", "id": rid, "code": {"coding": [coding], "text": display}}


def test_an_intravenous_start_with_everything_to_say_reads_in_this_order(client: TestClient) -> None:
    """Every section of the card at once, each under its heading, in the order a prescriber acts on them:
    the infusion's vehicle first (the reason it is a warning), then the baseline, the counselling, the
    medicines already taken (one coded only by RxNorm shows its reference; two of one drug on one line),
    hepatic impairment, and the sources of every section (the monograph, the Prograf SmPC, and the older
    US label for the infusion)."""
    draft = medication_request("d1", "Tacrolimus 5 MG/ML Injection", status="draft")
    omeprazole = medication_request("m2", "", code="7646")  # RxNorm omeprazole, no name
    del omeprazole["medicationCodeableConcept"]["text"]
    del omeprazole["medicationCodeableConcept"]["coding"][0]["display"]
    current = [
        medication_request("m1", "Mycophenolate mofetil 500 MG Oral Tablet"),
        omeprazole,
        medication_request("m3", "Mycophenolate mofetil 250 MG Oral Capsule"),
    ]
    conditions = [
        hepatic("h1", "K74.60", "Unspecified cirrhosis of liver"),
        hepatic("h2", "K72.10", "Chronic hepatic failure"),
    ]
    cards = start(client, draft=draft, current=current, observations=LABS[:1], conditions=conditions)
    [card] = topic(cards, "before-starting")
    assert card["summary"] == (
        "Before starting intravenous tacrolimus: polyoxyl castor oil (anaphylaxis), baseline results, other"
        " medicines"
    )
    assert card["detail"].split("\n") == [
        "**Intravenous**",
        "",
        "- Tacrolimus injection is formulated with polyoxyl castor oil: anaphylactoid reactions "
        "have occurred, and appropriate means for their management should be available in patients "
        "given the injection.",
        "- Because of the risk of anaphylaxis, the injection is reserved for patients unable to "
        "take tacrolimus by mouth.",
        "",
        "**Baseline**",
        "",
        "- Renal and hepatic function, electrolytes (particularly potassium) and glucose are "
        "monitored during tacrolimus treatment.",
        "- Creatinine: 1.4 mg/dL (2026-11-20)",
        "",
        "**Tell the patient**",
        "",
        "- Grapefruit and grapefruit juice inhibit the metabolism of tacrolimus and should not be "
        "taken with it.",
        "- St John's wort lowers tacrolimus levels (risk of rejection); Schisandra extracts raise "
        "them. Ask about herbal products and tell the team before starting any.",
        "- Many medicines raise or lower tacrolimus levels: check with the transplant team or "
        "pharmacist before starting or stopping any.",
        "",
        "**Medicines already taken**",
        "",
        "- Mycophenolate (Mycophenolate mofetil 500 MG Oral Tablet; Mycophenolate mofetil 250 MG "
        "Oral Capsule): Tacrolimus may increase concentrations of mycophenolic acid, and the risk "
        "of infection may be increased when they are used together. Watch for signs of infection.",
        "- Omeprazole (MedicationRequest/m2): One study found no clinically relevant interaction in "
        "renal transplant recipients, but increased tacrolimus concentrations were reported when a "
        "paediatric liver transplant patient was started on omeprazole. Check a tacrolimus level "
        "after starting or stopping omeprazole.",
        "",
        "**Hepatic impairment recorded** (Unspecified cirrhosis of liver, Chronic hepatic failure): "
        "dosage reduction may be necessary.",
        "",
        "**Sources**",
        "",
        "- Tacrolimus monograph (Martindale-style text): Interactions; Pharmacokinetics: "
        "Bioavailability; Interactions: Deoxyschizandrin; Interactions: Antidepressants; Adverse "
        "Effects, Treatment, and Precautions",
        "- Prograf SmPC: 4.4 Special warnings and precautions for use (monitoring)",
        "- Prograf US prescribing information: 2 Dosage and administration (older edition): "
        "intravenous infusion",
    ]
