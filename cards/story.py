"""The level story: a patient's tacrolimus levels, doses and level-altering drugs on one time axis, and the
figures derived from them. Built from the record for the picture (cards/picture.py), never on a hook's path.

- The window: the last 12 months, or since the first evidence of systemic tacrolimus when that is later
  (the earliest order, statement or level).
- Levels: every tacrolimus level, converted to ng/mL as the level card does (cards/levels.py). A trough is
  a final result the level card would judge; a result its name or note says was taken after the dose
  (post-dose, random, C2, ...) and a preliminary result are drawn as what they are, never as troughs. A value
  with a comparator ("<2.0"), a text-only result, an unknown unit and an undated result are listed, not
  plotted.
- The band: the target the level card would use on each day (the site protocol, else the label's or the
  monograph's range by months since the transplant; for colitis the initial target for the first 14 days
  of tacrolimus, then maintenance), for the first indication the level card uses.
- Doses: the total daily dose of systemic tacrolimus in force, as steps: every order and statement dated
  in the record, each from its start to its end (an end date, else now while it is current, else the next
  tacrolimus record's start). Overlapping records add up (a morning and an evening order). A dose the
  service cannot read leaves a labelled gap, never a zero. A change of formulation is marked.
- Drugs: a bar for each drug that raises or lowers tacrolimus levels (interactions.json), from its
  earliest evidence to its end.
- Figures (each with its definition, window, count and source): the concentration/dose ratio of each
  trough, the coefficient of variation of the troughs, and the share of troughs within the band. Fewer
  than three troughs: no coefficient of variation and no share, and the story says so.
"""

import itertools
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import cast

from cards.drugs import DrugIdentifier
from cards.formulation import INTRAVENOUS, UNKNOWN, Formulations
from cards.indication import UC, Indication, indications, target
from cards.knowledge import Effect, Knowledge
from cards.levels import Level, LevelFamily
from cards.text import word_pattern
from cards.therapy import LEVEL_NAMES, Therapy
from cds.fhirjson import obj, when
from cds.record import MedicationUse, Observation, PatientRecord

WINDOW = timedelta(days=365)  # the last 12 months
MIN_TROUGHS = 3  # fewer troughs than this: no coefficient of variation, no share in band
LEVEL_EFFECTS = ("raises", "lowers")  # the interactions drawn: drugs that change the level


@dataclass(frozen=True, slots=True)
class Band:
    """The target range in force from `start` to `end`."""

    start: datetime
    end: datetime
    low: float
    high: float
    basis: str  # where the range comes from, in words
    source: str  # its sources.json entry


@dataclass(frozen=True, slots=True)
class DoseStep:
    """The total daily dose of systemic tacrolimus from `start` to `end`; `daily_mg` None: not readable."""

    start: datetime
    end: datetime
    daily_mg: float | None
    shown: str  # what the records say, e.g. "3 mg every 12 hours = 6 mg/day"
    formulation: str  # the products' display names, joined
    kind: str = "any"  # the formulations key when one product kind is in force, else "any"
    short: str = ""  # the products' short names, joined (the picture's label)
    formulation_changed: bool = False  # another formulation than the step before
    infusion: bool = False  # an infusion is among the doses in force (alone, `kind` says so too)


@dataclass(frozen=True, slots=True)
class DrugBar:
    """A drug that raises or lowers tacrolimus levels, from its earliest evidence to its end."""

    name: str  # as the record writes it
    effect: Effect  # raises, lowers
    start: datetime
    end: datetime
    end_known: bool  # False: no longer current and no end date: `end` is the window's end, drawn hatched


