"""Trough target cards on patient-view for a patient on systemic tacrolimus: the latest trough and the one
before it against the target that applies, and a card when a level is due.

Policy: above the target, above 20 ng/mL, or below the target is a `warning` (too high: toxicity; too low:
rejection); in range is a brief `info`. Only troughs are judged: a level whose name, code or note says it
was taken after the dose (dosing.json monitoring.not_trough_words) is shown for what it is, unjudged. A
preliminary result is shown as preliminary. A level is due when no trough is on record, when the latest is
older than the cadence allows (early after transplant: about twice weekly; later: monitoring.stale_after_days,
and then the old trough is not judged as if it were current), or when a drug that alters tacrolimus
levels was started, or diarrhoea recorded, since the last level.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cards.drugs import DrugIdentifier
from cards.formulation import Formulations
from cards.indication import UC, Indication, Target, indications, target
from cards.knowledge import Knowledge
from cards.organ_function import latest_results
from cards.text import word_pattern
from cards.therapy import LEVEL_NAMES, Family, Therapy, level_suggestion
from cds.clock import days_since
from cds.models import Card
from cds.record import Observation, PatientRecord

TOPIC = "trough-target"
MASS_UNITS = {"ng/ml", "ug/l", "µg/l", "μg/l", "mcg/l", "ng/ml(wholeblood)"}  # spaces removed, lower case
MOLAR_UNITS = {"nmol/l"}
ALONGSIDE = ("creatinine", "egfr", "potassium", "glucose")


def _date(when: datetime | None) -> str:
    return when.date().isoformat() if when else "an unknown date"


@dataclass(frozen=True, slots=True)
class Level:
    value: float | None  # ng/mL, None when the unit is not recognised
    shown: str  # the value as recorded ("(preliminary)" when it is)
    when: datetime | None
    not_trough: str = ""  # the words that say it was taken after the dose; "" for a trough


@dataclass(frozen=True, slots=True)
class Levels:
    troughs: list[Level]  # the latest two troughs, newest first
    others: list[Level]  # levels that are not troughs, newer than the latest trough

    def __bool__(self) -> bool:
        return bool(self.troughs or self.others)


class LevelFamily(Family):
    key = "levels"  # the site file's name for it
    title = "tacrolimus levels"
    hooks = frozenset({"patient-view"})
    needs = frozenset({"medicationRequests", "observations"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        self._products = Formulations(knowledge)
        self._level_codes = knowledge.observation_codes("tacrolimus-level")
        self._by_name = word_pattern(LEVEL_NAMES)
        self._diarrhoea = word_pattern(knowledge.dosing.monitoring.diarrhoea_words)
        self._not_trough = word_pattern(knowledge.dosing.monitoring.not_trough_words)
        # drugs whose interaction is info (omeprazole): no interaction card on patient-view asks for a level
        # when one is started, so a level is due here; the others' own cards carry the level suggestion
        self._interacting = frozenset(
            d
            for e in knowledge.interactions.interactions.values()
            if e.effect != "toxicity" and e.indicator == "info"
            for d in (*e.drugs, *e.classes)
        )

    def levels(self, record: PatientRecord) -> Levels:
        """The latest two troughs with a value, and the non-trough levels newer than them, newest first:
        by LOINC code, or by name when a result has no LOINC code. Reads only as far as it needs."""
        found = record.observations_coded(
            self._knowledge.observation_system, self._level_codes, or_named=self._by_name
        )
        troughs: list[Level] = []
        others: list[Level] = []
        for observation in found:
            level = self.read(observation)
            if level is None:
                continue
            if level.not_trough:
                if not troughs:
                    others.append(level)
                continue
            troughs.append(level)
            if len(troughs) == 2:
                break
        return Levels(troughs, others)

    def read(self, observation: Observation) -> Level | None:
        """One level as the card reads it: converted to ng/mL where the unit is known (None without a
        quantity)."""
        quantity = observation.quantity
        if quantity is None:
            return None
        unit = quantity.unit.replace(" ", "").lower()
        shown = f"{quantity.comparator}{quantity.value:g} {quantity.unit}".strip()
        said = self._not_trough.search(" ".join((*observation.code.names, observation.note)).lower())
        not_trough = said.group(1) if said else ""
        preliminary = " (preliminary)" if observation.status == "preliminary" else ""
        if unit in MASS_UNITS:
            return Level(quantity.value, shown + preliminary, observation.effective, not_trough)
        if unit in MOLAR_UNITS:
            value = round(quantity.value * self._knowledge.dosing.molar_mass.value / 1000, 1)
            return Level(value, f"{shown} = {value:g} ng/mL{preliminary}", observation.effective, not_trough)
        return Level(None, shown + preliminary, observation.effective, not_trough)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        if record.hook != "patient-view" or not therapy.on_systemic:
            return []
        found = indications(record, self._knowledge, therapy)
        levels = self.levels(record)
        due, stale = self._due(record, therapy, found, levels.troughs)
        cards = []
        if levels.troughs and not stale:
            cards.append(self._level_card(record, therapy, found, levels))
        if due:
            cards.append(self._due_card(record, due, levels))
        return cards

    def unjudged(self, record: PatientRecord) -> str:
        """Why the latest current trough of a patient on systemic tacrolimus is judged against no target
        (no transplant or colitis recognised, or a transplant with no onset date), when it is under the
        general ceiling: its card would be an `info` that patient-view does not show, and silence must not
        read as "in range". "" when the trough is judged, is above the ceiling (its card warns), or there
        is none."""
        therapy = Therapy.of(record, self._drugs)
        if record.hook != "patient-view" or not therapy.on_systemic:
            return ""
        found = indications(record, self._knowledge, therapy)
        levels = self.levels(record)
        if not levels.troughs or self._due(record, therapy, found, levels.troughs)[1]:
            return ""
        latest = levels.troughs[0]
        if latest.value is None or latest.value > self._knowledge.dosing.general.ceiling:
            return ""
        applies = found[0] if found else None
        if applies is None:
            why = "no transplant or colitis on record"
        elif applies.key != UC and applies.since is None:
            why = f"{applies.display} has no date"
        else:
            # a dated transplant with no range in the sources (lung after month 12) is the sources' limit,
            # not missing data
            return ""
        return f"tacrolimus trough {latest.shown} on {_date(latest.when)} against a target: {why}"

    @staticmethod
    def _unjudged(levels: list[Level]) -> list[str]:
        return [
            f"Also {level.shown} on {_date(level.when)}, recorded as {level.not_trough}:"
            " not a trough, not judged."
            for level in levels
        ]

    def _level_card(
        self, record: PatientRecord, therapy: Therapy, found: list[Indication], levels: Levels
    ) -> Card:
        dosing = self._knowledge.dosing
        latest = levels.troughs[0]
        lines = [f"Latest trough: {latest.shown} on {_date(latest.when)}."]
        if len(levels.troughs) > 1:
            lines.append(f"Before: {levels.troughs[1].shown} on {_date(levels.troughs[1].when)}.")
        lines += self._unjudged(levels.others)
        citations = list(dosing.citations["targets"])
        source = "monograph"
        applies = found[0] if found else None
        if latest.value is None:
            value, judgement, warn = latest.shown, "unit not recognised, not judged", False
            lines.append("The unit is not one the service converts (ng/mL, ug/L, nmol/L): shown as recorded.")
        elif applies is not None and applies.key == UC:
            judgement, warn, explained = self._uc(
                latest.value, applies.days(latest.when or record.now), exact=applies.exact
            )
            value = f"{latest.value:g} ng/mL"
            lines.append(explained)
            citations = list(dosing.citations["uc"])
            source = "uc-summary"
        else:
            # the product in force (cards() makes this card only for a patient on tacrolimus)
            product = next(self._products.kind(m) for m in therapy.systemic if m.origin != "draft")
            chosen = target(applies, dosing, record, therapy, product) if applies else None
            source = chosen.source if chosen else "monograph"
            if source == "envarsus-summary":  # its rows are not the Prograf label's: cite where they are from
                citations = [
                    *dosing.citations["envarsus-targets"],
                    *(c for c in citations if c.source != "prograf-uspi"),
                ]
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
        if warn:
            lines.append(dosing.monitoring.out_of_range)
        colitis = applies is not None and applies.key == UC
        months = applies.months(record.now) if applies is not None and not colitis else None
        later = months is not None and months >= dosing.monitoring.early_months
        cadence = dosing.monitoring.later_text if later else dosing.monitoring.text
        lines.append(dosing.uc.monitoring_text if colitis else cadence)
        if source == "monograph":  # the range comes from the monograph: its line first
            citations.sort(key=lambda c: c.source != "monograph")
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
        named = f"{chosen.word[:1].upper()}{chosen.word[1:]}"
        return f"{where} {chosen.word} {range_}", where != "within", f"{named} {range_} ({chosen.basis})."

    def _uc(self, value: float, day: int | None, *, exact: bool) -> tuple[str, bool, str]:
        """Judged against the phase's target: the initial one within the acute phase (the project's
        policy, see dosing.json uc.phase_policy), the maintenance one after it; both when the day on
        tacrolimus is not known (no start on record, or only a renewal or a level inside the acute phase,
        which say the start was at least that long ago)."""
        uc = self._knowledge.dosing.uc
        (il, ih), (ml, mh) = uc.initial, uc.maintenance
        initial = "within" if il <= value <= ih else ("above" if value > ih else "below")
        maintenance = "within" if ml <= value <= mh else ("above" if value > mh else "below")
        if day is not None and not exact and day < uc.acute_phase_days:
            day = None  # at least `day` days on tacrolimus, maybe more: the phase is not known
        if day is None:
            warn = value > ih or value < ml or value > self._knowledge.dosing.general.ceiling
            explained = (
                f"{uc.text} When tacrolimus was started is not known: the level is {initial} the initial and"
                f" {maintenance} the maintenance target."
            )
            judged = (
                f"{initial} the colitis initial {il:g} to {ih:g}, {maintenance} the maintenance"
                f" {ml:g} to {mh:g} ng/mL (start not known)"
            )
            return judged, warn, explained
        acute = day < uc.acute_phase_days  # days 0 to 13: the first 14 days
        low, high, where = (il, ih, initial) if acute else (ml, mh, maintenance)
        phase = "initial" if acute else "maintenance"
        on = f"Day {day} on tacrolimus" if exact else f"At least {day} days on tacrolimus"
        explained = (
            f"{on}: the {phase} target {low:g} to {high:g} ng/mL applies (initial target for the first"
            f" {uc.acute_phase_days} days, then maintenance: project policy from the summary's response"
            " window of 1 to 2 weeks)."
        )
        return f"{where} the colitis {phase} target {low:g} to {high:g} ng/mL", where != "within", explained

    def _due(
        self, record: PatientRecord, therapy: Therapy, found: list[Indication], troughs: list[Level]
    ) -> tuple[str, bool]:
        """(why a level is due, or ''; whether the latest trough is too old to be judged as current)."""
        monitoring = self._knowledge.dosing.monitoring
        if not troughs:
            return "no tacrolimus trough on record", False
        last = next((level.when for level in troughs if level.when), None)
        if last is None:
            return "", False
        days = days_since(last, record.now)
        early = [
            i
            for i in found
            if i.key != UC and (m := i.months(record.now)) is not None and m < monitoring.early_months
        ]
        if early and days > monitoring.early_interval_days:
            return f"none for {days} days, early after {early[0].display} (about twice weekly)", False
        if not early and days > monitoring.stale_after_days:
            return f"the last trough was {troughs[0].shown} on {_date(last)}, {days} days ago", True
        for medication, ident in therapy.current:
            drugs = ident.ingredients & self._interacting
            if drugs and ident.systemic and therapy.start(frozenset(drugs)).after(last):
                name = next(iter(medication.names), medication.ref)
                return f"{name} was started after the last level", False
        for condition in record.conditions:
            when = condition.onset or condition.recorded
            if (
                condition.active
                and when
                and when > last
                and self._diarrhoea.search(" ".join(condition.code.names).lower())
            ):
                return "diarrhoea recorded since the last level", False
        return "", False

    def _due_card(self, record: PatientRecord, reason: str, levels: Levels) -> Card:
        dosing = self._knowledge.dosing
        text = dosing.cards["due"]
        order = level_suggestion(self._knowledge, record, recommended=True)
        summary = text.summary.replace("{reason}", reason)
        lines = self._unjudged(levels.others)
        if levels.troughs and reason.startswith("the last trough"):
            lines.append("A trough that old is not evidence of the present level: it is not judged.")
        return self._maker.card(
            text,
            TOPIC,
            dosing.citations["targets"],
            summary=summary,
            extra=[*lines, dosing.monitoring.text],
            suggestions=[order],
        ).keyed(f"{TOPIC}|due")  # whatever the reason: a dismissed 'level due' is one card
