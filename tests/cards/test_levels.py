"""Scenario tests for the trough-target cards on patient-view."""

import re
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards.drugs import DrugIdentifier
from cards.knowledge import load
from cards.levels import LevelFamily
from cds.models import Card
from cds.record import RecordBuilder
from cds.resources import checked
from tests.builders import (
    PATIENT_ID,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    of_topic,
    tacrolimus,
)
from tests.clock import ago_date, now
from tests.clock import ago_iso as ago

PV = "/cds-services/tacrolimus-patient-view"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def level(
    value: float, days: float, unit: str = "ng/mL", rid: str = "l1", code: str = "11253-2"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": ago(days),
        "valueQuantity": {"value": value, "unit": unit},
    }


def transplant(code: str, days: float | None, rid: str = "c1") -> dict[str, Any]:
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "code": {"coding": [{"system": ICD, "code": code}]},
    }
    if days is not None:
        condition["onsetDateTime"] = ago(days)
    return condition


KNOWLEDGE = load()
DRUGS = DrugIdentifier(KNOWLEDGE)


def family_cards(
    levels: list[dict[str, Any]],
    conditions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    medications: list[dict[str, Any]] | None = None,
    birth: str = "1970-01-01",
) -> list[Card]:
    """The level family's own cards, as the family makes them. The family is made here, in the test (it
    costs well under a millisecond), so that a fault in its constructor shows in these tests too."""
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": birth}
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id=PATIENT_ID)
    meds = [tacrolimus()] if medications is None else medications
    builder.add([patient, *meds, *conditions, *levels], where="test")
    return list(LevelFamily(KNOWLEDGE, DRUGS).cards(builder.build()))


def cards(
    client: TestClient,
    levels: list[dict[str, Any]],
    conditions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    medications: list[dict[str, Any]] | None = None,
    birth: str = "1970-01-01",
) -> list[dict[str, Any]]:
    """The level family's own cards, in-range info included: patient-view then shows only the warnings
    (test_patient_view_shows_only_levels_that_need_action below goes through the service)."""
    return [card.model_dump() for card in family_cards(levels, conditions, medications, birth)]


def service_cards(
    client: TestClient, levels: list[dict[str, Any]], conditions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle(levels)
    prefetch["conditions"] = bundle(conditions)
    response = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch)))
    assert response.status_code == 200
    return of_topic(response.json()["cards"], "trough-target")


def test_patient_view_shows_only_levels_that_need_action(client: TestClient) -> None:
    liver = [transplant("Z94.4", 400)]
    assert service_cards(client, [level(9.5, 3)], liver) == []  # recent and within 5 to 15: no card
    [above] = service_cards(client, [level(17.5, 3)], liver)
    assert above["indicator"] == "warning"


def level_card(found: list[dict[str, Any]]) -> dict[str, Any]:
    [card] = [c for c in found if c["summary"].startswith("Tacrolimus ")]
    return card


MMF = medication_request("m2", "Mycophenolate mofetil 500 MG Oral Tablet")
AZA = medication_request("m2", "Azathioprine 50 MG Oral Tablet")


@pytest.mark.parametrize(
    ("code", "days", "meds", "birth", "target"),
    [
        ("Z94.0", 30, [MMF], "1970-01-01", "target 4 to 11"),  # adult kidney with mycophenolate, months 1-12
        ("Z94.0", 30, [AZA], "1970-01-01", "target 7 to 20"),  # adult kidney with azathioprine, months 1-3
        ("Z94.0", 200, [AZA], "1970-01-01", "target 5 to 15"),  # months 4-12
        ("Z94.4", 100, [], "1970-01-01", "target 5 to 20"),  # adult liver
        ("Z94.1", 30, [], "1970-01-01", "target 10 to 20"),  # adult heart, months 1-3
        ("Z94.1", 120, [], "1970-01-01", "target 5 to 15"),  # months 4 and later
        ("Z94.2", 30, [], "1970-01-01", "target 10 to 15"),  # adult lung, months 1-3
        ("Z94.2", 120, [], "1970-01-01", "target 8 to 12"),  # months 4-12
        ("Z94.0", 30, [], "2015-01-01", "target 5 to 20"),  # child kidney
        ("Z94.2", 7, [], "2015-01-01", "target 10 to 20"),  # child lung, weeks 1-2
        ("Z94.2", 60, [], "2015-01-01", "target 10 to 15"),  # child lung, week 2 to month 12
        (
            "Z94.4",
            500,
            [],
            "1970-01-01",
            "the usual range 5 to 15",
        ),  # beyond the label table: the monograph's maintenance range, what is generally seen
        (
            "Z94.0",
            30,
            [],
            "1970-01-01",
            "the usual range 10 to 20",
        ),  # adult kidney, regimen unknown: monograph early range
    ],
)
def test_targets_by_organ_phase_population_and_regimen(
    client: TestClient, code: str, days: float, meds: list[dict[str, Any]], birth: str, target: str
) -> None:
    found = cards(client, [level(9.5, 1)], [transplant(code, days)], [tacrolimus(), *meds], birth)
    card = level_card(found)
    assert f"{target} ng/mL" in card["summary"]


def test_below_in_and_above_target(client: TestClient) -> None:
    liver = [transplant("Z94.4", 100)]
    assert level_card(cards(client, [level(3.1, 1)], liver))["indicator"] == "warning"
    within = level_card(cards(client, [level(9.5, 1)], liver))
    assert within["indicator"] == "info"
    assert "within target 5 to 20 ng/mL" in within["summary"]
    above = level_card(cards(client, [level(23.4, 1)], liver))
    assert above["indicator"] == "warning"
    assert "above target" in above["summary"]


