"""Tacrolimus for ulcerative colitis beyond the summary's usual 3 to 6 months."""

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.builders import bundle, full_prefetch, hook_request, medication_request, of_topic, tacrolimus
from tests.cards.test_levels import transplant
from tests.cards.test_site import only
from tests.clock import ago_date
from tests.clock import ago_iso as ago


def duration_cards(
    client: TestClient,
    hook: str,
    days_on: float | None,
    conditions: list[dict[str, Any]],
    drafts: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    extra = {"authoredOn": ago(days_on)} if days_on is not None else {}
    prefetch = full_prefetch([tacrolimus(**extra)])
    prefetch["conditions"] = bundle(conditions)
    response = client.post(
        f"/cds-services/tacrolimus-{hook}", content=orjson.dumps(hook_request(hook, prefetch, drafts=drafts))
    )
    assert response.status_code == 200
    return of_topic(response.json()["cards"], "treatment-duration")


COLITIS = [transplant("K51.90", None)]


RENEWAL = medication_request("d1", "Tacrolimus 1 MG Oral Capsule", status="draft")


# The summary: "Treatment duration: usually 3-6 months". Six months of average length (30.44 days) end
# between day 182 and day 183 of treatment.
@pytest.mark.parametrize(
    ("days_on", "shown"), [(180, False), (182, False), (183, True), (190, True), (400, True), (None, False)]
)
def test_colitis_treatment_past_six_months(client: TestClient, days_on: float | None, shown: bool) -> None:
    found = duration_cards(client, "order-sign", days_on, COLITIS, [RENEWAL])
    assert bool(found) is shown
    if shown:
        [card] = found
        assert card["indicator"] == "info"
        assert "the usual course is 3 to 6 months" in card["summary"]
        assert "thiopurine or a biologic" in card["detail"]


def test_the_card_says_how_long_and_since_when(client: TestClient) -> None:
    [card] = duration_cards(client, "order-sign", 400, COLITIS, [RENEWAL])
    # 400 days are 13 whole months of 30.44 days
    assert card["summary"] == (
        "Tacrolimus for ulcerative colitis for 13 months: the usual course is 3 to 6 months"
    )
    assert f"First tacrolimus on record: {ago_date(400)} (400 days ago)." in card["detail"]
    assert card["source"]["topic"]["code"] == "treatment-duration"
    # labelled for what it is: an online summary that cites ECCO, not ECCO
    assert card["source"]["label"] == "Online Q&A summary on tacrolimus in acute severe UC (cites ECCO)"


def test_the_duration_family_on_its_own_finds_the_therapy_and_indication(tmp_path: Path) -> None:
    with only("duration", tmp_path) as alone:
        [card] = duration_cards(alone, "order-sign", 400, COLITIS, [RENEWAL])
    assert card["indicator"] == "info"


def test_not_on_patient_view(client: TestClient) -> None:
    assert not duration_cards(client, "patient-view", 400, COLITIS)


def test_not_when_a_transplant_is_the_indication(client: TestClient) -> None:
    assert not duration_cards(
        client, "order-sign", 400, [*COLITIS, transplant("Z94.0", 800, "c2")], [RENEWAL]
    )


def test_not_when_only_another_drug_is_being_ordered(client: TestClient) -> None:
    # the card belongs to a tacrolimus order: signing an unrelated order is not the moment for it
    other = medication_request("d2", "Amlodipine 5 MG Oral Tablet", status="draft")
    assert not duration_cards(client, "order-sign", 400, COLITIS, [other])
