"""The patient record: tolerant reading of real payloads (R4, DSTU2, sandbox quirks)."""

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.fhirjson import concept, objs, status_code, when
from cds.record import PatientRecord, RecordBuilder, medication_key, unresolved
from tests.builders import LOINC, PATIENT_ID, RXNORM, medication_request, observation, tacrolimus
from tests.conftest import NOW


def build(
    *resources: object,
    drafts: list[object] | None = None,
    selections: tuple[str, ...] = (),
    index: dict[str, dict[str, Any]] | None = None,
) -> PatientRecord:
    builder = RecordBuilder(
        hook="order-select", now=NOW, patient_id=PATIENT_ID, selections=selections, medication_index=index
    )
    builder.add(drafts or [], where="draftOrders", draft=True)
    builder.add(list(resources), where="prefetch test")
    return builder.build()


def test_patient_age_and_sex() -> None:
    record = build(
        {"resourceType": "Patient", "id": PATIENT_ID, "gender": "Female", "birthDate": "1980-11-23"}
    )
    assert record.patient is not None
    assert record.patient.gender == "female"
    assert record.patient.age_years(NOW) == 45  # the birthday is tomorrow


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            [
                {"use": "usual", "given": ["Bea"]},
                {"use": "official", "given": ["Beatrix", "M"], "family": "Ng"},
            ],
            "Beatrix M Ng",
        ),  # the official name, whatever its place
        ([{"use": "nickname", "text": "Bee"}, {"use": "usual", "text": "Bea Ng"}], "Bea Ng"),
        ([{"given": ["Anna"], "family": ["Smith", "Jones"]}], "Anna Smith Jones"),  # DSTU2: family a list
        ([{"text": "  "}], ""),
        ("Anna Smith", ""),  # not a list of HumanNames: no name, no error
        (None, ""),
    ],
)
def test_the_patients_name_as_written(names: object, expected: str) -> None:
    resource: dict[str, object] = {"resourceType": "Patient", "id": PATIENT_ID}
    if names is not None:
        resource["name"] = names
    record = build(resource)
    assert record.patient is not None
    assert record.patient.name == expected


def test_dstu2_medication_order_is_read_like_a_request() -> None:
    order = {
        "resourceType": "MedicationOrder",
        "id": "mo1",
        "status": "active",
        "dateWritten": "2026-10-01",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "108513"}]},
        "dosageInstruction": [
            {
                "doseQuantity": {"value": 2, "unit": "mg"},
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnits": "d"}},
            }
        ],
    }
    [med] = build(order).medications
    assert med.origin == "order"
    assert med.current
    assert med.ref == "MedicationOrder/mo1"
    assert med.codings[0].code == "108513"
    assert med.dose is not None
    assert med.dose.quantity is not None
    assert (med.dose.quantity.value, med.dose.frequency, med.dose.period_unit) == (2.0, 2.0, "d")
    assert med.started == datetime(2026, 10, 1, tzinfo=UTC)


def test_r4_draft_with_category_object_and_no_intent_is_read() -> None:
    draft = medication_request(
        "request-123",
        "Clarithromycin 500 MG Oral Tablet [Biaxin]",
        status="draft",
        category={"coding": [{"code": "outpatient"}]},
        dosageInstruction=[{"doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg"}}]}],
    )
    record = build(drafts=[draft], selections=("MedicationRequest/request-123",))
    [med] = record.medications
    assert med.origin == "draft"
    assert med.selected
    assert med.intent == ""
    assert med.dose is not None
    assert med.dose.quantity is not None
    assert med.dose.quantity.value == 500
    assert record.skipped == ()


