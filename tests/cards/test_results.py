"""Laboratory-flagged potassium, creatinine, eGFR and glucose for a patient on or starting tacrolimus.

Only the laboratory's own judgement counts (interpretation flags, else the reference range): the sources
give no threshold, so a value with neither is never judged (issue 12)."""

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards.drugs import DrugIdentifier
from cards.knowledge import load
from cards.results import ResultFamily
from cds.record import RecordBuilder
from tests.builders import (
    LOINC,
    PATIENT_ID,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    of_topic,
    tacrolimus,
)
from tests.clock import now

V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
POTASSIUM, CREATININE, EGFR, GLUCOSE = "2823-3", "2160-0", "98979-8", "2345-7"


def result(
    rid: str,
    code: str,
    value: float,
    unit: str,
    flag: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    range_unit: str | None = None,
    flag_text: str | None = None,
) -> dict[str, Any]:
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": "2026-11-20T08:00:00Z",
        "valueQuantity": {"value": value, "unit": unit},
    }
    if flag:
        observation["interpretation"] = [{"coding": [{"system": V3, "code": flag}]}]
    if flag_text:
        observation["interpretation"] = [{"text": flag_text}]
    if low is not None or high is not None:
        bounds: dict[str, Any] = {}
        for name, bound in (("low", low), ("high", high)):
            if bound is not None:
                bounds[name] = {"value": bound, "unit": range_unit or unit}
        observation["referenceRange"] = [bounds]
    return observation


