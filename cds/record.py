"""The patient record: one read-only view of the resolved data, built once per hook request.

Built from plain JSON (orjson output), not from fhir.resources models: real payloads are not strictly
valid R4 (DSTU2 ``MedicationOrder``, ``category`` as an object, ``intent`` missing, extensions), and full
validation would cost far more than the cards do. Only what card families read is extracted, and
observations (the bulk of a chart) only when a card family asks for them: the builder indexes them by
code, and each is read into an ``Observation`` the first time a lookup returns it. A resource that cannot
be read is skipped and named in ``skipped``; it never fails the request.
"""

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any, Literal, overload

from cds.fhirjson import (
    EMPTY_CONCEPT,
    Code,
    Concept,
    coding_keys,
    concept,
    first_when,
    number,
    obj,
    objs,
    reference,
    status_code,
    text,
    when,
)

MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationOrder", "MedicationStatement"})
INACTIVE_MEDICATION = frozenset(
    {"stopped", "completed", "cancelled", "entered-in-error", "not-taken", "revoked", "superseded"}
)
Origin = Literal["order", "statement", "draft"]
# The caller's FHIR version, as far as the resources it sends show it: DSTU2 has MedicationOrder and no
# MedicationRequest (the sandbox's default server is DSTU2). With no evidence, or contradictory evidence,
# R4: the version CDS Hooks 2.0 is built on.
FHIRVersion = Literal["R4", "DSTU2"]
DSTU2_ONLY = frozenset({"MedicationOrder", "DiagnosticOrder", "DeviceUseRequest", "Order", "OrderResponse"})
NOT_DSTU2 = frozenset({"MedicationRequest", "ServiceRequest"})
INVALID_RESULT = frozenset({"entered-in-error", "cancelled"})
CURRENT_CONDITION = frozenset({"active", "recurrence", "relapse"})
ENDED_CONDITION = frozenset({"inactive", "resolved", "remission"})
REPLACING_RESULT = frozenset({"corrected", "amended"})
EFFECTIVE = ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued")


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    unit: str  # as written, or its (UCUM) code when it has no unit text
    comparator: str = ""  # "<", "<=", ">=", ">" or "ad": the value is a bound, not a measurement


# HL7 v3 GTSAbbreviation timing codes as EHRs send them in Timing.code: administrations per day.
TIMING_CODES = {"QD": 1.0, "QAM": 1.0, "QPM": 1.0, "QHS": 1.0, "Q24H": 1.0, "BID": 2.0, "Q12H": 2.0,
                "TID": 3.0, "Q8H": 3.0, "QID": 4.0, "Q6H": 4.0}  # fmt: skip
PERIOD_DAYS = {"d": 1.0, "h": 1 / 24, "wk": 7.0, "min": 1 / 1440, "s": 1 / 86400}


@dataclass(frozen=True, slots=True)
class Dose:
    """The first dosage instruction: amount per administration, how often, and the infusion rate."""

    quantity: Quantity | None
    frequency: float | None
    period: float | None
    period_unit: str
    text: str
    timing_code: str = ""
    rate: Quantity | None = None  # doseAndRate.rateQuantity (an infusion)

    @property
    def per_day(self) -> float | None:
        """Administrations per day, from the repeat (frequency per period) or the timing code."""
        if self.frequency is not None and self.period and self.period_unit in PERIOD_DAYS:
            return self.frequency / (self.period * PERIOD_DAYS[self.period_unit])
        return TIMING_CODES.get(self.timing_code.upper())


