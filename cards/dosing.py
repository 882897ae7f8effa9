"""Dosing cards when systemic tacrolimus is ordered.

- Starting it (or changing route, intravenous <-> oral): the starting dose of the row for the ordered
  formulation, indication, population and regimen, times the latest body weight, with the arithmetic, and
  the ordered daily dose judged against the range a prescriber can actually order (each administration
  rounded out to what the product's strengths make up). A formulation with no row, or not stated, is shown
  and not judged. For a transplant, the CPIC recommendation whenever a CYP3A5 genotype or phenotype is on
  record (applied to the figure when one is computed); for colitis it is not applied, and the card says why.
- Switching between immediate- and prolonged-release products: not interchangeable, the conversion the
  label uses for the product ordered, and recheck the trough.

Policy: the start card is `info`; `warning` when the ordered daily dose is above the orderable range or the
order's frequency is not the product's (immediate-release every 12 hours, prolonged-release once daily).
Below the range stays `info` (lower starts are common and the label's figure is a starting point). The
switch card is a `warning` (SmPC 4.4: substitution has caused rejection and toxicity).
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cards.drugs import DrugIdentifier
from cards.formulation import (
    INTRAVENOUS,
    UNKNOWN,
    Formulations,
    OrderedDose,
    every,
    mg,
    orderable_range,
    strengths_text,
)
from cards.indication import UC, Indication, indications, population, regimen
from cards.knowledge import Citation, DoseRow, Formulation, Knowledge
from cards.organ_function import hepatic_conditions
from cards.text import word_pattern
from cards.therapy import ALL_HOOKS, Family, Therapy, level_suggestion
from cds.models import Card
from cds.record import MedicationUse, PatientRecord

TOPIC = "dosing"
SWITCH_TOPIC = "formulation-switch"
POUND_KG = 0.45359237  # the international avoirdupois pound
DIPLOTYPE = re.compile(r"\*(\d+)[A-Z]?\s*/\s*\*(\d+)")
PHENOTYPE_CODES = {"LA25391-6": "normal", "LA10317-8": "intermediate", "LA9657-3": "poor"}


@dataclass(frozen=True, slots=True)
class Weight:
    kg: float
    shown: str


@dataclass(frozen=True, slots=True)
class Genotype:
    phenotype: str  # normal, intermediate, poor
    shown: str  # "CYP3A5 *1/*3" or "CYP3A5 phenotype recorded (Observation/x)"


def rate_text(low: float, high: float) -> str:
    low, high = round(low, 4), round(high, 4)
    return f"{low:g} mg/kg/day" if low == high else f"{low:g} to {high:g} mg/kg/day"


def range_text(low: float, high: float) -> str:
    return mg(low) if round(low, 2) == round(high, 2) else f"{round(low, 2):g} to {mg(high)}"


class DosingFamily(Family):
    key = "dosing"  # the site file's name for it
    title = "starting dose"
    hooks = ALL_HOOKS  # patient-view: only two products ordered at once
    needs = frozenset({"medicationRequests"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        self.products = Formulations(knowledge)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        if record.hook == "patient-view":
            orders = [m for m in therapy.systemic if m.origin == "order"]
            card = self._concurrent(record, orders, "concurrent")
            return [card] if card else []
        ordered = therapy.ordered(therapy.systemic)
        if not ordered:
            return []
        drafts = [m for m in therapy.systemic if m.origin == "draft"]  # selected or not: one order
        if len(drafts) > 1 and (card := self._concurrent(record, drafts, "concurrent_ordered")):
            return [card]  # no dose is judged for one of two products ordered together
        order = ordered[0]
        kind = self.products.kind(order)
        current = {self.products.kind(m): m for m in therapy.systemic if m.origin != "draft"}
        if not current:
            card = self._start(record, therapy, order, kind, "")
            return [card] if card else []
        if kind == UNKNOWN or kind in current or set(current) == {UNKNOWN}:
            return []  # the same product (a renewal or a dose change), or one that cannot be told apart
        if kind == INTRAVENOUS or INTRAVENOUS in current:
            before = "intravenous" if INTRAVENOUS in current else "by mouth"
            note = f"The patient is on tacrolimus {before} now."
            # by mouth to an infusion: the sources' infusion doses are for a de novo start, not a conversion
            converted = INTRAVENOUS not in current
            card = self._start(record, therapy, order, kind, note, reference_only=converted)
            return [card] if card else []
        known = next(k for k in current if k != UNKNOWN)  # one is known: all unknown returned above
        if self._release(known) == self._release(kind) == "immediate":
            return []  # capsules and granules: the same immediate-release tacrolimus
        return [self._switch(record, order, kind, current[known], known)]

    def _release(self, kind: str) -> str:
        """The release of a recognised product (never UNKNOWN: it has no entry)."""
        return self.products.entries[kind].release

    # -- what the record says -------------------------------------------------------------------------

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

    def genotype(self, record: PatientRecord) -> Genotype | None:
        """The CPIC phenotype from a CYP3A5 genotype or therapeutic-implication observation."""
        system = self._knowledge.observation_system
        for observation in record.observations_coded(
            system, self._knowledge.observation_codes("genotype"), or_named=_CYP3A5
        ):
            texts = [*observation.code.names, *observation.value_concept.names, observation.value_text]
            codes = [c.code for c in observation.value_concept.codings]
            for component in observation.components:
                texts += [*component.code.names, *component.value_concept.names, component.value_text]
                codes += [c.code for c in component.value_concept.codings]
            said = [t for t in (*texts, *codes) if t]
            if not any("cyp3a5" in t.lower() or "hgnc:2638" in t.lower() for t in said):
                continue
            for code in codes:
                if code in PHENOTYPE_CODES:
                    return Genotype(PHENOTYPE_CODES[code], f"CYP3A5 phenotype recorded ({observation.ref})")
            match = next((m for t in said if (m := DIPLOTYPE.search(t))), None)  # within one text
            if match:
                normal = [a == "1" for a in match.groups()].count(True)
                phenotype = {2: "normal", 1: "intermediate", 0: "poor"}[normal]
                return Genotype(phenotype, f"CYP3A5 *{match.group(1)}/*{match.group(2)}")
        return None

    def _row(
        self, record: PatientRecord, therapy: Therapy, kind: str, applies: Indication
    ) -> tuple[DoseRow | None, list[DoseRow], str]:
        """The row for the formulation, indication, population and regimen; the candidate rows when the
        regimen decides and is not recorded; and a note on the population."""
        dosing = self._knowledge.dosing
        group, note = population(record, dosing)
        rows = [
            r
            for r in dosing.starting_doses
            if r.formulation == kind and r.organ == applies.key and r.population in (group, "any")
        ]
        used = regimen(therapy, dosing)
        row = next((r for r in rows if r.regimen == used), None) or next(
            (r for r in rows if r.regimen == "any"), None
        )
        return row, ([] if row else rows), note

    # -- the start card ---------------------------------------------------------------------------------

    def _start(
        self,
        record: PatientRecord,
        therapy: Therapy,
        order: MedicationUse,
        kind: str,
        route_note: str,
        *,
        reference_only: bool = False,
    ) -> Card | None:
        """The dose card of a start, or of a change of route; `reference_only`: the row is shown for
        reference and the order not judged against it (an infusion for a patient on oral tacrolimus)."""
        dosing = self._knowledge.dosing
        found = indications(record, self._knowledge, therapy)
        applies = found[0] if found else None
        genotype = self.genotype(record)
        if applies is None and genotype is None:
            return None  # nothing to compute a dose from, and nothing to say about it
        entry = self.products.entry(kind)  # None: the product is not stated (UNKNOWN)
        what = applies.display if applies else "an unrecorded indication"
        lines: list[str] = [route_note] if route_note else []
        citations = list(dosing.citations["targets"])
        source = "prograf-uspi"
        ordered = self.products.ordered(order, kind)
        warn = False
        summary = f"Starting tacrolimus for {what}: dose not checked"

        row, options, population_note = (
            (None, [], "") if applies is None else self._row(record, therapy, kind, applies)
        )
        if row is not None:
            citations, source = self._citations(row), row.source
        transplant = applies is not None and applies.key != UC
        rate = (row.low, row.high) if row else None
        basis = row.basis if row else ""
        if row is not None:
            extra = f", {row.note}" if row.note else ""
            status = (
                " (figure from a secondary source, not verified against the label)"
                if (row.status == "partial")
                else ""
            )
            # a row is of a recognised product, for a recorded indication
            who = f"{self._population(row)}{what} ({self.products.entries[row.formulation].short})"
            lines.append(
                f"{basis[:1].upper()}{basis[1:]}, {who}: {rate_text(row.low, row.high)}{extra}{status}."
                f" {population_note}".strip()
            )

        if genotype is not None:
            line, factor, cap = self._cpic(genotype, applies, kind)
            lines.append(line)
            if factor and rate and transplant:
                adjusted = (rate[0] * factor[0], rate[1] * factor[1])
                if cap is not None:
                    adjusted = (min(adjusted[0], cap), min(adjusted[1], cap))
                if adjusted != rate:  # a poor metabolizer's is the usual dose: the label's, not adjusted
                    rate, basis = adjusted, "CPIC-adjusted"
                citations += dosing.citations["cpic"]

            if applies is None:
                summary = f"Starting tacrolimus with a CYP3A5 result on record: {genotype.shown}"

        weight = self.weight(record)
        if applies is None:
            pass  # the CYP3A5 result is what the card is about (above)
        elif entry is None:
            summary = f"Starting tacrolimus for {what}: product not stated, dose not checked"
            lines.append(
                "The order does not say which product (immediate-release every 12 hours, a once-daily"
                " prolonged-release product, or an infusion): their doses differ, so none is applied."
            )
        elif reference_only:
            summary = (
                f"Tacrolimus by mouth to an infusion for {what}: no conversion in the sources, not judged"
            )
            lines.append(
                "The sources' infusion dose is for starting tacrolimus, not for a patient converted from oral"
                " tacrolimus: shown for reference, the order is not judged against it."
            )
        elif row is None and options:
            choices = "; ".join(f"{rate_text(r.low, r.high)} with {r.regimen}" for r in options)
            summary = f"Starting tacrolimus for {what}: the label dose depends on the regimen, not recorded"
            lines.append(f"US label, {applies.display}: {choices}. Record the regimen to check the dose.")
            if weight is not None:
                lines.append(
                    "For "
                    + weight.shown
                    + ": "
                    + "; ".join(
                        f"{range_text(weight.kg * r.low, weight.kg * r.high)}/day with {r.regimen}"
                        for r in options
                    )
                    + "."
                )
        elif row is None:
            summary = (
                f"Starting {entry.short} for {what}: no starting dose for it in the sources, not checked"
            )
            lines.append(
                f"The project's sources give no starting dose for {entry.display}"
                f" in {what}: the dose ordered is shown, not judged."
            )
        elif rate is not None and weight is None:
            summary = f"Starting tacrolimus for {what}: no body weight on record, dose not checked"
            lines.append(f"The dose is per kilogram ({rate_text(*rate)}): record a weight to check it.")
        elif rate is not None and weight is not None:
            warn, summary = self._judge(
                lines, entry, rate, weight, ordered, basis, f"{entry.short} for {what}"
            )
        if ordered is not None and (row is None or weight is None or entry is None or reference_only):
            lines.append(f"Ordered: {ordered.shown}.")
        elif ordered is None:
            lines.append(
                "The order's daily dose could not be read (a dose in mg and a frequency are needed)."
            )
        if (
            entry is not None
            and ordered is not None
            and ordered.per_day
            and entry.doses_per_day
            and not math.isclose(ordered.per_day, entry.doses_per_day)
        ):
            warn = True
            given, written = every(entry.doses_per_day), every(ordered.per_day)
            summary = f"Tacrolimus ordered {written}: {entry.short} is given {given}"
            lines.append(f"{entry.short.capitalize()} is given {given}; this order is {written}.")
        if hepatic_conditions(record, self._knowledge):
            lines.append("Hepatic impairment is recorded: dosage reduction may be necessary.")
        text = dosing.cards["start"].model_copy(update={"indicator": "warning" if warn else "info"})
        return self._maker.card(text, TOPIC, citations, summary=summary, extra=lines, source=source)

    def _judge(
        self,
        lines: list[str],
        entry: Formulation,
        rate: tuple[float, float],
        weight: Weight,
        ordered: OrderedDose | None,
        basis: str,
        started: str,
    ) -> tuple[bool, str]:
        """Adds the arithmetic and the comparison; returns (whether it warns, the summary)."""
        low, high = weight.kg * rate[0], weight.kg * rate[1]
        arithmetic = f"{weight.kg:g} kg x {rate_text(*rate)} = {range_text(low, high)}/day"
        per_day = entry.doses_per_day
        if per_day and per_day > 1:
            arithmetic += f", {range_text(low / per_day, high / per_day)} {every(per_day)}"
        elif per_day is None:
            arithmetic += " by continuous infusion"
        lines.append(f"Weight {weight.shown}: {arithmetic}.")
        floor, ceiling = orderable_range(low, high, entry.strengths_mg, per_day)
        if (floor, ceiling) != (round(low, 2), round(high, 2)) and entry.strengths_mg and per_day:
            each = (
                f"{range_text(floor / per_day, ceiling / per_day)} {every(per_day)}, " if per_day > 1 else ""
            )
            made = f"{strengths_text(entry)} {entry.units}"
            lines.append(
                f"Orderable with {made}: {each}{range_text(floor, ceiling)}/day,"
                " the range the order is judged against."
            )
        figure = f"{range_text(low, high)}/day for {weight.kg:g} kg"
        if ordered is None or ordered.daily_mg is None:
            return False, f"Starting {started}: {basis} dose {figure}"
        daily = round(ordered.daily_mg, 2)
        where = "above" if daily > round(ceiling, 2) else ("below" if daily < round(floor, 2) else "within")
        per_kg = round(ordered.daily_mg / weight.kg, 3)
        lines.append(f"Ordered: {ordered.shown} ({per_kg:g} mg/kg/day): {where} the range.")
        if where == "above":
            return True, f"Starting {started}: {mg(daily)}/day ordered, above the {basis} dose {figure}"
        return False, f"Starting {started}: {basis} dose {figure}; ordered {mg(daily)}/day"

    def _cpic(
        self, genotype: Genotype, applies: Indication | None, kind: str
    ) -> tuple[str, tuple[float, float] | None, float | None]:
        """The CPIC line, and the factor and cap to apply (None where CPIC does not apply)."""
        rule = self._knowledge.dosing.cpic[genotype.phenotype]  # type: ignore[index]
        if applies is None:
            return (
                f"{genotype.shown}: {rule.text} CPIC's guideline is for transplant recipients, and no"
                " transplant is recorded.",
                None,
                None,
            )
        if applies.key == UC:
            return (
                f"{genotype.shown} recorded: CPIC's guideline is for transplant recipients; its adjustment"
                " is not applied to ulcerative colitis.",
                None,
                None,
            )
        if kind == INTRAVENOUS:
            return (
                f"{genotype.shown}: {rule.text} Not applied to an intravenous infusion: the sources give"
                " no intravenous adjustment.",
                None,
                None,
            )
        if applies.key == "liver":
            return (
                f"{genotype.shown} (the recipient's): {rule.text} Not applied to a liver transplant: the"
                " donor liver's genotype matters there, and only the recipient's is on record.",
                None,
                None,
            )
        return f"{genotype.shown}: {rule.text}", (rule.factor[0], rule.factor[1]), rule.cap

    @staticmethod
    def _population(row: DoseRow) -> str:
        return "" if row.population == "any" else f"{row.population} "

    def _citations(self, row: DoseRow) -> list[Citation]:
        citations = self._knowledge.dosing.citations
        if row.source == "uc-summary":
            return list(citations["uc"])
        if row.source == "envarsus-summary":
            return list(citations["envarsus"])
        if row.formulation == INTRAVENOUS:
            return list(citations["intravenous"])
        return list(citations["targets"])

    # -- two products at once (patient-view) -----------------------------------------------------------

    def _concurrent(
        self,
        record: PatientRecord,
        medications: list[MedicationUse],
        text_key: Literal["concurrent", "concurrent_ordered"],
    ) -> Card | None:
        """Two tacrolimus products (or routes) at once that are not the same immediate-release tacrolimus
        (capsules with granules are): current orders on patient-view (a statement is not an order: a
        stale one is the record's, not the pharmacy's), the drafts of one order at the order hooks."""
        if len(medications) < 2:
            return None
        orders: dict[str, MedicationUse] = {}
        for medication in medications:
            kind = self.products.kind(medication)
            if kind != UNKNOWN:
                orders.setdefault(kind, medication)
        if orders.keys() & {"envarsus", "advagraf"}:
            orders.pop("prolonged-release", None)  # an unnamed prolonged-release order may be the same one
        if len(orders) < 2 or {self._release(k) for k in orders} == {"immediate"}:
            return None
        (first_kind, first), *others = orders.items()
        second_kind, second = next(
            ((k, m) for k, m in others if self._release(k) != self._release(first_kind)), others[0]
        )
        dosing = self._knowledge.dosing
        text = dosing.cards[text_key]
        names = [next(iter(m.names), m.ref) for m in (first, second)]
        summary = text.summary.replace("{first}", self._short(first_kind)).replace(
            "{second}", self._short(second_kind)
        )
        lines = [f"{'Current orders' if text_key == 'concurrent' else 'Ordered'}: {names[0]}; {names[1]}."]
        return self._maker.card(
            text,
            SWITCH_TOPIC,
            dosing.citations["switch"],
            summary=summary,
            extra=lines,
            suggestions=[level_suggestion(self._knowledge, record)],
            source="prograf-smpc",
        )

    def _short(self, kind: str) -> str:
        """The short name of a recognised product (never UNKNOWN: it has no entry)."""
        return self.products.entries[kind].short

    # -- the switch card --------------------------------------------------------------------------------

    def _switch(
        self, record: PatientRecord, order: MedicationUse, kind: str, current: MedicationUse, known: str
    ) -> Card:
        dosing = self._knowledge.dosing
        # both recognised (cards() returns before a switch to or from an UNKNOWN product)
        ordered_entry, current_entry = self.products.entries[kind], self.products.entries[known]
        ordered_name, current_name = ordered_entry.short, current_entry.short
        now_name, then_name = next(iter(current.names), current.ref), next(iter(order.names), order.ref)
        lines = [f"Current: {now_name}; ordered: {then_name}."]
        citations = list(dosing.citations["switch"])
        conversion = ordered_entry.conversion
        if conversion is not None and current_entry.release == "immediate":
            checked = "; not verified against the label" if conversion.status == "partial" else ""
            line = (
                f"Conversion from immediate-release to {ordered_name}: {conversion.text}"
                f" ({conversion.basis}{checked})."
            )
            now = self.products.ordered(current, known)
            if now is not None and now.daily_mg is not None:
                target = now.daily_mg * conversion.factor
                line += f" Current {now.shown}: about {mg(target)} once daily"
                floor, ceiling = orderable_range(target, target, ordered_entry.strengths_mg, 1)
                if ordered_entry.strengths_mg and (floor, ceiling) != (round(target, 2),) * 2:
                    line += f" (orderable: {mg(floor)} or {mg(ceiling)})"
                line += "."
            then = self.products.ordered(order, kind)
            if then is not None:
                line += f" Ordered: {then.shown}."
            lines.append(line)
            if kind == "envarsus":
                citations += dosing.citations["envarsus"]
        summary = (
            dosing.cards["switch"]
            .summary.replace("{current}", current_name)
            .replace("{ordered}", ordered_name)
        )
        return self._maker.card(
            dosing.cards["switch"],
            SWITCH_TOPIC,
            citations,
            summary=summary,
            extra=lines,
            suggestions=[level_suggestion(self._knowledge, record)],
            source="prograf-smpc",
        )


_CYP3A5 = word_pattern(
    ["cyp3a5", "hgnc:2638", "genotype", "therapeutic implication", "therapeutic-implication"]
)
