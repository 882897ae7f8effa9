"""Why the patient takes tacrolimus, and the trough target that follows.

Transplants come from active conditions (the onset or recorded date is the transplant date); ulcerative
colitis from its condition, timed from the first current tacrolimus order. Targets come from the US label
table by organ, population, regimen and months since transplant; where no row applies, the monograph's
general ranges, said as such. Several indications: transplants first (most recent first), then colitis.
"""

from dataclasses import dataclass
from datetime import datetime

from cards.knowledge import Dosing, Knowledge, Population, TargetRow
from cards.text import coded_as, word_pattern
from cards.therapy import LEVEL_NAMES, Therapy
from cds.clock import days_since
from cds.fhirjson import Concept
from cds.record import PatientRecord

DAYS_PER_MONTH = 30.44
UC = "ulcerative-colitis"


@dataclass(frozen=True, slots=True)
class Indication:
    key: str  # an organ, or "ulcerative-colitis"
    display: str
    since: datetime | None  # transplant date (the condition's onset), or the start of tacrolimus for colitis
    exact: bool = True  # False: tacrolimus started at or before `since` (a renewal or a level says so)

    def months(self, now: datetime) -> float | None:
        return None if self.since is None else months_since(self.since, now)

    def days(self, now: datetime) -> int | None:
        """Whole days since the transplant, or on tacrolimus for colitis (day 0 the first)."""
        return None if self.since is None else max(0, days_since(self.since, now))


def months_since(since: datetime, now: datetime) -> float:
    """Months (of DAYS_PER_MONTH days) from `since` to `now`; 0 when `now` is before it."""
    return max(0.0, days_since(since, now) / DAYS_PER_MONTH)


@dataclass(frozen=True, slots=True)
class Target:
    low: float
    high: float
    basis: str  # where the range comes from, in words
    source: str  # the sources.json entry it comes from
    word: str = "target"  # how a card names it: a label's or site's target, or the range generally seen


def indications(record: PatientRecord, knowledge: Knowledge, therapy: Therapy) -> list[Indication]:
    """The patient's indications, most relevant first; read once per record (several families ask)."""
    memo = record.memo.get("indications")
    if isinstance(memo, list):
        return memo
    result = _indications(record, knowledge, therapy)
    record.memo["indications"] = result
    return result


def _indications(record: PatientRecord, knowledge: Knowledge, therapy: Therapy) -> list[Indication]:
    dosing = knowledge.dosing
    found: dict[str, Indication] = {}
    for condition in record.conditions:
        if not condition.active:
            continue
        for key in recognised(record, condition.code, dosing):
            codes = dosing.indications[key]
            # a transplant's date is its onset: a condition recorded at a later visit says nothing of when
            since, exact = condition.onset, True
            if key == UC:
                since, exact = colitis_start(record, knowledge, therapy)
            previous = found.get(key)
            if previous is None or (since and previous.since and since > previous.since):
                found[key] = Indication(key, codes.display, since, exact)
    transplants = sorted(
        (i for i in found.values() if i.key != UC),
        key=lambda i: i.since.timestamp() if i.since else float("-inf"),
        reverse=True,
    )
    return transplants + [i for i in found.values() if i.key == UC]


def recognised(record: PatientRecord, code: Concept, dosing: Dosing) -> tuple[str, ...]:
    """The indications a condition's code stands for: by code prefix, or by words in its text or displays
    (any code system), unless its words say it is not the patient's own (a candidate, a donor). Read once
    per code and record: a chart repeats its conditions' codes, and several families ask."""
    memo: dict[Concept, tuple[str, ...]] = record.memo.setdefault("recognised", {})
    found = memo.get(code)
    if found is None:
        found = memo[code] = _recognised(code, dosing)
    return found


def _recognised(code: Concept, dosing: Dosing) -> tuple[str, ...]:
    found = tuple(key for key, entry in dosing.indications.items() if coded_as(code, entry.conditions))
    if found or not code.names:
        return found
    names = " ".join(code.names).lower()
    if word_pattern(dosing.indication_not_words).search(names):
        return ()
    return tuple(
        key
        for key, entry in dosing.indications.items()
        if entry.words and word_pattern(entry.words).search(names)
    )


def colitis_start(
    record: PatientRecord, knowledge: Knowledge, therapy: Therapy
) -> tuple[datetime | None, bool]:
    """When tacrolimus for colitis began: the earliest evidence of it (the earliest current order or
    statement, or the earliest tacrolimus level, which shows the patient was on it), and whether that is
    the start itself (an order that is not a renewal, with no level before it) or only an upper bound."""
    start = therapy.start(frozenset({"tacrolimus"}))
    levels = record.observations_coded(
        knowledge.observation_system,
        knowledge.observation_codes("tacrolimus-level"),
        or_named=word_pattern(LEVEL_NAMES),
    )
    dated = [o.effective for o in levels if o.effective is not None]  # newest first
    first = dated[-1] if dated else None
    if first is not None and (start.when is None or first < start.when):
        return first, False
    return start.when, start.exact


