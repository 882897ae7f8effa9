"""Live vaccine cards: a live vaccine ordered for a patient on (or starting) systemic tacrolimus, and
tacrolimus started soon after a live vaccine was given.

Policy: a live vaccine ordered is `critical` (the monograph says live vaccines should be avoided); a vaccine
of unspecified formulation is a `warning` asking to check the product; tacrolimus started within the
guideline's interval after a live vaccine is a `warning`. Inactivated and recombinant vaccines never fire.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cards.drugs import DrugIdentifier
from cards.knowledge import CardText, Knowledge
from cards.text import clip, word_pattern
from cards.therapy import ORDER_HOOKS, Family, Therapy
from cds.clock import days_since
from cds.fhirjson import Concept
from cds.models import Action, Card, Coding, Suggestion, deletable
from cds.record import PatientRecord

TOPIC = "live-vaccine"
Kind = Literal["live", "unspecified"]


@dataclass(frozen=True, slots=True)
class Vaccine:
    ref: str
    kind: Kind
    label: str


class VaccineFamily(Family):
    key = "vaccines"  # the site file's name for it
    title = "live vaccines"
    hooks = ORDER_HOOKS
    needs = frozenset({"medicationRequests"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        data = knowledge.vaccines
        self._system = data.system
        self._live = {code.lstrip("0"): name for code, name in data.live.items()}
        self._unspecified = {code.lstrip("0"): name for code, name in data.unspecified.items()}
        self._live_names = word_pattern(data.live_names)
        self._unspecified_names = word_pattern(data.unspecified_names)
        self._not_live = word_pattern(data.not_live_words)
        self._override = [
            Coding(system=knowledge.interactions.override_reasons.system, code=code, display=display)
            for code, display in data.override_reasons.items()
        ]

    def classify(self, concept: Concept) -> tuple[Kind, str] | None:
        """Whether a vaccine is live, of unspecified formulation, or neither (None). A CVX code decides
        when there is one; otherwise the name does, unless it says the vaccine is not live."""
        for coding in concept.codings:
            if coding.system == self._system:
                code = coding.code.lstrip("0")
                if code in self._live:
                    return "live", self._live[code]
                if code in self._unspecified:
                    return "unspecified", self._unspecified[code]
                return None
        names = " ".join(concept.names).lower()  # no name: nothing below matches
        if self._not_live.search(names):
            return None
        if self._live_names.search(names):
            return "live", clip(concept.names[0])
        if self._unspecified_names.search(names):
            return "unspecified", clip(concept.names[0])
        return None

    def _vaccines(self, record: PatientRecord) -> list[tuple[Vaccine, bool]]:
        """Every vaccine in the record with whether it is ordered at this hook (selected or signed)."""
        found: list[tuple[Vaccine, bool]] = []
        candidates = [
            *(
                (m.ref, m.medication, m.origin == "draft", m.selected)
                for m in record.medications
                if m.current
            ),
            *((o.ref, o.code, o.draft, o.selected) for o in record.service_orders),
            *((i.ref, i.vaccine, i.draft, i.selected) for i in record.immunizations if i.draft),
        ]
        for ref, concept, draft, selected in candidates:
            if not draft:
                continue
            kind = self.classify(concept)
            if kind is not None:
                ordered = selected if record.hook == "order-select" else record.hook == "order-sign"
                found.append((Vaccine(ref, kind[0], kind[1]), ordered))
        return found

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        if not therapy.systemic:
            return []
        tacrolimus_ordered = bool(therapy.ordered(therapy.systemic))
        on = "on" if therapy.on_systemic else "starting"
        cards = [
            self._order_card(vaccine, on)
            for vaccine, ordered in self._vaccines(record)
            if ordered or tacrolimus_ordered
        ]
        if therapy.starting_systemic:
            cards.extend(self._recent(record))
        return cards

    def _card(self, text: CardText, summary: str, suggestions: list[Suggestion]) -> Card:
        data = self._knowledge.vaccines
        return self._maker.card(
            text, TOPIC, data.citations, summary=summary, suggestions=suggestions, override=self._override
        )

    def _order_card(self, vaccine: Vaccine, on: str) -> Card:
        text = self._knowledge.vaccines.cards[vaccine.kind]
        label = vaccine.label
        summary = text.summary.replace("{vaccine}", label).replace("{on}", on)
        remove = []
        if deletable(vaccine.ref):
            remove.append(
                Suggestion(
                    label="Remove the vaccine order",
                    isRecommended=vaccine.kind == "live",
                    actions=[
                        Action(
                            type="delete",
                            description=f"Remove the draft order for {label}",
                            resourceId=vaccine.ref,
                        )
                    ],
                )
            )
        return self._card(text, summary, remove)

    def _recent(self, record: PatientRecord) -> list[Card]:
        interval = self._knowledge.vaccines.interval
        cards = []
        for immunization in record.immunizations:
            if not immunization.given or immunization.date is None:
                continue
            kind = self.classify(immunization.vaccine)
            days = days_since(immunization.date, record.now)
            if kind is not None and kind[0] == "live" and 0 <= days < interval.before_days:
                # IDSA: at least 4 weeks before immunosuppression (warning), avoided within 2 weeks (critical)
                text = self._knowledge.vaccines.cards[
                    "recent_within" if days < interval.avoid_within_days else "recent"
                ]
                summary = text.summary.replace("{vaccine}", kind[1]).replace("{days}", _ago(days))
                cards.append(self._card(text, summary, []))
        return cards


def _ago(days: int) -> str:
    """'today', '1 day ago', 'n days ago'."""
    return "today" if days == 0 else ("1 day ago" if days == 1 else f"{days} days ago")
