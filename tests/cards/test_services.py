"""How the site file's indicator changes reach the cards (cards/services.py SiteRules): a change applies to
its topic's cards only, and a critical card is never lowered without the site's acknowledgement, even when
a site file that start-up would refuse is given directly."""

from collections.abc import Iterable
from datetime import UTC, datetime

from cards.services import SiteRules
from cards.site import IndicatorChange, Site
from cards.story_link import StoryLink
from cds.models import Card, Source
from cds.models.card import Coding
from cds.record import PatientRecord, RecordBuilder

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
