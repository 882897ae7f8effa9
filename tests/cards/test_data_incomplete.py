"""Scenarios for the data-incomplete card: it speaks where a gap matters, and only there."""

from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards.data_incomplete import detail, gap_card, summary
from cards.drugs import DrugIdentifier
from cards.knowledge import load
from cds.app import build_app
from cds.clock import fixed
from cds.record import RecordBuilder
from cds.service import Gaps, Service
from cds.settings import Settings
from tests.builders import (
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    observation,
    of_topic,
    tacrolimus,
)
from tests.clock import ago_date, now

PV = "/cds-services/tacrolimus-patient-view"


def cards(client: TestClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(path, content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = of_topic(response.json()["cards"], "data-incomplete")
    return result


def test_patient_on_tacrolimus_with_allergies_unavailable(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["allergies"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"diagnostics": "AllergyIntolerance search failed"}],
    }
    [card] = cards(client, PV, hook_request(prefetch=prefetch))
    assert card["indicator"] == "warning"
    assert card["source"]["topic"] == {
        "system": "urn:tacrolimus-cds:card-topic",
        "code": "data-incomplete",
        "display": "Checks not done: data missing",
    }
    assert card["source"]["url"].startswith("https://")
    assert (
        "the patient's allergies: the EHR could not prefetch it: AllergyIntolerance search failed"
        in card["detail"]
    )
    assert "not evidence that there is no problem" in card["detail"]


def test_patient_not_on_tacrolimus_gets_no_card_for_missing_data(client: TestClient) -> None:
    prefetch = full_prefetch([medication_request("m1", "Amlodipine 5 MG Oral Tablet")])
    del prefetch["allergies"], prefetch["conditions"]
    assert cards(client, PV, hook_request(prefetch=prefetch)) == []


def test_stopped_tacrolimus_does_not_make_gaps_relevant(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus(status="stopped")])
    del prefetch["allergies"]
    assert cards(client, PV, hook_request(prefetch=prefetch)) == []


@pytest.mark.parametrize("how", ["rxnorm", "atc", "brand", "tall-man"])
def test_tacrolimus_is_known_by_code_or_name(client: TestClient, how: str) -> None:
    medication = {
        "rxnorm": medication_request("m", "", code="198377"),
        "atc": {
            **medication_request("m", ""),
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.whocc.no/atc", "code": "L04AD02"}]
            },
        },
        "brand": medication_request("m", "ENVARSUS XR 4 mg tablet"),
        "tall-man": medication_request("m", "tacROLIMUS 0.5 mg capsule"),
    }[how]
    prefetch = full_prefetch([medication])
    del prefetch["immunizations"]
    [card] = cards(client, PV, hook_request(prefetch=prefetch))
    assert "immunizations" in card["detail"]


def test_a_draft_tacrolimus_order_makes_gaps_relevant(client: TestClient) -> None:
    prefetch = full_prefetch()
    del prefetch["observations"]
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    [card] = cards(client, "/cds-services/tacrolimus-order-select", body)
    assert "tacrolimus levels" in card["detail"]


def test_unreadable_records_are_named_for_a_patient_on_tacrolimus(client: TestClient) -> None:
    prefetch = full_prefetch(
        [tacrolimus(), {"resourceType": "MedicationRequest", "id": "broken", "status": "active"}]
    )
    [card] = cards(client, PV, hook_request(prefetch=prefetch))
    assert card["summary"] == "Some patient records could not be read; tacrolimus checks may be incomplete"
    assert "MedicationRequest/broken: names no medication" in card["detail"]


def test_long_lists_are_cut_with_a_count(client: TestClient) -> None:
    broken = [{"resourceType": "Observation", "id": f"o{i}", "status": "final"} for i in range(12)]
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = {"resourceType": "Bundle", "entry": [{"resource": r} for r in broken]}
    [card] = cards(client, PV, hook_request(prefetch=prefetch))
    assert "and 4 more" in card["detail"]


def test_summaries_stay_under_140_characters() -> None:
    many = Gaps(not_run=tuple(f"a very long check title number {i}" for i in range(10)))
    assert len(summary(many)) < 140
    assert summary(Gaps(not_run=("drug interactions",))) == "Not checked for lack of data: drug interactions"


# -- issue 17: a medication with only a local code and no text is named, never skipped silently
LOCAL_ONLY: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "loc1",
    "status": "active",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "code": "59837"}]
    },
}