def test_a_draft_before_a_drug_is_picked_is_ignored_quietly() -> None:
    draft = {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft"}
    record = build(drafts=[draft])
    assert record.medications == ()
    assert record.skipped == ()


def test_drafts_win_over_the_same_order_in_prefetch() -> None:
    draft = tacrolimus("same", status="draft")
    record = build(tacrolimus("same", status="active"), drafts=[draft])
    [med] = record.medications
    assert med.origin == "draft"


def test_stopped_and_entered_in_error_medications_are_not_current() -> None:
    record = build(
        tacrolimus("a", status="stopped"),
        tacrolimus("b", status="entered-in-error"),
        tacrolimus("c", status="completed"),
        tacrolimus("d", status="cancelled"),
        tacrolimus("e", status="on-hold"),
        medication_request("f", "St John's wort", resource_type="MedicationStatement", status="active"),
    )
    assert [m.ref for m in record.current_medications] == ["MedicationRequest/e", "MedicationStatement/f"]
    assert record.current_medications[1].origin == "statement"


def test_medication_reference_resolves_from_contained() -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "contained": [
            {"resourceType": "Medication", "id": "med", "code": {"text": "Tacrolimus 5 MG/ML Injection"}}
        ],
        "medicationReference": {"reference": "#med"},
    }
    [med] = build(order).medications
    assert med.names == ("Tacrolimus 5 MG/ML Injection",)
    assert med.identified


def test_medication_reference_resolves_from_the_index_with_form_and_ingredients() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "kaletra",
        "code": {"text": "Kaletra"},
        "form": {"text": "tablet"},
        "ingredient": [
            {
                "itemCodeableConcept": {
                    "coding": [{"system": RXNORM, "code": "195088", "display": "lopinavir"}]
                }
            },
            {
                "itemCodeableConcept": {
                    "coding": [{"system": RXNORM, "code": "85762", "display": "ritonavir"}]
                }
            },
        ],
    }
    order = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "medicationReference": {"reference": "https://ehr.example.org/fhir/Medication/kaletra"},
    }
    [med] = build(order, index={"Medication/kaletra": medication}).medications
    assert {c.code for c in med.codings} == {"195088", "85762"}
    assert med.form.text == "tablet"
    assert "ritonavir" in med.names


def test_an_unresolved_reference_is_reported_not_dropped() -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "medicationReference": {"reference": "Medication/unknown", "display": "Some product"},
    }
    record = build(order)
    [med] = record.medications
    assert not med.identified
    assert med.names == ("Some product",)
    assert record.unidentified == (
        "MedicationRequest/m1: its Medication (Medication/unknown) could not be retrieved",
    )


def test_malformed_entries_are_skipped_and_named() -> None:
    record = build(
        "not a resource",
        {"id": "x"},
        {"resourceType": "MedicationRequest", "id": "nomed", "status": "active"},
        {"resourceType": "Observation", "id": "nocode", "status": "final"},
        {"resourceType": "Condition", "id": "c1", "code": "just text", "clinicalStatus": 5},
        tacrolimus(),
    )
    assert record.skipped == (
        "prefetch test: entry 0 is not a FHIR resource",
        "prefetch test: entry 1 is not a FHIR resource",
        "MedicationRequest/nomed: names no medication",
        "Observation/nocode: has no code",
    )
    assert len(record.medications) == 1
    assert record.conditions[0].code.text == "just text"


def test_wrong_types_inside_resources_do_not_break_reading() -> None:
    odd = {
        "resourceType": "MedicationRequest",
        "id": "odd",
        "status": ["active"],
        "medicationCodeableConcept": {"coding": "nope", "text": "Tacrolimus"},
        "dosageInstruction": {"route": {"coding": [{"code": 26643006, "system": "http://snomed.info/sct"}]}},
        "authoredOn": 20240101,
        "extension": [{"url": "http://example.org/x", "valueString": "y"}],
    }
    [med] = build(odd).medications
    assert med.names == ("Tacrolimus",)
    assert med.route.codings[0].code == "26643006"
    assert med.started is None


def test_observations_by_code_newest_first_without_errors() -> None:
    record = build(
        observation("o1", "11253-2", 8.0, "ng/mL", "2026-11-01"),
        observation("o2", "11253-2", 12.5, "ng/mL", "2026-11-20T08:00:00Z"),
        {**observation("o3", "11253-2", 99.0, "ng/mL", "2026-11-21"), "status": "entered-in-error"},
        observation("o4", "74096-9", 10.0, "ug/L", "2026-11-10"),
    )
    levels = record.observations_coded(LOINC, ["11253-2", "74096-9"])
    assert [o.ref for o in levels] == ["Observation/o2", "Observation/o4", "Observation/o1"]
    assert levels[0].quantity is not None
    assert levels[0].quantity.value == 12.5


