"""The three services, their prefetch templates, and the card families each runs.

Prefetch is kept to a few tight templates using only CDS Hooks 2.0 tokens. A DSTU2 server has
MedicationOrder rather than MedicationRequest: that query is tried when the server rejects the first.
"""

from collections.abc import Iterable
from typing import Protocol

from cards.data_incomplete import gap_card
from cards.dosing import DosingFamily
from cards.drugs import DrugIdentifier
from cards.duration import DurationFamily
from cards.hypersensitivity import HypersensitivityFamily
from cards.interactions import InteractionFamily
from cards.knowledge import Knowledge
from cards.levels import LevelFamily
from cards.organ_function import OrganFunctionFamily
from cards.pregnancy import PregnancyFamily
from cards.relevance import TacrolimusScan
from cards.results import ResultFamily
from cards.site import Site, with_site
from cards.starting import StartingFamily
from cards.story_link import StoryLink
from cards.topical import TopicalFamily
from cards.vaccines import VaccineFamily
from cds.models import Card
from cds.prefetch import PrefetchTemplate
from cds.record import PatientRecord
from cds.service import CardFamily, Service


class HookFamily(CardFamily, Protocol):
    """A card family that names the hooks it serves (a service runs, and reports as not run, only those)
    and its key (the site file turns families on and off by it)."""

    @property
    def hooks(self) -> frozenset[str]: ...

    @property
    def key(self) -> str: ...


class SiteRules:
    """A family as the site runs it: its indicator changes applied (cards/site.py; a critical card is
    lowered only where the site file acknowledged it, which start-up checks)."""

    def __init__(self, family: CardFamily, site: Site) -> None:
        self._family = family
        self._site = site
        self.title = family.title
        self.needs = family.needs

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        cards = []
        for card in self._family.cards(record):
            change = self._site.indicator(card.source.topic.code if card.source.topic else "")
            if change is not None and change.indicator != card.indicator:
                if card.indicator == "critical" and not change.acknowledge_lowering_critical:
                    cards.append(card)
                    continue
                card = card.model_copy(update={"indicator": change.indicator})
            cards.append(card)
        return cards


class ActionOnly:
    """A family as patient-view runs it: only the cards that need action now (warning and critical).
    patient-view fires on every chart opened; an info card there is read once and ignored after, and
    teaches the clinician to dismiss the next one. Counselling and baseline results belong at the order
    hooks, where they can be acted on."""

    def __init__(self, family: CardFamily) -> None:
        self._family = family
        self.title = family.title
        self.needs = family.needs

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        return [card for card in self._family.cards(record) if card.indicator != "info"]


PATIENT = "{{context.patientId}}"


def prefetch_templates(knowledge: Knowledge) -> dict[str, PrefetchTemplate]:
    observation_codes = ",".join(knowledge.observation_codes())
    return {
        "patient": PrefetchTemplate(f"Patient/{PATIENT}", "the patient's age and sex"),
        "medicationRequests": PrefetchTemplate(
            f"MedicationRequest?patient={PATIENT}&status=active",
            "the patient's active medication orders",
            alternatives=(f"MedicationOrder?patient={PATIENT}&status=active",),
        ),
        "medicationStatements": PrefetchTemplate(
            f"MedicationStatement?patient={PATIENT}&status=active",
            "medications the patient reports taking (including supplements and over-the-counter products)",
        ),
        "conditions": PrefetchTemplate(f"Condition?patient={PATIENT}", "the patient's conditions"),
        "observations": PrefetchTemplate(
            f"Observation?patient={PATIENT}&code={observation_codes}&_sort=-date&_count=100",
            "tacrolimus levels, weight, kidney function, potassium, glucose, liver tests (bilirubin, ALT,"
            " AST), pregnancy and breastfeeding status, CYP3A5 genotype",
        ),
        "immunizations": PrefetchTemplate(f"Immunization?patient={PATIENT}", "the patient's immunizations"),
        "allergies": PrefetchTemplate(f"AllergyIntolerance?patient={PATIENT}", "the patient's allergies"),
    }


# Without the medication orders no check can tell whether the patient takes tacrolimus or what
# else they take: answering without them would read as "no problem", so their absence is a 412.
REQUIRED = frozenset({"medicationRequests"})


def families(knowledge: Knowledge, drugs: DrugIdentifier) -> tuple[HookFamily, ...]:
    """Every card family; each names the hooks it serves and decides what is news at them."""
    return (
        InteractionFamily(knowledge, drugs),
        VaccineFamily(knowledge, drugs),
        PregnancyFamily(knowledge, drugs),
        HypersensitivityFamily(knowledge, drugs),
        TopicalFamily(knowledge, drugs),
        OrganFunctionFamily(knowledge, drugs),
        ResultFamily(knowledge, drugs),
        LevelFamily(knowledge, drugs),
        DosingFamily(knowledge, drugs),
        StartingFamily(knowledge, drugs),
        DurationFamily(knowledge, drugs),
    )


# id, hook, title, description
SERVICES = (
    (
        "tacrolimus-patient-view",
        "patient-view",
        "Tacrolimus safety review",
        "When the chart of a patient on tacrolimus is opened: interacting medications, cautions, "
        "the latest level against its target, and monitoring that is due.",
    ),
    (
        "tacrolimus-order-select",
        "order-select",
        "Tacrolimus order check",
        "When an order is selected: interactions between tacrolimus and the selected medication, "
        "live vaccines, cautions and the starting dose.",
    ),
    (
        "tacrolimus-order-sign",
        "order-sign",
        "Tacrolimus order-sign check",
        "Before orders are signed: the same checks as at selection, over every order being signed.",
    ),
)


def services(knowledge: Knowledge, site: Site | None = None, story_url: str | None = None) -> list[Service]:
    """The services; with a site file, its families on or off, its targets and its indicator changes.
    patient-view runs each family action-only (after the site's changes: a raised info card shows).
    `story_url`: the SMART app's launch URL, which the level and level-interaction cards then link to."""
    site = site or Site()
    knowledge = with_site(knowledge, site)
    templates = prefetch_templates(knowledge)
    drugs = DrugIdentifier(knowledge)
    offered = [family for family in families(knowledge, drugs) if site.enabled(family.key)]
    levels = next((family for family in offered if isinstance(family, LevelFamily)), None)
    incomplete = gap_card(knowledge, drugs, levels)
    relevant = TacrolimusScan(drugs)  # every family answers only for a patient with tacrolimus

    def run(family: HookFamily, hook: str) -> CardFamily:
        ruled: CardFamily = SiteRules(family, site) if site.indicators else family
        if story_url is not None:
            ruled = StoryLink(ruled, story_url)
        return ActionOnly(ruled) if hook == "patient-view" else ruled

    return [
        Service(
            id=service_id,
            hook=hook,
            title=title,
            description=description,
            prefetch=templates,
            required=REQUIRED,
            families=tuple(run(family, hook) for family in offered if hook in family.hooks),
            gap_card=incomplete,
            relevant=relevant,
        )
        for service_id, hook, title, description in SERVICES
    ]