def result_cards(
    client: TestClient,
    observations: list[dict[str, Any]],
    hook: str = "patient-view",
    medications: list[dict[str, Any]] | None = None,
    drafts: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    prefetch = full_prefetch([tacrolimus()] if medications is None else medications)
    prefetch["observations"] = bundle(observations)
    request = hook_request(hook, prefetch, drafts=drafts)
    response = client.post(f"/cds-services/tacrolimus-{hook}", content=orjson.dumps(request))
    assert response.status_code == 200
    return of_topic(response.json()["cards"], "abnormal-result")


def test_high_potassium_and_creatinine_flagged_by_the_laboratory_warn_on_patient_view(
    client: TestClient,
) -> None:
    [card] = result_cards(
        client, [result("k", POTASSIUM, 5.9, "mmol/L", "H"), result("cr", CREATININE, 2.1, "mg/dL", "H")]
    )
    assert card["indicator"] == "warning"
    expected = (
        "On tacrolimus: potassium 5.9 mmol/L high, creatinine 2.1 mg/dL high (laboratory flags, 2026-11-20)"
    )
    assert card["summary"] == expected
    assert "Potassium 5.9 mmol/L on 2026-11-20: high (laboratory flag H)." in card["detail"]
    assert "Hyperkalaemia occurs frequently with tacrolimus" in card["detail"]
    assert "renal function" in card["detail"]


@pytest.mark.parametrize(
    ("observation", "shown"),
    [
        (result("k", POTASSIUM, 5.0, "mmol/L", "N"), False),  # normal flag
        (result("k", POTASSIUM, 5.9, "mmol/L"), False),  # no flag, no range: shown unjudged elsewhere
        (result("k", POTASSIUM, 5.6, "mmol/L", low=3.5, high=5.1), True),  # above the lab's range
        (result("k", POTASSIUM, 5.1, "mmol/L", low=3.5, high=5.1), False),  # at its top: within
        (result("k", POTASSIUM, 5.6, "mmol/L", low=3.5, high=5.1, range_unit="mg/dL"), False),  # other units
        (result("k", POTASSIUM, 3.0, "mmol/L", "L"), False),  # low potassium: not tacrolimus's direction
        (result("k", POTASSIUM, 6.8, "mmol/L", "HH"), True),  # critically high
        (result("k", POTASSIUM, 5.9, "mmol/L", flag_text="High"), True),  # the flag as text
        (result("k", POTASSIUM, 5.9, "mmol/L", "A"), True),  # abnormal, no direction
        (result("e", EGFR, 38, "mL/min/1.73m2", "L"), True),  # low eGFR
        (result("e", EGFR, 110, "mL/min/1.73m2", "H"), False),
        (result("g", GLUCOSE, 12.5, "mmol/L", "H"), True),
        (result("g", GLUCOSE, 3.1, "mmol/L", "L"), False),
    ],
)
def test_the_laboratory_decides(client: TestClient, observation: dict[str, Any], shown: bool) -> None:
    assert bool(result_cards(client, [observation])) is shown


def test_only_the_latest_result_counts(client: TestClient) -> None:
    old = result("k1", POTASSIUM, 6.1, "mmol/L", "H")
    old["effectiveDateTime"] = "2026-10-01T08:00:00Z"
    new = result("k2", POTASSIUM, 4.4, "mmol/L", "N")
    assert result_cards(client, [old, new]) == []


def test_when_tacrolimus_is_ordered(client: TestClient) -> None:
    draft = medication_request("d1", "Tacrolimus 1 MG Oral Capsule", status="draft")
    found = result_cards(client, [result("k", POTASSIUM, 5.9, "mmol/L", "H")], "order-select", [], [draft])
    assert len(found) == 1


def test_nothing_for_a_patient_not_on_tacrolimus(client: TestClient) -> None:
    other = [medication_request("m1", "Amlodipine 5 MG Oral Tablet")]
    assert result_cards(client, [result("k", POTASSIUM, 5.9, "mmol/L", "H")], medications=other) == []


# The laboratory's own reference range, edges within (no threshold of the project's own)
@pytest.mark.parametrize(
    ("value", "said"),
    [
        (
            59,
            "eGFR 59 mL/min/1.73m2 on 2026-11-20: low (below the laboratory's reference range 60 to 120"
            " mL/min/1.73m2).",
        ),
        (60, None),
    ],
)
def test_below_the_laboratorys_range_at_its_edge(client: TestClient, value: float, said: str | None) -> None:
    found = result_cards(client, [result("e", EGFR, value, "mL/min/1.73m2", low=60, high=120)])
    if said is None:
        assert found == []
    else:
        [card] = found
        assert said in card["detail"]
        assert card["summary"].startswith(
            "On tacrolimus: eGFR 59 mL/min/1.73m2 low"
        )  # an acronym kept as written


def test_a_range_with_only_its_top_and_a_value_without_a_unit(client: TestClient) -> None:
    [card] = result_cards(client, [result("k", POTASSIUM, 5.6, "", high=5.1)])
    assert "Potassium 5.6 on 2026-11-20: high (above the laboratory's reference range 5.1)." in card["detail"]
    assert card["summary"].startswith("On tacrolimus: potassium 5.6 high")


def test_a_flag_in_any_of_its_names(client: TestClient) -> None:
    # each name is read whole: 'High' begins the second
    observation = result("k", POTASSIUM, 5.9, "mmol/L")
    observation["interpretation"] = [
        {
            "coding": [{"system": "urn:lab:flags", "code": "X7", "display": "Above high normal"}],
            "text": "Abnormal",
        }
    ]
    [card] = result_cards(client, [observation])
    # the name that says it is quoted, not the first name (the text, 'Abnormal', says no direction)
    assert "high (laboratory flag 'Above high normal')" in card["detail"]


def test_the_family_made_here_judges_as_the_service_does() -> None:
    # the family made in the test, not at the start of the session: a fault in its constructor shows here
    knowledge = load()
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": "1970-01-01"}
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id=PATIENT_ID)
    builder.add([patient, tacrolimus(), result("k", POTASSIUM, 5.9, "mmol/L", "H")], where="test")
    [card] = ResultFamily(knowledge, DrugIdentifier(knowledge)).cards(builder.build())
    assert card.summary == "On tacrolimus: potassium 5.9 mmol/L high (laboratory flag, 2026-11-20)"


def test_the_family_made_here_reads_a_flag_given_in_words() -> None:
    # no flag code, only the flag's words: read by the word patterns the family's constructor builds
    knowledge = load()
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": "1970-01-01"}
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id=PATIENT_ID)
    flagged = result("k", POTASSIUM, 5.9, "mmol/L", flag_text="Above high normal")
    builder.add([patient, tacrolimus(), flagged], where="test")
    [card] = ResultFamily(knowledge, DrugIdentifier(knowledge)).cards(builder.build())
    assert card.summary == "On tacrolimus: potassium 5.9 mmol/L high (laboratory flag, 2026-11-20)"
    assert card.detail is not None
    assert "Potassium 5.9 mmol/L on 2026-11-20: high (laboratory flag 'Above high normal')." in card.detail