def test_conditions_allergies_immunizations_r4_and_dstu2() -> None:
    record = build(
        {
            "resourceType": "Condition",
            "id": "r4",
            "code": {"text": "UC"},
            "clinicalStatus": {"coding": [{"code": "resolved"}]},
            "onsetDateTime": "2020",
        },
        {
            "resourceType": "Condition",
            "id": "d2",
            "code": {"text": "Kidney transplant"},
            "clinicalStatus": "active",
            "dateRecorded": "2019-05",
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "code": {"text": "Erythromycin"},
            "verificationStatus": {"coding": [{"code": "refuted"}]},
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "a2",
            "substance": {"text": "Clarithromycin"},
            "status": "confirmed",
        },
        {
            "resourceType": "Immunization",
            "id": "i1",
            "vaccineCode": {"coding": [{"code": "03"}]},
            "status": "completed",
            "occurrenceDateTime": "2026-10-01",
        },
        {
            "resourceType": "Immunization",
            "id": "i2",
            "vaccineCode": {"text": "MMR"},
            "status": "completed",
            "wasNotGiven": True,
            "date": "2026-10-02",
        },
    )
    assert [c.active for c in record.conditions] == [False, True]
    assert record.conditions[1].recorded == datetime(2019, 5, 1, tzinfo=UTC)
    assert [a.active for a in record.allergies] == [False, True]
    assert [i.given for i in record.immunizations] == [True, False]


def condition_record(**fields: object) -> dict[str, object]:
    return {"resourceType": "Condition", "id": "c1", "code": {"text": "Kidney transplant"}, **fields}


@pytest.mark.parametrize(
    ("abatement", "active"),
    [
        ({}, True),  # nothing says it ended
        ({"abatementDateTime": "2026-11-01"}, False),
        ({"abatementDateTime": "2026-11-22T09:00:00Z"}, False),  # it ended at this very instant (NOW)
        ({"abatementDateTime": "2026-12-01"}, True),  # a date still to come is not an end yet
        ({"abatementPeriod": {"start": "2026-10-01", "end": "2026-11-01"}}, False),
        ({"abatementPeriod": {"start": "2026-10-01", "end": "2027-01-01"}}, True),  # abating, not ended yet
        ({"abatementPeriod": {"start": "2026-10-01"}}, False),  # abating since October, no end given
        ({"abatementPeriod": {"start": "2026-11-22T09:00:00Z"}}, False),  # abating from this instant (NOW)
        ({"abatementPeriod": {"start": "2026-12-01"}}, True),  # to abate from next month
        (
            {"abatementAge": {"value": 12, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}},
            False,
        ),
        ({"abatementRange": {"low": {"value": 10, "unit": "a"}, "high": {"value": 12, "unit": "a"}}}, False),
        ({"abatementString": "in childhood"}, False),
        ({"abatementString": "  "}, True),  # a blank string says nothing
        ({"abatementBoolean": True}, False),
        ({"abatementBoolean": False}, True),
    ],
)
def test_a_condition_with_no_clinical_status_is_current_until_its_abatement_says_it_ended(
    abatement: dict[str, object], active: bool
) -> None:
    # FHIR R4 Condition.abatement[x]: a dateTime, Age, Period, Range or string (DSTU2 also a boolean)
    [condition] = build(condition_record(**abatement)).conditions
    assert condition.active is active


@pytest.mark.parametrize(
    ("verification", "active"),
    [
        ({"coding": [{"code": "confirmed"}]}, True),
        ({"coding": [{"code": "refuted"}]}, False),
        ({"coding": [{"code": "entered-in-error"}]}, False),
        ("refuted", False),  # DSTU2: a plain code
    ],
)
def test_a_refuted_or_mistaken_condition_is_never_current(verification: object, active: bool) -> None:
    record = build(
        condition_record(clinicalStatus={"coding": [{"code": "active"}]}, verificationStatus=verification)
    )
    [condition] = record.conditions
    assert condition.active is active


def test_a_conditions_onset_period_and_r4_recorded_date() -> None:
    # a transplant's date is its onset (a Period's start), else the date it was recorded (R4 recordedDate)
    [condition] = build(
        condition_record(onsetPeriod={"start": "2019-03-04", "end": "2019-03-05"}, recordedDate="2019-05-02")
    ).conditions
    assert condition.onset == datetime(2019, 3, 4, tzinfo=UTC)
    assert condition.recorded == datetime(2019, 5, 2, tzinfo=UTC)


