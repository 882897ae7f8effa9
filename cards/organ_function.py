"""Hepatic and renal function: a hepatic impairment card when the record shows one (systemic tacrolimus
ordered, or patient-view for a patient on it), and, when systemic tacrolimus is ordered, the latest renal
and hepatic tests and potassium with their dates. No thresholds are applied: the sources give none."""

from collections.abc import Iterable

from cards.knowledge import Knowledge
from cards.text import coded_as
from cards.therapy import ALL_HOOKS, Family, Therapy
from cds.models import Card
from cds.record import PatientRecord

TOPIC = "organ-function"


class OrganFunctionFamily(Family):
    title = "hepatic and renal function"
    hooks = ALL_HOOKS
    needs = frozenset({"medicationRequests"})

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        ordered = bool(therapy.ordered(therapy.systemic))
        if not (ordered or (record.hook == "patient-view" and therapy.on_systemic)):
            return []
        data = self._knowledge.cautions.organ_function
        labs = latest_results(record, self._knowledge, self._knowledge.cautions.organ_function.labs)
        hepatic = hepatic_conditions(record, self._knowledge)
        if hepatic:
            extra = [f"Recorded: {', '.join(hepatic)}.", *labs]
            return [self._maker.card(data.hepatic_card, TOPIC, data.citations, extra=extra)]
        if ordered:
            return [
                self._maker.card(
                    data.order_card, TOPIC, data.citations, extra=labs or ["No results on record."]
                )
            ]
        return []


def latest_results(record: PatientRecord, knowledge: Knowledge, groups: Iterable[str]) -> list[str]:
    """'Name: value unit (date)' for the latest result in each group of observation codes."""
    lines = []
    for group in groups:
        codes = knowledge.observation_codes(group)
        for result in record.observations_coded(knowledge.observation_system, codes):
            if result.quantity is None:
                continue
            code = next((c.code for c in result.code.codings if c.code in knowledge.observations), "")
            name = knowledge.observations[code].display if code else group
            when = result.effective.date().isoformat() if result.effective else "undated"
            lines.append(f"{name}: {result.quantity.value:g} {result.quantity.unit} ({when})")
            break
    return lines


def hepatic_conditions(record: PatientRecord, knowledge: Knowledge) -> list[str]:
    """The names of the patient's active hepatic impairment conditions (codes in cautions.json)."""
    prefixes = knowledge.cautions.organ_function.hepatic_conditions
    return [
        condition.code.names[0] if condition.code.names else condition.ref
        for condition in record.conditions
        if condition.active and coded_as(condition.code, prefixes)
    ]
