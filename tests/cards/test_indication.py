"""The indication a record shows and the trough target that follows (cards/indication.py): mostly through
the level card (tests/cards/test_levels.py's helpers), where the target and its basis are what the
clinician reads."""

from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cards import load_site
from cards.drugs import DrugIdentifier
from cards.indication import indications, population, recognised, target
from cards.site import with_site
from cards.therapy import Therapy
from cds.record import PatientRecord, RecordBuilder
from tests.builders import PATIENT_ID, medication_request, tacrolimus
from tests.cards.test_levels import (
    AZA,
    ENVARSUS,
    KIDNEY_MMF,
    KNOWLEDGE,
    MMF,
    cards,
    level,
    level_card,
    target_line,
    transplant,
)
from tests.clock import ago_date, now
from tests.clock import ago_iso as ago

LOCAL_PROBLEMS = "https://ehr.example.org/problems"
LOCAL_DRUGS = "https://ehr.example.org/drugs"


def record_of(resources: list[dict[str, Any]]) -> PatientRecord:
    """A patient-view record of the resources alone: no Patient resource unless one is given."""
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id=PATIENT_ID)
    builder.add(resources, where="test")
    return builder.build()


# -- which indication


def test_a_heart_and_lungs_transplant_is_a_lung_transplant(client: TestClient) -> None:
    # ICD-10-CM Z94.3 "Heart and lungs transplant status" is one of the lung indication's codes; its display
    # names neither "lung transplant" nor "heart transplant" as the words lists write them: the code decides
    both = transplant("Z94.3", 30)
    both["code"]["coding"][0]["display"] = "Heart and lungs transplant status"
    card = level_card(cards(client, [level(12.0, 0)], [both]))
    assert card["summary"].endswith("within target 10 to 15 ng/mL")  # adult lung, months 1 to 3


def test_a_transplant_named_by_the_display_of_a_local_code(client: TestClient) -> None:
    # a problem list entry with a local code: its text and its coding's display are read as separate words
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {
            "text": "Status post transplant",
            "coding": [{"system": LOCAL_PROBLEMS, "code": "P-118", "display": "Kidney transplant"}],
        },
        "onsetDateTime": ago(30),
    }
    card = level_card(cards(client, [level(9.5, 0)], [condition], [tacrolimus(), AZA]))
    assert card["summary"].endswith(
        "within target 7 to 20 ng/mL"
    )  # adult kidney with azathioprine, months 1-3


def test_the_regimen_is_read_from_a_coding_display_after_the_text(client: TestClient) -> None:
    # a brand in the text, the ingredient only in the coding's display: azathioprine is still the regimen
    imuran = medication_request("m2", "Imuran 50mg tablets")
    imuran["medicationCodeableConcept"]["coding"] = [
        {"system": LOCAL_DRUGS, "code": "AZA50", "display": "Azathioprine 50mg tablets"}
    ]
    card = level_card(cards(client, [level(9.5, 0)], [transplant("Z94.0", 30)], [tacrolimus(), imuran]))
    assert card["summary"].endswith("within target 7 to 20 ng/mL")  # not the usual range 10 to 20


# -- several transplants: the most recent one's target, whatever the order of the record


def test_the_most_recent_transplant_is_used_and_one_refuted_is_not_a_transplant(client: TestClient) -> None:
    # a heart transplant entered in error (refuted) first on the problem list, the newest of all; then a
    # kidney transplant 400 days ago, then a liver transplant 100 days ago: the liver target applies
    refuted = transplant("Z94.1", 30, "c1")
    refuted["verificationStatus"] = {"coding": [{"code": "refuted"}]}
    conditions = [refuted, transplant("Z94.0", 400, "c2"), transplant("Z94.4", 100, "c3")]
    card = level_card(cards(client, [level(9.5, 0)], conditions))
    assert target_line(card) == (
        "Target 5 to 20 ng/mL (US label, adult liver transplant, months 1 to 12 after transplant;"
        f" transplant on {ago_date(100)})."
    )
    assert "Also recorded: kidney transplant; the liver transplant target is used" in card["detail"]
    assert "heart" not in card["detail"]