def test_an_unjudged_result_does_not_hide_the_next_group(client: TestClient) -> None:
    # potassium with neither flag nor range is not judged; the creatinine after it is still read
    found = result_cards(
        client, [result("k", POTASSIUM, 5.9, "mmol/L"), result("cr", CREATININE, 2.1, "mg/dL", "H")]
    )
    [card] = found
    assert card["summary"] == "On tacrolimus: creatinine 2.1 mg/dL high (laboratory flag, 2026-11-20)"


def test_a_preliminary_result_is_said_to_be_preliminary(client: TestClient) -> None:
    preliminary = result("k", POTASSIUM, 5.9, "mmol/L", "H")
    preliminary["status"] = "preliminary"
    [card] = result_cards(client, [preliminary])
    assert "Potassium 5.9 mmol/L on 2026-11-20: high (laboratory flag H, preliminary)." in card["detail"]
    [final] = result_cards(client, [result("k", POTASSIUM, 5.9, "mmol/L", "H")])
    assert "preliminary" not in final["detail"]


def test_an_undated_result_is_said_to_be_undated(client: TestClient) -> None:
    undated = result("k", POTASSIUM, 5.9, "mmol/L", "H")
    del undated["effectiveDateTime"]
    [card] = result_cards(client, [undated])
    assert card["summary"] == "On tacrolimus: potassium 5.9 mmol/L high (laboratory flag, undated)"
    assert "Potassium 5.9 mmol/L on an unknown date: high (laboratory flag H)." in card["detail"]


def test_a_flag_word_in_the_second_of_its_names(client: TestClient) -> None:
    # the interpretation's text says nothing; its coding's display is the flag: the names are read apart
    observation = result("k", POTASSIUM, 5.9, "mmol/L")
    observation["interpretation"] = [
        {"coding": [{"system": "urn:lab:flags", "code": "X7", "display": "High"}], "text": "Out of range"}
    ]
    [card] = result_cards(client, [observation])
    assert card["summary"] == "On tacrolimus: potassium 5.9 mmol/L high (laboratory flag, 2026-11-20)"


def test_a_normal_flag_in_words_is_not_a_finding(client: TestClient) -> None:
    assert result_cards(client, [result("k", POTASSIUM, 5.9, "mmol/L", flag_text="Normal")]) == []


# CDS Hooks: a summary is under 140 characters (checklist CARD-2): the date goes first, never a result
def test_four_flagged_results_keep_every_result_in_the_summary_and_drop_the_date(client: TestClient) -> None:
    four = [
        result("k", POTASSIUM, 5.9, "mmol/L", "H"),
        result("cr", CREATININE, 2.1, "mg/dL", "H"),
        result("e", EGFR, 28, "mL/min/1.73m2", "L"),
        result("g", GLUCOSE, 12.5, "mmol/L", "H"),
    ]
    [card] = result_cards(client, four)
    # with ", 2026-11-20" it would be 151 characters; without, 139
    assert card["summary"] == (
        "On tacrolimus: potassium 5.9 mmol/L high, creatinine 2.1 mg/dL high, eGFR 28 mL/min/1.73m2 low,"
        " glucose 12.5 mmol/L high (laboratory flags)"
    )


def test_a_summary_of_139_characters_with_its_date_keeps_the_date(client: TestClient) -> None:
    four = [
        result("k", POTASSIUM, 6, "mEq/L", "H"),
        result("cr", CREATININE, 2.1, "mg/dL", "H"),
        result("e", EGFR, 28, "mL/min", "L"),
        result("g", GLUCOSE, 225, "mg/dL", "H"),
    ]
    [card] = result_cards(client, four)
    expected = (
        "On tacrolimus: potassium 6 mEq/L high, creatinine 2.1 mg/dL high, eGFR 28 mL/min low, glucose"
        " 225 mg/dL high (laboratory flags, 2026-11-20)"
    )
    assert len(expected) == 139
    assert card["summary"] == expected
