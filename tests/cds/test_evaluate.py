"""The engine: families run on the record, blocked or failing ones are reported, cards are ordered."""

import httpx
import pytest

from cards.knowledge import load
from cards.services import prefetch_templates
from cds.clock import fixed
from cds.evaluate import Evaluator
from cds.models import Card, Source
from cds.record import PatientRecord
from cds.service import Gaps, Service
from cds.settings import Settings
from tests.builders import full_prefetch, hook_request, medication_request, tacrolimus
from tests.clock import now
from tests.conftest import NOW, BrokenFamily, NamedDrugFamily


def gap_card(gaps: Gaps, record: PatientRecord) -> Card | None:
    if not gaps:
        return None
    return Card(
        summary="gap: " + ",".join((*gaps.not_run, *gaps.failed)),
        indicator="warning",
        source=Source(label="t"),
    )


def service(*families: object, hook: str = "order-select") -> Service:
    return Service(
        id="svc",
        hook=hook,
        title="t",
        description="d",
        prefetch=prefetch_templates(load()),
        required=frozenset({"medicationRequests"}),
        families=tuple(families),  # type: ignore[arg-type]
        gap_card=gap_card,
    )


async def run(svc: Service, body: dict[str, object], settings: Settings) -> list[Card]:
    async with httpx.AsyncClient() as http:
        return (await Evaluator([svc], settings, http, clock=lambda: NOW).evaluate("svc", body)).cards


async def test_families_see_drafts_selections_and_prefetched_medications(settings: Settings) -> None:
    drafts = [
        medication_request("d1", "Clarithromycin 500 MG", status="draft"),
        medication_request("d2", "Clarithromycin 250 MG", status="draft"),
    ]
    body = hook_request(
        "order-select", full_prefetch([tacrolimus()]), drafts=drafts, selections=["MedicationRequest/d1"]
    )
    cards = await run(
        service(NamedDrugFamily("clarithromycin"), NamedDrugFamily("tacrolimus")), body, settings
    )
    assert [c.summary for c in cards] == [
        "clarithromycin found in MedicationRequest/d1",  # selected: warning, sorted first
        "clarithromycin found in MedicationRequest/d2",
        "tacrolimus found in MedicationRequest/tac-1",
    ]
    assert [c.indicator for c in cards] == ["warning", "info", "info"]


async def test_a_family_whose_data_is_missing_does_not_run_and_is_named(settings: Settings) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["allergies"]
    family = NamedDrugFamily("tacrolimus", needs=("medicationRequests", "allergies"))
    cards = await run(service(family, hook="patient-view"), hook_request(prefetch=prefetch), settings)
    assert [c.summary for c in cards] == ["gap: tacrolimus check"]


async def test_a_failing_family_is_reported_and_the_others_still_run(settings: Settings) -> None:
    cards = await run(
        service(BrokenFamily(), NamedDrugFamily("tacrolimus"), hook="patient-view"),
        hook_request(prefetch=full_prefetch([tacrolimus()])),
        settings,
    )
    assert [c.summary for c in cards] == ["gap: broken check", "tacrolimus found in MedicationRequest/tac-1"]


async def test_critical_cards_come_first(settings: Settings) -> None:
    class Fixed:
        title, needs = "fixed", frozenset[str]()

        def cards(self, record: PatientRecord) -> list[Card]:
            return [
                Card(summary=i, indicator=i, source=Source(label="t"))
                for i in ("info", "critical", "warning")
            ]

    cards = await run(service(Fixed(), hook="patient-view"), hook_request(prefetch=full_prefetch()), settings)
    assert [c.indicator for c in cards] == ["critical", "warning", "info"]


def test_a_service_naming_an_undefined_prefetch_key_is_refused() -> None:
    with pytest.raises(ValueError, match="does not define"):
        service(NamedDrugFamily("x", needs=("nonexistent",)))


def test_service_ids_must_be_unique(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unique"):
        Evaluator([service(), service()], settings, clock=fixed(now()))