def test_a_second_transplant_of_one_organ_is_timed_from_the_latest(client: TestClient) -> None:
    # a liver re-transplant 100 days ago listed before the first graft (800 days ago): months 1 to 12
    conditions = [transplant("Z94.4", 100, "c1"), transplant("Z94.4", 800, "c2")]
    card = level_card(cards(client, [level(9.5, 0)], conditions))
    assert target_line(card) == (
        "Target 5 to 20 ng/mL (US label, adult liver transplant, months 1 to 12 after transplant;"
        f" transplant on {ago_date(100)})."
    )


# -- colitis: when tacrolimus began


def test_a_colitis_level_known_by_name_only_shows_treatment_began_before_the_order(
    client: TestClient,
) -> None:
    # a new-looking order 6 days ago, but a level (a local code, known by its name) 36 days ago
    named = {
        "resourceType": "Observation",
        "id": "n1",
        "status": "final",
        "code": {
            "coding": [{"system": "https://lab.example.org/codes", "code": "TAC", "display": "Tacrolimus"}]
        },
        "effectiveDateTime": ago(36),
        "valueQuantity": {"value": 8.0, "unit": "ng/mL"},
    }
    found = cards(
        client, [level(7.2, 1), named], [transplant("K51.90", None)], [tacrolimus(authoredOn=ago(6))]
    )
    card = level_card(found)
    assert card["summary"].endswith("within the colitis maintenance target 5 to 10 ng/mL")


def test_colitis_with_no_start_and_an_undated_level_shows_both_targets(client: TestClient) -> None:
    # nothing dates the start: no order date, and the only level has no date either
    undated = level(12.0, 1)
    del undated["effectiveDateTime"]
    card = level_card(cards(client, [undated], [transplant("K51.90", None)]))
    assert card["summary"] == (
        "Tacrolimus 12 ng/mL on an unknown date: within the colitis initial 10 to 15, above the maintenance"
        " 5 to 10 ng/mL (start not known)"
    )
    assert (
        "When tacrolimus was started is not known: the level is within the initial and above the maintenance"
        " target." in card["detail"]
    )


# -- which table: the patient's age


def test_with_no_patient_resource_the_adult_table_is_used_and_said() -> None:
    record = record_of([tacrolimus(), AZA, transplant("Z94.0", 30)])
    assert population(record, KNOWLEDGE.dosing) == ("adult", "Age unknown: the adult table is used.")
    therapy = Therapy.of(record, DrugIdentifier(KNOWLEDGE))
    [kidney] = indications(record, KNOWLEDGE, therapy)
    chosen = target(kidney, KNOWLEDGE.dosing, record, therapy, "immediate-release")
    assert chosen is not None
    assert (chosen.low, chosen.high) == (7, 20)  # adult kidney with azathioprine, months 1 to 3
    assert chosen.basis.startswith("US label, adult kidney transplant with azathioprine, months 1 to 3")


# The label's paediatric table is for patients under 18 (dosing.json child_under_years): adult heart,
# months 4 to 12: 5 to 15 ng/mL; child heart, months 1 to 12: 5 to 20 ng/mL.
@pytest.mark.now("2026-12-01T09:00:00Z")
@pytest.mark.parametrize(
    ("birth", "target"),
    [("2008-12-02", "target 5 to 20"), ("2008-12-01", "target 5 to 15")],  # 18 tomorrow; 18 today
)
def test_the_child_table_is_for_patients_under_18(client: TestClient, birth: str, target: str) -> None:
    card = level_card(cards(client, [level(9.5, 0)], [transplant("Z94.1", 120)], birth=birth))
    assert card["summary"].endswith(f"within {target} ng/mL")


# -- what the target line says


def test_a_row_for_any_regimen_names_no_regimen(client: TestClient) -> None:
    card = level_card(cards(client, [level(9.5, 0)], [transplant("Z94.4", 100)]))
    assert target_line(card) == (
        "Target 5 to 20 ng/mL (US label, adult liver transplant, months 1 to 12 after transplant;"
        f" transplant on {ago_date(100)})."
    )