@dataclass(frozen=True, slots=True)
class Patient:
    id: str
    birth_date: date | None
    gender: str
    name: str = ""  # the official (else usual, else first) name as written: text, else given and family

    def age_years(self, on: datetime) -> int | None:
        if self.birth_date is None:
            return None
        born = self.birth_date
        today = on.date()
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class MedicationUse:
    """A medication the patient takes or is being ordered: a request, a statement or a draft order.
    The dose is read from the first dosage instruction when first asked for (few medications need it)."""

    ref: str
    origin: Origin
    status: str
    intent: str
    medication: Concept
    ingredients: tuple[Concept, ...]
    form: Concept
    route: Concept
    selected: bool
    identified: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @cached_property
    def started(self) -> datetime | None:
        """The earliest date this record shows it in use or ordered (read when first asked for)."""
        return _earliest(self.raw)

    @property
    def renewal(self) -> bool:
        """It names an earlier order (priorPrescription): it started before `started`."""
        return bool(self.raw.get("priorPrescription"))

    @cached_property
    def dose(self) -> Dose | None:
        dosages = objs(self.raw.get("dosageInstruction")) or objs(self.raw.get("dosage"))
        return _dose(dosages[0]) if dosages else None

    @property
    def current(self) -> bool:
        """False for stopped, completed, cancelled, entered-in-error and similar statuses."""
        return self.status not in INACTIVE_MEDICATION

    @property
    def codings(self) -> tuple[Code, ...]:
        return self.medication.codings + tuple(c for i in self.ingredients for c in i.codings)

    @property
    def names(self) -> tuple[str, ...]:
        return self.medication.names + tuple(n for i in self.ingredients for n in i.names)


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition is current when its clinical status says so (active, recurrence, relapse) or, with no
    clinical status, when nothing says it ended (no abatement, or one still in the future); never when
    its verification is refuted or entered-in-error."""

    ref: str
    code: Concept
    clinical_status: str
    verification_status: str
    onset: datetime | None
    recorded: datetime | None
    abated: bool = False  # something says it ended (an abatement in the past, a string, age or true)

    @property
    def active(self) -> bool:
        if self.verification_status in ("refuted", "entered-in-error"):
            return False
        if self.clinical_status in CURRENT_CONDITION:
            return True
        if self.clinical_status in ENDED_CONDITION:
            return False
        return not self.abated


@dataclass(frozen=True, slots=True)
class Component:
    """A component's code and its coded or text value (a CYP3A5 result); no card reads a numeric one."""

    code: Concept
    value_concept: Concept
    value_text: str


@dataclass(frozen=True, slots=True)
class Observation:
    ref: str
    code: Concept
    status: str
    effective: datetime | None
    quantity: Quantity | None
    value_concept: Concept
    value_text: str
    components: tuple[Component, ...]
    interpretation: Concept = EMPTY_CONCEPT  # the laboratory's flags (all entries' codings together)
    reference_low: Quantity | None = None  # the first referenceRange
    reference_high: Quantity | None = None
    note: str = ""  # the notes' text, joined

    @property
    def valid(self) -> bool:
        return self.status not in INVALID_RESULT


@dataclass(frozen=True, slots=True)
class Immunization:
    ref: str
    vaccine: Concept
    status: str
    date: datetime | None
    draft: bool
    selected: bool

    @property
    def given(self) -> bool:
        return not self.draft and self.status not in ("entered-in-error", "not-done")


@dataclass(frozen=True, slots=True)
class ServiceOrder:
    """A ServiceRequest (R4) or ProcedureRequest (DSTU2/STU3) order."""

    ref: str
    code: Concept
    status: str
    draft: bool
    selected: bool
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Allergy:
    ref: str
    substance: Concept
    reactions: tuple[Concept, ...]  # each reaction's substance, where it names one
    clinical_status: str
    verification_status: str
    criticality: str
    kind: str = ""  # `type`: allergy or intolerance ('' when not said)
    manifestations: tuple[Concept, ...] = ()  # every reaction's manifestations

    @property
    def active(self) -> bool:
        # DSTU2 puts refuted and entered-in-error into the one `status` field.
        return self.clinical_status not in ("inactive", "resolved", "refuted", "entered-in-error") and (
            self.verification_status not in ("refuted", "entered-in-error")
        )