def test_a_condition_without_a_code_is_skipped_and_said() -> None:
    record = build(condition_record(code={"coding": [{"system": "http://snomed.info/sct"}]}))
    assert record.conditions == ()
    assert record.skipped == ("Condition/c1: has no code",)


def test_fhir_json_helpers_tolerate_odd_shapes() -> None:
    assert concept({"system": "s", "code": "c"}).codings[0].code == "c"  # a bare Coding
    assert objs({"a": 1}) == [{"a": 1}]  # R4 category sent as one object
    assert when("2024-02-30") is None
    assert when("2024") == datetime(2024, 1, 1, tzinfo=UTC)


def test_the_callers_fhir_version_is_learnt_from_the_resources_it_sends() -> None:
    """DSTU2 has MedicationOrder and no MedicationRequest (the sandbox's default server is DSTU2); what the
    cards propose must exist in the caller's version."""
    dstu2 = medication_request("o1", "Clarithromycin 500 MG", resource_type="MedicationOrder")
    r4 = medication_request("r1", "Clarithromycin 500 MG")
    assert build(tacrolimus(resource_type="MedicationOrder"), drafts=[dstu2]).fhir_version == "DSTU2"
    assert build(drafts=[{**dstu2, "status": "draft"}]).fhir_version == "DSTU2"
    assert build(tacrolimus(), drafts=[r4]).fhir_version == "R4"
    assert build({"resourceType": "Patient", "id": PATIENT_ID}).fhir_version == "R4"  # no evidence: R4
    assert build(dstu2, r4).fhir_version == "R4"  # contradictory evidence: the spec's version


def version(
    value: float, *, status: str = "final", updated: str | None = None, on: str = "2026-11-20"
) -> object:
    """One version of the creatinine result o1 (the same id twice in a payload: an EHR sending both)."""
    found: dict[str, Any] = {
        **observation("o1", "2160-0", value, "mg/dL", f"{on}T08:00:00Z"),
        "status": status,
    }
    if updated is not None:
        found["meta"] = {"lastUpdated": updated}
    return found


@pytest.mark.parametrize(
    ("first", "second", "kept"),
    [
        # a correction or an amendment replaces the result, whatever its dates say
        (version(1.0), version(1.4, status="corrected"), 1.4),
        (version(1.0, updated="2026-11-21T00:00:00Z"), version(1.4, status="amended"), 1.4),
        # otherwise the later update wins; an equal or earlier one, or none, changes nothing
        (version(1.0, updated="2026-11-20T09:00:00Z"), version(1.4, updated="2026-11-20T09:00:01Z"), 1.4),
        (version(1.0, updated="2026-11-20T09:00:00Z"), version(1.4, updated="2026-11-20T09:00:00Z"), 1.0),
        (version(1.0, updated="2026-11-20T09:00:00Z"), version(1.4, updated="2026-11-20T08:59:59Z"), 1.0),
        (version(1.0), version(1.4, updated="2026-11-20T09:00:00Z"), 1.4),  # the first was never updated
        (version(1.0, updated="2026-11-20T09:00:00Z"), version(1.4), 1.0),
        (version(1.0), version(1.4), 1.0),
    ],
)
def test_a_second_version_of_a_result(first: object, second: object, kept: float) -> None:
    [found] = build(first, second).observations_coded(LOINC, ["2160-0"])
    assert found.quantity is not None
    assert found.quantity.value == kept


def test_a_replacing_version_brings_its_own_date() -> None:
    record = build(version(1.0, on="2026-11-20"), version(1.4, status="corrected", on="2026-11-19"))
    [found] = record.observations_coded(LOINC, ["2160-0"])
    assert found.effective == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)


def test_a_lookup_can_be_sliced_and_read_later() -> None:
    record = build(
        *(observation(f"o{d}", "2160-0", d / 10, "mg/dL", f"2026-11-{d:02d}T08:00:00Z") for d in (1, 2, 3))
    )
    found = record.observations_coded(LOINC, ["2160-0"])  # newest first
    assert [o.quantity.value for o in found[1:] if o.quantity] == [0.2, 0.1]
    assert [o.ref for o in found[:1]] == ["Observation/o3"]