def test_a_regimen_with_no_rows_of_its_own_uses_the_rows_for_any(client: TestClient) -> None:
    # the label's liver rows are for any regimen: mycophenolate recorded does not leave the liver without one
    card = level_card(cards(client, [level(9.5, 0)], [transplant("Z94.4", 100)], KIDNEY_MMF))
    assert target_line(card) == (
        "Target 5 to 20 ng/mL (US label, adult liver transplant, months 1 to 12 after transplant;"
        f" transplant on {ago_date(100)})."
    )


# The reference (section 10, status P): "Envarsus XR ... trough M1 6-11 then 4-11 ng/mL"; month 1 is the first
# 30.44 days.
@pytest.mark.parametrize(
    ("days", "shown", "window"),
    [(20, "6 to 11", "Envarsus, month 1"), (200, "4 to 11", "Envarsus, after month 1")],
)
def test_an_envarsus_target_says_it_is_the_envarsus_rows(
    client: TestClient, days: int, shown: str, window: str
) -> None:
    card = level_card(cards(client, [level(9.5, 0)], [transplant("Z94.0", days)], [ENVARSUS]))
    assert target_line(card) == (
        f"Target {shown} ng/mL (Envarsus label, adult kidney transplant, {window}; figure from a secondary"
        f" source, not verified; transplant on {ago_date(days)})."
    )


# -- a site protocol's row: the source is the label's beside it


def test_a_site_row_takes_the_source_of_the_label_row_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        "targets: [{organ: kidney, from_month: 0, to_month: 3, low: 8, high: 12},"
        " {organ: lung, from_month: 12, low: 6, high: 10}]\n"
    )
    dosing = with_site(KNOWLEDGE, load_site(path)).dosing
    record = record_of(
        [
            {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "1970-01-01"},
            tacrolimus(),
            MMF,
            transplant("Z94.0", 60, "c1"),
            transplant("Z94.2", 400, "c2"),
        ]
    )
    therapy = Therapy.of(record, DrugIdentifier(KNOWLEDGE))
    by_key = {i.key: i for i in indications(record, KNOWLEDGE, therapy)}
    kidney = target(by_key["kidney"], dosing, record, therapy, "immediate-release")
    lung = target(by_key["lung"], dosing, record, therapy, "immediate-release")
    assert kidney is not None
    assert lung is not None
    # the site's 8 to 12, the US label's 4 to 11 beside it: the Prograf label is the source
    assert (kidney.low, kidney.high, kidney.source) == (8, 12, "prograf-uspi")
    # lung after month 12: no label row, no monograph range: the monograph is named
    assert (lung.low, lung.high, lung.source) == (6, 10, "monograph")


def test_a_records_indications_are_read_once_and_shared() -> None:
    # several families ask for one record's indications and its conditions' codes (the levels, dosing,
    # the story): the first reading is kept on the record and each later ask gets that same answer
    record = record_of([transplant("Z94.0", 30), tacrolimus()])
    therapy = Therapy.of(record, DrugIdentifier(KNOWLEDGE))
    assert Therapy.of(record, DrugIdentifier(KNOWLEDGE)) is therapy
    first = indications(record, KNOWLEDGE, therapy)
    assert [i.key for i in first] == ["kidney"]  # ICD-10-CM Z94.0 Kidney transplant status
    assert indications(record, KNOWLEDGE, therapy) is first
    code = record.conditions[0].code
    assert recognised(record, code, KNOWLEDGE.dosing) == ("kidney",)
    assert recognised(record, code, KNOWLEDGE.dosing) is recognised(record, code, KNOWLEDGE.dosing)


def test_one_transplant_recorded_twice_at_one_instant_keeps_the_first_entry() -> None:
    # a merged chart can carry one transplant twice, written in two offsets; only a later onset replaces
    # the first entry, so the date shown (and the days counted, in the entry's own zone) is the first's
    onset = (now() - timedelta(days=30)).astimezone(timezone(timedelta(hours=1)))
    first, second = transplant("Z94.0", None, "c1"), transplant("Z94.0", None, "c2")
    first["onsetDateTime"] = onset.isoformat()
    second["onsetDateTime"] = onset.astimezone(UTC).isoformat()
    record = record_of([first, second, tacrolimus()])
    [kidney] = indications(record, KNOWLEDGE, Therapy.of(record, DrugIdentifier(KNOWLEDGE)))
    assert kidney.since is not None
    assert kidney.since.utcoffset() == timedelta(hours=1)
