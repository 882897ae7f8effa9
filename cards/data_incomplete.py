"""The data-incomplete card: says which checks could not run and why, so silence never reads as safety."""

from collections.abc import Iterable, Mapping
from dataclasses import replace

from cards.drugs import DrugIdentifier
from cards.knowledge import Knowledge
from cards.levels import LevelFamily
from cds.models import Card
from cds.record import PatientRecord
from cds.service import GapCard, Gaps

TOPIC = "data-incomplete"
LISTED = 8  # entries shown per list before "and N more"


def _bullets(items: Iterable[str]) -> list[str]:
    items = list(items)
    lines = [f"- {item}" for item in items[:LISTED]]
    if len(items) > LISTED:
        lines.append(f"- and {len(items) - LISTED} more")
    return lines


def _reasons(reasons: Mapping[str, str]) -> list[str]:
    return [f"{what}: {why}" for what, why in reasons.items()]


def summary(gaps: Gaps) -> str:
    checks = [*gaps.not_run, *gaps.failed]
    if checks:
        text = f"Not checked for lack of data: {', '.join(checks)}"
        return (
            text if len(text) < 140 else "Several tacrolimus checks were not done: patient data was missing"
        )
    if gaps.unavailable or gaps.incomplete:
        return "Some patient data could not be retrieved; tacrolimus checks may be incomplete"
    if gaps.unidentified and not gaps.skipped:
        return "Some medications could not be identified; tacrolimus checks may be incomplete"
    return "Some patient records could not be read; tacrolimus checks may be incomplete"


def detail(gaps: Gaps) -> str:
    sections: list[tuple[str, Iterable[str]]] = [
        ("**Not checked** (the data it needs could not be obtained):", gaps.not_run),
        ("**Not checked** (the check failed; the error is in the service's log):", gaps.failed),
        ("**Data not available:**", _reasons(gaps.unavailable)),
        ("**Data only partly received:**", _reasons(gaps.incomplete)),
        ("**Medications that could not be identified:**", gaps.unidentified),
        ("**Records that could not be read and were left out:**", gaps.skipped),
    ]
    parts: list[str] = []
    for heading, items in sections:
        lines = _bullets(items)
        if lines:
            parts += [heading, "", *lines, ""]  # blank lines: a heading never runs into a list
    parts.append("The absence of a warning about anything above is not evidence that there is no problem.")
    return "\n".join(parts)


def involves_tacrolimus(record: PatientRecord, drugs: DrugIdentifier) -> bool:
    """True when any current medication or draft order is tacrolimus, by any route."""
    return any(drugs.identify(m).tacrolimus for m in record.medications if m.current)


def unnamed_medications(record: PatientRecord, drugs: DrugIdentifier) -> list[str]:
    """Current medications with neither a name (text or a coding's display) nor a code the service
    knows: 'MedicationRequest/x: could not identify: <system> <code>'. Only codes remain, from a system
    (often local) the service cannot read, so silence about them must not read as 'no interaction'."""
    found = []
    for medication in record.medications:
        if not medication.current or medication.names or not medication.identified:
            continue
        ident = drugs.identify(medication)
        if ident.ingredients or ident.classes:
            continue
        codes = ", ".join(f"{c.system or 'no system'} {c.code}".strip() for c in medication.codings)
        found.append(f"{medication.ref}: could not identify: {codes or 'no code'}")
    return found


def gap_card(knowledge: Knowledge, drugs: DrugIdentifier, levels: LevelFamily | None) -> GapCard:
    """The card, shown only where a gap matters: the record involves tacrolimus, a medication could not be
    identified (it may be tacrolimus), a check failed, or data was cut short (by a cap on entries, bytes or
    pages: what was not read may be tacrolimus). patient-view fires on every chart opened, and a warning
    about missing data for a patient who has nothing to do with tacrolimus would be noise. `levels`: the
    service's level family, which names a trough it cannot judge; None when the site turned it off."""
    source = knowledge.source("cds-hooks-prefetch", TOPIC)

    def make(gaps: Gaps, record: PatientRecord) -> Card | None:
        tacrolimus = involves_tacrolimus(record, drugs)
        if tacrolimus:
            unnamed = unnamed_medications(record, drugs)
            if unnamed:
                gaps = replace(gaps, unidentified=(*gaps.unidentified, *unnamed))
            unjudged = "" if gaps.not_run or levels is None else levels.unjudged(record)
            if unjudged:
                gaps = replace(gaps, not_run=(*gaps.not_run, unjudged))
        if not gaps:
            return None
        if not (gaps.failed or gaps.unidentified or gaps.incomplete or tacrolimus):
            return None
        return Card(summary=summary(gaps), detail=detail(gaps), indicator="warning", source=source)

    return make