def allergy_record(**fields: object) -> dict[str, object]:
    return {"resourceType": "AllergyIntolerance", "id": "a1", **fields}


def test_an_allergy_named_only_by_its_reactions_substance_is_read() -> None:
    record = build(
        allergy_record(reaction=[{"substance": {"text": "Clarithromycin"}}, {"manifestation": []}])
    )
    [allergy] = record.allergies
    assert [c.text for c in allergy.reactions] == ["Clarithromycin"]  # the reaction without one adds none
    assert allergy.ref == "AllergyIntolerance/a1"


def test_an_allergy_that_names_no_substance_is_skipped_and_said() -> None:
    record = build(allergy_record(reaction=[{"manifestation": [{"text": "Rash"}]}]))
    assert record.allergies == ()
    assert record.skipped == ("AllergyIntolerance/a1: names no substance",)


@pytest.mark.parametrize(("status", "active"), [("active", True), ("resolved", False), ("inactive", False)])
def test_a_dstu2_allergy_status_is_its_clinical_status(status: str, active: bool) -> None:
    [allergy] = build(allergy_record(substance={"text": "Erythromycin"}, status=status)).allergies
    assert allergy.clinical_status == status
    assert allergy.active is active


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        ("Medication/abc", "Medication/abc"),
        ("Medication/abc/", "Medication/abc"),  # a trailing slash
        ("Medication/TAC-X", "Medication/TAC-X"),  # an id ending in a letter: only the slash is trimmed
        ("https://ehr.example.org/fhir/Medication/abc", "Medication/abc"),  # absolute
        ("Medication", "Medication"),  # no id: left as written
        ("#med1", "#med1"),
        ("abc", "abc"),
    ],
)
def test_a_medication_reference_is_keyed_by_type_and_id(ref: str, key: str) -> None:
    assert medication_key(ref) == key


ORDER = {"resourceType": "MedicationRequest", "id": "m1", "status": "active"}


@pytest.mark.parametrize(
    ("fields", "index", "expected"),
    [
        ({}, {}, False),  # no reference at all: not this rule's concern
        ({"medicationReference": {"reference": "Medication/x"}}, {}, True),
        (
            {"medicationReference": {"reference": "Medication/x"}},
            {"Medication/x": {"code": {"text": "Prograf"}}},
            False,
        ),
        (
            {
                "medicationReference": {"reference": "Medication/x"},
                "medicationCodeableConcept": {"text": "Prograf"},
            },
            {},
            False,
        ),
        (
            {
                "medicationReference": {"reference": "Medication/x"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "42316"}]},
            },
            {},
            False,
        ),
        (
            {
                "medicationReference": {"reference": "#m"},
                "contained": [{"resourceType": "Medication", "id": "m"}],
            },
            {},
            False,
        ),
        (
            {
                "medicationReference": {"reference": "#m"},
                "contained": [{"resourceType": "Substance", "id": "m"}],
            },
            {},
            True,
        ),
    ],
)
def test_a_medication_the_service_cannot_resolve(
    fields: dict[str, Any], index: dict[str, dict[str, Any]], expected: bool
) -> None:
    assert unresolved({**ORDER, **fields}, index) is expected


def dose_of(dosage: dict[str, Any]) -> Any:
    [medication] = build({**tacrolimus(), "dosageInstruction": [dosage]}).medications
    return medication.dose


def test_a_dstu2_dose_quantity_and_the_dosage_text() -> None:
    dose = dose_of(
        {
            "text": "2 mg twice a day",
            "quantityQuantity": {"value": 2, "unit": "mg"},
            "timing": {"code": {"coding": [{"code": "bid"}]}},
        }
    )
    assert dose.quantity.value == 2
    assert dose.text == "2 mg twice a day"
    assert dose.per_day == 2


def test_a_dose_without_a_timing_has_no_frequency() -> None:
    dose = dose_of({"doseQuantity": {"value": 2, "unit": "mg"}})
    assert dose.per_day is None
    assert dose.text == ""


