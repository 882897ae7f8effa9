"""Dosing cards when systemic tacrolimus is ordered.

- Starting it: the label's starting dose for the indication, population and regimen (ulcerative colitis:
  the guideline summary's 0.05 mg/kg/day in two doses), times the latest body weight, with the arithmetic,
  compared with the dose ordered; the CPIC recommendation when a CYP3A5 genotype or phenotype is recorded;
  the note that hepatic impairment may need a lower dose. No weight: the dose cannot be computed, said so.
- Already on it: immediate- and extended-release products are not interchangeable, when the order and the
  current product differ.

Policy: `info`, or `warning` when the ordered daily dose is above the (CPIC-adjusted) label range.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cards.drugs import DrugIdentifier
from cards.indication import UC, Indication, indications, population, regimen
from cards.knowledge import Knowledge, Phenotype
from cards.organ_function import hepatic_conditions
from cards.text import word_pattern
from cards.therapy import ORDER_HOOKS, Family, Therapy
from cds.models import Card
from cds.record import MedicationUse, PatientRecord

TOPIC = "dosing"
POUND_KG = 0.45359237  # the international avoirdupois pound
PERIOD_DAYS = {"d": 1.0, "h": 1 / 24, "wk": 7.0, "min": 1 / 1440}
DIPLOTYPE = re.compile(r"\*(\d+)[A-Z]?\s*/\s*\*(\d+)")
PHENOTYPE_CODES = {"LA25391-6": "normal", "LA10317-8": "intermediate", "LA9657-3": "poor"}


@dataclass(frozen=True, slots=True)
class Weight:
    kg: float
    shown: str


def mg(value: float) -> str:
    return f"{round(value, 2):g} mg"


class DosingFamily(Family):
    title = "starting dose"
    hooks = ORDER_HOOKS
    needs = frozenset({"medicationRequests"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        self._extended = word_pattern(knowledge.dosing.extended_release_words)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        ordered = therapy.ordered(therapy.systemic)
        if not ordered:
            return []
        if therapy.starting_systemic:
            return [self._start(record, therapy, ordered[0])]
        current = [m for m in therapy.systemic if m.origin != "draft"]
        if current and any(self.extended(o) != self.extended(current[0]) for o in ordered):
            data = self._knowledge.dosing
            kinds = f"Ordered: {self._kind(ordered[0])}; current: {self._kind(current[0])}."
            return [
                self._maker.card(
                    data.cards["formulation"],
                    TOPIC,
                    data.citations["formulation"],
                    extra=[kinds],
                    source="prograf-uspi",
                )
            ]
        return []

    def extended(self, medication: MedicationUse) -> bool:
        return (
            self._extended.search(" ".join((*medication.names, *medication.form.names)).lower()) is not None
        )

    def _kind(self, medication: MedicationUse) -> str:
        form = "extended-release" if self.extended(medication) else "immediate-release"
        return f"{next(iter(medication.names), medication.ref)} ({form})"

    def weight(self, record: PatientRecord) -> Weight | None:
        for observation in record.observations_coded(
            self._knowledge.observation_system, self._knowledge.observation_codes("body-weight")
        ):
            quantity = observation.quantity
            if quantity is None:
                continue
            unit = quantity.unit.lower().strip()
            when = observation.effective.date().isoformat() if observation.effective else "undated"
            if unit in ("kg", "kilogram", "kilograms"):
                return Weight(quantity.value, f"{quantity.value:g} kg ({when})")
            if unit in ("lb", "lbs", "[lb_av]", "pound", "pounds"):
                kg = round(quantity.value * POUND_KG, 1)
                return Weight(kg, f"{quantity.value:g} lb = {kg:g} kg ({when})")
        return None

    def phenotype(self, record: PatientRecord) -> tuple[str, str] | None:
        """(CPIC phenotype, what showed it) from a CYP3A5 genotype or therapeutic-implication observation."""
        for observation in record.observations:
            if not observation.valid:
                continue
            texts = [*observation.code.names, *observation.value_concept.names, observation.value_text]
            for component in observation.components:
                texts += [*component.code.names, *component.value_concept.names, component.value_text]
                texts += [c.code for c in component.value_concept.codings]
            joined = " ".join(t for t in texts if t)
            if "cyp3a5" not in joined.lower() and "hgnc:2638" not in joined.lower():
                continue
            codes = [c.code for c in observation.value_concept.codings] + [
                c.code for comp in observation.components for c in comp.value_concept.codings
            ]
            for code in codes:
                if code in PHENOTYPE_CODES:
                    return PHENOTYPE_CODES[code], f"CYP3A5 phenotype recorded ({observation.ref})"
            match = DIPLOTYPE.search(joined)
            if match:
                normal = [a == "1" for a in match.groups()].count(True)
                phenotype = {2: "normal", 1: "intermediate", 0: "poor"}[normal]
                return phenotype, f"CYP3A5 *{match.group(1)}/*{match.group(2)}"
        return None

    def _start(self, record: PatientRecord, therapy: Therapy, order: MedicationUse) -> Card:
        dosing = self._knowledge.dosing
        found = indications(record, dosing, therapy)
        weight = self.weight(record)
        lines: list[str] = []
        citations = list(dosing.citations["targets"])
        source = "prograf-uspi"
        applies = found[0] if found else None
        rate = self._rate(record, therapy, applies, lines)
        if applies is not None and applies.key == UC:
            citations, source = list(dosing.citations["uc"]), "uc-guideline"
        phenotype = self.phenotype(record)
        cap = None
        if phenotype and rate:
            rule: Phenotype = dosing.cpic[phenotype[0]]  # type: ignore[index]
            lines.append(f"{phenotype[1]}: {rule.text}")
            rate = (rate[0] * rule.factor[0], rate[1] * rule.factor[1])
            cap = rule.cap
            if cap is not None:
                rate = (min(rate[0], cap), min(rate[1], cap))
            citations += dosing.citations["cpic"]
        warn = False
        what = applies.display if applies else "an unrecorded indication"
        if rate is None:
            summary = f"Starting tacrolimus for {what}: no label starting dose applies"
        elif weight is None:
            summary = f"Starting tacrolimus for {what}: no body weight on record, dose not computed"
            per_kg = self._rate_text(rate)
            lines.append(
                f"The label's starting dose is per kilogram ({per_kg}); record a weight to compute it."
            )
        else:
            low, high = weight.kg * rate[0], weight.kg * rate[1]
            daily, twice = self._range(low, high), self._range(low / 2, high / 2)
            arithmetic = f"{weight.kg:g} kg x {self._rate_text(rate)} = {daily}/day, {twice} twice daily"
            lines.append(f"Weight {weight.shown}: {arithmetic}.")
            basis = "CPIC-adjusted dose" if phenotype else "label dose"
            summary = f"Starting tacrolimus for {what}: {basis} {daily}/day for {weight.kg:g} kg"
            ordered = self._ordered_per_day(order)
            if ordered is not None:
                ordered_per_kg = ordered / weight.kg
                where = (
                    "above" if ordered > high * 1.001 else ("below" if ordered < low * 0.999 else "within")
                )
                warn = where == "above"
                lines.append(
                    f"Ordered: {mg(ordered)}/day ({round(ordered_per_kg, 3):g} mg/kg/day): {where} the range."
                )
            else:
                lines.append(
                    "The order's daily dose could not be read (dose in mg and a frequency are needed)."
                )
        if hepatic_conditions(record, self._knowledge):
            lines.append("Hepatic impairment is recorded: dosage reduction may be necessary.")
        lines.append("Then adjust the dose to trough levels.")
        text = dosing.cards["start"].model_copy(update={"indicator": "warning" if warn else "info"})
        return self._maker.card(text, TOPIC, citations, summary=summary[:139], extra=lines, source=source)

    def _rate(
        self, record: PatientRecord, therapy: Therapy, applies: Indication | None, lines: list[str]
    ) -> tuple[float, float] | None:
        """The label's mg/kg/day range for the indication, with a line saying which row and why."""
        dosing = self._knowledge.dosing
        if applies is None:
            lines.append(
                "No transplant or ulcerative colitis recorded: the starting dose depends on the indication."
            )
            return None
        if applies.key == UC:
            low, high = dosing.uc.dose_mg_per_kg_day
            doses = dosing.uc.doses_per_day
            lines.append(
                f"Ulcerative colitis: {low:g} mg/kg/day in {doses} divided doses (guideline summary)."
            )
            return low, high
        group, note = population(record, dosing)
        used = regimen(therapy, dosing)
        rows = [r for r in dosing.starting_doses if r.organ == applies.key and r.population == group]
        row = next((r for r in rows if r.regimen == used), None) or next(
            (r for r in rows if r.regimen == "any"), None
        )
        if row is None and rows:
            options = "; ".join(f"{r.low:g} mg/kg/day with {r.regimen}" for r in rows)
            where = f"{group} {applies.display}"
            lines.append(
                f"The label's {where} dose depends on the regimen ({options}); the record does not show it."
            )
            return None
        if row is None:
            return None
        extra = f" ({row.note})" if row.note else ""
        rate = self._rate_text((row.low, row.high))
        lines.append(
            f"US label, {group} {applies.display}: {rate}{extra}, divided every 12 hours. {note}".strip()
        )
        return row.low, row.high

    @staticmethod
    def _rate_text(rate: tuple[float, float]) -> str:
        low, high = (round(r, 4) for r in rate)
        return f"{low:g} mg/kg/day" if low == high else f"{low:g} to {high:g} mg/kg/day"

    @staticmethod
    def _range(low: float, high: float) -> str:
        return mg(low) if round(low, 2) == round(high, 2) else f"{round(low, 2):g} to {mg(high)}"

    @staticmethod
    def _ordered_per_day(order: MedicationUse) -> float | None:
        dose = order.dose
        if (
            dose is None
            or dose.quantity is None
            or dose.quantity.unit.lower() not in ("mg", "milligram", "milligrams")
        ):
            return None
        if dose.frequency is None or not dose.period or dose.period_unit not in PERIOD_DAYS:
            return None
        return dose.quantity.value * dose.frequency / (dose.period * PERIOD_DAYS[dose.period_unit])