def test_a_local_code_without_text_is_named_for_a_patient_on_tacrolimus(client: TestClient) -> None:
    [card] = cards(client, PV, hook_request(prefetch=full_prefetch([tacrolimus(), LOCAL_ONLY])))
    assert "could not identify: urn:oid:1.2.840.114350.1.13.0.1.7.2.698288 59837" in card["detail"]
    assert card["summary"] == "Some medications could not be identified; tacrolimus checks may be incomplete"


def test_the_data_incomplete_markdown_never_glues_a_heading_to_a_list(client: TestClient) -> None:
    [card] = cards(client, PV, hook_request(prefetch=full_prefetch([tacrolimus(), LOCAL_ONLY])))
    lines = card["detail"].splitlines()
    for n, line in enumerate(lines[1:], start=1):
        if line.startswith("**"):
            assert lines[n - 1] == "", card["detail"]
        if line.startswith("- ") and lines[n - 1].startswith("**"):
            raise AssertionError(card["detail"])


@pytest.mark.parametrize(
    "medications",
    [
        [LOCAL_ONLY],
        [
            tacrolimus(),
            {
                **LOCAL_ONLY,
                "medicationCodeableConcept": {
                    **LOCAL_ONLY["medicationCodeableConcept"],
                    "text": "Amlodipine 5 mg",
                },
            },
        ],
    ],
    ids=["not-on-tacrolimus", "local-code-with-text"],
)
def test_no_card_when_the_patient_is_not_on_tacrolimus_or_the_medication_has_a_name(
    client: TestClient, medications: list[dict[str, Any]]
) -> None:
    assert cards(client, PV, hook_request(prefetch=full_prefetch(medications))) == []


def test_a_key_cut_by_the_entry_cap_shows_the_card_though_what_was_read_has_no_tacrolimus(
    services: list[Service],
) -> None:
    """Tacrolimus after the cut must not make the answer silent: the cut itself is a gap that matters."""
    settings = Settings(database_url="sqlite://", auth="off", max_bundle_entries=3)
    others = [medication_request(f"m{n}", "Amlodipine 5 MG Oral Tablet") for n in range(5)]
    prefetch = full_prefetch([*others, tacrolimus()])
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        [card] = cards(client, PV, hook_request(prefetch=prefetch))
    assert card["indicator"] == "warning"
    assert "more than 3 entries; only the first 3 were read" in card["detail"]


def test_a_bundle_whose_entry_is_not_a_list_is_reported_unreadable(client: TestClient) -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = {"resourceType": "Bundle", "entry": {"resource": {"resourceType": "Condition"}}}
    prefetch["medicationRequests"]["entry"] = [{"resource": tacrolimus()}]
    [card] = cards(client, PV, hook_request(prefetch=prefetch))
    assert "the prefetched Bundle cannot be read: its entry is not a list" in card["detail"]


# -- a trough the service cannot judge: its card would be an info, which patient-view does not show
days_ago = ago_date


