"""When a drug's use began, as the record shows it (cards/therapy.py Start): each comparison at its edge,
an instant exactly at the moment being neither after nor before it."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from cards.therapy import Start
from tests.builders import full_prefetch, hook_request, medication_request, tacrolimus

MOMENT = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)  # e.g. the last level's date
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("when", "asserted", "after"),
    [
        (MOMENT + SECOND, None, True),
        (MOMENT, None, False),  # at the moment: not after it
        (MOMENT - SECOND, None, False),
        (MOMENT + SECOND, MOMENT + SECOND, True),
        (MOMENT + SECOND, MOMENT, False),  # an undated record asserted by then: it may have begun before
    ],
)
def test_started_after(when: datetime, asserted: datetime | None, after: bool) -> None:
    assert Start(when, exact=True, new=False, asserted=asserted).after(MOMENT) is after
    assert Start(when, exact=False, new=False, asserted=asserted).after(MOMENT) is False  # a renewal's date


@pytest.mark.parametrize(
    ("when", "asserted", "before"),
    [
        (MOMENT - SECOND, None, True),
        (MOMENT, None, False),  # at the moment: not before it
        (None, MOMENT - SECOND, True),  # asserted before it: started by then
        (None, MOMENT, False),
        (None, None, False),
    ],
)
def test_started_before(when: datetime | None, asserted: datetime | None, before: bool) -> None:
    assert Start(when, exact=True, new=False, asserted=asserted).before(MOMENT) is before


@pytest.mark.parametrize(
    ("asserted", "recorded_after"),
    [(MOMENT + SECOND, True), (MOMENT, False), (None, False)],
)
def test_first_recorded_after(asserted: datetime | None, recorded_after: bool) -> None:
    assert Start(None, exact=False, new=False, asserted=asserted).recorded_after(MOMENT) is recorded_after
    # known before the moment: not "recorded after" it, whatever was asserted later
    assert Start(MOMENT - SECOND, exact=True, new=False, asserted=asserted).recorded_after(MOMENT) is False


# -- the level suggestion (cards/therapy.py level_suggestion): the level card urges it
def test_the_level_due_card_recommends_ordering_a_level(client: TestClient) -> None:
    body = hook_request(prefetch=full_prefetch([tacrolimus()]))
    [card] = client.post("/cds-services/tacrolimus-patient-view", content=orjson.dumps(body)).json()["cards"]
    assert card["summary"] == "Tacrolimus level due: no tacrolimus trough on record"
    [suggestion] = card["suggestions"]
    assert (suggestion["label"], suggestion["isRecommended"]) == ("Order a tacrolimus level", True)
    [action] = suggestion["actions"]
    assert (action["type"], action["description"]) == ("create", "Order a tacrolimus whole-blood level")
    assert action["resource"]["code"]["coding"] == [
        {"system": "http://loinc.org", "code": "11253-2", "display": "Tacrolimus [Mass/volume] in Blood"}
    ]


# -- what is being ordered (cards/therapy.py Therapy.ordered): on order-select, the selected drafts only
OSEL = "/cds-services/tacrolimus-order-select"


def order_select_topics(client: TestClient, selections: list[str]) -> list[str]:
    """The topics of the cards for a patient not on tacrolimus with two drafts: tacrolimus and amoxicillin."""
    drafts = [
        tacrolimus("d1", status="draft"),
        medication_request("d2", "Amoxicillin 500 MG Oral Capsule", status="draft"),
    ]
    body = hook_request("order-select", full_prefetch(), drafts=drafts, selections=selections)
    response = client.post(OSEL, content=orjson.dumps(body))
    assert response.status_code == 200, response.text
    return [card["source"]["topic"]["code"] for card in response.json()["cards"]]


def test_on_order_select_an_unselected_tacrolimus_draft_is_not_a_start(client: TestClient) -> None:
    # CDS Hooks order-select: the selections are what the clinician is choosing now; the other drafts are
    # context. Amoxicillin selected, the tacrolimus draft beside it not: nothing about starting tacrolimus
    assert order_select_topics(client, ["MedicationRequest/d2"]) == []
    # the same tacrolimus draft selected: the start is news, and the before-starting card is shown
    assert "before-starting" in order_select_topics(client, ["MedicationRequest/d1"])
