"""Pregnancy and breast feeding cards, for a patient on systemic tacrolimus (patient-view) or being started
on it (order-select, order-sign). The status comes from the latest record: a status observation (LOINC
63895-7 or 82810-3), a finding, or an active condition. 'Not currently' and 'unknown' raise nothing, and a
later 'not' supersedes an earlier 'yes'. Nothing for a man."""

from collections.abc import Iterable
from datetime import datetime

from cards.knowledge import StatusRule
from cards.text import coded_as
from cards.therapy import ALL_HOOKS, Family, Therapy
from cds.fhirjson import Concept
from cds.models import Card
from cds.record import PatientRecord


def _has(concept: Concept, codes: Iterable[tuple[str, str]]) -> bool:
    wanted = set(codes)
    return any((c.system, c.code) in wanted for c in concept.codings)


def status(record: PatientRecord, rule: StatusRule) -> tuple[bool, datetime | None]:
    """(whether the latest record says yes, its date). Undated records count as oldest."""
    yes = {(c.system, c.code) for c in rule.yes}
    no = {(c.system, c.code) for c in rule.no}
    findings = {(c.system, c.code) for c in rule.findings}
    conditions = {(c.system, c.code) for c in rule.conditions}
    records: list[tuple[datetime | None, bool]] = []
    for observation in record.observations_coded(rule.observation.system, [rule.observation.code]):
        if _has(observation.value_concept, yes):
            records.append((observation.effective, True))
        elif _has(observation.value_concept, no):
            records.append((observation.effective, False))
    for system, code in sorted(findings):
        records += ((o.effective, True) for o in record.observations_coded(system, [code]))
    for condition in record.conditions:
        if _has(condition.code, conditions) or coded_as(condition.code, rule.condition_prefixes):
            records.append((condition.recorded or condition.onset, condition.active))
    if not records:
        return False, None
    when, answer = max(records, key=lambda r: r[0].timestamp() if r[0] else float("-inf"))
    return answer, when


class PregnancyFamily(Family):
    key = "pregnancy"  # the site file's name for it
    title = "pregnancy and breast feeding"
    hooks = ALL_HOOKS
    needs = frozenset({"medicationRequests"})

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        if record.patient is not None and record.patient.gender == "male":
            return []
        therapy = Therapy.of(record, self._drugs)
        if record.hook == "patient-view":
            if not therapy.on_systemic:
                return []
            on = "on"
        elif therapy.starting_systemic:
            on = "starting"
        else:
            return []
        data = self._knowledge.reproduction
        cards = []
        for topic, rule in (("pregnancy", data.pregnancy), ("breastfeeding", data.breastfeeding)):
            answer, when = status(record, rule)
            if answer:
                cards.append(self._card(topic, rule, on, when))
        return cards

    def _card(self, topic: str, rule: StatusRule, on: str, when: datetime | None) -> Card:
        recorded = f"Recorded {when.date().isoformat()}." if when else "Recorded without a date."
        summary = rule.card.summary.replace("{on}", on)
        return self._maker.card(rule.card, topic, rule.citations, summary=summary, extra=[recorded])
