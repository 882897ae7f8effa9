"""Laboratory-flagged results for a patient on (or starting) systemic tacrolimus.

The latest potassium, creatinine, eGFR and glucose are judged only by the laboratory's own judgement carried
in the result: its interpretation flags (H, HH, L, LL, A, AA, ... or their words), else its reference range
(when the units agree). A result with neither is never judged here: no threshold of the project's own is
applied (the sources give none). A flag in the direction that matters for tacrolimus (high potassium,
creatinine and glucose; low eGFR), or an 'abnormal' flag, raises a `warning`: hyperkalaemia and impaired
renal function are frequent with tacrolimus, and the SmPC asks for electrolytes and renal function to be
monitored. On patient-view for a patient on systemic tacrolimus, and when systemic tacrolimus is ordered.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cards.drugs import DrugIdentifier
from cards.knowledge import Knowledge
from cards.text import MAX_SUMMARY, word_pattern
from cards.therapy import ALL_HOOKS, Family, Therapy
from cds.models import Card
from cds.record import Observation, PatientRecord

TOPIC = "abnormal-result"
Direction = Literal["high", "low", "abnormal", "normal"]
DIRECTIONS: tuple[Direction, ...] = ("high", "low", "abnormal", "normal")


@dataclass(frozen=True, slots=True)
class Flagged:
    group: str
    name: str
    shown: str  # "5.9 mmol/L"
    direction: Direction
    why: str  # "laboratory flag H; reference 3.5 to 5.1 mmol/L"
    when: str  # its date, ISO 8601; '' when it has none


class ResultFamily(Family):
    key = "results"  # the site file's name for it
    title = "laboratory results"
    hooks = ALL_HOOKS
    needs = frozenset({"medicationRequests", "observations"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        data = knowledge.cautions.abnormal_results
        self._codes = {
            direction: frozenset(code.upper() for code in codes) for direction, codes in data.flags.items()
        }
        self._words = {direction: word_pattern(words) for direction, words in data.flag_words.items()}

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        if record.hook == "patient-view":
            if not therapy.on_systemic:
                return []
        elif not therapy.ordered(therapy.systemic):
            return []
        flagged = self.flagged(record)
        if not flagged:
            return []
        data = self._knowledge.cautions.abnormal_results
        parts = [f"{_lower(f.name)} {f.shown} {f.direction}" for f in flagged]
        when = flagged[0].when or "undated"
        flags = "laboratory flag" if len(flagged) == 1 else "laboratory flags"
        summary = data.card.summary.replace("{results}", ", ".join(parts) + f" ({flags}, {when})")
        if len(summary) > MAX_SUMMARY:
            summary = data.card.summary.replace("{results}", ", ".join(parts) + f" ({flags})")
        lines = [
            f"{f.name} {f.shown} {f'on {f.when}' if f.when else 'on an unknown date'}:"
            f" {f.direction} ({f.why})."
            for f in flagged
        ]
        lines += list(dict.fromkeys(data.groups[f.group].why for f in flagged))
        return [self._maker.card(data.card, TOPIC, data.citations, summary=summary, extra=lines)]

    def flagged(self, record: PatientRecord) -> list[Flagged]:
        """The latest result of each group, where the laboratory flags it in a direction that matters."""
        data = self._knowledge.cautions.abnormal_results
        found = []
        for group, rule in data.groups.items():
            codes = self._knowledge.observation_codes(group)
            latest = next(
                (
                    o
                    for o in record.observations_coded(self._knowledge.observation_system, codes)
                    if o.quantity
                ),
                None,
            )
            if latest is None or latest.quantity is None:
                continue
            judged = self.judge(latest)
            if judged is None:
                continue
            direction, why = judged
            if direction in rule.directions or direction == "abnormal":
                unit = latest.quantity.unit
                preliminary = ", preliminary" if latest.status == "preliminary" else ""
                when = latest.effective.date().isoformat() if latest.effective else ""
                shown = f"{latest.quantity.value:g} {unit}".strip()
                found.append(Flagged(group, rule.name, shown, direction, why + preliminary, when))
        return found

    def judge(self, observation: Observation) -> tuple[Direction, str] | None:
        """(direction, how it was judged) from the laboratory's flags, else its reference range."""
        flags = observation.interpretation
        for direction in DIRECTIONS:
            for coding in flags.codings:
                if coding.code.upper() in self._codes[direction]:
                    return direction, f"laboratory flag {coding.code}"
        for direction in DIRECTIONS:  # the flag's words, quoted as the name that says it
            said = next((n for n in flags.names if self._words[direction].search(n.lower())), None)
            if said is not None:
                return direction, f"laboratory flag '{said}'"
        quantity = observation.quantity
        if quantity is None:
            return None
        low, high = observation.reference_low, observation.reference_high
        shown = " to ".join(f"{q.value:g}" for q in (low, high) if q is not None)
        for bound in (low, high):
            if (
                bound is not None
                and bound.unit
                and quantity.unit
                and bound.unit.lower() != quantity.unit.lower()
            ):
                return None  # a range in other units is not compared
        unit = f" {quantity.unit}" if quantity.unit else ""
        if high is not None and quantity.value > high.value:
            return "high", f"above the laboratory's reference range {shown}{unit}"
        if low is not None and quantity.value < low.value:
            return "low", f"below the laboratory's reference range {shown}{unit}"
        return None


def _lower(name: str) -> str:
    """'potassium' for 'Potassium'; an acronym ('eGFR') stays as it is."""
    return name if name[1:2].isupper() else name.lower()
