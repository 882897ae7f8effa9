"""Cautions with topical tacrolimus, each where the record shows the condition: a child under 2, an
immunocompromised patient, malignant or pre-malignant skin, a skin infection, a disrupted skin barrier; and
counselling on sunlight and duration when it is ordered. On order-select and order-sign for a topical
tacrolimus order, at the source's strength (the monograph: should not be used, must not be applied,
avoided: critical; some advise avoiding, treat first: warning); on patient-view for a patient already
using it one step quieter (critical to warning, warning to info, which patient-view does not show): the
order was the decision point, and a standing prescription is reviewed, not stopped unseen."""

from collections.abc import Iterable

from cards.drugs import DrugIdentifier
from cards.indication import UC, recognised
from cards.knowledge import Caution, Knowledge
from cards.text import coded_as, word_pattern
from cards.therapy import ALL_HOOKS, QUIETER, Family, Therapy
from cds.models import Card
from cds.record import PatientRecord

TOPIC = "topical-use"


class TopicalFamily(Family):
    key = "topical"  # the site file's name for it
    title = "topical tacrolimus cautions"
    hooks = ALL_HOOKS
    needs = frozenset({"medicationRequests", "conditions"})

    def __init__(self, knowledge: Knowledge, drugs: DrugIdentifier) -> None:
        super().__init__(knowledge, drugs)
        topical = knowledge.cautions.topical
        cautions = {
            "malignancy": topical.malignancy,
            "neoplasia": topical.neoplasia,
            "infection": topical.infection,
            "absorption": topical.absorption,
            "immunocompromised": topical.immunocompromised,
        }
        self._patterns = {name: word_pattern(caution.words) for name, caution in cautions.items()}
        self._not = {name: word_pattern(c.not_words) for name, c in cautions.items() if c.not_words}
        self._suppressant_names = word_pattern(topical.immunocompromised.medication_words)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        therapy = Therapy.of(record, self._drugs)
        ordered = therapy.ordered(therapy.topical)
        if not (ordered or (record.hook == "patient-view" and therapy.topical)):
            return []
        topical = self._knowledge.cautions.topical
        standing = not ordered  # patient-view: already using it
        cards = []
        age = record.patient.age_years(record.now) if record.patient else None
        if age is not None and topical.child.under_years is not None and age < topical.child.under_years:
            cards.append(self._card(topical.child, standing, [f"Age: {age} year{'' if age == 1 else 's'}."]))
        suppressed = self._immunocompromised(record, therapy, topical.immunocompromised)
        if suppressed:
            cards.append(self._card(topical.immunocompromised, standing, [f"Recorded: {suppressed}."]))
        skin = self._conditions(record, "malignancy")
        for name in ("malignancy", "neoplasia", "infection", "absorption"):
            found = self._conditions(record, name)
            if name == "neoplasia":  # a skin malignancy has its own, stronger card
                found = [c for c in found if c not in skin]
            if found:
                cards.append(self._card(getattr(topical, name), standing, [f"Recorded: {', '.join(found)}."]))
        if ordered:
            cards.append(self._card(topical.counselling, standing))
        return [card for card in cards if card is not None]

    def _card(self, caution: Caution, standing: bool, extra: list[str] | None = None) -> Card | None:
        text = caution.card
        if standing:
            quieter = QUIETER[text.indicator]
            if quieter is None:
                return None
            text = text.model_copy(update={"indicator": quieter})
            extra = [*(extra or []), "Already in use: shown one step quieter than at the order."]
        return self._maker.card(text, TOPIC, caution.citations, extra=extra or [])

    def _immunocompromised(self, record: PatientRecord, therapy: Therapy, caution: Caution) -> str:
        """What shows systemic immunosuppression (a systemic immunosuppressant, or a current transplant
        condition), named as recorded; '' when nothing does."""
        suppressants = frozenset(caution.ingredients)
        for medication, ident in therapy.current:
            if not ident.systemic:
                continue
            if ident.ingredients & suppressants or self._suppressant_names.search(
                " ".join(medication.names).lower()
            ):
                return next(iter(medication.names), medication.ref)
        dosing = self._knowledge.dosing
        for c in record.conditions:
            transplant = any(key != UC for key in recognised(record, c.code, dosing))
            if c.active and (coded_as(c.code, caution.conditions) or transplant):
                return next(iter(c.code.names), c.ref)
        named = self._conditions(record, "immunocompromised")
        return named[0] if named else ""

    def _conditions(self, record: PatientRecord, name: str) -> list[str]:
        """The current conditions named by the caution's words, unless their names say they are not the
        patient's own now (family history, no evidence of, screening: `not_words`)."""
        pattern, not_own = self._patterns[name], self._not.get(name)
        found = []
        for condition in record.conditions:
            if not (condition.active and condition.code.names):
                continue
            words = " ".join(condition.code.names).lower()
            if pattern.search(words) and not (not_own and not_own.search(words)):
                found.append(condition.code.names[0])
        return found
