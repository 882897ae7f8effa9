"""Feedback endpoint (checklist §7, §12 item 8) and its store."""

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds.app import build_app
from cds.clock import fixed
from cds.service import Service
from cds.settings import Settings
from cds.store import Store
from tests.clock import now

URL = "/cds-services/tacrolimus-order-select/feedback"
WHEN = "2026-11-22T10:05:31Z"


def accepted(card: str = "card-1") -> dict[str, Any]:
    return {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "sugg-1"}],
        "outcomeTimestamp": WHEN,
    }


def overridden(card: str = "card-2", **reason: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"card": card, "outcome": "overridden", "outcomeTimestamp": WHEN}
    if reason:
        entry["overrideReason"] = reason
    return entry


def test_accepted_and_overridden_entries_are_stored(client: TestClient, settings: Settings) -> None:
    body = {
        "feedback": [
            accepted(),
            overridden(
                reason={"code": "patient-aware", "system": "urn:tacrolimus-cds:override"}
            ),  # sandbox: no display
            overridden("card-3", userComment="level checked this morning"),
            overridden("card-4"),
        ]
    }
    response = client.post(URL, json=body)
    assert response.status_code == 200
    assert response.json() == {"received": 4, "stored": 4}
    rows = Store(settings.database_url).entries()
    assert [(r["card_uuid"], r["outcome"]) for r in rows] == [
        ("card-1", "accepted"),
        ("card-2", "overridden"),
        ("card-3", "overridden"),
        ("card-4", "overridden"),
    ]
    assert rows[0]["accepted_suggestions"] == '["sugg-1"]'
    assert rows[1]["override_code"] == "patient-aware"
    assert rows[1]["override_display"] is None
    assert rows[2]["user_comment"] == "level checked this morning"
    assert all(r["service_id"] == "tacrolimus-order-select" for r in rows)


def test_repeated_feedback_is_idempotent(client: TestClient, settings: Settings) -> None:
    body = {"feedback": [accepted(), overridden()]}
    assert client.post(URL, json=body).json() == {"received": 2, "stored": 2}
    assert client.post(URL, json=body).json() == {"received": 2, "stored": 0}
    # a different outcome for the same card is new information and is kept
    assert client.post(URL, json={"feedback": [overridden("card-1")]}).json()["stored"] == 1
    assert len(Store(settings.database_url).entries()) == 3


def test_feedback_survives_a_restart(settings: Settings, services: list[Service]) -> None:
    with TestClient(build_app(services, settings, clock=fixed(now()))) as first:
        first.post(URL, json={"feedback": [accepted()]})
    with TestClient(build_app(services, settings, clock=fixed(now()))) as second:
        assert second.post(URL, json={"feedback": [accepted()]}).json()["stored"] == 0
    assert [r["card_uuid"] for r in Store(settings.database_url).entries()] == ["card-1"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "feedback"),
        ({"feedback": []}, "feedback"),
        ({"feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": WHEN}]}, "outcome"),
        (
            {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": WHEN}]},
            "acceptedSuggestions",
        ),
        ({"feedback": [{"outcome": "overridden", "outcomeTimestamp": WHEN}]}, "card"),
        ({"feedback": [{"card": "c", "outcome": "overridden"}]}, "outcomeTimestamp"),
        (
            {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "22/11/2026"}]},
            "RFC 3339",
        ),
        ({"feedback": [overridden(reason={"display": "no code"})]}, "code"),
        ({"feedback": [{**overridden(), "overrideReason": {}}]}, "reason or a userComment"),
    ],
)
def test_invalid_feedback_is_400_saying_what_is_wrong(
    client: TestClient, settings: Settings, body: Any, says: str
) -> None:
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert says in response.text
    assert Store(settings.database_url).entries() == []


def test_feedback_for_an_unknown_service_is_404(client: TestClient) -> None:
    assert client.post("/cds-services/nope/feedback", json={"feedback": [accepted()]}).status_code == 404


def test_feedback_that_is_not_json_is_400(client: TestClient) -> None:
    response = client.post(
        URL, content=b"card=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.text


# Hostile values: both stores give the same answer, a 400 naming the field or stored; never a 500


@pytest.fixture
def on_each_store(store_url: str, services: list[Service]) -> Iterator[TestClient]:
    settings = Settings(database_url=store_url, auth="off", max_feedback_entries=3)
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        yield client


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_time_off_the_calendar_in_utc_is_400_naming_the_field(on_each_store: TestClient, when: str) -> None:
    response = on_each_store.post(URL, json={"feedback": [{**overridden(), "outcomeTimestamp": when}]})
    assert response.status_code == 400
    assert response.json()["issues"][0]["loc"] == "feedback.0.outcomeTimestamp"
    assert "outside the range of dates" in response.json()["message"]


@pytest.mark.parametrize(
    "when", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59+23:59"]
)
def test_times_at_the_edge_of_the_calendar_in_utc_are_stored(on_each_store: TestClient, when: str) -> None:
    response = on_each_store.post(URL, json={"feedback": [{**overridden(), "outcomeTimestamp": when}]})
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (overridden("c" * 201), "feedback.0.card"),
        (overridden("card\x00id"), "feedback.0.card"),
        (overridden(userComment="checked\x00"), "feedback.0.overrideReason.userComment"),
        (overridden(reason={"code": "a\x00b"}), "feedback.0.overrideReason.reason.code"),
        ({**accepted(), "acceptedSuggestions": [{"id": "s\x00"}]}, "feedback.0.acceptedSuggestions.0.id"),
    ],
)
def test_an_overlong_card_id_or_a_nul_is_400_naming_the_field(
    on_each_store: TestClient, entry: dict[str, Any], field: str
) -> None:
    response = on_each_store.post(URL, json={"feedback": [entry]})
    assert response.status_code == 400, response.text
    assert [i["loc"] for i in response.json()["issues"]] == [field]


def test_a_card_id_of_200_characters_is_stored(on_each_store: TestClient) -> None:
    response = on_each_store.post(URL, json={"feedback": [overridden("c" * 200)]})
    assert response.status_code == 200
    assert response.json()["stored"] == 1


def test_entries_per_post_are_capped(on_each_store: TestClient) -> None:
    three = [overridden(f"card-{n}") for n in range(3)]
    assert on_each_store.post(URL, json={"feedback": three}).json() == {"received": 3, "stored": 3}
    response = on_each_store.post(URL, json={"feedback": [*three, overridden("card-9")]})
    assert response.status_code == 413
    assert response.json()["message"] == "the feedback has 4 entries; at most 3 are accepted in one request"
