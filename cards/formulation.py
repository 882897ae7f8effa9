"""Which tacrolimus product a medication is, how much it gives a day, and the doses a prescriber can order.

The kind is read from words in the medication's names (its text, its codings' displays, and the names of
the RxNorm products its codes stand for, so a bare code works as well as a name), its dose form and its
route, in this order:

1. intravenous: an intravenous route code, or words such as injection, infusion, concentrate;
2. a prolonged-release product named by brand (Envarsus; Advagraf, Astagraf, Dailiport);
3. prolonged-release words (extended release, 24 HR, XR, XL, ...) with the form that tells the product
   apart (tablets: the Envarsus kind; capsules: the Advagraf/Astagraf kind), else "prolonged-release"
   with the product not named;
4. granules for oral suspension;
5. immediate-release: capsules, or an immediate-release brand (RxNorm names every extended-release
   product as such, so a capsule without those words is immediate-release);
6. nothing recognised: ``UNKNOWN``, shown and never judged against a row.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cards.knowledge import Formulation, Knowledge
from cards.text import word_pattern
from cds.record import Dose, MedicationUse, Quantity

UNKNOWN = "unknown"
INTRAVENOUS = "intravenous"
PROLONGED = "prolonged-release"
GRANULES = "granules"
IMMEDIATE = "immediate-release"
BRANDED_PROLONGED = ("envarsus", "advagraf")

MG_UNITS = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001,
            "microgram": 0.001, "micrograms": 0.001}  # fmt: skip
UNIT_DOSE_WORDS = {"capsule", "capsules", "cap", "caps", "tablet", "tablets", "tab", "tabs", "each", "ea",
                   "{capsule}", "{tablet}", "{each}", "sachet", "sachets", "1"}  # fmt: skip
RATE_PER_DAY = {"mg/h": 24.0, "mg/hr": 24.0, "mg/d": 1.0, "mg/day": 1.0, "mg/24h": 1.0, "mg/(24.h)": 1.0,
                "mg/min": 1440.0}  # fmt: skip
_STRENGTH = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*mg\b(?!\s*/)", re.IGNORECASE)
_HUNDREDTHS = 100  # doses are judged to 0.01 mg
_MAX_MG = 100  # orderable doses are listed up to this amount per administration


@dataclass(frozen=True, slots=True)
class OrderedDose:
    """What an order gives: administrations and mg per day, as the prescriber wrote it."""

    per_day: float | None  # administrations per day; None for an infusion given by rate
    daily_mg: float | None
    shown: str  # "3 mg every 12 hours = 6 mg/day"


def mg(value: float) -> str:
    return f"{round(value, 2):g} mg"


def every(per_day: float) -> str:
    if per_day == 1:
        return "once daily"
    hours = 24 / per_day
    return f"every {hours:g} hours" if hours == int(hours) else f"{per_day:g} times a day"


WORDS_KEPT = 4096  # medications' words whose kind is kept (a handful of tacrolimus products in practice)


class Formulations:
    """Recognises the tacrolimus formulation of a medication (see the module docstring)."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.entries = knowledge.dosing.formulations
        self._words = {key: word_pattern(entry.words) for key, entry in self.entries.items()}
        self._forms = {
            key: word_pattern(entry.form_words) for key, entry in self.entries.items() if entry.form_words
        }
        self._routes = {(c.system, c.code): key for key, e in self.entries.items() for c in e.route_codes}
        code_names = {code: entry.name for code, entry in knowledge.tacrolimus.rxnorm.items()}
        for code, product in knowledge.products.concepts.items():
            if "tacrolimus" in (i.lower() for i in product.ingredients):
                code_names.setdefault(code, product.name)
        self._code_names = code_names
        self._by_words: dict[
            str, str
        ] = {}  # the words of a medication -> its kind: asked by several families

    def entry(self, key: str) -> Formulation | None:
        return self.entries.get(key)

    def kind(self, medication: MedicationUse) -> str:
        """The formulations key of a tacrolimus medication, or UNKNOWN."""
        for coding in medication.route.codings:
            found = self._routes.get((coding.system, coding.code))
            if found:
                return found
        names = [*medication.names, *(self._code_names.get(c.code, "") for c in medication.codings)]
        where = " ".join((*names, *medication.form.names, *medication.route.names)).lower()
        found = self._by_words.get(where)
        if found is None:
            if len(self._by_words) >= WORDS_KEPT:
                self._by_words.clear()
            found = self._by_words[where] = self._kind_by_words(where)
        return found

    def _kind_by_words(self, where: str) -> str:
        if self._words[INTRAVENOUS].search(where):
            return INTRAVENOUS
        for key in BRANDED_PROLONGED:
            if self._words[key].search(where):
                return key
        if self._words[PROLONGED].search(where):
            return next((key for key in BRANDED_PROLONGED if self._forms[key].search(where)), PROLONGED)
        if self._words[GRANULES].search(where):
            return GRANULES
        if self._words[IMMEDIATE].search(where):
            return IMMEDIATE
        return UNKNOWN

    def ordered(self, medication: MedicationUse, kind: str) -> OrderedDose | None:
        """The dose the order gives, or None when it cannot be read (no dose in mg, no frequency)."""
        dose = medication.dose
        if dose is None:
            return None
        if kind == INTRAVENOUS and dose.rate is not None:
            per_day_factor = RATE_PER_DAY.get(dose.rate.unit.replace(" ", "").lower())
            if per_day_factor is not None:
                daily = dose.rate.value * per_day_factor
                return OrderedDose(None, daily, f"{dose.rate.value:g} {dose.rate.unit} = {mg(daily)}/day")
        amount = self._milligrams(dose, medication)
        per_day = dose.per_day
        if amount is None or per_day is None:
            return None
        daily = amount * per_day
        if kind == INTRAVENOUS and per_day == 1:
            return OrderedDose(per_day, daily, f"{mg(daily)}/day by infusion")
        return OrderedDose(per_day, daily, f"{mg(amount)} {every(per_day)} = {mg(daily)}/day")

    def _milligrams(self, dose: Dose, medication: MedicationUse) -> float | None:
        quantity: Quantity | None = dose.quantity
        if quantity is None:
            return None
        unit = quantity.unit.strip().lower()
        if unit in MG_UNITS:
            return quantity.value * MG_UNITS[unit]
        if unit in UNIT_DOSE_WORDS:
            names = [*medication.names, *(self._code_names.get(c.code, "") for c in medication.codings)]
            strengths = {float(m) for n in names for m in _STRENGTH.findall(n)}
            if len(strengths) == 1:
                return quantity.value * strengths.pop()
        return None


