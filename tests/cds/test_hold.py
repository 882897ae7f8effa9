"""The repeat hold (issue 14): an overridden warning or info card is not shown again for that patient for
the site's number of days; critical cards never; feedback for an unknown uuid holds nothing; the patient
is known by an HMAC only; expired holds and remembered uuids are deleted."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from cards import load_services
from cds.app import build_app
from cds.clock import fixed
from cds.hold import RepeatHold
from cds.service import SitePolicy
from cds.settings import Settings
from cds.store import Store, card_hold, card_issue
from tests.builders import FHIR_BASE, full_prefetch, hook_request, medication_request, tacrolimus
from tests.clock import now

PV = "/cds-services/tacrolimus-patient-view"
FEEDBACK = f"{PV}/feedback"


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hold.db'}"


@pytest.fixture
def held(database: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database, auth="off", hmac_key=SecretStr("a test secret of the hold"))
    with TestClient(
        build_app(load_services(), settings, (), SitePolicy(hold_days=7), clock=fixed(now()))
    ) as client:
        yield client


def chart(patient: str = "pat-1", *medications: dict[str, Any]) -> dict[str, Any]:
    request = hook_request(prefetch=full_prefetch([tacrolimus(), *medications]))
    request["context"]["patientId"] = patient
    request["prefetch"]["patient"]["id"] = patient
    request["fhirServer"] = FHIR_BASE
    return request


CLARITHROMYCIN = medication_request("m2", "Clarithromycin 500 MG Oral Tablet")  # a warning: new, undated
NEORAL = medication_request("m3", "Neoral 100 MG Oral Capsule")  # critical


def cards(client: TestClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The interaction cards of a call (the chart has no level, so a 'level due' card comes too)."""
    response = client.post(PV, content=orjson.dumps(request))
    assert response.status_code == 200
    return [c for c in response.json()["cards"] if c["source"]["topic"]["code"].startswith("interaction-")]


def override(client: TestClient, card: dict[str, Any]) -> None:
    entry = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-01T09:00:00Z"}
    assert client.post(FEEDBACK, content=orjson.dumps({"feedback": [entry]})).status_code == 200


def summaries(found: list[dict[str, Any]]) -> list[str]:
    return [c["summary"] for c in found]


def test_an_overridden_warning_is_held_for_that_patient(held: TestClient) -> None:
    [card] = cards(held, chart("pat-1", CLARITHROMYCIN))
    assert card["indicator"] == "warning"
    override(held, card)
    assert cards(held, chart("pat-1", CLARITHROMYCIN)) == []  # held back
    assert summaries(cards(held, chart("pat-2", CLARITHROMYCIN))) == [card["summary"]]  # another patient


def test_a_critical_card_is_never_held(held: TestClient) -> None:
    [card] = cards(held, chart("pat-1", NEORAL))
    assert card["indicator"] == "critical"
    override(held, card)
    assert summaries(cards(held, chart("pat-1", NEORAL))) == [card["summary"]]


def test_feedback_for_an_unknown_uuid_holds_nothing(held: TestClient, database: str) -> None:
    override(held, {"uuid": "no-such-card"})
    with Store(database).engine.connect() as connection:
        assert connection.execute(select(card_hold)).all() == []
    assert len(cards(held, chart("pat-1", CLARITHROMYCIN))) == 1


def test_an_accepted_card_is_not_held(held: TestClient) -> None:
    [card] = cards(held, chart("pat-1", CLARITHROMYCIN))
    entry = {
        "card": card["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": "2026-12-01T09:00:00Z",
        "acceptedSuggestions": [{"id": card["suggestions"][-1]["uuid"]}],
    }
    assert held.post(FEEDBACK, content=orjson.dumps({"feedback": [entry]})).status_code == 200
    assert len(cards(held, chart("pat-1", CLARITHROMYCIN))) == 1


def test_a_hold_ends(held: TestClient, database: str) -> None:
    [card] = cards(held, chart("pat-1", CLARITHROMYCIN))
    override(held, card)
    store = Store(database)
    with store.engine.begin() as connection:  # seven days later
        connection.execute(card_hold.update().values(until=now() - timedelta(seconds=1)))
    assert len(cards(held, chart("pat-1", CLARITHROMYCIN))) == 1
    store.hold([], 7, now())  # the next feedback deletes what has expired
    with store.engine.connect() as connection:
        assert connection.execute(select(card_hold)).all() == []


def test_no_patient_id_is_stored_in_clear(held: TestClient, database: str) -> None:
    [card] = cards(held, chart("pat-secret-42", CLARITHROMYCIN))
    override(held, card)
    with Store(database).engine.connect() as connection:
        stored = [*connection.execute(select(card_issue)).all(), *connection.execute(select(card_hold)).all()]
    assert stored
    assert "pat-secret-42" not in repr(stored)


def test_the_pseudonym_is_an_hmac_of_server_and_patient() -> None:
    hold = RepeatHold(7, SecretStr("k1"))
    assert hold.patient_key(FHIR_BASE, "p") == hold.patient_key(FHIR_BASE + "/", "p")
    assert hold.patient_key(FHIR_BASE, "p") != hold.patient_key("https://other.example.org/fhir", "p")
    assert hold.patient_key(FHIR_BASE, "p") != RepeatHold(7, SecretStr("k2")).patient_key(FHIR_BASE, "p")


def test_remembered_uuids_expire(database: str) -> None:
    store = Store(database)
    old = now() - timedelta(days=30)
    with store.engine.begin() as connection:
        connection.execute(
            card_issue.insert(), {"card_uuid": "u", "patient_key": "p", "hold_key": "k", "issued_at": old}
        )
    assert store.hold(["u"], 7, now()) == 0  # too old to be held: deleted first
    with store.engine.connect() as connection:
        assert connection.execute(select(card_issue)).all() == []


def test_with_the_hold_off_nothing_is_held(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'off.db'}", auth="off")
    with TestClient(
        build_app(load_services(), settings, (), SitePolicy(hold_days=0), clock=fixed(now()))
    ) as client:
        [card] = cards(client, chart("pat-1", CLARITHROMYCIN))
        override(client, card)
        assert len(cards(client, chart("pat-1", CLARITHROMYCIN))) == 1


def test_when_the_database_cannot_say_every_card_is_shown(
    held: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    [card] = cards(held, chart("pat-1", CLARITHROMYCIN))
    override(held, card)

    def down(*_: object) -> set[str]:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(Store, "held", down)
    assert len(cards(held, chart("pat-1", CLARITHROMYCIN))) == 1  # silence must not hide anything
