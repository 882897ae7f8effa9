"""How the site file's indicator changes reach the cards (cards/services.py SiteRules): a change applies to
its topic's cards only, and a critical card is never lowered without the site's acknowledgement, even when
a site file that start-up would refuse is given directly."""

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from cards import assemble, load_services
from cards.services import SiteRules
from cards.site import FAMILIES, IndicatorChange, Site
from cards.story_link import StoryLink
from cds.app import build_app
from cds.clock import fixed
from cds.evaluate import Evaluator
from cds.models import Card, Source
from cds.models.card import Coding
from cds.record import PatientRecord, RecordBuilder
from cds.service import Service
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
from tests.cards.test_site import only
from tests.clock import ago_iso
from tests.clock import now as suite_now

RECORD = RecordBuilder(hook="patient-view", now=datetime(2026, 11, 22, tzinfo=UTC), patient_id="p1").build()


class Fixed:
    """A family that always gives the same cards."""

    title = "fixed"
    needs = frozenset({"medicationRequests"})

    def __init__(self, *cards: Card) -> None:
        self._cards = cards

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        return list(self._cards)


def card(topic: str | None, indicator: str) -> Card:
    coded = Coding(system="urn:tacrolimus-cds:card-topic", code=topic) if topic else None
    return Card(summary=f"{topic} {indicator}", indicator=indicator, source=Source(label="test", topic=coded))


def indicators(site: Site, *cards: Card) -> list[str]:
    return [c.indicator for c in SiteRules(Fixed(*cards), site).cards(RECORD)]


def test_a_change_applies_to_its_topic_only() -> None:
    site = Site(indicators={"trough-target": "warning"})
    found = indicators(site, card("trough-target", "info"), card("dosing", "info"), card(None, "info"))
    assert found == ["warning", "info", "info"]


def test_a_critical_card_is_lowered_only_with_the_acknowledgement() -> None:
    unacknowledged = Site(indicators={"interaction-toxicity": "warning"})  # start-up refuses this file
    cards = (card("interaction-toxicity", "critical"), card("interaction-toxicity", "info"))
    assert indicators(unacknowledged, *cards) == [
        "critical",
        "warning",
    ]  # the critical one kept, in its place
    change = IndicatorChange(indicator="warning", acknowledge_lowering_critical="our pharmacists review each")
    assert indicators(Site(indicators={"interaction-toxicity": change}), *cards) == ["warning", "warning"]


def test_the_family_is_named_as_it_was() -> None:
    family = Fixed()
    assert SiteRules(family, Site()).title == "fixed"


def test_a_family_with_the_story_link_is_named_as_it_was() -> None:
    linked = StoryLink(Fixed(), "https://cds.example.org/story")
    assert (linked.title, linked.needs) == ("fixed", frozenset({"medicationRequests"}))


# -- the prefetch each service advertises, and the words the clinician reads when a key is missing
PATIENT = "{{context.patientId}}"
PV = "/cds-services/tacrolimus-patient-view"


@pytest.fixture
def built() -> list[Service]:
    """The services built by the test itself, not the card tests' shared assembly: mutation testing maps
    what building them runs (the prefetch templates, the services' assembly) to the tests that build them,
    and the shared one is built once, inside whichever test asks first."""
    return load_services()


def test_the_observations_query_asks_for_each_code_by_its_loinc_code(built: list[Service]) -> None:
    for service in built:
        query = service.prefetch["observations"].query
        found = re.fullmatch(
            rf"Observation\?patient={re.escape(PATIENT)}&code=([^&]+)&_sort=-date&_count=100", query
        )
        assert found, query
        codes = found.group(1).split(",")
        assert all(re.fullmatch(r"\d{1,5}-\d", code) for code in codes), codes
        # tacrolimus trough, body weight, serum creatinine, potassium, glucose, bilirubin, ALT, AST, the
        # pregnancy and breastfeeding statuses, a genotype (LOINC, the reference's section 4)
        assert {"11253-2", "29463-7", "2160-0", "2823-3", "2345-7", "1975-2", "1742-6", "1920-8"} <= set(
            codes
        )
        assert {"82810-3", "63895-7", "84413-4"} <= set(codes)
        assert service.prefetch["observations"].description == (
            "tacrolimus levels, weight, kidney function, potassium, glucose, liver tests (bilirubin, ALT,"
            " AST), pregnancy and breastfeeding status, CYP3A5 genotype"
        )


def test_a_dstu2_server_is_asked_for_medication_orders(built: list[Service]) -> None:
    for service in built:
        template = service.prefetch["medicationRequests"]
        assert template.query == f"MedicationRequest?patient={PATIENT}&status=active"
        assert template.alternatives == (f"MedicationOrder?patient={PATIENT}&status=active",)


def test_without_the_medication_orders_the_answer_is_412_naming_them(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["medicationRequests"]
    response = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch)))
    assert response.status_code == 412
    assert (
        response.json()["message"]
        == "cannot check this patient without the patient's active medication orders"
    )


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("patient", "the patient's age and sex"),
        (
            "medicationStatements",
            "medications the patient reports taking (including supplements and over-the-counter products)",
        ),
        ("conditions", "the patient's conditions"),
        (
            "observations",
            "tacrolimus levels, weight, kidney function, potassium, glucose, liver tests (bilirubin, ALT,"
            " AST), pregnancy and breastfeeding status, CYP3A5 genotype",
        ),
        ("immunizations", "the patient's immunizations"),
        ("allergies", "the patient's allergies"),
    ],
)
def test_a_missing_key_is_named_in_words_on_the_data_incomplete_card(
    client: TestClient, key: str, said: str
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch[key]
    response = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch)))
    [card] = of_topic(response.json()["cards"], "data-incomplete")
    assert f"- {said}: not prefetched, and no FHIR server was given\n" in card["detail"]


