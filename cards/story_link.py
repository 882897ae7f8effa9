"""The link from the level and level-interaction cards to the SMART app that draws the level story (the
patient's levels, doses and interacting drugs on one time axis, docs/smart-app.md).

A CDS Hooks 2.0 ``smart`` link: ``url`` is the app's absolute launch URL, which the EHR completes with
``iss`` and ``launch``. Added only when the app is registered with the EHR (CDS_SMART_CLIENT_ID, off by
default): the caller passes the launch URL, or None.
"""

from collections.abc import Iterable

from cards import interactions, levels
from cds.models import Card
from cds.models.card import Link
from cds.record import PatientRecord
from cds.service import CardFamily

# the trough cards (a level against its target, a level due) and the interactions that move the levels
TOPICS = frozenset({levels.TOPIC, interactions.TOPICS["raises"], interactions.TOPICS["lowers"]})
LABEL = "Level story: levels, doses and interacting drugs over time"


def story_link(url: str) -> Link:
    return Link(label=LABEL, url=url, type="smart")


class StoryLink:
    """A family whose level and level-interaction cards carry the app's smart link."""

    def __init__(self, family: CardFamily, url: str) -> None:
        self._family = family
        self._link = story_link(url)
        self.title = family.title
        self.needs = family.needs

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        cards = []
        for card in self._family.cards(record):
            if card.source.topic is not None and card.source.topic.code in TOPICS:
                card = card.model_copy(update={"links": [*(card.links or ()), self._link]})
            cards.append(card)
        return cards