# Prograf US label, adult liver transplant, months 1 to 12: whole-blood trough 5 to 20 ng/mL, a range whose
# edges are within it.
@pytest.mark.parametrize(
    ("value", "where"),
    [(4.9, "below target"), (5.0, "within target"), (20.0, "within target"), (20.1, "above target")],
)
def test_a_trough_at_the_edges_of_its_target(client: TestClient, value: float, where: str) -> None:
    card = level_card(cards(client, [level(value, 1)], [transplant("Z94.4", 100)]))
    assert card["summary"].startswith(f"Tacrolimus {value:g} ng/mL on ")
    assert f"{where} 5 to 20 ng/mL" in card["summary"]
    assert card["indicator"] == ("info" if where == "within target" else "warning")


def test_an_out_of_range_trough_says_what_to_do(client: TestClient) -> None:
    liver = [transplant("Z94.4", 100)]
    low = level_card(cards(client, [level(3.1, 1)], liver))
    assert "check it was a trough" in low["detail"]
    assert "adjust the dose to the patient's target and recheck" in low["detail"]
    within = level_card(cards(client, [level(9.5, 1)], liver))
    assert "adjust the dose" not in within["detail"]


def test_a_colitis_level_card_gives_the_colitis_monitoring(client: TestClient) -> None:
    card = level_card(cards(client, [level(12.0, 1)], [transplant("K51.90", None)]))
    assert "renal function, electrolytes and blood pressure" in card["detail"]
    assert "early after transplant" not in card["detail"]  # the transplant cadence is not the colitis one


def test_above_20_without_an_indication(client: TestClient) -> None:
    card = level_card(cards(client, [level(21.0, 1)]))
    assert card["indicator"] == "warning"
    assert card["summary"].endswith("above 20 ng/mL")
    assert "Most patients can be managed with blood concentrations below 20 ng/mL" in card["detail"]
    quiet = level_card(cards(client, [level(8.0, 1)]))
    assert quiet["indicator"] == "info"
    assert "no specific target known" in quiet["summary"]


def test_latest_and_previous_levels_with_dates_and_labs_alongside(client: TestClient) -> None:
    potassium = level(5.4, 1, unit="mmol/L", rid="k1", code="2823-3")
    card = level_card(
        cards(
            client, [level(9.5, 1, rid="l1"), level(12.0, 5, rid="l2"), potassium], [transplant("Z94.4", 100)]
        )
    )
    assert "Latest trough: 9.5 ng/mL on" in card["detail"]
    assert "Before: 12 ng/mL on" in card["detail"]
    assert "Potassium: 5.4 mmol/L" in card["detail"]
    assert "about 12 hours after a dose, just before the next" in card["detail"]


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (9.5, "ug/L", "9.5"),
        (12.0, "nmol/L", "9.6"),
        (9.5, "µg/L", "9.5"),
        (9.5, "ng / mL", "9.5"),  # spaces in a unit are not part of it
        (9.5, "ng/mL (whole blood)", "9.5"),  # tacrolimus is measured in whole blood: the same unit
        (9.5, "ng/mL(whole blood)", "9.5"),
    ],
)
def test_units(client: TestClient, value: float, unit: str, shown: str) -> None:
    card = level_card(cards(client, [level(value, 1, unit=unit)], [transplant("Z94.4", 100)]))
    assert card["summary"].startswith(f"Tacrolimus {shown} ng/mL on ")
    assert card["summary"].endswith(" target 5 to 20 ng/mL")


def test_an_unknown_unit_is_shown_and_not_judged(client: TestClient) -> None:
    card = level_card(cards(client, [level(9.5, 1, unit="mg/dL")], [transplant("Z94.4", 100)]))
    assert card["summary"].startswith("Tacrolimus 9.5 mg/dL on")
    assert card["summary"].endswith("unit not recognised, not judged")
    assert card["indicator"] == "info"


def test_a_level_known_by_name_only(client: TestClient) -> None:
    named = {
        "resourceType": "Observation",
        "id": "n1",
        "status": "final",
        "code": {"text": "FK506 (tacrolimus) trough"},
        "effectiveDateTime": ago(1),
        "valueQuantity": {"value": 25.0, "unit": "ng/mL"},
    }
    assert level_card(cards(client, [named]))["indicator"] == "warning"


def test_a_locally_coded_level_is_known_by_its_name(client: TestClient) -> None:
    local = {
        "resourceType": "Observation",
        "id": "n2",
        "status": "final",
        "code": {
            "coding": [{"system": "https://lab.example.org/codes", "code": "TAC", "display": "Tacrolimus"}]
        },
        "effectiveDateTime": ago(1),
        "valueQuantity": {"value": 25.0, "unit": "ng/mL"},
    }
    assert level_card(cards(client, [local]))["summary"].startswith("Tacrolimus 25 ng/mL")


def test_a_loinc_coded_tacrolimus_test_not_listed_as_a_level_is_not_judged_as_one(client: TestClient) -> None:
    # LOINC codes tacrolimus tests that are not trough levels (a post-dose level, say): the code says what it
    # is, and a code this service does not list as a level is not judged against a trough target by name.
    # "X-UNLISTED" stands for such a code; it is not a real LOINC code.
    other = {
        "resourceType": "Observation",
        "id": "n3",
        "status": "final",
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "X-UNLISTED",
                    "display": "Tacrolimus 2 hours post dose",
                }
            ]
        },
        "effectiveDateTime": ago(1),
        "valueQuantity": {"value": 25.0, "unit": "ng/mL"},
    }
    summaries = [c["summary"] for c in cards(client, [other])]
    assert "Tacrolimus level due: no tacrolimus trough on record" in summaries
    assert not [s for s in summaries if s.startswith("Tacrolimus 25")]


def colitis_on_tacrolimus(days_on: float) -> list[dict[str, Any]]:
    return [tacrolimus(authoredOn=ago(days_on))]


