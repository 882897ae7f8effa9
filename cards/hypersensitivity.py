"""Hypersensitivity cards when systemic tacrolimus is ordered: a recorded allergy to macrolides (tacrolimus
is one), and the polyoxyl castor oil of the injection (more urgent with a recorded allergy to it)."""

from collections.abc import Iterable

from cards.drugs import DrugIdentifier
from cards.formulation import INTRAVENOUS, Formulations
from cards.knowledge import Knowledge
from cards.text import clip, word_pattern
from cards.therapy import ORDER_HOOKS, Family, Therapy
from cds.fhirjson import Concept
from cds.models import Action, Card, Suggestion, deletable
from cds.record import Allergy, MedicationUse, PatientRecord

TOPIC = "hypersensitivity"


class HypersensitivityFamily(Family):
    key = "hypersensitivity"  # the site file's name for it
    title = "hypersensitivity"
    hooks = ORDER_HOOKS
    needs = frozenset({"medicationRequests", "allergies"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        self._products = Formulations(knowledge)
        data = knowledge.cautions
        self._macrolides = frozenset(data.macrolide_allergy.ingredients)
        self._macrolide_classes = frozenset(data.macrolide_allergy.classes)
        self._macrolide_words = word_pattern(data.macrolide_allergy.words)
        self._vehicle_words = word_pattern(data.injection.words)
        self._hypersensitivity = word_pattern(data.macrolide_allergy.intolerance.hypersensitivity_words)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        ordered = therapy.ordered(therapy.systemic)
        if not ordered:
            return []
        allergies = [a for a in record.allergies if a.active and self._hypersensitive(a)]
        cards = []
        macrolide = next((a for a in allergies if self._is_macrolide(a)), None)
        if macrolide is not None:
            cards.append(self._macrolide_card(macrolide, ordered))
        if any(self._products.kind(m) == INTRAVENOUS for m in ordered):
            vehicle = next((a for a in allergies if self._names_vehicle(a)), None)
            # at a start the before-starting card says it; an infusion renewed is no longer news
            on_infusion = any(
                m.origin != "draft" and self._products.kind(m) == INTRAVENOUS for m in therapy.systemic
            )
            if vehicle is not None or not (therapy.starting_systemic or on_infusion):
                cards.append(self._injection_card(vehicle))
        return cards

    def _hypersensitive(self, allergy: Allergy) -> bool:
        """An allergy, or an allergy of unknown type; an intolerance only when its reactions or criticality
        show hypersensitivity (cautions.json macrolide_allergy.intolerance)."""
        if allergy.kind != "intolerance" or allergy.criticality == "high":
            return True
        return any(self._hypersensitivity.search(" ".join(m.names).lower()) for m in allergy.manifestations)

    def _concepts(self, allergy: Allergy) -> tuple[Concept, ...]:
        return (allergy.substance, *allergy.reactions)

    def _is_macrolide(self, allergy: Allergy) -> bool:
        for concept in self._concepts(allergy):
            ident = self._drugs.identify_concept(concept)
            if ident.ingredients & self._macrolides or ident.classes & self._macrolide_classes:
                return True
            if self._macrolide_words.search(" ".join(concept.names).lower()):
                return True
        return False

    def _names_vehicle(self, allergy: Allergy) -> bool:
        return any(self._vehicle_words.search(" ".join(c.names).lower()) for c in self._concepts(allergy))

    @staticmethod
    def _facts(allergy: Allergy) -> str:
        """The record's own words: reactions, type, criticality, verification."""
        facts = []
        reactions = [m.names[0] for m in allergy.manifestations if m.names]
        if reactions:
            facts.append(f"reaction: {', '.join(dict.fromkeys(reactions))}")
        facts.append(f"type: {allergy.kind}" if allergy.kind else "type not recorded")
        if allergy.criticality:
            facts.append(f"criticality {allergy.criticality}")
        if allergy.verification_status:
            facts.append(allergy.verification_status)
        return f" ({'; '.join(facts)})"

    @staticmethod
    def _name(allergy: Allergy) -> str:
        names = allergy.substance.names or next((r.names for r in allergy.reactions if r.names), ())
        return clip(names[0], 40) if names else "a macrolide"

    def _macrolide_card(self, allergy: Allergy, ordered: tuple[MedicationUse, ...]) -> Card:
        data = self._knowledge.cautions.macrolide_allergy
        # one suggestion removing every tacrolimus draft: accepting it must leave none to sign
        removable = [m.ref for m in ordered if deletable(m.ref)]
        suggestions = []
        if removable:
            many = f"the {len(removable)} tacrolimus orders" if len(removable) > 1 else "the tacrolimus order"
            suggestions.append(
                Suggestion(
                    label=f"Remove {many}",
                    actions=[
                        Action(type="delete", description="Remove the draft tacrolimus order", resourceId=ref)
                        for ref in removable
                    ],
                )
            )
        summary = data.card.summary.replace("{substance}", self._name(allergy))
        names: dict[str, str] = {}  # each name once, as first spelt (a display and a text often agree)
        for name in allergy.substance.names:
            names.setdefault(name.casefold(), name)
        substance = ", ".join(names.values()) or allergy.ref
        extra = [f"Recorded allergy: {substance}{self._facts(allergy)}."]
        return self._maker.card(
            data.card,
            TOPIC,
            data.citations,
            summary=summary,
            extra=extra,
            suggestions=suggestions,
        )

    def _injection_card(self, vehicle: Allergy | None) -> Card:
        data = self._knowledge.cautions.injection
        if vehicle is None:
            return self._maker.card(data.card, TOPIC, data.citations)
        summary = data.allergy_card.summary.replace("{substance}", self._name(vehicle))
        return self._maker.card(data.allergy_card, TOPIC, data.citations, summary=summary)
