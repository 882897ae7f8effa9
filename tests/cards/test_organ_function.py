"""Scenario tests: hepatic impairment when systemic tacrolimus is renewed or its dose changed."""

from typing import Any

import orjson
from fastapi.testclient import TestClient

from tests.builders import bundle, full_prefetch, hook_request, medication_request, observation, tacrolimus

OSEL, PV = "/cds-services/tacrolimus-order-select", "/cds-services/tacrolimus-patient-view"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
CIRRHOSIS = {
    "resourceType": "Condition",
    "id": "c1",
    "code": {"coding": [{"system": ICD, "code": "K74.60", "display": "Unspecified cirrhosis of liver"}]},
}
LABS = [
    observation("o1", "2160-0", 1.4, "mg/dL", "2026-11-20"),
    observation("o2", "2160-0", 1.1, "mg/dL", "2026-10-01"),
    observation("o3", "2823-3", 5.1, "mmol/L", "2026-11-20"),
    observation("o4", "1975-2", 2.3, "mg/dL", "2026-11-19"),
]


def organ_cards(client: TestClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(path, content=orjson.dumps(body))
    assert response.status_code == 200
    return [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "organ-function"]


def test_hepatic_impairment_when_tacrolimus_is_renewed(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle([CIRRHOSIS])
    prefetch["observations"] = bundle(LABS)
    [card] = organ_cards(
        client, OSEL, hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    )
    assert card["indicator"] == "warning"
    assert card["summary"] == "Hepatic impairment recorded: a lower tacrolimus dose may be needed"
    assert "Unspecified cirrhosis of liver" in card["detail"]
    assert "Creatinine: 1.4 mg/dL (2026-11-20)" in card["detail"]
    assert "1.1 mg/dL" not in card["detail"]  # only the latest
    assert "Bilirubin (total): 2.3 mg/dL (2026-11-19)" in card["detail"]


def test_hepatic_impairment_is_not_its_own_card_at_a_start_or_on_patient_view(client: TestClient) -> None:
    # at a start the dose and before-starting cards say it; on patient-view a standing condition is not news
    prefetch = full_prefetch()
    prefetch["conditions"] = bundle([CIRRHOSIS])
    start = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    assert organ_cards(client, OSEL, start) == []
    prefetch["medicationRequests"] = bundle([tacrolimus()])
    assert organ_cards(client, PV, hook_request(prefetch=prefetch)) == []


def test_an_ended_hepatic_condition_is_not_current(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle([{**CIRRHOSIS, "abatementDateTime": "2019-01-01"}])
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    assert organ_cards(client, OSEL, body) == []


def test_patient_view_without_hepatic_impairment_is_quiet(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle(LABS)
    assert organ_cards(client, PV, hook_request(prefetch=prefetch)) == []


def test_nothing_when_tacrolimus_is_not_ordered(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle([CIRRHOSIS])
    body = hook_request(
        "order-select", prefetch, drafts=[medication_request("d1", "Amoxicillin 500 MG", status="draft")]
    )
    assert organ_cards(client, OSEL, body) == []


def test_liver_disease_before_a_liver_transplant_is_not_hepatic_impairment_now(client: TestClient) -> None:
    # the cirrhosis that led to the transplant stays on the problem list; the new liver is not cirrhotic
    transplant = {
        "resourceType": "Condition",
        "id": "c2",
        "code": {"coding": [{"system": ICD, "code": "Z94.4"}]},
        "onsetDateTime": "2024-03-01",
    }
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle([{**CIRRHOSIS, "onsetDateTime": "2022-05-01"}, transplant])
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    assert organ_cards(client, OSEL, body) == []
    # recorded after the transplant: the new liver's disease, which counts
    prefetch["conditions"] = bundle([{**CIRRHOSIS, "onsetDateTime": "2025-06-01"}, transplant])
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    [card] = organ_cards(client, OSEL, body)
    assert card["indicator"] == "warning"


def renewal_cards(
    client: TestClient, conditions: list[dict[str, Any]], labs: list[dict[str, Any]] = LABS
) -> list[dict[str, Any]]:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle(conditions)
    prefetch["observations"] = bundle(labs)
    return organ_cards(
        client, OSEL, hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    )


LIVER_TRANSPLANT = {
    "resourceType": "Condition",
    "id": "c2",
    "code": {"coding": [{"system": ICD, "code": "Z94.4"}]},
}


def test_liver_disease_the_day_of_the_transplant_still_counts(client: TestClient) -> None:
    # "began before" the transplant is left out; the same day is not before it
    transplant = {**LIVER_TRANSPLANT, "onsetDateTime": "2024-03-01"}
    assert renewal_cards(client, [{**CIRRHOSIS, "onsetDateTime": "2024-03-01"}, transplant])


def test_an_undated_liver_transplant_leaves_every_hepatic_condition_in(client: TestClient) -> None:
    # when the transplant was is not known, no condition can be shown to have preceded it
    assert renewal_cards(client, [{**CIRRHOSIS, "onsetDateTime": "2022-05-01"}, LIVER_TRANSPLANT])


def test_the_latest_result_with_a_number_and_an_undated_one(client: TestClient) -> None:
    unreadable = {**observation("o0", "2160-0", 0, "mg/dL", "2026-11-21"), "valueString": "haemolysed"}
    del unreadable["valueQuantity"]
    undated = observation("o5", "2823-3", 4.9, "mmol/L", "2026-11-01")
    del undated["effectiveDateTime"]
    [card] = renewal_cards(client, [CIRRHOSIS], [unreadable, *LABS[:2], undated])
    assert "Creatinine: 1.4 mg/dL (2026-11-20)" in card["detail"]  # the newer one has no number
    assert "Potassium: 4.9 mmol/L (undated)" in card["detail"]


def test_each_hepatic_condition_is_named(client: TestClient) -> None:
    failure = {
        "resourceType": "Condition",
        "id": "c3",
        "code": {"coding": [{"system": ICD, "code": "K72.10", "display": "Chronic hepatic failure"}]},
    }
    [card] = renewal_cards(client, [CIRRHOSIS, failure])
    assert card["detail"].startswith("- Recorded: Unspecified cirrhosis of liver, Chronic hepatic failure.\n")
