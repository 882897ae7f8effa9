"""Trough target cards on patient-view for a patient on systemic tacrolimus: the latest level and the one
before it against the target that applies, and a card when a level is due.

Policy: above the target, above 20 ng/mL, or below the target is a `warning` (too high: toxicity; too low:
rejection); in range is a brief `info`. A level is due when none was drawn for longer than the early
post-transplant cadence (about twice weekly in the label's first 3 months), or since a drug that alters
tacrolimus levels was started, or since diarrhoea was recorded; with no level on record at all.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from cards.drugs import DrugIdentifier
from cards.indication import UC, Indication, Target, indications, target
from cards.knowledge import Knowledge
from cards.organ_function import latest_results
from cards.text import word_pattern
from cards.therapy import Family, Therapy, level_order
from cds.models import Action, Card, Suggestion
from cds.record import Observation, PatientRecord

TOPIC = "trough-target"
MASS_UNITS = {"ng/ml", "ug/l", "µg/l", "μg/l", "mcg/l", "ng/ml(whole blood)"}
MOLAR_UNITS = {"nmol/l"}
ALONGSIDE = ("creatinine", "egfr", "potassium", "glucose")


def _date(when: datetime | None) -> str:
    return when.date().isoformat() if when else "an unknown date"


@dataclass(frozen=True, slots=True)
class Level:
    value: float | None  # ng/mL, None when the unit is not recognised
    shown: str  # the value as recorded
    when: datetime | None


class LevelFamily(Family):
    title = "tacrolimus levels"
    hooks = frozenset({"patient-view"})
    needs = frozenset({"medicationRequests", "observations"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        self._level_codes = knowledge.observation_codes("tacrolimus-level")
        self._by_name = word_pattern(["tacrolimus", "fk506", "fk-506", "prograf"])
        self._diarrhoea = word_pattern(knowledge.dosing.monitoring.diarrhoea_words)
        self._interacting = frozenset(
            d
            for e in knowledge.interactions.interactions.values()
            if e.effect != "toxicity"
            for d in (*e.drugs, *e.classes)
        )

    def levels(self, record: PatientRecord) -> list[Level]:
        """The latest two tacrolimus levels with a value, newest first: by LOINC code, or by name when a
        result has no LOINC code."""
        found = record.observations_coded(
            self._knowledge.observation_system, self._level_codes, or_named=self._by_name
        )
        return list(islice((level for o in found if (level := self._level(o)) is not None), 2))

    def _level(self, observation: Observation) -> Level | None:
        quantity = observation.quantity
        if quantity is None:
            return None
        unit = quantity.unit.replace(" ", "").lower()
        shown = f"{quantity.value:g} {quantity.unit}".strip()
        if unit in MASS_UNITS:
            return Level(quantity.value, shown, observation.effective)
        if unit in MOLAR_UNITS:
            value = round(quantity.value * self._knowledge.dosing.molar_mass.value / 1000, 1)
            return Level(value, f"{shown} = {value:g} ng/mL", observation.effective)
        return Level(None, shown, observation.effective)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        if record.hook != "patient-view" or not therapy.on_systemic:
            return []
        found = indications(record, self._knowledge.dosing, therapy)
        levels = self.levels(record)
        cards = []
        if levels:
            cards.append(self._level_card(record, therapy, found, levels))
        due = self._due(record, therapy, found, levels)
        if due:
            cards.append(self._due_card(record, due))
        return cards

    def _level_card(
        self, record: PatientRecord, therapy: Therapy, found: list[Indication], levels: list[Level]
    ) -> Card:
        dosing = self._knowledge.dosing
        latest = levels[0]
        lines = [f"Latest: {latest.shown} on {_date(latest.when)}."]
        if len(levels) > 1:
            lines.append(f"Before: {levels[1].shown} on {_date(levels[1].when)}.")
        citations = list(dosing.citations["targets"])
        source = "monograph"
        applies = found[0] if found else None
        if latest.value is None:
            value, judgement, warn = latest.shown, "unit not recognised, not judged", False
            lines.append("The unit is not one the service converts (ng/mL, ug/L, nmol/L): shown as recorded.")
        elif applies is not None and applies.key == UC:
            judgement, warn, explained = self._uc(latest.value)
            value = f"{latest.value:g} ng/mL"
            lines.append(explained)
            citations = list(dosing.citations["uc"])
            source = "uc-guideline"
        else:
            chosen = target(applies, dosing, record, therapy) if applies else None
            source = chosen.source if chosen else "monograph"
            judgement, warn, explained = self._judge(latest.value, chosen, applies)
            value = f"{latest.value:g} ng/mL"
            lines.append(explained)
        if len(found) > 1:
            others = ", ".join(i.display for i in found[1:])
            lines.append(
                f"Also recorded: {others}; the {found[0].display} target is used"
                " (transplants before colitis, the most recent transplant first)."
            )
        if not found:
            lines.append(dosing.general.text)
        lines.append(dosing.monitoring.text)
        lines += latest_results(record, self._knowledge, ALONGSIDE)
        card_text = dosing.cards["level"].model_copy(update={"indicator": "warning" if warn else "info"})
        summary = (
            card_text.summary.replace("{value}", value)
            .replace("{date}", _date(latest.when))
            .replace("{judgement}", judgement)
        )
        return self._maker.card(card_text, TOPIC, citations, summary=summary, extra=lines, source=source)

    def _judge(
        self, value: float, chosen: Target | None, applies: Indication | None
    ) -> tuple[str, bool, str]:
        """(judgement for the summary, whether it warns, the explanation)."""
        ceiling = self._knowledge.dosing.general.ceiling
        if chosen is None:
            unknown = (
                ""
                if applies is None
                else f" No {applies.display} target is known (no transplant date or label row)."
            )
            if value > ceiling:
                return (
                    f"above {ceiling:g} ng/mL",
                    True,
                    f"Judged against the general ceiling of {ceiling:g} ng/mL.{unknown}",
                )
            explained = f"Judged against the general ceiling of {ceiling:g} ng/mL only.{unknown}"
            return f"below {ceiling:g} ng/mL (no specific target known)", False, explained
        if value > chosen.high or value > ceiling:
            where = "above"
        elif value < chosen.low:
            where = "below"
        else:
            where = "within"
        range_ = f"{chosen.low:g} to {chosen.high:g} ng/mL"
        return f"{where} target {range_}", where != "within", f"Target {range_} ({chosen.basis})."

    def _uc(self, value: float) -> tuple[str, bool, str]:
        uc = self._knowledge.dosing.uc
        (il, ih), (ml, mh) = uc.initial, uc.maintenance
        initial = "within" if il <= value <= ih else ("above" if value > ih else "below")
        maintenance = "within" if ml <= value <= mh else ("above" if value > mh else "below")
        warn = value > ih or value < ml or value > self._knowledge.dosing.general.ceiling
        explained = f"{uc.text} This level is {initial} the initial and {maintenance} the maintenance target."
        return f"{initial} the colitis initial target {il:g} to {ih:g} ng/mL", warn, explained

    def _due(
        self, record: PatientRecord, therapy: Therapy, found: list[Indication], levels: list[Level]
    ) -> str:
        monitoring = self._knowledge.dosing.monitoring
        last = next((level.when for level in levels if level.when), None)
        if not levels:
            return "no tacrolimus level on record"
        if last is None:
            return ""
        days = (record.now - last).days
        early = [
            i
            for i in found
            if i.key != UC and (m := i.months(record.now)) is not None and m < monitoring.early_months
        ]
        if early and days > monitoring.early_interval_days:
            return f"none for {days} days, early after {early[0].display} (about twice weekly)"
        for medication, ident in therapy.current:
            if (
                medication.started
                and medication.started > last
                and ident.systemic
                and ident.ingredients & self._interacting
            ):
                return f"{next(iter(medication.names), medication.ref)} was started after the last level"
        for condition in record.conditions:
            when = condition.onset or condition.recorded
            if (
                condition.active
                and when
                and when > last
                and self._diarrhoea.search(" ".join(condition.code.names).lower())
            ):
                return "diarrhoea recorded since the last level"
        return ""

    def _due_card(self, record: PatientRecord, reason: str) -> Card:
        dosing = self._knowledge.dosing
        text = dosing.cards["due"]
        order = Suggestion(
            label="Order a tacrolimus level",
            isRecommended=True,
            actions=[
                Action(
                    type="create",
                    description="Order a tacrolimus whole-blood level",
                    resource=level_order(self._knowledge, record.patient_id, record.fhir_version),
                )
            ],
        )
        summary = text.summary.replace("{reason}", reason)
        return self._maker.card(
            text,
            TOPIC,
            dosing.citations["targets"],
            summary=summary[:139],
            extra=[dosing.monitoring.text],
            suggestions=[order],
        )
