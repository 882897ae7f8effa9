"""Scenario tests: hepatic and renal function when systemic tacrolimus is ordered or on patient-view."""

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


def test_ordering_tacrolimus_shows_the_latest_tests_with_dates(client: TestClient) -> None:
    prefetch = full_prefetch()
    prefetch["observations"] = bundle(LABS)
    [card] = organ_cards(
        client, OSEL, hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    )
    assert card["indicator"] == "info"
    assert "Creatinine [Mass/volume] in Serum or Plasma: 1.4 mg/dL (2026-11-20)" in card["detail"]
    assert "1.1 mg/dL" not in card["detail"]  # only the latest
    assert "Potassium [Moles/volume] in Serum or Plasma: 5.1 mmol/L (2026-11-20)" in card["detail"]
    assert "Bilirubin.total [Mass/volume] in Serum or Plasma: 2.3 mg/dL (2026-11-19)" in card["detail"]


def test_no_results_on_record_is_said(client: TestClient) -> None:
    [card] = organ_cards(
        client, OSEL, hook_request("order-select", full_prefetch(), drafts=[tacrolimus("d1", status="draft")])
    )
    assert "No results on record." in card["detail"]


def test_hepatic_impairment_on_order_and_patient_view(client: TestClient) -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = bundle([CIRRHOSIS])
    [card] = organ_cards(
        client, OSEL, hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    )
    assert card["indicator"] == "warning"
    assert card["summary"] == "Hepatic impairment recorded: a lower tacrolimus dose may be needed"
    assert "Unspecified cirrhosis of liver" in card["detail"]
    prefetch["medicationRequests"] = bundle([tacrolimus()])
    [card] = organ_cards(client, PV, hook_request(prefetch=prefetch))
    assert card["indicator"] == "warning"


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