@dataclass(frozen=True, slots=True)
class Point:
    """One tacrolimus level."""

    when: datetime | None
    shown: str  # as recorded (with its conversion to ng/mL where there is one)
    value: float | None  # ng/mL when plotted, else None
    kind: str  # "trough", "preliminary", or the words that say it is not a trough ("2-hour", "random")
    listed_why: str = ""  # why it is listed and not plotted ("" when plotted)
    band: Band | None = None  # the band in force at its date (troughs, measured or bounds)
    dose: DoseStep | None = None  # the dose in force at its date (troughs, measured or bounds)
    note: str = ""  # the result's notes, as the laboratory wrote them
    bound: float | None = None  # a value given as a bound ("<2"): the bound in ng/mL
    comparator: str = ""  # its comparator ("<", "<=", ">=", ">")
    drugs_before: tuple[str, ...] = ()  # level-altering drugs taken since the trough before (troughs)

    @property
    def trough(self) -> bool:
        """A measured trough: the figures rest on these."""
        return self.kind == "trough" and self.value is not None

    @property
    def censored(self) -> bool:
        """A trough given as a bound ("<2 ng/mL"): drawn at its bound, judged only when the whole of its
        range is outside the band, never in the CV or the C/D."""
        return self.kind == "trough" and self.value is None and self.bound is not None

    @property
    def within(self) -> bool | None:
        if self.kind != "trough" or self.band is None or self.when is None:
            return None
        low, high = self.band.low, self.band.high
        if self.value is not None:
            return low <= self.value <= high
        if self.bound is None:
            return None
        below = (self.comparator == "<" and self.bound <= low) or (
            self.comparator == "<=" and self.bound < low
        )
        above = (self.comparator == ">" and self.bound >= high) or (
            self.comparator == ">=" and self.bound > high
        )
        return False if below or above else None  # a bound reaching into the band: not known

    @property
    def ratio(self) -> float | None:
        """The concentration/dose ratio: ng/mL per mg/day, for a trough with a readable dose."""
        if not self.trough or self.dose is None or not self.dose.daily_mg or self.value is None:
            return None
        if self.dose.kind == INTRAVENOUS or self.dose.infusion:
            # an infusion's ratio, or one with an infusion's milligrams in it, is not the oral one
            return None
        return self.value / self.dose.daily_mg


@dataclass(frozen=True, slots=True)
class Figure:
    """A derived figure: what it is, its value (None: not computed, `note` says why), what it rests on."""

    name: str
    value: str | None
    definition: str
    rests_on: str  # the window and the number of troughs
    note: str = ""
    source: str = ""  # sources.json entry of its definition or threshold ("" when it needs none)


@dataclass(frozen=True, slots=True)
class Story:
    patient_id: str
    start: datetime
    end: datetime
    points: tuple[Point, ...]  # oldest first
    bands: tuple[Band, ...]
    doses: tuple[DoseStep, ...]
    drugs: tuple[DrugBar, ...]
    figures: tuple[Figure, ...]
    notes: tuple[str, ...]  # what the picture could not draw, and why
    ceiling: float  # the monograph's general ceiling (ng/mL)
    patient_name: str = ""  # as the record writes it, with the birth date and sex: to check the chart
    birth_date: date | None = None
    gender: str = ""

    @property
    def troughs(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.trough)

    @property
    def empty(self) -> bool:
        """Nothing to draw: no level, no dose, no drug."""
        return not (self.points or self.doses or self.drugs)


def _date(moment: datetime) -> str:
    return moment.date().isoformat()


def _end(medication: MedicationUse) -> datetime | None:
    """The end a record gives: its effective period's end, or its dispense validity period's end."""
    raw = medication.raw
    ends = [
        when(obj(raw.get("effectivePeriod")).get("end")),
        when(obj(obj(raw.get("dispenseRequest")).get("validityPeriod")).get("end")),
    ]
    found = [e for e in ends if e is not None]
    return min(found) if found else None


def _dose_at(moment: datetime, doses: Sequence[DoseStep]) -> DoseStep | None:
    """The dose step in force at `moment` (the last step also at its end, which is now)."""
    found = next((d for d in doses if d.start <= moment < d.end), None)
    if found is None and doses and moment == doses[-1].end:
        return doses[-1]
    return found


def _same(band: Band, other: Band) -> bool:
    return (band.low, band.high, band.basis, band.source) == (
        other.low,
        other.high,
        other.basis,
        other.source,
    )


def _listed(points: Sequence[Point]) -> str:
    return ", ".join(f"{p.shown} on {_date(p.when)}" for p in points if p.when is not None)


def _with_drugs_before(
    points: Sequence[Point], drugs: Sequence[DrugBar], start: datetime
) -> tuple[Point, ...]:
    """Each trough (measured or a bound) with the level-altering drugs taken since the trough before it (or
    the window's start): beside its C/D, for a ratio the drug, not the patient, may explain."""
    out: list[Point] = []
    since, first = start, True
    for point in points:
        if point.kind != "trough" or point.when is None or not (point.trough or point.censored):
            out.append(point)
            continue
        when, after = point.when, since
        taken = tuple(
            f"{d.name} ({d.effect})"
            if d.end_known
            else f"{d.name} ({d.effect}; from {_date(d.start)}, end not recorded)"
            for d in drugs
            # a drug with no end recorded: beside the first trough after its start only (after that, whether
            # it was still taken is not known, and repeating it on every row would drown the rest); one
            # started at the very instant of a trough is beside that trough, not the next one too
            if d.start <= when
            and (d.end >= after if d.end_known else d.start > after or (first and d.start == after))
        )
        out.append(replace(point, drugs_before=taken))
        since, first = when, False
    return tuple(out)


