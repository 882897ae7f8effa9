"""Why the patient takes tacrolimus, and the trough target that follows.

Transplants come from active conditions (the onset or recorded date is the transplant date); ulcerative
colitis from its condition, timed from the first current tacrolimus order. Targets come from the US label
table by organ, population, regimen and months since transplant; where no row applies, the monograph's
general ranges, said as such. Several indications: transplants first (most recent first), then colitis.
"""

from dataclasses import dataclass
from datetime import datetime

from cards.knowledge import Dosing, Population, TargetRow
from cards.text import coded_as, word_pattern
from cards.therapy import Therapy
from cds.record import PatientRecord

DAYS_PER_MONTH = 30.44
UC = "ulcerative-colitis"


@dataclass(frozen=True, slots=True)
class Indication:
    key: str  # an organ, or "ulcerative-colitis"
    display: str
    since: datetime | None  # transplant date, or the start of tacrolimus for colitis

    def months(self, now: datetime) -> float | None:
        return None if self.since is None else max(0.0, (now - self.since).days / DAYS_PER_MONTH)

    def days(self, now: datetime) -> int | None:
        """Whole days since the transplant, or on tacrolimus for colitis (day 0 the first)."""
        return None if self.since is None else max(0, (now - self.since).days)


@dataclass(frozen=True, slots=True)
class Target:
    low: float
    high: float
    basis: str  # where the range comes from, in words
    source: str  # the sources.json entry it comes from


def indications(record: PatientRecord, dosing: Dosing, therapy: Therapy) -> list[Indication]:
    """The patient's indications, most relevant first; read once per record (several families ask)."""
    memo = record.memo.get("indications")
    if isinstance(memo, list):
        return memo
    result = _indications(record, dosing, therapy)
    record.memo["indications"] = result
    return result


def _indications(record: PatientRecord, dosing: Dosing, therapy: Therapy) -> list[Indication]:
    found: dict[str, Indication] = {}
    for condition in record.conditions:
        if not condition.active:
            continue
        for key, codes in dosing.indications.items():
            if not coded_as(condition.code, codes.conditions):
                continue
            since = condition.onset or condition.recorded
            if key == UC:
                since = therapy.start(frozenset({"tacrolimus"})).when
            previous = found.get(key)
            if previous is None or (since and previous.since and since > previous.since):
                found[key] = Indication(key, codes.display, since)
    transplants = sorted(
        (i for i in found.values() if i.key != UC),
        key=lambda i: i.since.timestamp() if i.since else float("-inf"),
        reverse=True,
    )
    return transplants + [i for i in found.values() if i.key == UC]


def population(record: PatientRecord, dosing: Dosing) -> tuple[Population, str]:
    """The label table to use, and a note when the age is unknown."""
    age = record.patient.age_years(record.now) if record.patient else None
    if age is None:
        return "adult", "Age unknown: the adult table is used."
    return ("child" if age < dosing.child_under_years else "adult"), ""


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
    if indication.key == UC:
        return None
    group, _ = population(record, dosing)
    months = indication.months(record.now)
    if months is None:
        return None
    label = _label_target(indication, dosing, therapy, formulation, group, months)
    for row in dosing.site_targets:
        if row.organ == indication.key and row.population in (group, "any") and _within(row, months):
            beside = f"{label.basis}: {label.low:g} to {label.high:g} ng/mL" if label else "no label range"
            basis = f"site protocol, {_window(row)}; beside it the {beside}"
            return Target(row.low, row.high, basis, label.source if label else "monograph")
    return label


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
            with_regimen = f" with {row.regimen}" if row.regimen != "any" else ""
            unverified = "; figure from a secondary source, not verified" if row.status == "partial" else ""
            source = "envarsus-summary" if row.formulation == "envarsus" else "prograf-uspi"
            label = "Envarsus label" if row.formulation == "envarsus" else "US label"
            basis = f"{label}, {group} {indication.display}{with_regimen}, {_window(row)}{unverified}"
            return Target(row.low, row.high, basis, source)
    phase = "early" if months < dosing.monitoring.early_months else "maintenance"
    ranges = dosing.general.early if phase == "early" else dosing.general.maintenance
    if indication.key in ranges:
        low, high = ranges[indication.key]
        return Target(low, high, f"monograph's typical {phase} range for {indication.display}", "monograph")
    return None