def unjudged(client: TestClient, value: float, conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle([observation("l1", "11253-2", value, "ng/mL", days_ago(2))])
    prefetch["conditions"] = bundle(conditions)
    return cards(client, PV, hook_request(prefetch=prefetch))


def condition(code: str | None, text: str | None = None, onset_days: float | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"resourceType": "Condition", "id": "c1", "code": {}}
    if code:
        found["code"]["coding"] = [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]
    if text:
        found["code"]["text"] = text
    if onset_days is not None:
        found["onsetDateTime"] = days_ago(onset_days)
    return found


def test_a_trough_with_no_indication_on_record_is_said_not_judged(client: TestClient) -> None:
    [card] = unjudged(client, 8.0, [])
    assert card["summary"] == (
        f"Not checked for lack of data: tacrolimus trough 8 ng/mL on {days_ago(2)} against a target:"
        " no transplant or colitis on record"
    )
    assert len(card["summary"]) < 140


def test_a_transplant_with_no_date_is_named(client: TestClient) -> None:
    [card] = unjudged(client, 8.0, [condition("Z94.1")])
    assert "heart transplant has no date" in card["summary"]


@pytest.mark.parametrize(
    ("value", "conditions"),
    [
        (8.0, [condition("Z94.4", onset_days=400)]),  # judged against the liver target
        (8.0, [condition(None, "Liver transplant", onset_days=400)]),  # recognised by its text
        (8.0, [condition("K51.90")]),  # colitis: judged against both of its targets
        (21.0, []),  # above 20 ng/mL: the level card itself warns
        # no source gives a lung range after month 12: the sources' limit, not missing data
        (9.1, [condition("Z94.2", onset_days=5 * 365)]),
    ],
    ids=["dated-liver", "text-only-liver", "colitis", "above-ceiling", "lung-after-month-12"],
)
def test_no_gap_when_the_trough_is_judged_or_its_card_warns(
    client: TestClient, value: float, conditions: list[dict[str, Any]]
) -> None:
    assert unjudged(client, value, conditions) == []


def test_a_transplant_candidate_is_not_a_recipient(client: TestClient) -> None:
    [card] = unjudged(client, 8.0, [condition(None, "Candidate for liver transplant", onset_days=30)])
    assert "no transplant or colitis on record" in card["summary"]


# -- the card's words, for each kind of gap
@pytest.mark.parametrize(
    ("gaps", "said"),
    [
        (Gaps(not_run=("levels",), failed=("dosing",)), "Not checked for lack of data: levels, dosing"),
        (
            Gaps(unavailable={"observations": "timed out"}),
            "Some patient data could not be retrieved; tacrolimus checks may be incomplete",
        ),
        (
            Gaps(incomplete={"observations": "cut at 500"}),
            "Some patient data could not be retrieved; tacrolimus checks may be incomplete",
        ),
        (
            Gaps(unidentified=("MedicationRequest/m1: could not identify: urn:x 1",)),
            "Some medications could not be identified; tacrolimus checks may be incomplete",
        ),
        (
            Gaps(
                unidentified=("MedicationRequest/m1: could not identify: urn:x 1",),
                skipped=("Observation/o1: has no code",),
            ),
            "Some patient records could not be read; tacrolimus checks may be incomplete",
        ),
        (
            Gaps(skipped=("Observation/o1: has no code",)),
            "Some patient records could not be read; tacrolimus checks may be incomplete",
        ),
    ],
)
def test_the_summary_for_each_kind_of_gap(gaps: Gaps, said: str) -> None:
    assert summary(gaps) == said


def test_a_summary_of_exactly_139_characters_is_kept_and_of_140_replaced() -> None:
    prefix = "Not checked for lack of data: "  # 30 characters
    kept = Gaps(not_run=("x" * (139 - len(prefix)),))
    assert len(summary(kept)) == 139
    replaced = Gaps(not_run=("x" * (140 - len(prefix)),))
    assert summary(replaced) == "Several tacrolimus checks were not done: patient data was missing"


UNNAMED = "MedicationRequest/m1: could not identify: urn:x 1"


def test_the_detail_lists_each_kind_under_its_heading() -> None:
    gaps = Gaps(
        not_run=("levels",),
        failed=("dosing",),
        unavailable={"observations": "timed out"},
        incomplete={"conditions": "cut at 500 entries"},
        unidentified=(UNNAMED,),
        skipped=("Observation/o1: has no code",),
    )
    assert detail(gaps).split("\n") == [
        "**Not checked** (the data it needs could not be obtained):", "", "- levels", "",
        "**Not checked** (the check failed; the error is in the service's log):", "", "- dosing", "",
        "**Data not available:**", "", "- observations: timed out", "",
        "**Data only partly received:**", "", "- conditions: cut at 500 entries", "",
        "**Medications that could not be identified:**", "", f"- {UNNAMED}", "",
        "**Records that could not be read and were left out:**", "", "- Observation/o1: has no code", "",
        "The absence of a warning about anything above is not evidence that there is no problem.",
    ]  # fmt: skip


@pytest.mark.parametrize(("count", "more"), [(8, None), (9, "- and 1 more")])
def test_eight_entries_are_listed_then_a_count(count: int, more: str | None) -> None:
    lines = detail(Gaps(skipped=tuple(f"Observation/o{i}: has no code" for i in range(count)))).split("\n")
    listed = [line for line in lines if line.startswith("- Observation/")]
    assert len(listed) == 8
    assert [line for line in lines if line.startswith("- and ")] == ([more] if more else [])


def test_a_medication_that_could_not_be_retrieved_matters_though_no_tacrolimus_is_known(
    client: TestClient,
) -> None:
    # what could not be retrieved may be tacrolimus: the gap is shown for any patient
    unresolved = medication_request("m1", "")
    del unresolved["medicationCodeableConcept"]
    unresolved["medicationReference"] = {"reference": "Medication/gone"}
    [card] = cards(client, PV, hook_request(prefetch=full_prefetch([unresolved])))
    assert card["summary"] == "Some medications could not be identified; tacrolimus checks may be incomplete"
    assert "- MedicationRequest/m1: its Medication (Medication/gone) could not be retrieved" in (
        card["detail"].splitlines()
    )


@pytest.mark.parametrize(
    ("gaps", "shown"),
    [
        (Gaps(failed=("dosing",)), True),  # a check that failed may have had a card to show
        (Gaps(unidentified=("MedicationRequest/m1: no code or name",)), True),  # it may be tacrolimus
        (Gaps(incomplete={"the patient's medications": "cut at 1000 entries"}), True),  # the rest may be
        (Gaps(not_run=("levels",)), False),  # nothing to judge for a patient not on tacrolimus
        (Gaps(unavailable={"the patient's allergies": "the EHR could not prefetch it"}), False),
    ],
)
def test_for_a_patient_not_on_tacrolimus_only_a_gap_that_may_hide_a_card_is_shown(
    gaps: Gaps, shown: bool
) -> None:
    knowledge = load()
    make = gap_card(knowledge, DrugIdentifier(knowledge), None)
    record = RecordBuilder(hook="patient-view", now=now(), patient_id="p").build()
    card = make(gaps, record)
    assert (card is not None) == shown
    if card is not None:
        assert card.indicator == "warning"


def test_the_card_s_own_maker_adds_an_unnamed_medication_to_the_gaps_it_was_given() -> None:
    """For a patient on tacrolimus, a medication known only by a local code joins the unidentified ones the
    request already had (both listed); with no other gap it alone makes the card. Made here, in the test, so
    that a fault in gap_card's maker shows (the services' own copy is built once per session)."""
    knowledge = load()
    make = gap_card(knowledge, DrugIdentifier(knowledge), None)
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id="p")
    builder.add([tacrolimus(), LOCAL_ONLY], where="test")
    record = builder.build()
    card = make(Gaps(unidentified=(UNNAMED,)), record)
    assert card is not None
    assert card.detail is not None
    assert card.summary == "Some medications could not be identified; tacrolimus checks may be incomplete"
    assert [line for line in card.detail.splitlines() if line.startswith("- ")] == [
        f"- {UNNAMED}",
        "- MedicationRequest/loc1: could not identify: urn:oid:1.2.840.114350.1.13.0.1.7.2.698288 59837",
    ]
    alone = make(Gaps(), record)
    assert alone is not None
    assert alone.detail is not None
    assert "- MedicationRequest/loc1: could not identify:" in alone.detail


