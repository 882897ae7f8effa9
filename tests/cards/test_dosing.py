"""Scenario tests for the starting-dose and formulation cards."""

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.builders import (
    PATIENT_ID,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    observation,
    of_topic,
    tacrolimus,
)

OSEL = "/cds-services/tacrolimus-order-select"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def order(
    mg: float | None = None, per_day: int = 2, text: str = "Tacrolimus 1 MG Oral Capsule"
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if mg is not None:
        extra["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": mg, "unit": "mg"}}],
            }
        ]
    return medication_request("d1", text, status="draft", **extra)


def dosing_cards(
    client: TestClient,
    draft: dict[str, Any],
    condition: str | None = "Z94.0",
    weight: tuple[float, str] | None = (70, "kg"),
    medications: list[dict[str, Any]] = (),  # type: ignore[assignment]
    birth: str = "1970-01-01",
    extra_observations: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    prefetch = full_prefetch(list(medications))
    prefetch["patient"] = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": birth}
    if condition:
        prefetch["conditions"] = bundle(
            [
                {
                    "resourceType": "Condition",
                    "id": "c1",
                    "code": {"coding": [{"system": ICD, "code": condition}]},
                }
            ]
        )
    observations = list(extra_observations)
    if weight:
        observations.append(observation("w1", "29463-7", weight[0], weight[1], "2026-11-20"))
    prefetch["observations"] = bundle(observations)
    response = client.post(OSEL, content=orjson.dumps(hook_request("order-select", prefetch, drafts=[draft])))
    assert response.status_code == 200
    return of_topic(response.json()["cards"], "dosing")


MMF = medication_request("m2", "Mycophenolate mofetil 500 MG Oral Tablet")
AZA = medication_request("m2", "Azathioprine 50 MG Oral Tablet")


@pytest.mark.parametrize(
    ("condition", "meds", "birth", "expected"),
    [
        ("Z94.0", [AZA], "1970-01-01", "14 mg/day"),  # adult kidney + azathioprine 0.2
        ("Z94.0", [MMF], "1970-01-01", "7 mg/day"),  # adult kidney + mycophenolate 0.1
        ("Z94.4", [], "1970-01-01", "7 to 10.5 mg/day"),  # adult liver 0.10-0.15
        ("Z94.1", [], "1970-01-01", "5.25 mg/day"),  # adult heart 0.075
        ("Z94.2", [], "1970-01-01", "5.25 mg/day"),  # adult lung 0.075
        ("Z94.0", [], "2015-01-01", "21 mg/day"),  # child kidney 0.3
        ("Z94.4", [], "2015-01-01", "10.5 to 14 mg/day"),  # child liver 0.15-0.2
        ("Z94.1", [], "2015-01-01", "21 mg/day"),  # child heart 0.3
        ("Z94.2", [], "2015-01-01", "21 mg/day"),  # child lung 0.3
        ("K51.90", [], "1970-01-01", "3.5 mg/day"),  # ulcerative colitis 0.05
    ],
)
def test_starting_dose_for_each_table_row(
    client: TestClient, condition: str, meds: list[dict[str, Any]], birth: str, expected: str
) -> None:
    [card] = dosing_cards(client, order(), condition, medications=meds, birth=birth)
    assert f"label dose {expected} for 70 kg" in card["summary"]


def test_the_arithmetic_is_shown_and_the_order_compared(client: TestClient) -> None:
    [card] = dosing_cards(client, order(mg=1.75), "K51.90")
    assert "70 kg x 0.05 mg/kg/day = 3.5 mg/day, 1.75 mg twice daily" in card["detail"]
    assert "Ordered: 3.5 mg/day (0.05 mg/kg/day): within the range." in card["detail"]
    assert card["indicator"] == "info"
    [high] = dosing_cards(client, order(mg=5), "K51.90")
    assert high["indicator"] == "warning"
    assert "above the range" in high["detail"]


def test_weight_in_pounds(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), "K51.90", weight=(154, "[lb_av]"))
    assert "154 lb = 69.9 kg" in card["detail"]


def test_no_weight_says_the_dose_cannot_be_computed(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), "Z94.4", weight=None)
    assert (
        card["summary"]
        == "Starting tacrolimus for liver transplant: no body weight on record, dose not computed"
    )
    assert "0.1 to 0.15 mg/kg/day" in card["detail"]


def test_kidney_without_a_known_regimen_names_both_rows(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), "Z94.0")
    assert "no label starting dose applies" in card["summary"]
    assert "0.2 mg/kg/day with azathioprine; 0.1 mg/kg/day with mycophenolate" in card["detail"]


def test_no_indication(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), None)
    assert "depends on the indication" in card["detail"]


def genotype(text: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "g1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "84413-4"}]},
        "valueCodeableConcept": {"text": text},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CYP3A5 *1/*1", "10.5 to 14 mg/day"),
        ("CYP3A5 *1/*3", "10.5 to 14 mg/day"),
        ("CYP3A5 *3/*3", "7 mg/day"),
    ],
)
def test_cyp3a5_phenotypes(client: TestClient, text: str, expected: str) -> None:
    [card] = dosing_cards(client, order(), "Z94.0", medications=[MMF], extra_observations=[genotype(text)])
    assert f"CPIC-adjusted dose {expected}" in card["summary"]
    assert "CPIC guideline" in card["detail"]


def test_cpic_cap_of_0_3_mg_per_kg(client: TestClient) -> None:
    [card] = dosing_cards(
        client, order(), "Z94.0", medications=[AZA], extra_observations=[genotype("CYP3A5 *1/*1")]
    )
    assert "CPIC-adjusted dose 21 mg/day for 70 kg" in card["summary"]  # 0.3 mg/kg/day, not 0.4


def test_phenotype_from_a_therapeutic_implication(client: TestClient) -> None:
    implication = {
        "resourceType": "Observation",
        "id": "t1",
        "status": "final",
        "code": {"text": "Therapeutic implication"},
        "component": [
            {"code": {"text": "gene"}, "valueCodeableConcept": {"text": "CYP3A5"}},
            {
                "code": {"text": "phenotype"},
                "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA9657-3"}]},
            },
        ],
    }
    [card] = dosing_cards(client, order(), "Z94.0", medications=[MMF], extra_observations=[implication])
    assert "CYP3A5 poor metabolizer" in card["detail"]


def test_hepatic_impairment_note(client: TestClient) -> None:
    [card] = dosing_cards(client, order(), "K72.10")
    assert "Hepatic impairment is recorded: dosage reduction may be necessary." in card["detail"]


def test_formulation_change_on_a_repeat_order(client: TestClient) -> None:
    envarsus = order(text="Envarsus XR 4 MG 24 HR Extended Release Oral Tablet")
    [card] = dosing_cards(client, envarsus, "Z94.0", medications=[tacrolimus()])
    assert (
        card["summary"]
        == "Tacrolimus formulations differ: immediate- and extended-release are not interchangeable"
    )
    assert card["indicator"] == "warning"
    assert (
        dosing_cards(client, order(), "Z94.0", medications=[tacrolimus()]) == []
    )  # same formulation: silent


def test_nothing_for_topical_tacrolimus_or_other_drugs(client: TestClient) -> None:
    assert dosing_cards(client, order(text="Protopic 0.1% Topical Ointment"), "Z94.0") == []
    assert dosing_cards(client, order(text="Amoxicillin 500 MG"), "Z94.0") == []
