"""Scenario tests for the pregnancy and breast-feeding cards."""

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
    of_topic,
    tacrolimus,
)

LOINC, SNOMED, ICD = "http://loinc.org", "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
PV, OSEL = "/cds-services/tacrolimus-patient-view", "/cds-services/tacrolimus-order-select"


def status(rid: str, code: str, answer: str, when: str, answer_system: str = LOINC) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "effectiveDateTime": when,
        "valueCodeableConcept": {"coding": [{"system": answer_system, "code": answer}]},
    }


def breastfeeding(answer: str, when: str = "2026-11-01", rid: str = "bf1") -> dict[str, Any]:
    return status(rid, "63895-7", answer, when)


def pregnancy(answer: str, when: str = "2026-11-01", rid: str = "pg1") -> dict[str, Any]:
    return status(rid, "82810-3", answer, when)


def condition(
    system: str, code: str, clinical: str = "active", recorded: str = "2026-10-01", rid: str = "c1"
) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "code": {"coding": [{"system": system, "code": code}]},
        "clinicalStatus": {"coding": [{"code": clinical}]},
        "recordedDate": recorded,
    }


def topics(
    client: TestClient,
    observations: list[dict[str, Any]] = (),  # type: ignore[assignment]
    conditions: list[dict[str, Any]] = (),  # type: ignore[assignment]
    gender: str = "female",
    medications: list[dict[str, Any]] | None = None,
) -> list[str]:
    prefetch = full_prefetch([tacrolimus()] if medications is None else medications)
    prefetch["patient"] = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "gender": gender,
        "birthDate": "1992-04-01",
    }
    prefetch["observations"] = bundle(list(observations))
    prefetch["conditions"] = bundle(list(conditions))
    response = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch)))
    assert response.status_code == 200
    return [
        c["source"]["topic"]["code"] for c in of_topic(response.json()["cards"], "pregnancy", "breastfeeding")
    ]


def test_breastfeeding_patient_on_tacrolimus(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle([breastfeeding("LA29252-6")])
    [card] = of_topic(
        client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch))).json()["cards"],
        "pregnancy",
        "breastfeeding",
    )
    assert card["source"]["topic"]["code"] == "breastfeeding"
    assert card["indicator"] == "warning"
    assert card["summary"] == "Breastfeeding patient on tacrolimus: the label advises against breast feeding"
    assert "0.06% (0.06 micrograms/kg daily)" in card["detail"]  # the evidence
    assert "recommends that women avoid breast feeding" in card["detail"]  # the licensed position
    assert "LactMed" in card["detail"]
    # one line per source
    assert "- Tacrolimus monograph (Martindale-style text): Breast feeding" in card["detail"]
    assert "Recorded 2026-11-01." in card["detail"]
    assert {r["display"] for r in card["overrideReasons"]} == {
        "Approved by the treating specialist",
        "Assessed: does not apply to this patient",
    }


@pytest.mark.parametrize("answer", ["LA29253-4", "LA4489-6"])
def test_not_currently_or_unknown_raise_nothing(client: TestClient, answer: str) -> None:
    assert topics(client, [breastfeeding(answer)]) == []


def test_a_later_record_supersedes_an_earlier_one(client: TestClient) -> None:
    earlier_yes = breastfeeding("LA29252-6", "2026-06-01", "bf1")
    later_no = breastfeeding("LA29253-4", "2026-10-01", "bf2")
    assert topics(client, [earlier_yes, later_no]) == []
    assert topics(
        client,
        [breastfeeding("LA29253-4", "2026-06-01", "bf1"), breastfeeding("LA29252-6", "2026-10-01", "bf2")],
    ) == ["breastfeeding"]


def test_breastfeeding_from_the_snomed_finding_and_a_condition(client: TestClient) -> None:
    finding = {
        "resourceType": "Observation",
        "id": "f1",
        "status": "final",
        "code": {"coding": [{"system": SNOMED, "code": "413712001"}]},
    }
    assert topics(client, [finding]) == ["breastfeeding"]
    assert topics(client, conditions=[condition(SNOMED, "413712001")]) == ["breastfeeding"]


def test_pregnant_patient_on_tacrolimus(client: TestClient) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle([pregnancy("LA15173-0")])
    [card] = of_topic(
        client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch))).json()["cards"],
        "pregnancy",
        "breastfeeding",
    )
    assert card["source"]["topic"]["code"] == "pregnancy"
    assert card["summary"].startswith("Pregnant patient on tacrolimus: it crosses the placenta")
    assert "neonatal hyperkalaemia" in card["detail"]
    assert "neonatal renal dysfunction" in card["detail"]
    assert "maternal glucose and blood pressure" in card["detail"]
    # one line per source
    assert "- Tacrolimus monograph (Martindale-style text): Pregnancy" in card["detail"]


@pytest.mark.parametrize(
    ("system", "code"),
    [(SNOMED, "72892002"), (SNOMED, "77386006"), (ICD, "Z33.1"), (ICD, "Z3A.20"), (ICD, "O09.511")],
)
def test_pregnancy_from_conditions(client: TestClient, system: str, code: str) -> None:
    assert topics(client, conditions=[condition(system, code)]) == ["pregnancy"]