def test_colitis_without_a_start_date_shows_both_targets(client: TestClient) -> None:
    colitis = [transplant("K51.90", None)]
    card = level_card(cards(client, [level(12.0, 1)], colitis))
    assert "within the colitis initial 10 to 15, above the maintenance 5 to 10 ng/mL" in card["summary"]
    assert "above the maintenance target" in card["detail"]
    assert card["source"]["label"] == "Online Q&A summary on tacrolimus in acute severe UC (cites ECCO)"
    assert card["indicator"] == "info"
    assert level_card(cards(client, [level(4.0, 1)], colitis))["indicator"] == "warning"  # below both


# Project policy (dosing.json uc.phase_policy): the initial 10-15 ng/mL target for the first 14 days on
# tacrolimus (the summary's 1-2-week response window), the maintenance 5-10 ng/mL target after it.
@pytest.mark.parametrize(
    ("days_on", "value", "expected", "indicator"),
    [
        (10, 12.0, "within the colitis initial target 10 to 15 ng/mL", "info"),
        (10, 7.0, "below the colitis initial target 10 to 15 ng/mL", "warning"),
        (13, 12.0, "within the colitis initial target 10 to 15 ng/mL", "info"),  # day 13: the 14th day
        (14, 12.0, "above the colitis maintenance target 5 to 10 ng/mL", "warning"),  # day 14: maintenance
        (240, 7.0, "within the colitis maintenance target 5 to 10 ng/mL", "info"),  # months in, in range
        (240, 12.0, "above the colitis maintenance target 5 to 10 ng/mL", "warning"),
    ],
)
def test_colitis_level_is_judged_against_its_phase(
    client: TestClient, days_on: float, value: float, expected: str, indicator: str
) -> None:
    # the level was drawn now: the day on tacrolimus is the day of the level, counted in calendar days from
    # the start's date (day 0), whatever the hours
    found = cards(client, [level(value, 0)], [transplant("K51.90", None)], colitis_on_tacrolimus(days_on))
    card = level_card(found)
    assert expected in card["summary"]
    assert card["indicator"] == indicator


def test_a_colitis_renewal_is_not_the_start(client: TestClient) -> None:
    # months into treatment, only the renewal is on record: the start is unknown, not day 0
    renewal = tacrolimus(authoredOn=ago(2), priorPrescription={"reference": "MedicationRequest/old"})
    card = level_card(cards(client, [level(7.2, 1)], [transplant("K51.90", None)], [renewal]))
    assert "maintenance target" in card["detail"]
    assert card["indicator"] == "info"  # within 5 to 15: not outside both
    assert (
        "initial 10 to 15, within the maintenance 5 to 10 ng/mL (start not known)" in card["summary"]
    )  # both


def test_an_earlier_level_shows_colitis_treatment_began_before_the_order(client: TestClient) -> None:
    # a new-looking order 6 days ago, but a trough 36 days ago: at least 36 days on tacrolimus
    order = tacrolimus(authoredOn=ago(6))
    found = cards(
        client, [level(7.2, 1, rid="l1"), level(8.0, 36, rid="l2")], [transplant("K51.90", None)], [order]
    )
    card = level_card(found)
    assert "within the colitis maintenance target 5 to 10 ng/mL" in card["summary"]
    assert re.search(r"At least 3[45] days on tacrolimus", card["detail"])


def test_a_transplant_date_is_its_onset_not_when_it_was_recorded(client: TestClient) -> None:
    # a heart recipient transplanted years ago whose status was recorded last month: not months 1 to 3
    heart = transplant("Z94.1", None)
    heart["recordedDate"] = ago(40)
    found = cards(client, [level(8.9, 1)], [heart])
    card = level_card(found)
    assert "10 to 20" not in card["summary"]
    assert not [c for c in found if "early after" in c["summary"]]


def test_several_indications_say_which_target_applies(client: TestClient) -> None:
    card = level_card(
        cards(client, [level(9.5, 1)], [transplant("Z94.4", 100, "c1"), transplant("K51.90", None, "c2")])
    )
    assert "target 5 to 20 ng/mL" in card["summary"]
    assert "Also recorded: ulcerative colitis; the liver transplant target is used" in card["detail"]


def test_a_level_is_due_early_after_transplant(client: TestClient) -> None:
    found = cards(client, [level(9.5, 6)], [transplant("Z94.0", 20)])
    [due] = [c for c in found if c["summary"].startswith("Tacrolimus level due")]
    assert "none for 6 days, early after kidney transplant" in due["summary"]
    order = due["suggestions"][0]["actions"][0]["resource"]
    assert checked(order) == order


# The monograph: troughs about twice weekly early after transplant; the project's reading (dosing.json
# monitoring, the label's first 3 months): a trough older than 4 days is due. 4 days: not yet; 5: due.
@pytest.mark.parametrize(("days", "due"), [(4, False), (5, True)])
def test_early_after_transplant_a_level_is_due_after_four_days(
    client: TestClient, days: int, due: bool
) -> None:
    found = cards(client, [level(9.5, days)], [transplant("Z94.0", 20)])
    dues = [c["summary"] for c in found if c["summary"].startswith("Tacrolimus level due")]
    assert dues == (
        [f"Tacrolimus level due: none for {days} days, early after kidney transplant (about twice weekly)"]
        if due
        else []
    )


def test_no_level_due_in_maintenance_or_when_recent(client: TestClient) -> None:
    assert [
        c["summary"]
        for c in cards(client, [level(9.5, 6)], [transplant("Z94.0", 400)])
        if "due" in c["summary"]
    ] == []
    assert [
        c["summary"]
        for c in cards(client, [level(9.5, 2)], [transplant("Z94.0", 20)])
        if "due" in c["summary"]
    ] == []