def test_a_medication_known_by_its_code_alone_is_not_listed_and_the_next_unknown_one_still_is() -> None:
    """Known by code, with no name: tacrolimus (its RxNorm ingredient code) and an unnamed macrolide (ATC
    J01FA06, placed in its class) are identified, so not listed; the local code after them still is."""
    knowledge = load()
    make = gap_card(knowledge, DrugIdentifier(knowledge), None)
    code_only_tacrolimus = medication_request("t1", "", code="42316")
    macrolide = {
        **LOCAL_ONLY,
        "id": "mac1",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J01FA06"}]},
    }
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id="p")
    builder.add([code_only_tacrolimus, macrolide, LOCAL_ONLY], where="test")
    card = make(Gaps(), builder.build())
    assert card is not None
    assert card.detail is not None
    assert [line for line in card.detail.splitlines() if line.startswith("- ")] == [
        "- MedicationRequest/loc1: could not identify: urn:oid:1.2.840.114350.1.13.0.1.7.2.698288 59837",
    ]


def test_the_could_not_identify_line_gives_every_code_with_its_system() -> None:
    """The line a clinician reads for a medication with only codes: each coding as '<system> <code>',
    separated by ', '; 'no system' for a coding without one; 'no code' for a Medication with no coding."""
    knowledge = load()
    make = gap_card(knowledge, DrugIdentifier(knowledge), None)
    two_codes = {
        **LOCAL_ONLY,
        "id": "two",
        "medicationCodeableConcept": {
            "coding": [{"system": "urn:oid:1.2.3", "code": "59837"}, {"code": "X-42"}]
        },
    }
    empty_medication = {
        "resourceType": "MedicationRequest",
        "id": "empty",
        "status": "active",
        "intent": "order",
        "contained": [{"resourceType": "Medication", "id": "med", "form": {"text": "tablet"}}],
        "medicationReference": {"reference": "#med"},
    }
    builder = RecordBuilder(hook="patient-view", now=now(), patient_id="p")
    builder.add([tacrolimus(), two_codes, empty_medication], where="test")
    card = make(Gaps(), builder.build())
    assert card is not None
    assert card.detail is not None
    assert [line for line in card.detail.splitlines() if line.startswith("- ")] == [
        "- MedicationRequest/two: could not identify: urn:oid:1.2.3 59837, no system X-42",
        "- MedicationRequest/empty: could not identify: no code",
    ]