@dataclass(frozen=True, slots=True)
class PatientRecord:
    hook: str
    now: datetime
    patient_id: str
    patient: Patient | None
    medications: tuple[MedicationUse, ...]
    conditions: tuple[Condition, ...]
    immunizations: tuple[Immunization, ...]
    allergies: tuple[Allergy, ...]
    service_orders: tuple[ServiceOrder, ...]
    skipped: tuple[str, ...]
    unidentified: tuple[str, ...]
    _observations: "ObservationIndex" = field(repr=False, compare=False)
    fhir_version: FHIRVersion = "R4"  # what suggested resources must be written in
    # what card families derive from the record once and share (e.g. the medications identified)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def current_medications(self) -> tuple[MedicationUse, ...]:
        return tuple(m for m in self.medications if m.current)

    @property
    def observations(self) -> tuple[Observation, ...]:
        """Every observation, in the order received. Reads them all: prefer the lookups below."""
        return self._observations.all()

    def observations_coded(
        self, system: str, codes: Iterable[str], *, or_named: re.Pattern[str] | None = None
    ) -> Sequence[Observation]:
        """Valid observations with any of the codes, newest first, undated last. With `or_named`, also
        those with no coding in `system` whose text or a coding's display matches it (searched in lower
        case): results an EHR codes only locally but names plainly. One coded in `system` with another
        code is another test (a 2-hour post-dose level is not a trough), whatever its name says. Each is
        read when the caller reaches it: take what you need."""
        return self._observations.select(system, codes, or_named)


class _Skip(Exception):
    """A resource that cannot be used; the message says why."""


def medication_key(ref: str) -> str:
    """'Medication/abc' for a relative or absolute reference to a Medication; the input otherwise."""
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Medication":
        return f"Medication/{parts[-1]}"
    return ref


def medication_reference(resource: Mapping[str, Any]) -> str:
    """The medicationReference of a medication resource (R4 and DSTU2 spell it the same), or ''."""
    return reference(resource.get("medicationReference"))


def identifying_parts(resource: Mapping[str, Any]) -> tuple[object, ...]:
    """The parts of a medication order, statement or draft that a ``MedicationUse`` is identified from
    (its medication, its contained resources, its medicationReference), besides the Medication resource
    the reference names: what a relevance test (``cds.service.Relevance``) must see."""
    return (
        resource.get("medicationCodeableConcept"),
        resource.get("contained"),
        resource.get("medicationReference"),
    )


def unresolved(resource: Mapping[str, Any], index: Mapping[str, Mapping[str, Any]]) -> bool:
    """The builder's rule for a medication it reports as unidentified: no medication of its own, and a
    medicationReference that neither `contained` nor the index resolves."""
    if not medication_reference(resource):
        return False
    medication = concept(resource.get("medicationCodeableConcept"))
    return not medication.codings and not medication.text and not find_medication(resource, index)


