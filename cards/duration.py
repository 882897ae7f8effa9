"""Tacrolimus for ulcerative colitis beyond its usual course.

The colitis summary gives the usual duration as 3 to 6 months, with maintenance moved to a thiopurine or a
biologic once in remission. When tacrolimus for colitis has run longer than that (from the earliest evidence
of it on record), an `info` card says so when it is ordered again: the renewal is where the course can be
reconsidered (patient-view shows no info cards). Not when a transplant is also recorded (then the
tacrolimus is for the transplant), and not without a start date (the duration is not known).
"""

from collections.abc import Iterable

from cards.indication import DAYS_PER_MONTH, UC, indications
from cards.therapy import ORDER_HOOKS, Family, Therapy
from cds.clock import days_since
from cds.models import Card
from cds.record import PatientRecord

TOPIC = "treatment-duration"


class DurationFamily(Family):
    key = "duration"  # the site file's name for it
    title = "treatment duration"
    hooks = ORDER_HOOKS
    needs = frozenset({"medicationRequests", "conditions"})

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        if not (therapy.on_systemic and therapy.ordered(therapy.systemic)):
            return []
        dosing = self._knowledge.dosing
        found = indications(record, self._knowledge, therapy)
        if not found or found[0].key != UC or found[0].since is None:
            return []
        days = days_since(found[0].since, record.now)
        longest = dosing.uc.usual_duration_months[1]
        if days <= longest * DAYS_PER_MONTH:
            return []
        months = int(days // DAYS_PER_MONTH)
        text = dosing.cards["duration"]
        summary = text.summary.replace("{months}", str(months))
        started = f"First tacrolimus on record: {found[0].since.date().isoformat()} ({days} days ago)."
        return [
            self._maker.card(
                text, TOPIC, dosing.citations["uc"], summary=summary, extra=[started], source="uc-summary"
            )
        ]
