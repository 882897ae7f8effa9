"""What a service is, and the interface its card families implement.

A ``Service`` answers one hook. It advertises prefetch templates, names the keys without which it cannot
say anything (``required``: missing ones mean 412), and runs its ``CardFamily`` objects over the patient
record. Families declare the keys they read (``needs``): when one is unavailable the family does not run
and ``gap_card`` tells the clinician which checks could not be done.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cds.errors import RequestError
from cds.models import Card, ServiceDescription
from cds.prefetch import PrefetchTemplate
from cds.record import PatientRecord

# Draws the patient's level story (an HTML fragment; '' when there is nothing to draw) from the record at
# an instant: clinical content, so the cards package provides it and cds/main.py passes it in. Used by the
# SMART app, the preview page and `try --chart`, never on a hook's path.
StoryRenderer = Callable[[PatientRecord, datetime], str]


class CardFamily(Protocol):
    """One family of cards (interactions, vaccines, ...). Implementations live in the ``cards`` package."""

    @property
    def title(self) -> str:
        """What the family checks, in words a clinician understands ("drug interactions")."""
        ...

    @property
    def needs(self) -> frozenset[str]:
        """The prefetch keys the family reads."""
        ...

    def cards(self, record: PatientRecord) -> Iterable[Card]: ...


@dataclass(frozen=True, slots=True)
class SitePolicy:
    """What the site's configuration asks of the protocol side: how long a dismissed (overridden) warning
    or info card stays away for that patient (0: never held), and the settings in force, shown on the
    preview page and by `services`."""

    hold_days: int = 0
    shown: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Gaps:
    """Everything that kept the answer from being complete."""

    unavailable: Mapping[str, str] = field(default_factory=dict)  # description -> why
    incomplete: Mapping[str, str] = field(default_factory=dict)  # description -> why
    not_run: tuple[str, ...] = ()  # family titles that could not run for lack of data
    failed: tuple[str, ...] = ()  # family titles that failed with an error
    skipped: tuple[str, ...] = ()  # resources that could not be read
    unidentified: tuple[str, ...] = ()  # medications that could not be identified, and why

    def __bool__(self) -> bool:
        return any(
            (self.unavailable, self.incomplete, self.not_run, self.failed, self.skipped, self.unidentified)
        )


# Given what is missing and the record, the card that says so, or None when nothing relevant is missing.
# Called for every answer: the card family side may find gaps in the record itself (a medication it
# cannot identify) that the protocol side cannot see.
GapCard = Callable[[Gaps, PatientRecord], Card | None]

# Given what the request says about which medications the patient takes or is being ordered (one JSON
# value per order, statement and draft: its `cds.record.identifying_parts`; and every Medication resource
# the request holds or the FHIR fallback fetched), False only when no card family can
# have anything to say about the record. A cheap, conservative test: it may say True for a record that
# gives no card (the full evaluation then runs), never False for one that could give a card.
Relevance = Callable[[Sequence[object]], bool]


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    prefetch: Mapping[str, PrefetchTemplate]
    required: frozenset[str]
    families: tuple[CardFamily, ...]
    gap_card: GapCard
    usage_requirements: str | None = None
    relevant: Relevance | None = None  # None: every call is evaluated in full

    def __post_init__(self) -> None:
        unknown = self.required - set(self.prefetch)
        for family in self.families:
            unknown |= family.needs - set(self.prefetch)
        if unknown:
            raise ValueError(f"service {self.id!r} names prefetch keys it does not define: {sorted(unknown)}")

    def describe(self) -> ServiceDescription:
        return ServiceDescription(
            hook=self.hook,
            title=self.title,
            description=self.description,
            id=self.id,
            prefetch={key: template.query for key, template in self.prefetch.items()} or None,
            usageRequirements=self.usage_requirements,
        )


def service_for_hook(services: Iterable[Service], hook: object) -> Service:
    """The service that answers `hook` (the first, if several do); RequestError naming those offered."""
    offered = list(services)
    for service in offered:
        if service.hook == hook:
            return service
    known = ", ".join(f"{s.hook} ({s.id})" for s in offered)
    what = f"the hook {hook!r}" if isinstance(hook, str) and hook else "a request without a hook"
    raise RequestError(f"no service answers {what}; this server answers: {known}")