@pytest.mark.parametrize(
    ("key", "query", "said"),
    [
        ("patient", f"Patient/{PATIENT}", "the patient's age and sex"),
        (
            "medicationRequests",
            f"MedicationRequest?patient={PATIENT}&status=active",
            "the patient's active medication orders",
        ),
        (
            "medicationStatements",
            f"MedicationStatement?patient={PATIENT}&status=active",
            "medications the patient reports taking (including supplements and over-the-counter products)",
        ),
        ("conditions", f"Condition?patient={PATIENT}", "the patient's conditions"),
        ("immunizations", f"Immunization?patient={PATIENT}", "the patient's immunizations"),
        ("allergies", f"AllergyIntolerance?patient={PATIENT}", "the patient's allergies"),
    ],
)
def test_each_service_asks_for_each_key_and_names_it_in_words(
    built: list[Service], key: str, query: str, said: str
) -> None:
    for service in built:
        template = service.prefetch[key]
        assert (template.query, template.description) == (query, said), service.id


# -- each family run alone (a site file turns the others off) finds the patient's therapy by itself
@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_alone_answers_without_failing(tmp_path: Path, family: str) -> None:
    expected = {"levels": ["Tacrolimus level due: no tacrolimus trough on record"]}
    with only(family, tmp_path) as client:
        for hook, drafts in (("patient-view", []), ("order-sign", [tacrolimus("d1", status="draft")])):
            body = hook_request(hook, full_prefetch([tacrolimus()]), drafts=drafts)
            response = client.post(f"/cds-services/tacrolimus-{hook}", content=orjson.dumps(body))
            summaries = [card["summary"] for card in response.json()["cards"]]
            assert summaries == (expected.get(family, []) if hook == "patient-view" else []), (
                hook,
                summaries,
            )


# -- the fast path: a patient with no tacrolimus is answered without building the record
def test_each_service_answers_a_patient_without_tacrolimus_on_the_fast_path(built: list[Service]) -> None:
    amlodipine = medication_request("m1", "Amlodipine 5 MG Oral Tablet", code="197361")
    prograf = tacrolimus()
    parts = [(r["medicationCodeableConcept"], None, None) for r in (amlodipine, prograf)]
    for service in built:
        assert service.relevant is not None, service.id
        assert service.relevant(parts[:1]) is False
        assert service.relevant(parts) is True


# -- patient-view runs each family action-only (README, burden policy): its info cards are not shown there
def liver_patient_with_a_trough(value: float) -> dict[str, Any]:
    """A liver transplant 400 days ago and a trough 3 days ago. The reference's liver ranges (US label 5 to
    20 ng/mL in months 1 to 12; EU SmPC maintenance 5 to 15) put 9.5 within target (an info card) and 25
    above it (a warning)."""
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle([observation("l1", "11253-2", value, "ng/mL", ago_iso(3))])
    liver = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z94.4"}]},
        "onsetDateTime": ago_iso(400),
    }
    prefetch["conditions"] = bundle([liver])
    return hook_request(prefetch=prefetch)


async def answer(services: list[Service], request: dict[str, Any]) -> list[Card]:
    evaluator = Evaluator(services, Settings(auth="off"), clock=fixed(suite_now()))
    return (await evaluator.evaluate("tacrolimus-patient-view", request)).cards


async def test_patient_view_shows_no_info_card(built: list[Service]) -> None:
    within = await answer(built, liver_patient_with_a_trough(9.5))
    assert [(c.summary, c.indicator) for c in within] == []  # an in-range level is info: not shown here
    [above] = await answer(built, liver_patient_with_a_trough(25))
    assert above.indicator == "warning"
    assert above.source.topic is not None
    assert above.source.topic.code == "trough-target"


async def test_patient_view_names_the_checks_it_could_not_run(built: list[Service]) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["observations"]
    [card] = await answer(built, hook_request(prefetch=prefetch))
    # the families that need the observations, by their titles (results before levels, as registered)
    assert card.summary == "Not checked for lack of data: laboratory results, tacrolimus levels"


# -- cards/__init__.py: the site given to load_services, and what assemble passes to the protocol side
def test_load_services_runs_the_families_the_site_leaves_on() -> None:
    body = orjson.dumps(hook_request(prefetch=full_prefetch([tacrolimus()])))

    def summaries(services: list[Service]) -> list[str]:
        with TestClient(
            build_app(services, Settings(database_url="sqlite://", auth="off"), clock=fixed(suite_now()))
        ) as c:
            return [card["summary"] for card in c.post(PV, content=body).json()["cards"]]

    assert summaries(load_services()) == ["Tacrolimus level due: no tacrolimus trough on record"]
    assert summaries(load_services(site=Site(families={"levels": False}))) == []


@pytest.mark.parametrize(("text", "days"), [("repeat_hold_days: 3\n", 3), ("name: Renal unit\n", 7)])
def test_the_site_s_repeat_hold_reaches_the_protocol_side(tmp_path: Path, text: str, days: int) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(text)
    _, policy = assemble(site)
    assert policy.hold_days == days