def test_a_level_is_due_after_an_interacting_drug_or_diarrhoea(client: TestClient) -> None:
    # omeprazole's interaction is info, not shown on patient-view: the level-due card asks for the level
    ppi = medication_request("m2", "Omeprazole 20 MG Oral Capsule", authoredOn=ago(1))
    found = cards(client, [level(9.5, 3)], [transplant("Z94.0", 400)], [tacrolimus(), ppi])
    assert any(
        "Omeprazole 20 MG Oral Capsule was started after the last level" in c["summary"] for c in found
    )
    # a renewal of it after the level is not a start
    renewed = medication_request(
        "m2", "Omeprazole 20 MG Oral Capsule", authoredOn=ago(1), priorPrescription={"reference": "x/1"}
    )
    found = cards(client, [level(9.5, 3)], [transplant("Z94.0", 400)], [tacrolimus(), renewed])
    assert not [c for c in found if "was started after the last level" in c["summary"]]
    # clarithromycin's own (warning) interaction card carries the level order: no second card here
    clari = medication_request("m2", "Clarithromycin 500 MG Oral Tablet", authoredOn=ago(1))
    found = cards(client, [level(9.5, 3)], [transplant("Z94.0", 400)], [tacrolimus(), clari])
    assert not [c for c in found if "was started after the last level" in c["summary"]]
    diarrhoea = {
        "resourceType": "Condition",
        "id": "d",
        "code": {"text": "Diarrhoea"},
        "onsetDateTime": ago(1),
    }
    found = cards(client, [level(9.5, 3)], [transplant("Z94.0", 400), diarrhoea])
    assert any(c["summary"] == "Tacrolimus level due: diarrhoea recorded since the last level" for c in found)


def test_no_level_on_record(client: TestClient) -> None:
    [due] = cards(client, [])
    assert due["summary"] == "Tacrolimus level due: no tacrolimus trough on record"


def test_nothing_for_a_patient_not_on_tacrolimus_or_on_topical_tacrolimus(client: TestClient) -> None:
    assert cards(client, [level(25.0, 1)], medications=[medication_request("m1", "Amlodipine 5 MG")]) == []
    assert (
        cards(
            client, [level(25.0, 1)], medications=[medication_request("t1", "Protopic 0.1% Topical Ointment")]
        )
        == []
    )


# -- issue 17: only troughs are judged; old troughs are not the present; preliminary and corrected results
def named_level(value: float, days: float, text: str, rid: str, note: str | None = None) -> dict[str, Any]:
    observation = level(value, days, rid=rid)
    observation["code"]["text"] = text
    if note:
        observation["note"] = [{"text": note}]
    return observation


KIDNEY_MMF = [tacrolimus(), MMF]  # adult kidney with mycophenolate, months 1-12: 4 to 11 ng/mL


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("Tacrolimus 2 hour post-dose level", None),
        ("Tacrolimus C2", None),
        ("Tacrolimus level", "Random sample, drawn 3 hours after the morning dose"),
        ("Tacrolimus peak", None),
    ],
)
def test_a_post_dose_level_is_shown_and_not_judged(client: TestClient, text: str, note: str | None) -> None:
    # the post-dose 18 ng/mL is newer; the trough before it is in range: no 'above target' invitation
    found = cards(
        client,
        [named_level(18.0, 1, text, "p1", note), level(8.0, 3, rid="t1")],
        [transplant("Z94.0", 200)],
        KIDNEY_MMF,
    )
    card = level_card(found)
    assert card["summary"].startswith("Tacrolimus 8 ng/mL")
    assert "within target 4 to 11 ng/mL" in card["summary"]
    assert "Also 18 ng/mL" in card["detail"]
    assert "not a trough, not judged" in card["detail"]


def test_the_latest_trough_out_of_range_still_warns_beside_a_post_dose_level(client: TestClient) -> None:
    found = cards(
        client,
        [named_level(9.0, 1, "Tacrolimus 2hr post dose", "p1"), level(14.0, 3, rid="t1")],
        [transplant("Z94.0", 200)],
        KIDNEY_MMF,
    )
    card = level_card(found)
    assert card["indicator"] == "warning"
    assert "above target" in card["summary"]


def test_only_post_dose_levels_mean_a_trough_is_due(client: TestClient) -> None:
    found = cards(
        client, [named_level(18.0, 1, "Tacrolimus C2", "p1")], [transplant("Z94.0", 200)], KIDNEY_MMF
    )
    [due] = found
    assert due["summary"] == "Tacrolimus level due: no tacrolimus trough on record"
    assert "recorded as c2: not a trough, not judged" in due["detail"]


# Project policy (dosing.json monitoring.stale_policy): beyond the first 3 months, a trough older than 90
# days is not evidence of the present level.
@pytest.mark.parametrize(("days", "stale"), [(89, False), (90, False), (91, True), (380, True)])
def test_an_old_trough_is_not_judged_as_current(client: TestClient, days: float, stale: bool) -> None:
    found = cards(client, [level(8.0, days)], [transplant("Z94.0", 2000)], KIDNEY_MMF)
    summaries = [c["summary"] for c in found]
    if stale:
        [due] = found
        assert due["summary"] == (
            f"Tacrolimus level due: the last trough was 8 ng/mL on {ago_date(days)}, {days} days ago"
        )
        assert "A trough that old is not evidence of the present level: it is not judged." in lines(due)
        assert not [s for s in summaries if "within the usual range" in s]
    else:
        assert [s for s in summaries if "within the usual range 5 to 15" in s]
        assert not [s for s in summaries if s.startswith("Tacrolimus level due")]


def test_a_preliminary_result_is_shown_as_preliminary(client: TestClient) -> None:
    preliminary = level(9.0, 1)
    preliminary["status"] = "preliminary"
    card = level_card(cards(client, [preliminary], [transplant("Z94.0", 200)], KIDNEY_MMF))
    assert "9 ng/mL (preliminary)" in card["detail"]


def test_a_corrected_result_replaces_the_original(client: TestClient) -> None:
    original = level(19.0, 1)
    corrected = level(9.0, 1)
    corrected["status"] = "corrected"
    card = level_card(cards(client, [original, corrected], [transplant("Z94.0", 200)], KIDNEY_MMF))
    assert card["summary"].startswith("Tacrolimus 9 ng/mL")
    assert "19 ng/mL" not in card["detail"]  # the original, as the card writes a value