def test_a_resolved_pregnancy_raises_nothing(client: TestClient) -> None:
    assert topics(client, conditions=[condition(SNOMED, "72892002", clinical="resolved")]) == []
    later_not_pregnant = pregnancy("LA26683-5", "2026-11-10")
    assert topics(client, [later_not_pregnant], [condition(ICD, "Z33.1", recorded="2026-03-01")]) == []


def test_nothing_for_a_man(client: TestClient) -> None:
    assert topics(client, [breastfeeding("LA29252-6"), pregnancy("LA15173-0")], gender="male") == []


def test_nothing_for_a_patient_not_on_tacrolimus_or_on_topical_tacrolimus(client: TestClient) -> None:
    assert (
        topics(client, [pregnancy("LA15173-0")], medications=[medication_request("m1", "Amlodipine 5 MG")])
        == []
    )
    protopic = medication_request("t1", "Protopic 0.1% Topical Ointment")
    assert topics(client, [pregnancy("LA15173-0")], medications=[protopic]) == []


def test_both_when_pregnant_and_breastfeeding(client: TestClient) -> None:
    assert topics(client, [pregnancy("LA15173-0"), breastfeeding("LA29252-6")]) == [
        "pregnancy",
        "breastfeeding",
    ]


def test_on_starting_tacrolimus_but_not_on_a_repeat_order(client: TestClient) -> None:
    prefetch = full_prefetch()
    prefetch["observations"] = bundle([pregnancy("LA15173-0")])
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    cards = client.post(OSEL, content=orjson.dumps(body)).json()["cards"]
    pregnancy_cards = [c for c in cards if c["source"]["topic"]["code"] == "pregnancy"]
    assert [c["summary"].split(":")[0] for c in pregnancy_cards] == ["Pregnant patient starting tacrolimus"]
    prefetch["medicationRequests"] = bundle([tacrolimus()])
    body = hook_request("order-select", prefetch, drafts=[tacrolimus("d1", status="draft")])
    cards = client.post(OSEL, content=orjson.dumps(body)).json()["cards"]
    assert [c for c in cards if c["source"]["topic"]["code"] == "pregnancy"] == []


# -- issue 17: a condition is current when its status says so, or with no status when nothing says it ended
def unstated(code: str, **ended: Any) -> dict[str, Any]:
    found = condition(SNOMED, code)
    del found["clinicalStatus"]
    found["recordedDate"] = "2012-05-01"
    found.update(ended)
    return found


@pytest.mark.parametrize(
    ("ended", "shown"),
    [
        ({}, True),  # no status and nothing says it ended: current
        ({"abatementDateTime": "2013-01-20"}, False),
        ({"abatementPeriod": {"start": "2013-01-10", "end": "2013-01-20"}}, False),
        ({"abatementString": "delivered"}, False),
        ({"abatementBoolean": True}, False),
        ({"abatementDateTime": "2099-01-01"}, True),  # an end in the future is not an end yet
    ],
    ids=["no-status", "abatement-date", "abatement-period", "abatement-string", "abatement-true", "future"],
)
def test_an_ended_pregnancy_condition_raises_nothing(
    client: TestClient, ended: dict[str, Any], shown: bool
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle([unstated("72892002", **ended)])
    response = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch)))
    assert bool(of_topic(response.json()["cards"], "pregnancy")) is shown


def test_a_status_that_says_active_wins_over_an_abatement(client: TestClient) -> None:
    found = condition(SNOMED, "72892002")
    found["abatementDateTime"] = "2013-01-20"  # contradictory, but the status says so
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle([found])
    response = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch)))
    assert of_topic(response.json()["cards"], "pregnancy")


def test_a_pregnancy_recorded_without_a_date_says_so(client: TestClient) -> None:
    undated = condition(SNOMED, "77386006")
    del undated["recordedDate"]
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle([undated])
    cards = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch))).json()["cards"]
    [card] = of_topic(cards, "pregnancy")
    assert "- Recorded without a date." in card["detail"].splitlines()


def test_the_latest_record_wins_whatever_the_order_received(client: TestClient) -> None:
    later_no, earlier_yes = (
        breastfeeding("LA29253-4", "2026-10-01", "bf2"),
        breastfeeding("LA29252-6", "2026-06-01", "bf1"),
    )
    assert topics(client, [later_no, earlier_yes]) == []


def test_a_pregnancy_condition_is_dated_by_its_onset_when_not_by_its_recording(client: TestClient) -> None:
    onset_only = condition(SNOMED, "77386006")
    del onset_only["recordedDate"]
    onset_only["onsetDateTime"] = "2026-11-15"
    earlier_not_pregnant = pregnancy("LA26683-5", "2026-11-10")
    assert topics(client, [earlier_not_pregnant], [onset_only]) == ["pregnancy"]


def test_an_undated_record_gives_way_to_a_dated_one(client: TestClient) -> None:
    undated = condition(SNOMED, "77386006")
    del undated["recordedDate"]
    assert topics(client, [pregnancy("LA26683-5", "2026-11-10")], [undated]) == []


def test_an_undated_and_a_dated_record_are_weighed_without_a_failed_check(client: TestClient) -> None:
    undated = condition(SNOMED, "77386006")
    del undated["recordedDate"]
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle([pregnancy("LA26683-5", "2026-11-10")])
    prefetch["conditions"] = bundle([undated])
    cards = client.post(PV, content=orjson.dumps(hook_request(prefetch=prefetch))).json()["cards"]
    assert of_topic(cards, "pregnancy", "breastfeeding", "data-incomplete") == []