def find_medication(resource: Mapping[str, Any], index: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Resolve medicationReference: first `contained`, then the index of Medications we hold."""
    ref = medication_reference(resource)
    if not ref:
        return {}
    if ref.startswith("#"):
        for contained in objs(resource.get("contained")):
            if contained.get("resourceType") == "Medication" and contained.get("id") == ref[1:]:
                return contained
        return {}
    found = index.get(ref) or index.get(medication_key(ref))
    return dict(found) if found else {}


class RecordBuilder:
    """Turns resources into a PatientRecord. Use once per request."""

    def __init__(
        self,
        *,
        hook: str,
        now: datetime,
        patient_id: str,
        selections: Iterable[str] = (),
        medication_index: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._hook = hook
        self._now = now
        self._patient_id = patient_id
        self._selections = frozenset(selections)
        self._index = medication_index or {}
        self._seen: set[str] = set()
        self._patient: Patient | None = None
        self._medications: list[MedicationUse] = []
        self._conditions: list[Condition] = []
        self._observations = ObservationIndex()
        self._immunizations: list[Immunization] = []
        self._allergies: list[Allergy] = []
        self._orders: list[ServiceOrder] = []
        self._skipped: list[str] = []
        self._unidentified: list[str] = []
        self._kinds: set[str] = set()

    def add(self, resources: Iterable[object], *, where: str, draft: bool = False) -> None:
        for position, resource in enumerate(resources):
            if not isinstance(resource, dict) or not isinstance(kind := resource.get("resourceType"), str):
                self._skipped.append(f"{where}: entry {position} is not a FHIR resource")
                continue
            self._kinds.add(kind)
            rid = text(resource.get("id"))
            ref = f"{kind}/{rid}" if rid else f"{kind} (entry {position} of {where})"
            if rid:
                if ref in self._seen:
                    if kind == "Observation":  # a corrected or amended version replaces the original
                        self._observations.replace(ref, resource)
                    continue  # drafts are added first and win over the same order in prefetch
                self._seen.add(ref)
            try:
                self._add_one(kind, ref, resource, draft=draft)
            except _Skip as why:
                self._skipped.append(f"{ref}: {why}")
            except (TypeError, ValueError, AttributeError, KeyError):
                self._skipped.append(f"{ref}: could not be read")

    def _add_one(self, kind: str, ref: str, raw: dict[str, Any], *, draft: bool) -> None:
        if kind == "Observation":  # most of a chart: indexed now, read when asked for
            self._observations.add(ref, raw)
            return
        selected = ref in self._selections
        if kind in MEDICATION_TYPES:
            use = self._medication(kind, ref, raw, draft=draft, selected=selected)
            if use is not None:
                self._medications.append(use)
        elif kind == "Condition":
            self._conditions.append(_condition(ref, raw, self._now))
        elif kind == "Immunization":
            self._immunizations.append(
                Immunization(
                    ref=ref,
                    vaccine=concept(raw.get("vaccineCode")),
                    status="not-done" if raw.get("wasNotGiven") is True else status_code(raw.get("status")),
                    date=first_when(raw, "occurrenceDateTime", "date", "recorded"),
                    draft=draft,
                    selected=selected,
                )
            )
        elif kind == "AllergyIntolerance":
            self._allergies.append(_allergy(ref, raw))
        elif kind in ("ServiceRequest", "ProcedureRequest"):
            self._orders.append(
                ServiceOrder(
                    ref, concept(raw.get("code")), status_code(raw.get("status")), draft, selected, raw
                )
            )
        elif kind == "Patient":
            patient = Patient(
                id=text(raw.get("id")),
                birth_date=d.date() if (d := when(raw.get("birthDate"))) else None,
                gender=text(raw.get("gender")).lower(),
                name=_human_name(raw.get("name")),
            )
            if self._patient is None or patient.id == self._patient_id:
                self._patient = patient

    def _medication(
        self, kind: str, ref: str, raw: dict[str, Any], *, draft: bool, selected: bool
    ) -> MedicationUse | None:
        medication = concept(raw.get("medicationCodeableConcept"))
        ingredients: tuple[Concept, ...] = ()
        form = EMPTY_CONCEPT
        identified = True
        if not medication.codings and not medication.text:
            target = find_medication(raw, self._index)
            if target:
                medication = concept(target.get("code"))
                product = obj(target.get("product"))  # DSTU2 keeps form and ingredients here
                form = concept(target.get("form") or product.get("form"))
                ingredients = tuple(
                    found
                    for i in objs(target.get("ingredient") or product.get("ingredient"))
                    if (found := _ingredient(i)).codings or found.text
                )
            elif medication_reference(raw):
                identified = False
                display = text(obj(raw.get("medicationReference")).get("display"))
                medication = Concept.of((), display)
                self._unidentified.append(
                    f"{ref}: its Medication ({medication_reference(raw)}) could not be retrieved"
                )
            elif draft:
                return None  # an order still being written: no drug picked yet (sandbox Rx View)
            else:
                raise _Skip("names no medication")
        dosages = objs(raw.get("dosageInstruction")) or objs(raw.get("dosage"))
        first = dosages[0] if dosages else {}
        return MedicationUse(
            ref=ref,
            origin="draft" if draft else ("statement" if kind == "MedicationStatement" else "order"),
            status=status_code(raw.get("status")) or ("draft" if draft else ""),
            intent=status_code(raw.get("intent")),
            medication=medication,
            ingredients=ingredients,
            form=form,
            route=concept(first.get("route")),
            selected=selected,
            identified=identified,
            raw=raw,
        )

    def build(self) -> PatientRecord:
        return PatientRecord(
            hook=self._hook,
            now=self._now,
            patient_id=self._patient_id,
            patient=self._patient,
            medications=tuple(self._medications),
            conditions=tuple(self._conditions),
            immunizations=tuple(self._immunizations),
            allergies=tuple(self._allergies),
            service_orders=tuple(self._orders),
            skipped=tuple(self._skipped),
            unidentified=tuple(self._unidentified),
            _observations=self._observations,
            fhir_version="DSTU2" if self._kinds & DSTU2_ONLY and not self._kinds & NOT_DSTU2 else "R4",
        )


class ObservationIndex:
    """Observations by (system, code), each read into an ``Observation`` on first use.

    Adding one reads its code. A lookup reads the status and date of the observations it
    matches, to order them; the rest of each (values, components) is read only when the caller reaches it,
    so a card that wants the latest result reads one. Nothing else in a large chart is read."""

    __slots__ = ("_by_code", "_coded_in", "_codes", "_dates", "_positions", "_raws", "_read", "_selected")

    def __init__(self) -> None:
        self._raws: list[tuple[str, dict[str, Any]]] = []
        self._codes: list[Concept | None] = []  # None: not read yet
        self._read: list[Observation | None] = []
        self._dates: list[datetime | bool | None] = []  # False: not read yet
        self._by_code: dict[tuple[str, str], list[int]] = {}
        self._positions: dict[str, int] = {}  # ref -> position, for a corrected version
        # the positions a lookup found, for the next family that asks (e.g. the levels); positions, not
        # LazyObservations, which point back here: a cycle would keep the request alive until a full GC
        self._selected: dict[tuple[str, tuple[str, ...], re.Pattern[str] | None], list[int]] = {}
        self._coded_in: dict[str, set[int]] = {}  # system -> positions with a coding in it

    def add(self, ref: str, raw: dict[str, Any]) -> None:
        value = raw.get("code")
        keys = coding_keys(value)
        code: Concept | None = None  # read in full when first needed
        if keys is None:  # not the usual shape (a bare Coding, a string, an odd list): read it now
            code = concept(value)
            keys = [(c.system, c.code) for c in code.codings]
        if not keys:  # known by its text alone, or not at all
            code = code or concept(value)
            if not code.text:
                raise _Skip("has no code")
        position = len(self._raws)
        self._positions[ref] = position
        self._raws.append((ref, raw))
        self._codes.append(code)
        self._read.append(None)
        self._dates.append(False)
        for key in keys:
            self._by_code.setdefault(key, []).append(position)
            self._coded_in.setdefault(key[0], set()).add(position)

    def _code(self, position: int) -> Concept:
        code = self._codes[position]
        if code is None:
            code = self._codes[position] = concept(self._raws[position][1].get("code"))
        return code

    def replace(self, ref: str, raw: dict[str, Any]) -> None:
        """A second version of an observation already added replaces it when it says it corrects or amends
        it, or was updated later (meta.lastUpdated); its code is the original's (a correction fixes a
        value, not which test it was)."""
        position = self._positions.get(ref)
        if position is None:
            return
        old = self._raws[position][1]
        updated, before = (when(obj(r.get("meta")).get("lastUpdated")) for r in (raw, old))
        newer = updated is not None and (before is None or updated > before)
        if status_code(raw.get("status")) in REPLACING_RESULT or newer:
            self._code(position)  # the original's code, read before its raw is replaced
            self._raws[position] = (ref, raw)
            self._read[position] = None
            self._dates[position] = False

    def at(self, position: int) -> Observation:
        read = self._read[position]
        if read is None:
            ref, raw = self._raws[position]
            read = self._read[position] = _observation(ref, raw, self._code(position), self._date(position))
        return read

    def _date(self, position: int) -> datetime | None:
        found = self._dates[position]
        if found is False:
            found = self._dates[position] = first_when(self._raws[position][1], *EFFECTIVE)
        return found if isinstance(found, datetime) else None

    def _newest_first(self, position: int) -> tuple[int, float]:
        effective = self._date(position)
        return (1, 0.0) if effective is None else (0, -effective.timestamp())

    def all(self) -> tuple[Observation, ...]:
        return tuple(self.at(p) for p in range(len(self._raws)))

    def select(self, system: str, codes: Iterable[str], named: re.Pattern[str] | None) -> "LazyObservations":
        key = (system, tuple(codes), named)
        found = self._selected.get(key)
        if found is None:
            found = self._selected[key] = self._select(*key)
        return LazyObservations(self, found)

    def _select(self, system: str, codes: tuple[str, ...], named: re.Pattern[str] | None) -> list[int]:
        positions = {p for c in codes for p in self._by_code.get((system, c), ())}
        if named is not None:  # only observations the system does not code: the others are known by code
            coded = self._coded_in.get(system, set())
            if len(coded) < len(self._codes):  # some are not coded in it (usually none are)
                positions.update(
                    p
                    for p in range(len(self._codes))
                    if p not in coded and named.search(" ".join(self._code(p).names).lower())
                )
        valid = sorted(
            p for p in positions if status_code(self._raws[p][1].get("status")) not in INVALID_RESULT
        )
        valid.sort(key=self._newest_first)
        return valid


class LazyObservations(Sequence[Observation]):
    """Observations in a fixed order, each read when first reached."""

    __slots__ = ("_index", "_positions")

    def __init__(self, index: ObservationIndex, positions: list[int]) -> None:
        self._index = index
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, item: int) -> Observation: ...
    @overload
    def __getitem__(self, item: slice) -> Sequence[Observation]: ...
    def __getitem__(self, item: int | slice) -> Observation | Sequence[Observation]:
        if isinstance(item, slice):
            return LazyObservations(self._index, self._positions[item])
        return self._index.at(self._positions[item])

    def __iter__(self) -> Iterator[Observation]:
        return (self._index.at(p) for p in self._positions)


def _quantity(value: object) -> Quantity | None:
    raw = obj(value)
    amount = number(raw.get("value"))
    if amount is None:
        return None
    unit = text(raw.get("unit")) or text(raw.get("code"))
    return Quantity(amount, unit, text(raw.get("comparator")))


MEDICATION_DATES = ("authoredOn", "dateWritten", "effectiveDateTime", "effectivePeriod")


def _earliest(raw: Mapping[str, Any]) -> datetime | None:
    """The earliest date a medication record shows it in use or ordered: when it was written, its effective
    period's start, or the dispense validity period's start. Not `dateAsserted`: an imported list's
    assertion date says when it was recorded, not when it started."""
    dates = [d for name in MEDICATION_DATES if (d := first_when(raw, name)) is not None]
    validity = obj(obj(raw.get("dispenseRequest")).get("validityPeriod")).get("start")
    if (valid_from := when(validity)) is not None:
        dates.append(valid_from)
    return min(dates) if dates else None


def _dose(dosage: dict[str, Any]) -> Dose:
    dose_and_rate = objs(dosage.get("doseAndRate"))
    quantity = _quantity(dose_and_rate[0].get("doseQuantity")) if dose_and_rate else None
    if quantity is None:
        quantity = _quantity(dosage.get("doseQuantity")) or _quantity(dosage.get("quantityQuantity"))
    rate = _quantity(dose_and_rate[0].get("rateQuantity")) if dose_and_rate else None
    timing = obj(dosage.get("timing"))
    repeat = obj(timing.get("repeat"))
    timing_code = next((c.code for c in concept(timing.get("code")).codings if c.code), "")
    return Dose(
        quantity=quantity,
        frequency=number(repeat.get("frequency")),
        period=number(repeat.get("period")),
        period_unit=text(repeat.get("periodUnit") or repeat.get("periodUnits")),
        text=text(dosage.get("text")),
        timing_code=timing_code,
        rate=rate or _quantity(dosage.get("rateQuantity")),
    )


def _interpretation(value: object) -> Concept:
    """R4 sends a list of CodeableConcepts, DSTU2 one: all their codings and texts as one Concept."""
    read = [concept(v) for v in objs(value)]
    if not read:
        return EMPTY_CONCEPT
    if len(read) == 1:
        return read[0]
    return Concept.of(tuple(c for r in read for c in r.codings), " ".join(r.text for r in read if r.text))


def _observation(ref: str, raw: dict[str, Any], code: Concept, effective: datetime | None) -> Observation:
    ranges = objs(raw.get("referenceRange"))
    first_range = ranges[0] if ranges else {}
    return Observation(
        ref=ref,
        code=code,
        status=status_code(raw.get("status")),
        effective=effective,
        quantity=_quantity(raw.get("valueQuantity")),
        value_concept=concept(raw.get("valueCodeableConcept")),
        value_text=text(raw.get("valueString")),
        components=tuple(
            Component(
                code=concept(c.get("code")),
                value_concept=concept(c.get("valueCodeableConcept")),
                value_text=text(c.get("valueString")),
            )
            for c in objs(raw.get("component"))
        ),
        interpretation=_interpretation(raw.get("interpretation")),
        reference_low=_quantity(first_range.get("low")),
        reference_high=_quantity(first_range.get("high")),
        note=" ".join(t for n in objs(raw.get("note")) if (t := text(n.get("text")))),
    )


def _condition(ref: str, raw: dict[str, Any], now: datetime) -> Condition:
    code = concept(raw.get("code"))
    if not code.codings and not code.text:
        raise _Skip("has no code")
    return Condition(
        ref=ref,
        code=code,
        clinical_status=status_code(raw.get("clinicalStatus")),
        verification_status=status_code(raw.get("verificationStatus")),
        onset=first_when(raw, "onsetDateTime", "onsetPeriod"),
        recorded=first_when(raw, "recordedDate", "dateRecorded"),
        abated=_abated(raw, now),
    )


def _ingredient(raw: dict[str, Any]) -> Concept:
    """A Medication's ingredient: R4 names it by a CodeableConcept (itemCodeableConcept) or a Reference to
    a Substance or Medication (itemReference), DSTU2 by a Reference (item); a reference by its display."""
    if raw.get("itemCodeableConcept"):
        return concept(raw.get("itemCodeableConcept"))
    display = text(obj(raw.get("itemReference") or raw.get("item")).get("display"))
    return Concept.of((), display) if display else EMPTY_CONCEPT


def _abated(raw: dict[str, Any], now: datetime) -> bool:
    """Whether something says the condition ended: its abatement date, or its Period's end (else its start:
    abating since then), at or before now (one in the future is not an end yet); abatementString,
    abatementAge, abatementRange and abatementBoolean true."""
    period = obj(raw.get("abatementPeriod"))
    date = when(raw.get("abatementDateTime")) or when(period.get("end")) or when(period.get("start"))
    if date is not None:
        return date <= now
    if raw.get("abatementBoolean") is True or text(raw.get("abatementString")):
        return True
    return bool(raw.get("abatementAge") or raw.get("abatementRange"))


def _allergy(ref: str, raw: dict[str, Any]) -> Allergy:
    substance = concept(raw.get("code") or raw.get("substance"))
    reactions = tuple(concept(r.get("substance")) for r in objs(raw.get("reaction")) if r.get("substance"))
    if not substance.codings and not substance.text and not reactions:
        raise _Skip("names no substance")
    clinical = status_code(raw.get("clinicalStatus")) or status_code(raw.get("status"))
    return Allergy(
        ref=ref,
        substance=substance,
        reactions=reactions,
        clinical_status=clinical,
        verification_status=status_code(raw.get("verificationStatus")),
        criticality=text(raw.get("criticality")).lower(),
        kind=status_code(raw.get("type")),
        manifestations=tuple(
            concept(m) for r in objs(raw.get("reaction")) for m in objs(r.get("manifestation"))
        ),
    )


def _strings(value: object) -> list[str]:
    """A string or a list of strings (a HumanName's given names; DSTU2's family is a list)."""
    items = value if isinstance(value, list) else [value]
    return [v.strip() for v in items if isinstance(v, str) and v.strip()]


def _human_name(value: object) -> str:
    """A Patient's name as written: the official one, else the usual, else the first; its text, else its
    given names and family name (DSTU2 writes family as a list)."""
    names = [n for n in value if isinstance(n, dict)] if isinstance(value, list) else []
    chosen = next(
        (n for use in ("official", "usual") for n in names if n.get("use") == use),
        names[0] if names else None,
    )
    if chosen is None:
        return ""
    if said := text(chosen.get("text")):
        return said
    return " ".join([*_strings(chosen.get("given")), *_strings(chosen.get("family"))])
