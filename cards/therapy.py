"""The patient's tacrolimus therapy as the card families see it: what is current, what is being ordered."""

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import orjson

from cards.drugs import DrugIdentifier, Identified
from cards.knowledge import Knowledge
from cards.text import CardMaker, word_pattern
from cds.clock import days_since
from cds.fhirjson import when
from cds.models import Action, Suggestion
from cds.models.card import Indicator
from cds.record import FHIRVersion, MedicationUse, PatientRecord
from cds.resources import checked

# one step quieter: an established combination, a topical product already in use
QUIETER: dict[Indicator, Indicator | None] = {"critical": "warning", "warning": "info", "info": None}

ALL_HOOKS = frozenset({"patient-view", "order-select", "order-sign"})
ORDER_HOOKS = frozenset({"order-select", "order-sign"})


class Family:
    """The base of the card families: the knowledge, the drug identifier and a card maker."""

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        self._knowledge = knowledge
        self._drugs = drugs
        self._maker = CardMaker(knowledge)


@dataclass(frozen=True, slots=True)
class Start:
    """When the patient's use of a drug began, as far as the record shows.

    The earliest evidence is the earliest date any current order or statement of the same drug carries
    (written, effective, or valid from; never an imported list's assertion date). A renewal (an order that
    names an earlier one) is not a start: its date only says the drug began before it (`exact` False).
    A statement with no date of use but an assertion date (`dateAsserted`) says only that the drug was
    started by then: the earliest such date is kept as an upper bound (`asserted`), never as a start."""

    when: datetime | None  # the earliest evidence; None when no current record of it is dated
    exact: bool  # the earliest evidence is a start, not a renewal's date (the start was before it)
    new: bool  # only a draft orders it: it starts now
    asserted: datetime | None = None  # the earliest assertion date of its undated records: started by then

    def after(self, moment: datetime) -> bool:
        """Known to have started after the moment (and no undated record was asserted by then)."""
        return (
            self.when is not None
            and self.exact
            and self.when > moment
            and (self.asserted is None or self.asserted > moment)
        )

    def before(self, moment: datetime) -> bool:
        """Known to have started before the moment: a start or a renewal dated before it, or an undated
        record asserted before it (it was started by its assertion date)."""
        return (self.when is not None and self.when < moment) or (
            self.asserted is not None and self.asserted < moment
        )

    def recorded_after(self, moment: datetime) -> bool:
        """Not known before the moment, and first asserted after it: the record does not show it in use
        then (an undated statement added since; its start may be before or after the moment)."""
        return not self.before(moment) and self.asserted is not None and self.asserted > moment


@dataclass(frozen=True, slots=True)
class Therapy:
    """Current medications with what they are, and the tacrolimus among them, split by form."""

    hook: str  # not the record: the record keeps the therapy, and a cycle would outlive the request
    current: tuple[tuple[MedicationUse, Identified], ...]
    systemic: tuple[MedicationUse, ...]  # systemic tacrolimus: orders, statements, drafts
    topical: tuple[MedicationUse, ...]  # topical tacrolimus
    starts: dict[frozenset[str], "Start"] = field(default_factory=dict, compare=False)  # memo of start()
    on_record: dict[str, list[MedicationUse]] = field(default_factory=dict, compare=False)  # by drug

    def _by_drug(self) -> dict[str, list[MedicationUse]]:
        """The current non-draft records of each drug or class (systemic tacrolimus only), built once."""
        if not self.on_record and self.current:
            for medication, ident in self.current:
                if medication.origin == "draft" or (ident.tacrolimus and not ident.systemic):
                    continue
                for drug in ident.ingredients | ident.classes:
                    self.on_record.setdefault(drug, []).append(medication)
        return self.on_record

    @classmethod
    def of(cls, record: PatientRecord, drugs: DrugIdentifier) -> "Therapy":
        """The therapy of a record, built once and shared by every family that asks."""
        found = record.memo.get("therapy")
        if isinstance(found, Therapy):
            return found
        current = tuple((m, drugs.identify(m)) for m in record.medications if m.current)
        therapy = cls(
            hook=record.hook,
            current=current,
            systemic=tuple(m for m, i in current if i.tacrolimus and i.systemic),
            topical=tuple(m for m, i in current if i.tacrolimus and not i.systemic),
        )
        record.memo["therapy"] = therapy
        return therapy

    @property
    def on_systemic(self) -> bool:
        """Already taking systemic tacrolimus (not only being ordered it)."""
        return any(m.origin != "draft" for m in self.systemic)

    def ordered(self, medications: tuple[MedicationUse, ...]) -> tuple[MedicationUse, ...]:
        """The drafts among medications that are news at this hook: selected (order-select) or any draft
        (order-sign); none on patient-view."""
        if self.hook == "order-select":
            return tuple(m for m in medications if m.origin == "draft" and m.selected)
        if self.hook == "order-sign":
            return tuple(m for m in medications if m.origin == "draft")
        return ()

    @property
    def starting_systemic(self) -> bool:
        """Systemic tacrolimus is being ordered for a patient not already taking it."""
        return bool(self.ordered(self.systemic)) and not self.on_systemic

    def start(self, drugs: frozenset[str]) -> Start:
        """When the patient's use of any of these ingredients (or classes) began; systemic tacrolimus for
        'tacrolimus'. Found once per set of drugs."""
        found = self.starts.get(drugs)
        if found is None:
            found = self.starts[drugs] = self._start(drugs)
        return found

    def _start(self, drugs: frozenset[str]) -> Start:
        by_drug = self._by_drug()
        records = [m for drug in drugs for m in by_drug.get(drug, ())]
        if not records:
            return Start(None, exact=False, new=True)
        asserted = min(
            (a for m in records if m.started is None and (a := when(m.raw.get("dateAsserted"))) is not None),
            default=None,
        )
        dated = [m for m in records if m.started is not None]
        if not dated:
            return Start(None, exact=False, new=False, asserted=asserted)
        first = min(dated, key=lambda m: (m.started, m.renewal))
        return Start(first.started, exact=not first.renewal, new=False, asserted=asserted)


