import pytest
from pydantic import ValidationError

from cds.models import Action, Card, CDSResponse, Coding, Link, Source, Suggestion
from cds.models.discovery import ServiceDescription
from cds.models.feedback import FeedbackEntry
from cds.models.request import FhirAuthorization, HookRequest
from tests.builders import walk_empty

SOURCE = Source(label="Monograph", url="https://example.org", topic=Coding(system="urn:x", code="t"))


def test_card_emits_no_null_or_empty_values() -> None:
    card = Card(summary="Something to know", indicator="info", source=SOURCE)
    data = CDSResponse(cards=[card]).to_json()
    assert walk_empty(data) == []
    assert set(data["cards"][0]) == {"uuid", "summary", "indicator", "source"}


def test_empty_response_keeps_the_cards_array() -> None:
    assert CDSResponse(cards=[]).to_json() == {"cards": []}


def test_empty_lists_are_dropped() -> None:
    card = Card(summary="s", indicator="info", source=SOURCE, links=[], suggestions=[])
    assert "links" not in card.to_json()
    assert "suggestions" not in card.to_json()
    suggestion = Suggestion(label="s", actions=[])
    assert set(suggestion.to_json()) == {"label", "uuid"}
    assert CDSResponse(cards=[card], systemActions=[]).to_json().keys() == {"cards"}
    described = ServiceDescription(hook="patient-view", description="d", id="x", prefetch={}).to_json()
    assert "prefetch" not in described


def test_every_card_and_suggestion_gets_a_distinct_uuid() -> None:
    cards = [Card(summary="s", indicator="info", source=SOURCE) for _ in range(3)]
    suggestions = [Suggestion(label="x") for _ in range(3)]
    assert len({c.uuid for c in cards}) == 3
    assert len({s.uuid for s in suggestions}) == 3


def test_summary_must_be_under_140_characters() -> None:
    Card(summary="x" * 139, indicator="info", source=SOURCE)
    with pytest.raises(ValidationError, match="139"):
        Card(summary="x" * 140, indicator="info", source=SOURCE)


@pytest.mark.parametrize("indicator", ["hard-stop", "success", "Warning", ""])
def test_indicator_is_one_of_the_spec_values(indicator: str) -> None:
    with pytest.raises(ValidationError):
        Card(summary="s", indicator=indicator, source=SOURCE)


def test_suggestions_require_selection_behavior() -> None:
    with pytest.raises(ValidationError, match="selectionBehavior"):
        Card(summary="s", indicator="info", source=SOURCE, suggestions=[Suggestion(label="x")])


def test_at_most_one_allows_one_recommended_suggestion() -> None:
    two = [Suggestion(label="a", isRecommended=True), Suggestion(label="b", isRecommended=True)]
    with pytest.raises(ValidationError, match="at most one"):
        Card(summary="s", indicator="info", source=SOURCE, suggestions=two, selectionBehavior="at-most-one")
    Card(summary="s", indicator="info", source=SOURCE, suggestions=two, selectionBehavior="any")


def test_override_reasons_need_display() -> None:
    with pytest.raises(ValidationError, match="display"):
        Card(summary="s", indicator="info", source=SOURCE, overrideReasons=[Coding(system="urn:x", code="a")])


def test_actions_follow_the_spec() -> None:
    Action(type="delete", description="Remove the order", resourceId="MedicationRequest/123")
    Action(type="create", description="Order a level", resource={"resourceType": "ServiceRequest"})
    with pytest.raises(ValidationError, match="resourceId"):
        Action(type="delete", description="Remove", resource={"resourceType": "MedicationRequest"})
    with pytest.raises(ValidationError, match="resourceType"):
        Action(type="create", description="Create", resource={"status": "draft"})
    with pytest.raises(ValidationError):
        Action(type="create", description="", resource={"resourceType": "ServiceRequest"})


def test_app_context_only_on_smart_links() -> None:
    Link(label="App", url="https://app.example.org/launch", type="smart", appContext="x")
    with pytest.raises(ValidationError, match="smart"):
        Link(label="Doc", url="https://example.org", type="absolute", appContext="x")


def test_access_token_never_shows_in_repr() -> None:
    auth = FhirAuthorization.model_validate({"access_token": "secret-token-value", "token_type": "Bearer"})
    request = HookRequest.model_validate(
        {
            "hook": "h",
            "hookInstance": "i",
            "context": {},
            "fhirServer": "https://f",
            "fhirAuthorization": auth,
        }
    )
    assert "secret-token-value" not in repr(request)
    assert "secret-token-value" not in str(request.model_dump())
    assert auth.access_token.get_secret_value() == "secret-token-value"


@pytest.mark.parametrize(
    "stamp", ["2021-12-11T10:05:31Z", "2021-12-11T10:05:31.123+02:00", "2021-12-11t10:05:31z"]
)
def test_feedback_timestamps_in_rfc3339_are_accepted(stamp: str) -> None:
    entry = FeedbackEntry.model_validate({"card": "c", "outcome": "overridden", "outcomeTimestamp": stamp})
    offset = entry.timestamp.utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 0


@pytest.mark.parametrize("stamp", ["2021-12-11", "2021-12-11T10:05:31", "yesterday", "2021-13-11T10:05:31Z"])
def test_feedback_timestamps_not_in_rfc3339_are_refused(stamp: str) -> None:
    with pytest.raises(ValidationError, match="outcomeTimestamp"):
        FeedbackEntry.model_validate({"card": "c", "outcome": "overridden", "outcomeTimestamp": stamp})