def population(record: PatientRecord, dosing: Dosing) -> tuple[Population, str]:
    """The label table to use, and a note when the age is unknown."""
    age = record.patient.age_years(record.now) if record.patient else None
    if age is None:
        return "adult", "Age unknown: the adult table is used."
    return ("child" if age < dosing.child_under_years else "adult"), ""


# Prolonged-release products with no label rows of their own, for which the Prograf rows are used: the
# monograph says UK product information finds the trough-exposure relation similar for Prograf and Advagraf.
APPLIED_TO = {
    "advagraf": "Advagraf (the monograph: trough and exposure relate alike for both)",
    "prolonged-release": "a prolonged-release product (not named; the monograph says so for Advagraf)",
}


def regimen(therapy: Therapy, dosing: Dosing) -> str:
    """'azathioprine' or 'mycophenolate' when the patient takes one of them, else 'any'."""
    for name, words in dosing.regimens.items():
        pattern = word_pattern(words)
        if any(pattern.search(" ".join(m.names).lower()) for m, _ in therapy.current):
            return name
    return "any"


def target(
    indication: Indication, dosing: Dosing, record: PatientRecord, therapy: Therapy, formulation: str = "any"
) -> Target | None:
    """The site protocol's row when the site file gives one (with the label's range beside it); else the
    label row that applies (the product's own rows first, then the Prograf table, which the monograph says
    holds for Advagraf too), or the monograph's general range; None for colitis."""
    since = indication.since
    if indication.key == UC or since is None:
        return None
    group, _ = population(record, dosing)
    months = months_since(since, record.now)
    label = _label_target(indication, dosing, therapy, formulation, group, months)
    dated = f"transplant on {since.date().isoformat()}"
    for row in dosing.site_targets:
        if row.organ == indication.key and row.population in (group, "any") and _within(row, months):
            beside = (
                f"beside it the {label.basis}: {label.low:g} to {label.high:g} ng/mL"
                if label
                else "neither the label nor the monograph gives a range here"
            )
            basis = f"site protocol, {_window(row)}, {dated}; {beside}"
            return Target(row.low, row.high, basis, label.source if label else "monograph")
    if label is None:
        return None
    return Target(label.low, label.high, f"{label.basis}; {dated}", label.source, label.word)


def _within(row: TargetRow, months: float) -> bool:
    return row.from_month <= months and (row.to_month is None or months < row.to_month)


def _window(row: TargetRow) -> str:
    if row.note:
        return row.note
    if row.to_month is None:
        return f"from month {row.from_month + 1:g} after transplant"
    return f"months {row.from_month + 1:g} to {row.to_month:g} after transplant"


def _label_target(
    indication: Indication, dosing: Dosing, therapy: Therapy, formulation: str, group: str, months: float
) -> Target | None:
    used = regimen(therapy, dosing)
    rows = [t for t in dosing.targets if t.organ == indication.key and t.population == group]
    own = [t for t in rows if t.formulation == formulation]
    rows = own or [t for t in rows if t.formulation == "any"]
    specific = [t for t in rows if t.regimen == used]
    rows = specific or [t for t in rows if t.regimen == "any"]
    for row in rows:
        if _within(row, months):
            written = dosing.regimen_labels.get(row.regimen, row.regimen)
            with_regimen = f" with {written}" if row.regimen != "any" else ""
            unverified = "; figure from a secondary source, not verified" if row.status == "partial" else ""
            source = "envarsus-summary" if row.formulation == "envarsus" else "prograf-uspi"
            label = "Envarsus label" if row.formulation == "envarsus" else "US label"
            if row.formulation == "any" and formulation in APPLIED_TO:
                label = f"US label (Prograf, immediate-release) applied to {APPLIED_TO[formulation]}"
            basis = f"{label}, {group} {indication.display}{with_regimen}, {_window(row)}{unverified}"
            return Target(row.low, row.high, basis, source)
    phase = "early" if months < dosing.monitoring.early_months else "maintenance"
    ranges = dosing.general.early if phase == "early" else dosing.general.maintenance
    if indication.key in ranges:
        low, high = ranges[indication.key]
        when = "early after transplant" if phase == "early" else "during maintenance"
        basis = (
            f"the range the monograph says troughs have generally been in {when} for {indication.display}:"
            " what is usually seen, not a label target"
        )
        return Target(low, high, basis, "monograph", "the usual range")
    return None