LEVEL_NAMES = ("tacrolimus", "fk506", "fk-506", "prograf")  # a locally coded level, known by its name


@dataclass(frozen=True, slots=True)
class Monitoring:
    """What the record says about level monitoring: the latest level's date, and whether it is recent."""

    last: datetime | None  # the latest valid tacrolimus level with a date, trough or not
    recent: bool  # within the stale interval (dosing.json monitoring.stale_after_days)


def monitoring(record: PatientRecord, knowledge: Knowledge) -> Monitoring:
    """The record's level monitoring, read once per record."""
    found = record.memo.get("monitoring")
    if isinstance(found, Monitoring):
        return found
    levels = record.observations_coded(
        knowledge.observation_system,
        knowledge.observation_codes("tacrolimus-level"),
        or_named=word_pattern(LEVEL_NAMES),
    )
    last = next((o.effective for o in levels if o.effective is not None and o.quantity is not None), None)
    stale = knowledge.dosing.monitoring.stale_after_days
    result = Monitoring(last, last is not None and days_since(last, record.now) <= stale)
    record.memo["monitoring"] = result
    return result


LEVEL_LOINC = "11253-2"
LEVEL_TEXT = "Tacrolimus level (trough, drawn just before the next dose)"


def level_order(knowledge: Knowledge, patient_id: str, fhir_version: FHIRVersion = "R4") -> dict[str, object]:
    """A draft order for a tacrolimus whole-blood level in the caller's FHIR version: an R4 ServiceRequest
    checked against FHIR R4B (once per patient), or for a DSTU2 caller a DiagnosticOrder, DSTU2's request
    for a laboratory test (ServiceRequest does not exist there)."""
    display = knowledge.observations[LEVEL_LOINC].display
    if fhir_version == "DSTU2":
        return _dstu2_level_order(knowledge.observation_system, display, patient_id)
    order: dict[str, object] = orjson.loads(
        _checked_level_order(knowledge.observation_system, display, patient_id)
    )
    return order


def level_suggestion(knowledge: Knowledge, record: PatientRecord, *, recommended: bool = False) -> Suggestion:
    """The suggestion to order a tacrolimus level, for cards that ask for one, in the caller's FHIR
    version."""
    return Suggestion(
        label="Order a tacrolimus level",
        isRecommended=recommended or None,
        actions=[
            Action(
                type="create",
                description="Order a tacrolimus whole-blood level",
                resource=level_order(knowledge, record.patient_id, record.fhir_version),
            )
        ],
    )


def _dstu2_level_order(system: str, display: str, patient_id: str) -> dict[str, object]:
    # FHIR DSTU2 1.0.2 DiagnosticOrder: subject 1..1, item.code 1..1, status "draft"; no intent
    return {
        "resourceType": "DiagnosticOrder",
        "status": "draft",
        "subject": {"reference": f"Patient/{patient_id}"},
        "item": [
            {
                "code": {
                    "coding": [{"system": system, "code": LEVEL_LOINC, "display": display}],
                    "text": LEVEL_TEXT,
                }
            }
        ],
    }


@lru_cache(maxsize=4096)
def _checked_level_order(system: str, display: str, patient_id: str) -> bytes:
    return orjson.dumps(
        checked(
            {
                "resourceType": "ServiceRequest",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": f"Patient/{patient_id}"},
                "code": {
                    "coding": [{"system": system, "code": LEVEL_LOINC, "display": display}],
                    "text": LEVEL_TEXT,
                },
            }
        )
    )