def test_an_ended_transplant_condition_gives_no_target(client: TestClient) -> None:
    ended = transplant("Z94.0", 200)
    ended["abatementDateTime"] = ago(100)
    card = level_card(cards(client, [level(9.0, 1)], [ended], KIDNEY_MMF))
    assert "4 to 11" not in card["summary"]


def test_the_kidney_row_names_the_regimen_as_the_label_writes_it(client: TestClient) -> None:
    card = level_card(cards(client, [level(9.5, 1)], [transplant("Z94.0", 30)], [tacrolimus(), MMF]))
    assert "with mycophenolate mofetil or an IL-2 receptor antagonist" in card["detail"]


def test_years_out_the_cadence_is_periodic_and_the_monograph_is_cited_first(client: TestClient) -> None:
    card = level_card(cards(client, [level(17.0, 1)], [transplant("Z94.0", 2000)], KIDNEY_MMF))
    assert "above the usual range 5 to 15 ng/mL" in card["summary"]
    assert "Periodically after the first months" in card["detail"]
    assert "twice weekly" not in card["detail"]
    sources = card["detail"].split("**Sources**")[1]
    assert sources.index("Tacrolimus monograph") < sources.index("Prograf US prescribing information")


def test_early_after_transplant_the_cadence_is_twice_weekly(client: TestClient) -> None:
    card = level_card(cards(client, [level(9.5, 1)], [transplant("Z94.4", 30)]))
    assert "About twice weekly early after transplant" in card["detail"]


# The reference (section 10, status P: one secondary source, renalandurologynews.com's Envarsus XR page):
# "Envarsus XR ... trough M1 6-11 then 4-11 ng/mL". Month 1 ends at 30.44 days.
ENVARSUS = medication_request("m1", "Envarsus XR 4 MG Extended Release Oral Tablet")


@pytest.mark.parametrize(
    ("days", "target"), [(20, "6 to 11"), (30, "6 to 11"), (31, "4 to 11"), (200, "4 to 11")]
)
def test_envarsus_targets_cite_the_summary_they_come_from(client: TestClient, days: int, target: str) -> None:
    card = level_card(cards(client, [level(9.5, 0)], [transplant("Z94.0", days)], [ENVARSUS]))
    assert f"within target {target} ng/mL" in card["summary"]
    assert "figure from a secondary source, not verified" in card["detail"]
    assert card["source"]["label"] == "Envarsus XR dosing (Renal & Urology News drug summary)"
    sources = card["detail"].split("**Sources**")[1]
    assert "- Envarsus XR dosing (Renal & Urology News drug summary): " in sources
    assert "Prograf US prescribing information" not in sources  # not the Prograf label's figures


def test_the_target_is_the_product_in_force_not_a_draft_being_written() -> None:
    """A draft Envarsus order beside the immediate-release tacrolimus the patient takes (a patient-view
    request may carry draftOrders: the context keeps what it does not know): the trough was drawn on the
    product in force, so it is judged against the Prograf label's row (adult kidney with mycophenolate,
    months 1 to 12: 4 to 11 ng/mL), not Envarsus's month-1 row (6 to 11)."""
    patient = {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": "1970-01-01"}
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id=PATIENT_ID)
    builder.add([{**ENVARSUS, "id": "d1", "status": "draft"}], where="draftOrders", draft=True)
    builder.add([patient, tacrolimus(), MMF, transplant("Z94.0", 20), level(9.5, 0)], where="test")
    family = LevelFamily(KNOWLEDGE, DrugIdentifier(KNOWLEDGE))
    found = [card.model_dump() for card in family.cards(builder.build())]
    card = level_card(found)
    assert "within target 4 to 11 ng/mL" in card["summary"]
    assert card["source"]["label"] == "Prograf US prescribing information"


def test_prograf_targets_cite_the_prograf_label(client: TestClient) -> None:
    card = level_card(cards(client, [level(9.5, 1)], [transplant("Z94.4", 100)]))
    sources = card["detail"].split("**Sources**")[1]
    assert "- Prograf US prescribing information: 2 Dosage and administration" in sources
    assert "Envarsus" not in sources


# The colitis summary: "10-15 ng/mL during the initial acute phase, then reduced to 5-10 ng/mL for
# maintenance"; edges within. Day 5 is in the project's 14-day initial phase, day 100 in maintenance.
@pytest.mark.parametrize(
    ("days_on", "value", "expected", "indicator"),
    [
        (5, 9.9, "below the colitis initial target 10 to 15 ng/mL", "warning"),
        (5, 10.0, "within the colitis initial target 10 to 15 ng/mL", "info"),
        (5, 15.0, "within the colitis initial target 10 to 15 ng/mL", "info"),
        (5, 15.1, "above the colitis initial target 10 to 15 ng/mL", "warning"),
        (100, 4.9, "below the colitis maintenance target 5 to 10 ng/mL", "warning"),
        (100, 5.0, "within the colitis maintenance target 5 to 10 ng/mL", "info"),
        (100, 10.0, "within the colitis maintenance target 5 to 10 ng/mL", "info"),
        (100, 10.1, "above the colitis maintenance target 5 to 10 ng/mL", "warning"),
    ],
)
def test_colitis_targets_at_their_edges(
    client: TestClient, days_on: float, value: float, expected: str, indicator: str
) -> None:
    found = cards(client, [level(value, 0)], [transplant("K51.90", None)], colitis_on_tacrolimus(days_on))
    card = level_card(found)
    assert card["summary"].endswith(expected)
    assert card["indicator"] == indicator


def test_the_colitis_phase_is_explained(client: TestClient) -> None:
    found = cards(client, [level(12.0, 0)], [transplant("K51.90", None)], colitis_on_tacrolimus(10))
    assert (
        "Day 10 on tacrolimus: the initial target 10 to 15 ng/mL applies (initial target for the first 14"
        " days, then maintenance: project policy from the summary's response window of 1 to 2 weeks)."
    ) in level_card(found)["detail"]