def _name(medication: MedicationUse) -> str:
    return next(iter(medication.names), medication.ref)


class StoryBuilder:
    """Builds a patient's level story from the record (one per knowledge, shared by every request)."""

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        self._knowledge = knowledge
        self._drugs = drugs
        self._levels = LevelFamily(knowledge, drugs)
        self._products = Formulations(knowledge)
        self._by_name = word_pattern(LEVEL_NAMES)
        self._effects = {
            drug: entry.effect
            for entry in knowledge.interactions.interactions.values()
            if entry.effect in LEVEL_EFFECTS
            for drug in (*entry.drugs, *entry.classes)
        }

    def story(self, record: PatientRecord) -> Story:
        end = record.now
        notes: list[str] = []
        tacrolimus = [
            m
            for m in record.medications
            if m.origin != "draft" and (i := self._drugs.identify(m)).tacrolimus and i.systemic
        ]
        observations = list(
            record.observations_coded(
                self._knowledge.observation_system,
                self._knowledge.observation_codes("tacrolimus-level"),
                or_named=self._by_name,
            )
        )
        evidence = [m.started for m in tacrolimus if m.started is not None]
        evidence += [o.effective for o in observations if o.effective is not None]
        first = min(evidence, default=None)
        start = max(end - WINDOW, first) if first is not None else end - WINDOW
        therapy = Therapy.of(record, self._drugs)
        found = indications(record, self._knowledge, therapy)
        applies = found[0] if found else None
        doses = self._doses(tacrolimus, start, end, notes)

        def at(moment: datetime) -> Band | None:
            return self._target_at(record, therapy, applies, moment, doses) if applies else None

        bands = self._bands(at, applies, start, end, notes)
        points = self._points(observations, start, end, at, doses, notes)
        drugs = self._drug_bars(record, start, end, notes)
        points = _with_drugs_before(points, drugs, start)
        ceiling = self._knowledge.dosing.general.ceiling
        story = Story(
            record.patient_id,
            start,
            end,
            points,
            bands,
            doses,
            drugs,
            (),
            tuple(notes),
            ceiling,
            record.patient.name if record.patient else "",
            record.patient.birth_date if record.patient else None,
            record.patient.gender if record.patient else "",
        )
        return replace(story, figures=self._figures(story))

    # levels

    def _points(
        self,
        observations: Iterable[Observation],
        start: datetime,
        end: datetime,
        at: Callable[[datetime], Band | None],
        doses: Sequence[DoseStep],
        notes: list[str],
    ) -> tuple[Point, ...]:
        points: list[Point] = []
        older = 0
        for observation in observations:
            moment = observation.effective
            if moment is not None and not start <= moment <= end:
                older += moment < start
                continue
            points.append(self._point(observation, at, doses))
        if older:
            notes.append(
                f"{older} older tacrolimus level{'s' if older > 1 else ''} before {_date(start)}: not shown."
            )
        dated = sorted((p for p in points if p.when is not None), key=lambda p: p.when or start)
        return (*dated, *(p for p in points if p.when is None))

    def _point(
        self, observation: Observation, at: Callable[[datetime], Band | None], doses: Sequence[DoseStep]
    ) -> Point:
        moment = observation.effective
        quantity = observation.quantity
        note = observation.note
        if quantity is None:
            said = observation.value_text or next(iter(observation.value_concept.names), "")
            return Point(moment, said or "no value", None, "unknown", "no numeric value", note=note)
        # read() gives a level whenever there is a quantity, as here
        level = cast(Level, self._levels.read(observation))
        kind = level.not_trough or ("preliminary" if observation.status == "preliminary" else "trough")
        if level.value is None:
            why = "unit not converted (ng/mL, ug/L, nmol/L are)"
            return Point(moment, level.shown, None, kind, why, note=note)
        if moment is None:
            return Point(moment, level.shown, None, kind, "no date", note=note)
        placed = (at(moment), _dose_at(moment, doses)) if kind == "trough" else (None, None)
        if quantity.comparator:
            why = "a bound, not a measured value: drawn at its bound, not in the CV or the C/D"
            return Point(
                moment, level.shown, None, kind, why, *placed, note, level.value, quantity.comparator
            )
        return Point(moment, level.shown, level.value, kind, "", *placed, note)

    # target bands

    def _target_at(
        self,
        record: PatientRecord,
        therapy: Therapy,
        applies: Indication,
        moment: datetime,
        doses: Sequence[DoseStep],
    ) -> Band | None:
        """The target the level card would use at `moment` (a band of no length): the site protocol or the
        label's or monograph's range by months since the transplant and the product in force; for colitis
        the initial target for the first 14 days of tacrolimus (when its start is known), then maintenance."""
        if applies.since is None:
            return None
        if applies.key == UC:
            uc = self._knowledge.dosing.uc
            day = applies.days(moment)
            if day is None or (day < uc.acute_phase_days and not applies.exact):
                return None  # tacrolimus began on or before `since`: the phase is not known
            if day < uc.acute_phase_days:
                basis = f"colitis initial target, days 0 to {uc.acute_phase_days - 1} on tacrolimus"
                (low, high) = uc.initial
                return Band(moment, moment, low, high, basis, "uc-summary")
            basis = f"colitis maintenance target, from day {uc.acute_phase_days} on tacrolimus"
            (low, high) = uc.maintenance
            return Band(moment, moment, low, high, basis, "uc-summary")
        step = _dose_at(moment, doses)
        kind = step.kind if step is not None else "any"
        chosen = target(applies, self._knowledge.dosing, replace(record, now=moment), therapy, kind)
        if chosen is None:
            return None
        return Band(moment, moment, chosen.low, chosen.high, chosen.basis, chosen.source)

    def _bands(
        self,
        at: Callable[[datetime], Band | None],
        applies: Indication | None,
        start: datetime,
        end: datetime,
        notes: list[str],
    ) -> tuple[Band, ...]:
        """The target in force, day by day from the window's start, merged while it is the same range on the
        same basis."""
        if applies is None:
            notes.append("No transplant or colitis on record: no target band is drawn.")
            return ()
        if applies.since is None:
            notes.append(f"{applies.display} has no date: the target by time since it cannot be drawn.")
            return ()
        bands: list[Band] = []
        day = start
        while day < end:
            until = min(day + timedelta(days=1), end)
            found = at(day)
            last = bands[-1] if bands else None
            if found is not None:
                if last is not None and last.end == day and _same(last, found):
                    bands[-1] = replace(last, end=until)
                else:
                    bands.append(replace(found, start=day, end=until))
            day = until
        if applies.key == UC and not applies.exact:
            notes.append(
                f"Tacrolimus began on or before {_date(applies.since)} (no start on record): the colitis"
                " phase, and so the target, is not known for its first 14 days."
            )
        if not bands:
            notes.append(f"No {applies.display} target is known for these dates: no band is drawn.")
        return tuple(bands)

    # doses

    def _doses(
        self, tacrolimus: Sequence[MedicationUse], start: datetime, end: datetime, notes: list[str]
    ) -> tuple[DoseStep, ...]:
        dated = sorted((m for m in tacrolimus if m.started is not None), key=lambda m: m.started or end)
        undated = len(tacrolimus) - len(dated)
        if undated:
            notes.append(
                f"{undated} tacrolimus record{'s' if undated > 1 else ''} with no date:"
                " not in the dose steps."
            )
        spans: list[tuple[datetime, datetime, MedicationUse]] = []
        for i, medication in enumerate(dated):
            begun = medication.started
            assert begun is not None
            until = _end(medication)
            if until is None and medication.current:
                until = end
            if until is None:
                later = [m.started for m in dated[i + 1 :] if m.started is not None and m.started > begun]
                until = later[0] if later else None
                if until is None:
                    notes.append(
                        f"{_name(medication)} from {_date(begun)} ({medication.status}) has no end date:"
                        " not in the dose steps."
                    )
                    continue
            until = min(until, end)
            if until > begun and until > start:
                spans.append((max(begun, start), until, medication))
        edges = sorted({moment for s, e, _ in spans for moment in (s, e)})
        steps: list[DoseStep] = []
        for left, right in itertools.pairwise(edges):
            active = [m for s, e, m in spans if s <= left < e]
            if not active:
                continue
            step = self._step(left, right, active)
            last = steps[-1] if steps else None
            if (
                last is not None
                and last.end == left
                and (last.daily_mg, last.shown, last.formulation)
                == (step.daily_mg, step.shown, step.formulation)
            ):
                steps[-1] = replace(last, end=right)
                continue
            changed = last is not None and last.end == left and last.formulation != step.formulation
            steps.append(replace(step, formulation_changed=changed))
        return tuple(steps)

    def _step(self, left: datetime, right: datetime, active: Sequence[MedicationUse]) -> DoseStep:
        total: float | None = 0.0
        shown: list[str] = []
        kinds: list[str] = []
        shorts: list[str] = []
        keys: set[str] = set()
        for medication in active:
            kind = self._products.kind(medication)
            keys.add(kind)
            entry = self._products.entry(kind)
            display = (
                entry.display if entry is not None and kind != UNKNOWN else "tacrolimus (product not known)"
            )
            if display not in kinds:
                kinds.append(display)
                shorts.append(entry.short if entry is not None and kind != UNKNOWN else "product not known")
            ordered = self._products.ordered(medication, kind)
            if ordered is None or ordered.daily_mg is None:
                total = None
                text = medication.dose.text if medication.dose is not None else ""
                shown.append(f"{_name(medication)}: dose not readable{f' ({text})' if text else ''}")
            else:
                if total is not None:
                    total += ordered.daily_mg
                shown.append(ordered.shown)
        infusion = INTRAVENOUS in keys
        kind = keys.pop() if len(keys) == 1 else "any"
        daily = None if total is None else round(total, 9)  # float noise only: 62.5 µg a day is 0.0625
        return DoseStep(
            left,
            right,
            daily,
            "; ".join(shown),
            " + ".join(kinds),
            "any" if kind == UNKNOWN else kind,
            " + ".join(shorts),
            infusion=infusion,
        )

    # interacting drugs

    def _drug_bars(
        self, record: PatientRecord, start: datetime, end: datetime, notes: list[str]
    ) -> tuple[DrugBar, ...]:
        found: dict[tuple[str, Effect], list[tuple[datetime, datetime, bool, str]]] = {}
        for medication in record.medications:
            if medication.origin == "draft":
                continue
            ident = self._drugs.identify(medication)
            if not ident.systemic:
                continue
            effects = {self._effects[d] for d in ident.ingredients | ident.classes if d in self._effects}
            if not effects:
                continue
            begun = medication.started
            if begun is None:
                notes.append(f"{_name(medication)} has no date: no bar is drawn for it.")
                continue
            until = _end(medication)
            known = until is not None or medication.current
            until = min(until or end, end)
            if until < start:
                continue
            for effect in sorted(effects):
                key = (_name(medication).lower(), effect)
                found.setdefault(key, []).append((max(begun, start), until, known, _name(medication)))
        bars = []
        for (_, effect), spans in found.items():
            first = min(s for s, _, _, _ in spans)
            last = max(spans, key=lambda s: s[1])
            bars.append(DrugBar(spans[0][3], effect, first, last[1], last[2]))
            if not last[2]:
                notes.append(
                    f"{spans[0][3]} has no end date and is no longer current: drawn hatched from its start to"
                    " the window's end, as when it stopped is not known."
                )
        return tuple(sorted(bars, key=lambda b: (b.start, b.name)))

    # figures

    def _figures(self, story: Story) -> tuple[Figure, ...]:
        troughs = story.troughs
        dated = [t.when for t in troughs if t.when is not None]
        window = f"{_date(min(dated))} to {_date(max(dated))}" if dated else "none"
        rests_on = f"troughs from {window}, n = {len(troughs)}"
        ratios = [t for t in troughs if t.ratio is not None]
        ratio = Figure(
            "Concentration/dose ratio (C/D)",
            f"{ratios[-1].ratio:.2f} ng/mL per mg/day (latest)" if ratios else None,
            CD_DEFINITION,
            f"{len(ratios)} of {len(troughs)} troughs with a readable oral dose",
            "" if ratios else "No trough with a readable oral dose in force: no ratio.",
            "gandolfini-2022-nonadherence",
        )
        if len(troughs) < MIN_TROUGHS:
            few = f"Fewer than {MIN_TROUGHS} troughs ({len(troughs)}): no figure."
            return (
                ratio,
                Figure("Coefficient of variation (CV)", None, CV_DEFINITION, rests_on, few, CV_SOURCE),
                Figure("Troughs within the band", None, SHARE_DEFINITION, rests_on, few),
            )
        judged = [t for t in troughs if t.within is not None]
        bounds = [p for p in story.points if p.censored and p.band is not None]
        outside = [p for p in bounds if p.within is False]
        within = sum(1 for t in judged if t.within)
        counted = len(judged) + len(outside)
        notes: list[str] = []
        if outside:
            notes.append(
                f"{len(outside)} given as a bound ({_listed(outside)}) counted as outside: the whole of its"
                " range is outside the band"
            )
        unknown = [p for p in bounds if p.within is None]
        if unknown:
            notes.append(
                f"{len(unknown)} given as a bound ({_listed(unknown)}) not counted: it reaches into the band"
            )
        note = "; ".join(notes) + "." if notes else ""
        share = Figure(
            "Troughs within the band",
            f"{within} of {counted} ({within / counted * 100:.0f} %)" if counted else None,
            SHARE_DEFINITION,
            f"{rests_on}; {len(judged)} with a band in force",
            note if counted else "No band in force at any trough: no share.",
        )
        return ratio, self._cv(story, troughs), share

    @staticmethod
    def _cv(story: Story, troughs: Sequence[Point]) -> Figure:
        """The CV of the latest run of troughs drawn at one unchanged daily dose and formulation (a CV is
        reliable only while the dose is unchanged): a trough with no readable dose ends the run."""
        run: list[Point] = []
        for trough in reversed(troughs):
            dose = trough.dose
            if dose is None or dose.daily_mg is None:
                break
            held = run[0].dose if run else None
            if held is not None and (held.daily_mg, held.formulation) != (dose.daily_mg, dose.formulation):
                break
            run.append(trough)
        run.reverse()
        if len(run) < MIN_TROUGHS:
            why = (
                f"Fewer than {MIN_TROUGHS} troughs at one unchanged daily dose and formulation (the latest"
                f" {len(run)}): no figure."
            )
            return Figure("Coefficient of variation (CV)", None, CV_DEFINITION, "", why, CV_SOURCE)
        values = [t.value for t in run if t.value is not None]
        cv = statistics.stdev(values) / statistics.mean(values) * 100
        first, last, dose = run[0].when, run[-1].when, run[0].dose
        assert first is not None
        assert last is not None
        assert dose is not None
        rests_on = (
            f"the troughs at {dose.daily_mg:g} mg/day ({dose.formulation}), {_date(first)} to {_date(last)},"
            f" n = {len(run)}"
        )
        between = [b for b in story.drugs if b.start <= last and b.end >= first]
        taken = [f"{b.name} ({b.effect} levels)" for b in between if b.end_known]
        if taken:
            why = (
                f"Taken between these troughs: {'; '.join(taken)}. The level changes with it, as with a dose"
                " change: no figure."
            )
            return Figure("Coefficient of variation (CV)", None, CV_DEFINITION, rests_on, why, CV_SOURCE)
        notes = [
            f"{b.name} ({b.effect} levels) from {_date(b.start)} has no end on record: it may have been taken"
            " between them"
            for b in between
        ]
        bounds = [p for p in story.points if p.censored and p.when is not None and first <= p.when <= last]
        if bounds:
            notes.append(f"not in it: {_listed(bounds)}, given as a bound")
        note = "; ".join(notes) + "." if notes else ""
        note = note[:1].upper() + note[1:]
        return Figure(
            "Coefficient of variation (CV)", f"{cv:.1f} %", CV_DEFINITION, rests_on, note, CV_SOURCE
        )


CD_DEFINITION = (
    "Each trough divided by the total daily dose of tacrolimus in force when it was drawn, in ng/mL per"
    " mg/day (oral doses only); the source measures it at steady state, which a trough soon after a dose or"
    " formulation change may not be. Each trough's ratio is in the table."
)
CV_DEFINITION = (
    "The standard deviation of the troughs divided by their mean, times 100 (sample standard deviation;"
    " not time-weighted), over the latest troughs drawn at one unchanged daily dose and formulation: the"
    " sources measure variability only while the dose is unchanged."
)
CV_SOURCE = "gandolfini-2022-nonadherence"
SHARE_DEFINITION = (
    "The troughs within the target band in force at their date, edges included. A trough given as a bound"
    " (<2 ng/mL) counts as outside when the whole of its range is outside the band, and is not counted when"
    " it reaches into it."
)