# What a CodeableConcept may hold as it really arrives: codings of every shape, codes as numbers, blanks.
_CODING: st.SearchStrategy[object] = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "system": st.sampled_from(["http://loinc.org", " http://loinc.org ", "", 7]),
            "code": st.sampled_from(["11253-2", " Active", "", 2160, None]),
            "display": st.sampled_from(["Tacrolimus", "", "  ", None]),
        },
    ),
    st.sampled_from(["11253-2", None, 5, []]),
)
_CODE: st.SearchStrategy[object] = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "coding": st.one_of(st.lists(_CODING, max_size=3), _CODING),
            "text": st.sampled_from(["Tacrolimus level", "", " ", None]),
        },
    ),
    st.sampled_from(["tacrolimus", "", None, 3]),
    st.fixed_dictionaries({"system": st.just("http://loinc.org"), "code": st.sampled_from(["11253-2", ""])}),
)


@settings(max_examples=100, deadline=None)
@given(code=_CODE)
def test_an_observation_is_found_by_every_code_its_concept_reads(code: object) -> None:
    """The index reads an observation's codes without building its concept (most are never looked at);
    it must find it by exactly the codes the concept has, keep only those with a code or a name, and show
    the same concept when the observation is read."""
    resource = {"resourceType": "Observation", "id": "o1", "status": "final", "code": code}
    builder = RecordBuilder(hook="patient-view", now=NOW, patient_id=PATIENT_ID)
    builder.add([resource], where="prefetch observations")
    record = builder.build()
    read = concept(code)
    if not read.codings and not read.text:
        assert record.skipped == ("Observation/o1: has no code",)
        return
    for c in read.codings:
        assert [o.ref for o in record.observations_coded(c.system, [c.code])] == ["Observation/o1"]
    assert [o.code for o in record.observations] == [read]


@settings(max_examples=100, deadline=None)
@given(status=_CODE)
def test_a_coded_status_is_its_first_coding_s_code(status: object) -> None:
    """A status sent as a CodeableConcept (R4's clinicalStatus), read without building the concept: the
    code of the first coding the concept reads, in lower case; a plain code is itself in lower case."""
    read = concept(status)
    expected = status.strip().lower() if isinstance(status, str) else ""
    if not isinstance(status, str) and read.codings:
        expected = read.codings[0].code.lower()
    assert status_code(status) == expected


def test_a_stu3_rate_on_the_dosage_itself() -> None:
    # STU3's Dosage has rateQuantity beside doseQuantity (R4 moved both into doseAndRate)
    dose = dose_of({"rateQuantity": {"value": 0.05, "unit": "mg/h"}})
    assert (dose.rate.value, dose.rate.unit) == (0.05, "mg/h")


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [
        ({"value": 2, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}, "mg"),
        ({"value": 2, "system": "http://unitsofmeasure.org", "code": "mg"}, "mg"),  # UCUM code, no unit text
        ({"value": 2, "unit": "milligrams", "code": "mg"}, "milligrams"),  # the unit as written first
    ],
)
def test_a_quantitys_unit_is_its_text_else_its_code(quantity: dict[str, Any], unit: str) -> None:
    dose = dose_of({"doseQuantity": quantity})
    assert (dose.quantity.value, dose.quantity.unit) == (2, unit)


V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def test_several_interpretations_are_read_together() -> None:
    # R4 sends a list: every entry's codings and texts count (a flag in the second entry is not lost)
    flagged = {
        **observation("o1", "2160-0", 2.4, "mg/dL", "2026-11-20"),
        "interpretation": [
            {
                "coding": [{"system": V3_INTERPRETATION, "code": "A", "display": "Abnormal"}],
                "text": "Abnormal",
            },
            {"coding": [{"system": V3_INTERPRETATION, "code": "H", "display": "High"}], "text": "High"},
        ],
    }
    [read] = build(flagged).observations_coded(LOINC, ["2160-0"])
    assert [c.code for c in read.interpretation.codings] == ["A", "H"]
    assert read.interpretation.text == "Abnormal High"
    assert "high" in " ".join(read.interpretation.names).lower().split()


