"""Hepatic impairment: a card when systemic tacrolimus is renewed, its dose changed or its product switched
for a patient with hepatic impairment recorded (at a start the dose and before-starting cards say it; on
patient-view a standing condition is not news), with the latest renal and hepatic tests. No thresholds
are applied: the sources give none (laboratory-flagged results are the results family's)."""

from collections.abc import Iterable

from cards.indication import recognised
from cards.knowledge import Knowledge
from cards.text import coded_as
from cards.therapy import ORDER_HOOKS, Family, Therapy
from cds.models import Card
from cds.record import PatientRecord

TOPIC = "organ-function"


class OrganFunctionFamily(Family):
    key = "organ_function"  # the site file's name for it
    title = "hepatic and renal function"
    hooks = ORDER_HOOKS
    needs = frozenset({"medicationRequests"})

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        if not (therapy.ordered(therapy.systemic) and therapy.on_systemic):
            return []
        hepatic = hepatic_conditions(record, self._knowledge)
        if not hepatic:
            return []
        data = self._knowledge.cautions.organ_function
        labs = latest_results(record, self._knowledge, data.labs)
        extra = [f"Recorded: {', '.join(hepatic)}.", *labs]
        return [self._maker.card(data.hepatic_card, TOPIC, data.citations, extra=extra)]


def latest_results(record: PatientRecord, knowledge: Knowledge, groups: Iterable[str]) -> list[str]:
    """'Name: value unit (date)' for the latest result in each group of observation codes."""
    lines = []
    for group in groups:
        codes = knowledge.observation_codes(group)
        for result in record.observations_coded(knowledge.observation_system, codes):
            if result.quantity is None:
                continue
            # it was found by a code of the group, so one of its codes names the test
            entry = next(knowledge.observations[c.code] for c in result.code.codings if c.code in codes)
            name = entry.short or entry.display
            when = result.effective.date().isoformat() if result.effective else "undated"
            lines.append(f"{name}: {result.quantity.value:g} {result.quantity.unit} ({when})")
            break
    return lines


def hepatic_conditions(record: PatientRecord, knowledge: Knowledge) -> list[str]:
    """The names of the patient's current hepatic impairment conditions (codes in cautions.json), leaving
    out those that began before a liver transplant: the failing liver was replaced."""

    prefixes = knowledge.cautions.organ_function.hepatic_conditions
    new_liver = [
        c.onset
        for c in record.conditions
        if c.active and c.onset is not None and "liver" in recognised(record, c.code, knowledge.dosing)
    ]
    latest = max(new_liver) if new_liver else None
    return [
        condition.code.names[0] if condition.code.names else condition.ref
        for condition in record.conditions
        if condition.active
        and coded_as(condition.code, prefixes)
        and not (latest is not None and condition.onset is not None and condition.onset < latest)
    ]
