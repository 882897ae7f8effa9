"""medicationReference resolution across contained, draftOrders, prefetch and the FHIR server."""

from collections.abc import Iterable

import httpx
import respx

from cds.evaluate import Evaluator
from cds.models import Card
from cds.record import PatientRecord
from cds.service import Service
from cds.settings import Settings
from tests.builders import FHIR_BASE, bundle, full_prefetch, hook_request, tacrolimus
from tests.cds.test_evaluate import service
from tests.conftest import NOW, NamedDrugFamily

MEDICATION = {"resourceType": "Medication", "id": "m-tac", "code": {"text": "Tacrolimus 0.5 MG Oral Capsule"}}


def referencing(rid: str, ref: str, status: str = "draft") -> dict[str, object]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "medicationReference": {"reference": ref},
    }


class Names:
    title, needs = "names", frozenset({"medicationRequests"})

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        return NamedDrugFamily("tacrolimus").cards(record)


async def run(svc: Service, body: dict[str, object], settings: Settings) -> list[Card]:
    async with httpx.AsyncClient() as http:
        return (await Evaluator([svc], settings, http, clock=lambda: NOW).evaluate("svc", body)).cards


async def test_reference_to_a_medication_inside_draft_orders(settings: Settings) -> None:
    body = hook_request("order-sign", full_prefetch(), drafts=[referencing("d1", "Medication/m-tac")])
    body["context"]["draftOrders"]["entry"].append({"resource": MEDICATION})
    cards = await run(service(Names(), hook="order-sign"), body, settings)
    assert [c.summary for c in cards] == ["tacrolimus found in MedicationRequest/d1"]


async def test_reference_to_a_medication_in_a_prefetched_bundle(settings: Settings) -> None:
    prefetch = full_prefetch()
    prefetch["medicationRequests"] = bundle([referencing("r1", "Medication/m-tac", "active"), MEDICATION])
    cards = await run(service(Names(), hook="patient-view"), hook_request(prefetch=prefetch), settings)
    assert [c.summary for c in cards] == ["tacrolimus found in MedicationRequest/r1"]


async def test_reference_fetched_from_the_fhir_server(settings: Settings) -> None:
    body = hook_request("order-sign", full_prefetch(), drafts=[referencing("d1", "Medication/m-tac")])
    body.update(fhirServer=FHIR_BASE, fhirAuthorization={"access_token": "tok", "token_type": "Bearer"})
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{FHIR_BASE}/Medication/m-tac").respond(json=MEDICATION)
        cards = await run(service(Names(), hook="order-sign"), body, settings)
        assert mock.calls[0].request.headers["Authorization"] == "Bearer tok"
    assert [c.summary for c in cards] == ["tacrolimus found in MedicationRequest/d1"]


async def test_a_reference_that_cannot_be_resolved_is_reported(settings: Settings) -> None:
    body = hook_request(
        "order-sign", full_prefetch([tacrolimus()]), drafts=[referencing("d1", "Medication/gone")]
    )
    body.update(fhirServer=FHIR_BASE)
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{FHIR_BASE}/Medication/gone").respond(404)
        async with httpx.AsyncClient() as http:
            from cards import load_services

            response = await Evaluator(load_services(), settings, http, clock=lambda: NOW).evaluate(
                "tacrolimus-order-sign", body
            )
    [card] = response.cards
    assert card.source.topic is not None
    assert card.source.topic.code == "data-incomplete"
    assert card.detail is not None
    assert "MedicationRequest/d1: its Medication (Medication/gone) could not be retrieved" in card.detail


async def test_references_to_other_servers_are_not_fetched(settings: Settings) -> None:
    body = hook_request(
        "order-sign",
        full_prefetch(),
        drafts=[referencing("d1", "https://other.example.com/fhir/Medication/x")],
    )
    body.update(fhirServer=FHIR_BASE)
    with respx.mock(assert_all_called=False) as mock:
        await run(service(Names(), hook="order-sign"), body, settings)
        assert len(mock.calls) == 0