def orderable_range(
    low: float, high: float, strengths: Sequence[float], per_day: int | None
) -> tuple[float, float]:
    """The daily range a prescriber can actually order for a computed low-high mg/day: each
    administration's share rounded out to the nearest doses the strengths make up (down for the low end,
    up for the high end). No strengths or an infusion: the range as computed."""
    if not strengths or not per_day:
        return low, high
    doses = _doses(tuple(sorted(strengths)))
    low_each, high_each = round(low / per_day * _HUNDREDTHS), round(high / per_day * _HUNDREDTHS)
    below = [d for d in doses if d <= low_each]
    above = [d for d in doses if d >= high_each]
    floor = below[-1] if below else 0
    ceiling = above[0] if above else high_each
    return floor * per_day / _HUNDREDTHS, ceiling * per_day / _HUNDREDTHS


@lru_cache(maxsize=16)
def _doses(strengths: tuple[float, ...]) -> tuple[int, ...]:
    """Every amount (in hundredths of a mg, up to _MAX_MG) that whole units of the strengths make up."""
    units = [round(s * _HUNDREDTHS) for s in strengths]
    limit = _MAX_MG * _HUNDREDTHS
    reachable = [False] * (limit + 1)
    reachable[0] = True
    for amount in range(1, limit + 1):
        reachable[amount] = any(amount >= u and reachable[amount - u] for u in units)
    return tuple(a for a in range(1, limit + 1) if reachable[a])


def strengths_text(entry: Formulation) -> str:
    values = [f"{s:g}" for s in entry.strengths_mg]
    if len(values) > 1:
        return ", ".join(values[:-1]) + f" and {values[-1]} mg"
    return f"{values[0]} mg" if values else ""
