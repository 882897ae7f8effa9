"""The record builder: which resources it keeps, under which names, and how it indexes results."""

import re
from datetime import UTC, datetime
from typing import Any

from cds.record import PatientRecord, RecordBuilder
from tests.builders import LOINC, PATIENT_ID, observation, tacrolimus
from tests.conftest import NOW

LOCAL_LAB = "https://lab.example.org/codes"
LEVEL_NAMES = re.compile(r"\b(?:tacrolimus|fk506)\b")  # whole words, as card families search names


def build(*resources: object, drafts: list[object] | None = None) -> PatientRecord:
    builder = RecordBuilder(hook="order-select", now=NOW, patient_id=PATIENT_ID)
    builder.add(drafts or [], where="draftOrders", draft=True)
    builder.add(list(resources), where="prefetch test")
    return builder.build()


def patient(rid: str | None, gender: str, born: str) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "gender": gender, "birthDate": born}
    if rid is not None:
        resource["id"] = rid
    return resource


def test_the_context_patient_wins_over_any_other_patient_resource() -> None:
    # a linked or merged record's Patient may come along: the context's patient is the one read,
    # whether it comes before or after the other
    other = patient("pat-other", "male", "1950-01-01")
    ours = patient(PATIENT_ID, "female", "1980-11-23")
    for resources in ([other, ours], [ours, other]):
        record = build(*resources)
        assert record.patient is not None
        assert record.patient.id == PATIENT_ID
        assert (record.patient.gender, record.patient.age_years(NOW)) == ("female", 45)


def test_a_lone_patient_without_the_context_id_is_still_the_patient() -> None:
    # the prefetched patient written without an id (or under another id) is the only one there is:
    # its age and sex are still read
    for rid in (None, "pat-other"):
        record = build(patient(rid, "male", "1950-01-01"))
        assert record.patient is not None
        assert (record.patient.gender, record.patient.age_years(NOW)) == ("male", 76)


def test_an_immunization_date_dstu2_date_then_r4_recorded() -> None:
    dstu2 = {
        "resourceType": "Immunization",
        "id": "d2",
        "vaccineCode": {"text": "MMR"},
        "status": "completed",
        "date": "2026-10-02",
        "recorded": "2026-10-05",  # not DSTU2, but the date given wins over when it was recorded
    }
    told = {  # R4 with the occurrence as a string ("last autumn"): when it was recorded is the date known
        "resourceType": "Immunization",
        "id": "r4",
        "vaccineCode": {"text": "Varicella"},
        "status": "completed",
        "occurrenceString": "last autumn",
        "recorded": "2026-10-07",
    }
    record = build(dstu2, told)
    assert [i.date for i in record.immunizations] == [
        datetime(2026, 10, 2, tzinfo=UTC),
        datetime(2026, 10, 7, tzinfo=UTC),
    ]


def test_service_requests_and_dstu2_procedure_requests_are_orders_with_their_status() -> None:
    r4 = {
        "resourceType": "ServiceRequest",
        "id": "sr1",
        "status": "active",
        "code": {"coding": [{"system": LOINC, "code": "11253-2"}]},
    }
    dstu2 = {
        "resourceType": "ProcedureRequest",
        "id": "pr1",
        "status": "draft",
        "code": {"text": "Tacrolimus trough level"},
    }
    record = build(r4, dstu2)
    assert [(o.ref, o.status) for o in record.service_orders] == [
        ("ServiceRequest/sr1", "active"),
        ("ProcedureRequest/pr1", "draft"),
    ]
    assert record.service_orders[1].code.text == "Tacrolimus trough level"


def test_a_resource_without_an_id_is_named_by_its_place() -> None:
    record = build(
        tacrolimus(),
        {"resourceType": "Condition", "clinicalStatus": "active"},  # no id, no code
    )
    assert record.skipped == ("Condition (entry 1 of prefetch test): has no code",)


def test_a_resource_sent_twice_does_not_stop_the_reading_of_the_rest() -> None:
    record = build(
        tacrolimus("same"),
        tacrolimus("same"),
        tacrolimus("next"),
        observation("o1", "11253-2", 8.0, "ng/mL", "2026-11-20"),
    )
    assert [m.ref for m in record.medications] == ["MedicationRequest/same", "MedicationRequest/next"]
    assert [o.ref for o in record.observations_coded(LOINC, ["11253-2"])] == ["Observation/o1"]


def test_a_result_known_by_its_name_is_found_by_any_of_its_names_as_words() -> None:
    # coded only locally: its text and its display are separate names, searched as whole words
    local = {
        "resourceType": "Observation",
        "id": "local",
        "status": "final",
        "code": {
            "coding": [{"system": LOCAL_LAB, "code": "TAC", "display": "FK506 level"}],
            "text": "Tacrolimus",
        },
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {"value": 9.0, "unit": "ng/mL"},
    }
    found = build(local).observations_coded(LOINC, ["11253-2"], or_named=LEVEL_NAMES)
    assert [o.ref for o in found] == ["Observation/local"]


def test_a_correction_keeps_the_test_the_original_named() -> None:
    # a result known by its text alone, then corrected: the corrected value, under the original's name
    # (a correction fixes a value, not which test it was)
    original = {
        "resourceType": "Observation",
        "id": "t1",
        "status": "final",
        "code": {"text": "Tacrolimus level"},
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {"value": 12.0, "unit": "ng/mL"},
    }
    corrected = {
        **original,
        "status": "corrected",
        "code": {"text": "TAC LVL"},  # the lab's own short name this time
        "valueQuantity": {"value": 9.5, "unit": "ng/mL"},
    }
    record = build(original, corrected)
    [found] = record.observations_coded(LOINC, [], or_named=LEVEL_NAMES)
    assert found.code.text == "Tacrolimus level"
    assert found.quantity is not None
    assert (found.quantity.value, found.quantity.unit) == (9.5, "ng/mL")


def test_a_coded_result_corrected_keeps_the_original_code() -> None:
    # the same rule for a result coded in LOINC: the correction's own coding is not what the result is
    # found or shown by (it was indexed under the original's)
    original = {
        "resourceType": "Observation",
        "id": "t2",
        "status": "final",
        "code": {
            "coding": [{"system": LOINC, "code": "11253-2", "display": "Tacrolimus [Mass/volume] in Blood"}]
        },
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {"value": 12.0, "unit": "ng/mL"},
    }
    corrected = {
        **original,
        "status": "amended",
        "code": {"coding": [{"system": LOCAL_LAB, "code": "TAC", "display": "TAC LVL"}]},
        "valueQuantity": {"value": 9.5, "unit": "ng/mL"},
    }
    record = build(original, corrected)
    [found] = record.observations_coded(LOINC, ["11253-2"])
    assert [(c.system, c.code) for c in found.code.codings] == [(LOINC, "11253-2")]
    assert found.quantity is not None
    assert found.quantity.value == 9.5