# With no start on record both targets are said, and only a level outside both (below 5, above 15) warns.
@pytest.mark.parametrize(
    ("value", "initial", "maintenance", "indicator"),
    [
        (4.9, "below", "below", "warning"),
        (5.0, "below", "within", "info"),
        (10.0, "within", "within", "info"),
        (10.1, "within", "above", "info"),
        (15.0, "within", "above", "info"),
        (15.1, "above", "above", "warning"),
    ],
)
def test_colitis_without_a_start_is_judged_against_both(
    client: TestClient, value: float, initial: str, maintenance: str, indicator: str
) -> None:
    card = level_card(cards(client, [level(value, 1)], [transplant("K51.90", None)]))
    # the summary says both (7 ng/mL is below the initial target but within the maintenance one)
    assert card["summary"].endswith(
        f"{initial} the colitis initial 10 to 15, {maintenance} the maintenance 5 to 10 ng/mL"
        " (start not known)"
    )
    assert (
        f"When tacrolimus was started is not known: the level is {initial} the initial and"
        f" {maintenance} the maintenance target."
    ) in card["detail"]
    assert card["indicator"] == indicator


@pytest.mark.parametrize("earliest", [13, 14])
def test_at_least_two_weeks_on_tacrolimus_is_maintenance(client: TestClient, earliest: int) -> None:
    # an order 6 days ago, but a trough `earliest` days ago: at least that many days on tacrolimus; under 14
    # the phase is not known (both targets said), from 14 it is maintenance
    order = tacrolimus(authoredOn=ago(6))
    found = cards(
        client,
        [level(12.0, 0, rid="l1"), level(12.0, earliest, rid="l2")],
        [transplant("K51.90", None)],
        [order],
    )
    card = level_card(found)
    if earliest == 14:
        assert card["summary"].endswith("above the colitis maintenance target 5 to 10 ng/mL")
        assert "At least 14 days on tacrolimus: the maintenance target" in card["detail"]
    else:
        assert card["summary"].endswith(
            "within the colitis initial 10 to 15, above the maintenance 5 to 10 ng/mL (start not known)"
        )
        assert (
            "When tacrolimus was started is not known: the level is within the initial and above the"
            " maintenance" in card["detail"]
        )


def target_line(card: dict[str, Any]) -> str:
    detail: str = card["detail"]
    [line] = [line for line in detail.splitlines() if line.startswith(("- Target ", "- The usual range "))]
    return line[2:]


def test_the_target_says_where_it_comes_from(client: TestClient) -> None:
    found = cards(client, [level(9.5, 0)], [transplant("Z94.0", 30)], [tacrolimus(), AZA])
    assert target_line(level_card(found)) == (
        "Target 7 to 20 ng/mL (US label, adult kidney transplant with azathioprine, months 1 to 3 after"
        f" transplant; transplant on {ago_date(30)})."
    )


# The monograph's ranges "generally" seen, where no label row applies (regimen not recorded): 10 to 20
# ng/mL early, 5 to 15 in maintenance; early is the first 3 months (91.32 days).
@pytest.mark.parametrize(
    ("days", "phase", "shown"),
    [(91, "early after transplant", "10 to 20"), (92, "during maintenance", "5 to 15")],
)
def test_the_monograph_range_early_and_in_maintenance(
    client: TestClient, days: int, phase: str, shown: str
) -> None:
    card = level_card(cards(client, [level(9.5, 0)], [transplant("Z94.0", days)]))
    assert target_line(card) == (
        f"The usual range {shown} ng/mL (the range the monograph says troughs have generally been in {phase}"
        f" for kidney transplant: what is usually seen, not a label target; transplant on {ago_date(days)})."
    )
    sources = card["detail"].split("**Sources**")[1].strip().splitlines()
    assert sources[0].startswith("- Tacrolimus monograph (Martindale-style text): ")  # its source first


def test_a_level_on_the_day_of_the_transplant_is_in_the_first_months(client: TestClient) -> None:
    # day 0 is month 0 of the label's "months 1 to 3" row (from_month inclusive)
    found = cards(client, [level(9.5, 0)], [transplant("Z94.0", 0)], [tacrolimus(), AZA])
    assert "within target 7 to 20 ng/mL" in level_card(found)["summary"]


def test_colitis_day_0_is_the_first_day_on_tacrolimus(client: TestClient) -> None:
    found = cards(client, [level(12.0, 0)], [transplant("K51.90", None)], colitis_on_tacrolimus(0))
    assert "Day 0 on tacrolimus: the initial target" in level_card(found)["detail"]


# -- the lines and dates each card writes (mutation testing, issue 21)
def lines(card: dict[str, Any]) -> list[str]:
    """The card's own lines, each as written after its bullet (the Sources excluded)."""
    detail: str = card["detail"].split("**Sources**")[0]
    return [line[2:] for line in detail.splitlines() if line.startswith("- ")]