def test_a_single_interpretation_is_read_as_sent() -> None:
    flagged = {
        **observation("o1", "2160-0", 2.4, "mg/dL", "2026-11-20"),
        "interpretation": [{"coding": [{"system": V3_INTERPRETATION, "code": "H", "display": "High"}]}],
    }
    [read] = build(flagged).observations_coded(LOINC, ["2160-0"])
    assert [c.code for c in read.interpretation.codings] == ["H"]
    assert read.interpretation.names == ("High",)


def test_a_components_code_and_text_are_read() -> None:
    # a genotype reported in components (the genomics reporting style): the gene in one component's code,
    # the diplotype as text
    result = {
        "resourceType": "Observation",
        "id": "g1",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "84413-4"}]},
        "component": [
            {"code": {"text": "CYP3A5 diplotype"}, "valueString": "*1/*3"},
            {"code": {"coding": [{"system": LOINC, "code": "53034-5", "display": "Allelic state"}]},
             "valueCodeableConcept": {"text": "Heterozygous"}},
        ],
    }  # fmt: skip
    [read] = build(result).observations_coded(LOINC, ["84413-4"])
    gene, state = read.components
    assert (gene.code.names, gene.value_text) == (("CYP3A5 diplotype",), "*1/*3")
    assert (state.code.names, state.value_concept.names, state.value_text) == (
        ("Allelic state",),
        ("Heterozygous",),
        "",
    )


def test_an_observations_notes_are_joined_as_words() -> None:
    noted = {
        **observation("o1", "11253-2", 14.0, "ng/mL", "2026-11-20"),
        "note": [{"text": "Sample drawn at clinic"}, {"text": "Random"}],
    }
    [read] = build(noted).observations_coded(LOINC, ["11253-2"])
    assert read.note == "Sample drawn at clinic Random"


def test_a_name_finds_only_results_the_system_does_not_code() -> None:
    # a local lab's tacrolimus result is found by its name; one coded in LOINC with a code not asked for is
    # another test, whatever its display says ("X-UNLISTED" stands for such a code, not a real LOINC code)
    local = {
        "resourceType": "Observation",
        "id": "local",
        "status": "final",
        "code": {
            "coding": [{"system": "https://lab.example.org/codes", "code": "TAC", "display": "Tacrolimus"}]
        },
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {"value": 9.0, "unit": "ng/mL"},
    }
    unlisted = {
        **observation("other", "X-UNLISTED", 25.0, "ng/mL", "2026-11-25"),
        "code": {"coding": [{"system": LOINC, "code": "X-UNLISTED", "display": "Tacrolimus"}]},
    }
    coded = observation("coded", "11253-2", 8.0, "ng/mL", "2026-11-10")
    found = build(local, unlisted, coded).observations_coded(
        LOINC, ["11253-2"], or_named=re.compile("tacrolimus")
    )
    assert [o.ref for o in found] == ["Observation/local", "Observation/coded"]


def test_undated_results_come_after_every_dated_one() -> None:
    # even one dated before 1970, whose timestamp is negative
    undated = {**observation("undated", "11253-2", 7.0, "ng/mL", "2026-11-20")}
    del undated["effectiveDateTime"]
    old = observation("old", "11253-2", 6.0, "ng/mL", "1969-06-01")
    recent = observation("recent", "11253-2", 8.0, "ng/mL", "2026-11-20")
    found = build(undated, old, recent).observations_coded(LOINC, ["11253-2"])
    assert [o.ref for o in found] == ["Observation/recent", "Observation/old", "Observation/undated"]


# -- the builder: which resources it keeps, under which names, and how it indexes results

LOCAL_LAB = "https://lab.example.org/codes"
LEVEL_NAMES = re.compile(r"\b(?:tacrolimus|fk506)\b")  # whole words, as card families search names


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
    original = observation("t2", "11253-2", 12.0, "ng/mL", "2026-11-20")
    corrected = {
        **observation("t2", "11253-2", 9.5, "ng/mL", "2026-11-20"),
        "status": "amended",
        "code": {"coding": [{"system": LOCAL_LAB, "code": "TAC", "display": "TAC LVL"}]},
    }
    record = build(original, corrected)
    [found] = record.observations_coded(LOINC, ["11253-2"])
    assert [(c.system, c.code) for c in found.code.codings] == [(LOINC, "11253-2")]
    assert found.quantity is not None
    assert found.quantity.value == 9.5
