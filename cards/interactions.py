"""Interaction cards: what raises tacrolimus levels, what lowers them, what adds to its toxicity.

When cards appear:
- order-select: a selected order against the patient's current medications and the other drafts, both
  ways (clarithromycin selected for a patient on tacrolimus; tacrolimus selected for a patient on
  clarithromycin). Unselected drafts are context: they are not announced on their own.
- order-sign: every draft against the current medications and the other drafts.
- patient-view: every interacting medication current together with systemic tacrolimus (the service shows
  only warning and critical cards there), each saying why now: the drug's earliest evidence and the date of
  the latest tacrolimus level.
- Nothing without systemic tacrolimus (current or being ordered), for local forms, or for stopped drugs.
One card per interaction and drug, however many records name it (a statement and a request).

Established combinations (policy for pharmacist review). A combination is new when either drug is only
being ordered now (a draft of a drug the patient is not already on). Otherwise it is established when the
earliest evidence of both (therapy.Start: the earliest current order or statement of the same drug; a
renewal is not a start; an undated statement's assertion date is an upper bound) is before the latest
tacrolimus level; an established combination is one step quieter (critical to warning, warning to info,
info to nothing). It is new when either started after the level, or when tacrolimus is known before the
level and the drug only from a statement asserted after it. When a start is otherwise undated: established
for an `info` entry, new for a `critical` one, and for a `warning` one established only when a recent level
shows the levels are being followed (within monitoring.stale_after_days).

Starting tacrolimus: the `info` findings are not cards of their own; the before-starting card lists them.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cards.drugs import TACROLIMUS, DrugIdentifier, Identified
from cards.indication import indications
from cards.knowledge import Interaction, Knowledge
from cards.text import clip
from cards.therapy import ALL_HOOKS, QUIETER, Family, Therapy, level_suggestion, monitoring
from cds.models import Action, Card, Coding, Suggestion, deletable
from cds.models.card import Indicator
from cds.record import MedicationUse, PatientRecord

TOPICS = {
    "raises": "interaction-raises-level",
    "lowers": "interaction-lowers-level",
    "toxicity": "interaction-toxicity",
}
EFFECTS = {
    "raises": "raises tacrolimus levels",
    "lowers": "lowers tacrolimus levels",
    "toxicity": "adds to tacrolimus toxicity",
}
MAX_SUMMARY = 140


@dataclass
class Finding:
    entry_id: str
    entry: Interaction
    drugs: tuple[str, ...]  # ingredient ids, or a class id when only the class is known
    display: str
    medications: list[MedicationUse] = field(default_factory=list)
    established: bool = False
    indicator: Indicator | None = None  # as shown: the entry's, one step quieter when established


def day(when: datetime) -> str:
    return when.date().isoformat()


def describe(medication: MedicationUse) -> str:
    name = next(iter(medication.names), medication.ref)
    kind = {"draft": "order being written", "statement": "reported by the patient", "order": "active order"}
    selected = ", selected" if medication.selected else ""
    return f"{name} ({kind[medication.origin]}{selected})"


class InteractionFamily(Family):
    key = "interactions"  # the site file's name for it
    title = "drug interactions"
    hooks = ALL_HOOKS
    needs = frozenset({"medicationRequests"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        data = knowledge.interactions
        self._order = {entry_id: n for n, entry_id in enumerate(data.interactions)}
        self._by_drug: dict[str, list[str]] = {}
        self._conditional: dict[str, list[str]] = {}  # drug -> entries that apply for some indications only
        for entry_id, entry in data.interactions.items():
            for key in (*entry.drugs, *entry.classes):
                self._by_drug.setdefault(key, []).append(entry_id)
                if entry.indications:
                    self._conditional.setdefault(key, []).append(entry_id)
        reasons = data.override_reasons
        self._override = [
            Coding(system=reasons.system, code=c, display=d) for c, d in reasons.reasons.items()
        ]
        self._override_by_effect = {
            effect: [Coding(system=reasons.system, code=c, display=d) for c, d in shown.items()]
            for effect, shown in reasons.by_effect.items()
        }

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        tacrolimus = list(therapy.systemic)
        cards = []
        for finding in self.findings(record):
            if finding.indicator == "info" and therapy.starting_systemic:
                continue  # folded into the before-starting card
            cards.append(self._card(record, finding, tacrolimus))
        return cards

    def findings(self, record: PatientRecord) -> list["Finding"]:
        """Every interaction that is news at this hook, with the indicator it is shown with (None: not
        shown); found once per record and shared with the before-starting card."""
        found = record.memo.get("interactions")
        if isinstance(found, list):
            return found
        result = [f for f in self._findings(record) if f.indicator is not None]
        record.memo["interactions"] = result
        return result

    def _findings(self, record: PatientRecord) -> list["Finding"]:
        therapy = Therapy.of(record, self._drugs)
        tacrolimus = list(therapy.systemic)
        if not tacrolimus:
            return []
        findings: dict[tuple[str, tuple[str, ...]], Finding] = {}
        recorded: frozenset[str] | None = None  # the patient's indications, read once if an entry needs them
        for medication, ident in therapy.current:
            if ident.tacrolimus or not ident.systemic or not self._announced(record, medication, tacrolimus):
                continue
            if recorded is None and any(self._conditional.get(d) for d in ident.ingredients):
                recorded = frozenset(i.key for i in indications(record, self._knowledge, therapy))
            for entry_id, drugs in self._matches(ident, recorded or frozenset()):
                entry = self._knowledge.interactions.interactions[entry_id]
                key = (entry_id, drugs)
                if key not in findings:
                    findings[key] = Finding(entry_id, entry, drugs, "/".join(map(self._display, drugs)))
                findings[key].medications.append(medication)
        for finding in findings.values():
            finding.established = self._established(record, therapy, finding)
            finding.indicator = (
                QUIETER[finding.entry.indicator] if finding.established else finding.entry.indicator
            )
        return list(findings.values())

    def _matches(self, ident: Identified, recorded: frozenset[str]) -> list[tuple[str, tuple[str, ...]]]:
        """(entry id, the medication's drugs in it) for each interaction it takes part in. Per effect only
        the first entry in file order counts, so a combination product named by two entries (Paxlovid:
        nirmatrelvir/ritonavir and ritonavir) gets the more specific card only. An entry for some
        indications applies only when one of them is recorded, and then replaces the drug's other entries
        (sirolimus in a liver recipient: the not-recommended card, which also gives the level effect)."""
        entries = self._knowledge.interactions.interactions
        drugs_by_entry: dict[str, list[str]] = {}
        for drug in sorted(ident.ingredients | ident.classes):
            specific = [e for e in self._conditional.get(drug, ()) if recorded & set(entries[e].indications)]
            for entry_id in specific or [
                e for e in self._by_drug.get(drug, ()) if not entries[e].indications
            ]:
                drugs_by_entry.setdefault(entry_id, []).append(drug)
        first_per_effect: dict[str, tuple[str, tuple[str, ...]]] = {}
        for entry_id in sorted(drugs_by_entry, key=self._order.__getitem__):
            effect = self._knowledge.interactions.interactions[entry_id].effect
            first_per_effect.setdefault(effect, (entry_id, tuple(drugs_by_entry[entry_id])))
        return list(first_per_effect.values())

    @staticmethod
    def _announced(record: PatientRecord, medication: MedicationUse, tacrolimus: list[MedicationUse]) -> bool:
        """Whether the pair of this medication and tacrolimus is news at this hook."""
        if record.hook == "order-select":
            return medication.selected or any(t.selected for t in tacrolimus)
        if record.hook == "order-sign":
            return medication.origin == "draft" or any(t.origin == "draft" for t in tacrolimus)
        return True

    def _established(self, record: PatientRecord, therapy: Therapy, finding: Finding) -> bool:
        """See the module docstring: established, new, and the undated rule by the entry's indicator."""
        drug = therapy.start(frozenset(finding.drugs))
        if drug.new:  # ordered now: nothing more to read
            return False
        tacrolimus = therapy.start(frozenset({TACROLIMUS}))
        starts = drug, tacrolimus
        if tacrolimus.new:
            return False
        levels = monitoring(record, self._knowledge)
        if levels.last is not None:
            if all(start.before(levels.last) for start in starts):
                return True
            if any(start.after(levels.last) for start in starts):
                return False  # a start after the latest level: the levels have not followed it yet
            if tacrolimus.before(levels.last) and drug.recorded_after(levels.last):
                return False  # the record held tacrolimus at the level, and this drug only since
        # no level, or a start known only as undated or as a renewal after the level
        rule = finding.entry.indicator
        return rule == "info" or (rule == "warning" and levels.recent)

    def _display(self, drug: str) -> str:
        drugs = self._knowledge.drugs
        return drugs.ingredients[drug].display if drug in drugs.ingredients else drugs.classes[drug].display

    def _card(self, record: PatientRecord, finding: Finding, tacrolimus: list[MedicationUse]) -> Card:
        entry = finding.entry
        indicator: Indicator = finding.indicator or entry.indicator
        medication = "; ".join(describe(m) for m in finding.medications)
        taking = "; ".join(describe(m) for m in tacrolimus)
        evidence = entry.evidence + "".join(
            f" {entry.specifics[drug]}" for drug in finding.drugs if drug in entry.specifics
        )
        lines = [
            f"**{finding.display}** ({medication}) with tacrolimus ({taking}): {EFFECTS[entry.effect]}.",
            "",
        ]
        if record.hook == "patient-view":  # nothing is being ordered: say why the card is shown today
            lines.append(f"- **Why now:** {self._why_now(record, finding)}")
        lines += [f"- {evidence}", f"- **What to do:** {entry.action}"]
        if finding.established:
            lines.append("- Both were started before the latest tacrolimus level: shown one step quieter.")
        lines += ["", *self._maker.sources(entry.citations)]
        suggestions = self._suggestions(record, finding, entry)
        summary = entry.summary.replace("{drug}", finding.display)
        if len(summary) >= MAX_SUMMARY:  # several drugs of one product: name the first (each fits)
            summary = entry.summary.replace("{drug}", self._display(finding.drugs[0]))
        return Card(
            summary=summary,
            detail="\n".join(lines),
            indicator=indicator,
            source=self._knowledge.source(entry.source, TOPICS[entry.effect]),
            suggestions=suggestions or None,
            selectionBehavior="at-most-one" if suggestions else None,
            overrideReasons=self._reasons(entry),
        ).keyed(f"{TOPICS[entry.effect]}|{finding.entry_id}|{'+'.join(finding.drugs)}")  # the drug pair

    def _why_now(self, record: PatientRecord, finding: Finding) -> str:
        """The drug's earliest evidence and the latest tacrolimus level's date, and which came first:
        'Clarithromycin started 2026-11-28; the last tacrolimus level was 2026-11-20, before it.'"""
        therapy = Therapy.of(record, self._drugs)
        start = therapy.start(frozenset(finding.drugs))
        last = monitoring(record, self._knowledge).last
        since: datetime | None = None
        if start.when is not None and (start.asserted is None or start.when <= start.asserted):
            since = start.when
            said = f"{finding.display} started {day(since)}"
            if not start.exact:
                said = f"{finding.display} renewed {day(since)} (started before then)"
        elif start.asserted is not None:
            since = start.asserted
            said = f"{finding.display}: start date not recorded (reported by {day(since)})"
        else:
            said = f"{finding.display}: start date not recorded"
        if last is None:
            return f"{said}; no tacrolimus level on record."
        said += f"; the last tacrolimus level was {day(last)}"
        if since is not None:
            order = (last.date() > since.date()) - (last.date() < since.date())
            said += {1: ", after it", 0: ", the same day", -1: ", before it"}[order]
        tacrolimus = therapy.start(frozenset({TACROLIMUS}))
        if tacrolimus.when is not None and tacrolimus.after(last):
            said += f"; tacrolimus itself started {day(tacrolimus.when)}, after the level"
        return said + "."

    def _reasons(self, entry: Interaction) -> list[Coding]:
        """The entry's own reasons, its effect's (levels monitored, dose adjusted: the level interactions
        only), then those of every interaction card."""
        system = self._knowledge.interactions.override_reasons.system
        own = [Coding(system=system, code=code, display=display) for code, display in entry.override.items()]
        return own + self._override_by_effect.get(entry.effect, []) + self._override

    def _suggestions(self, record: PatientRecord, finding: Finding, entry: Interaction) -> list[Suggestion]:
        suggestions = []
        for medication in finding.medications if entry.suggest_removal else ():
            if medication.origin == "draft" and deletable(medication.ref):
                ordered = next(iter(medication.names), finding.display)  # the product as ordered
                suggestions.append(
                    Suggestion(
                        label=f"Remove the {clip(ordered)} order",
                        actions=[
                            Action(
                                type="delete",
                                description=f"Remove the draft order for {ordered}",
                                resourceId=medication.ref,
                            )
                        ],
                    )
                )
        if entry.suggest_level:
            suggestions.append(level_suggestion(self._knowledge, record))
        return suggestions