def judged(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The level card among cards that include a 'level due' one."""
    [card] = [c for c in found if not c["summary"].startswith("Tacrolimus level due")]
    return card


def due_card(found: list[dict[str, Any]]) -> dict[str, Any]:
    [card] = [c for c in found if c["summary"].startswith("Tacrolimus level due")]
    return card


def test_each_trough_is_written_with_its_date(client: TestClient) -> None:
    found = cards(client, [level(9.5, 1, rid="l1"), level(12.0, 5, rid="l2")], [transplant("Z94.4", 100)])
    card = level_card(found)
    assert card["summary"] == f"Tacrolimus 9.5 ng/mL on {ago_date(1)}: within target 5 to 20 ng/mL"
    assert lines(card)[:2] == [
        f"Latest trough: 9.5 ng/mL on {ago_date(1)}.",
        f"Before: 12 ng/mL on {ago_date(5)}.",
    ]


def test_an_undated_trough_is_shown_on_an_unknown_date_and_asks_for_no_level(client: TestClient) -> None:
    undated = level(9.5, 1)
    del undated["effectiveDateTime"]
    [card] = cards(client, [undated], [transplant("Z94.4", 100)])  # how old it is is not known: no 'due'
    assert card["summary"] == "Tacrolimus 9.5 ng/mL on an unknown date: within target 5 to 20 ng/mL"
    assert lines(card)[0] == "Latest trough: 9.5 ng/mL on an unknown date."


# 12 nmol/L x 804 g/mol (tacrolimus, dosing.json molar_mass) / 1000 = 9.648, written to one decimal
@pytest.mark.parametrize(
    ("unit", "value", "latest"),
    [("nmol/L", "9.6 ng/mL", "12 nmol/L = 9.6 ng/mL"), ("mg/dL", "12 mg/dL", "12 mg/dL")],
)
def test_a_trough_in_nmol_or_an_unknown_unit_keeps_its_date(
    client: TestClient, unit: str, value: str, latest: str
) -> None:
    card = level_card(cards(client, [level(12.0, 1, unit=unit)], [transplant("Z94.4", 100)]))
    assert card["summary"].startswith(f"Tacrolimus {value} on {ago_date(1)}: ")
    assert lines(card)[0] == f"Latest trough: {latest} on {ago_date(1)}."


def test_the_unknown_unit_is_said(client: TestClient) -> None:
    card = level_card(cards(client, [level(9.5, 1, unit="mg/dL")], [transplant("Z94.4", 100)]))
    assert "The unit is not one the service converts (ng/mL, ug/L, nmol/L): shown as recorded." in lines(card)


# 22.4 nmol/L x 804 / 1000 = 18.0 ng/mL
@pytest.mark.parametrize(
    ("unit", "value", "shown"), [("nmol/L", 22.4, "22.4 nmol/L = 18 ng/mL"), ("mg/dL", 18.0, "18 mg/dL")]
)
def test_a_post_dose_level_in_any_unit_is_shown_with_its_date_and_not_judged(
    client: TestClient, unit: str, value: float, shown: str
) -> None:
    post = named_level(value, 1, "Tacrolimus C2", "p1")
    post["valueQuantity"]["unit"] = unit
    found = cards(client, [post, level(8.0, 3, rid="t1")], [transplant("Z94.0", 200)], KIDNEY_MMF)
    card = level_card(found)
    assert card["summary"] == f"Tacrolimus 8 ng/mL on {ago_date(3)}: within target 4 to 11 ng/mL"
    assert f"Also {shown} on {ago_date(1)}, recorded as c2: not a trough, not judged." in lines(card)


def test_a_result_with_no_value_is_passed_over(client: TestClient) -> None:
    empty = level(0, 1, rid="l0")
    del empty["valueQuantity"]
    empty["dataAbsentReason"] = {"text": "Specimen haemolysed"}
    card = level_card(cards(client, [empty, level(9.5, 3, rid="l1")], [transplant("Z94.4", 100)]))
    assert card["summary"] == f"Tacrolimus 9.5 ng/mL on {ago_date(3)}: within target 5 to 20 ng/mL"


# The monograph: "Most patients can be managed with blood concentrations below 20 ng/mL": with no target,
# a trough is judged against 20 only, and 20 itself is not above it.
@pytest.mark.parametrize(
    ("value", "judgement", "explained", "indicator"),
    [
        (
            20.0,
            "below 20 ng/mL (no specific target known)",
            "Judged against the general ceiling of 20 ng/mL only.",
            "info",
        ),
        (20.1, "above 20 ng/mL", "Judged against the general ceiling of 20 ng/mL.", "warning"),
    ],
)
def test_the_general_ceiling_at_its_edge(
    client: TestClient, value: float, judgement: str, explained: str, indicator: str
) -> None:
    card = level_card(cards(client, [level(value, 1)]))
    assert card["summary"] == f"Tacrolimus {value:g} ng/mL on {ago_date(1)}: {judgement}"
    assert explained in lines(card)
    assert card["indicator"] == indicator


@pytest.mark.parametrize(
    ("value", "explained"),
    [
        (9.0, "Judged against the general ceiling of 20 ng/mL only."),
        (21.0, "Judged against the general ceiling of 20 ng/mL."),
    ],
)
def test_an_undated_transplant_says_its_target_is_not_known(
    client: TestClient, value: float, explained: str
) -> None:
    card = level_card(cards(client, [level(value, 1)], [transplant("Z94.0", None)], KIDNEY_MMF))
    assert f"{explained} No kidney transplant target is known (no transplant date or label row)." in lines(
        card
    )


def test_one_indication_is_not_announced_and_several_are_listed(client: TestClient) -> None:
    single = level_card(cards(client, [level(9.5, 1)], [transplant("Z94.4", 100)]))
    assert not [line for line in lines(single) if line.startswith("Also recorded")]
    conditions = [
        transplant("Z94.4", 100, "c1"),
        transplant("Z94.0", 400, "c2"),
        transplant("K51.90", None, "c3"),
    ]
    several = level_card(cards(client, [level(9.5, 1)], conditions))
    assert (
        "Also recorded: kidney transplant, ulcerative colitis; the liver transplant target is used"
        " (transplants before colitis, the most recent transplant first)."
    ) in lines(several)


def omeprazole() -> dict[str, Any]:
    """Omeprazole started yesterday: its interaction is info, so this family asks for the level."""
    return medication_request("m2", "Omeprazole 20 MG Oral Capsule", authoredOn=ago(1))


def diarrhoea(onset: str, code: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": "d",
        "code": code or {"text": "Diarrhoea"},
        "onsetDateTime": onset,
    }


# A level is due for a new interacting drug, diarrhoea, or early after transplant; the trough on record
# is recent, so it is still judged beside the 'level due' card, and not called too old.
@pytest.mark.parametrize(
    ("case", "days", "reason"),
    [
        ("early", 6, "none for 6 days, early after kidney transplant (about twice weekly)"),
        ("omeprazole", 3, "Omeprazole 20 MG Oral Capsule was started after the last level"),
        ("diarrhoea", 3, "diarrhoea recorded since the last level"),
    ],
)
def test_a_level_due_for_a_recent_trough_still_judges_it(
    client: TestClient, case: str, days: int, reason: str
) -> None:
    conditions = [transplant("Z94.0", 20 if case == "early" else 400)]
    if case == "diarrhoea":
        conditions.append(diarrhoea(ago(1)))
    medications = [tacrolimus(), omeprazole()] if case == "omeprazole" else None
    found = cards(client, [level(9.5, days)], conditions, medications)
    due = due_card(found)
    assert due["summary"] == f"Tacrolimus level due: {reason}"
    assert "A trough that old is not evidence of the present level: it is not judged." not in lines(due)
    assert judged(found)["summary"].startswith(f"Tacrolimus 9.5 ng/mL on {ago_date(days)}: ")


def test_the_level_due_card_recommends_its_order(client: TestClient) -> None:
    [due] = cards(client, [])
    [order] = due["suggestions"]
    assert order["label"] == "Order a tacrolimus level"
    assert order["isRecommended"] is True


def test_a_level_due_is_one_card_to_dismiss_whatever_its_reason() -> None:
    [none] = family_cards([])
    after_ppi = [
        c
        for c in family_cards([level(9.5, 3)], [transplant("Z94.0", 400)], [tacrolimus(), omeprazole()])
        if c.summary.startswith("Tacrolimus level due")
    ]
    [started] = after_ppi
    assert none.summary != started.summary
    assert none.hold_key == started.hold_key  # a dismissed 'level due' holds the next one back


def test_an_interacting_drug_known_by_its_code_only_is_named_by_its_order(client: TestClient) -> None:
    coded = medication_request("m2", "", code="7646", authoredOn=ago(1))  # RxNorm omeprazole, no name
    found = cards(client, [level(9.5, 3)], [transplant("Z94.0", 400)], [tacrolimus(), coded])
    assert (
        due_card(found)["summary"]
        == "Tacrolimus level due: MedicationRequest/m2 was started after the last level"
    )


@pytest.mark.parametrize(
    ("hours", "due"),
    [
        (-48, False),  # before the last level (3 days ago)
        (0, False),  # at the level's own instant: not since it
        (1, True),  # an hour after it
    ],
)
def test_diarrhoea_counts_only_after_the_last_level(client: TestClient, hours: float, due: bool) -> None:
    onset = ago(3, hours=-hours)
    found = cards(client, [level(9.5, 3)], [transplant("Z94.0", 400), diarrhoea(onset)])
    dues = [c["summary"] for c in found if c["summary"].startswith("Tacrolimus level due")]
    assert dues == (["Tacrolimus level due: diarrhoea recorded since the last level"] if due else [])


def test_diarrhoea_in_any_of_a_conditions_names(client: TestClient) -> None:
    code = {
        "coding": [{"system": ICD, "code": "A09", "display": "Infectious gastroenteritis"}],
        "text": "Diarrhoea",
    }
    found = cards(client, [level(9.5, 3)], [transplant("Z94.0", 400), diarrhoea(ago(1), code)])
    assert due_card(found)["summary"] == "Tacrolimus level due: diarrhoea recorded since the last level"


def test_a_drug_that_adds_toxicity_without_changing_the_level_asks_for_none(client: TestClient) -> None:
    # mycophenolate's interaction (interactions.json) is an info about added toxicity, not a change of the
    # tacrolimus level: its start after the last level does not make a level due
    mmf = medication_request("m2", "Mycophenolate mofetil 500 MG Oral Tablet", authoredOn=ago(1))
    found = cards(client, [level(9.5, 3)], [transplant("Z94.0", 400)], [tacrolimus(), mmf])
    assert not [c for c in found if c["summary"].startswith("Tacrolimus level due")]


# -- a trough judged against no target is named on the data-incomplete card (patient-view only)
def gap_cards(
    client: TestClient,
    value: float,
    hook: str = "patient-view",
    drafts: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle([level(value, 2)])
    prefetch["conditions"] = bundle([])
    body = hook_request(hook, prefetch, drafts=drafts)
    response = client.post(f"/cds-services/tacrolimus-{hook}", content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    return of_topic(response.json()["cards"], "data-incomplete")


def test_a_trough_at_the_ceiling_with_no_indication_is_said_not_judged(client: TestClient) -> None:
    # 20 ng/mL is not above the general ceiling: its level card is an info patient-view does not show
    [card] = gap_cards(client, 20.0)
    assert card["summary"] == (
        f"Not checked for lack of data: tacrolimus trough 20 ng/mL on {ago_date(2)} against a target:"
        " no transplant or colitis on record"
    )


def test_an_order_for_another_drug_does_not_report_the_unjudged_trough(client: TestClient) -> None:
    # the level cards are patient-view's: an order of amlodipine says nothing of the trough
    draft = medication_request("d1", "Amlodipine 5 MG Oral Tablet", status="draft")
    assert gap_cards(client, 8.0, "order-select", [draft]) == []


@pytest.mark.parametrize(
    ("days", "cadence"),
    [(91, "About twice weekly early after transplant"), (92, "Periodically after the first months")],
)
def test_the_cadence_changes_after_three_months_on_either_side(
    client: TestClient, days: int, cadence: str
) -> None:
    # three months of 30.44 days are 91.32: day 91 is still early, day 92 is past it
    card = level_card(cards(client, [level(9.5, 1)], [transplant("Z94.0", days)], KIDNEY_MMF))
    assert cadence in card["detail"]
