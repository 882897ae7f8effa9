"""medicationReference resolution across contained, draftOrders, prefetch and the FHIR server, and what a
medication resource (R4 request or statement, DSTU2 order and Medication) is read as."""

from collections.abc import Iterable

import httpx
import respx

from cds.evaluate import Evaluator
from cds.models import Card
from cds.record import PatientRecord
from cds.service import Service
from cds.settings import Settings
from tests.builders import (
    FHIR_BASE,
    RXNORM,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    tacrolimus,
)
from tests.cds.test_evaluate import service
from tests.cds.test_record import build
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


def test_a_dstu2_medication_keeps_its_form_and_ingredients_under_product() -> None:
    # DSTU2 Medication.product holds the form and the ingredients (R4 moved them to the top); a
    # compounded product named only by its ingredient is still tacrolimus
    order = {
        "resourceType": "MedicationOrder",
        "id": "mo1",
        "status": "active",
        "contained": [
            {
                "resourceType": "Medication",
                "id": "compound",
                "code": {"text": "Compounded oral suspension"},
                "product": {
                    "form": {"text": "Oral suspension"},
                    "ingredient": [
                        {
                            "itemCodeableConcept": {
                                "coding": [{"system": RXNORM, "code": "42316", "display": "tacrolimus"}]
                            }
                        }
                    ],
                },
            }
        ],
        "medicationReference": {"reference": "#compound"},
    }
    [med] = build(order).medications
    assert med.form.text == "Oral suspension"
    assert med.names == ("Compounded oral suspension", "tacrolimus")
    assert [c.code for c in med.codings] == ["42316"]


def test_a_statements_route_is_read_from_its_dosage() -> None:
    # R4 MedicationStatement says `dosage` where a request says `dosageInstruction`
    statement = medication_request(
        "s1",
        "Tacrolimus 5 MG/ML Injectable Solution",
        resource_type="MedicationStatement",
        dosage=[{"route": {"text": "Intravenous"}}],
    )
    [med] = build(statement).medications
    assert med.origin == "statement"
    assert med.route.text == "Intravenous"


def test_the_intent_is_read_and_a_missing_status_is_draft_only_for_a_draft() -> None:
    plan = medication_request("plan", "Tacrolimus 1 MG Oral Capsule", intent="plan")
    unsaid = medication_request("unsaid", "Tacrolimus 1 MG Oral Capsule")
    del unsaid["status"]
    draft = medication_request("draft", "Tacrolimus 1 MG Oral Capsule", intent="order")
    del draft["status"]
    record = build(plan, unsaid, drafts=[draft])
    assert [(m.ref, m.status, m.intent) for m in record.medications] == [
        ("MedicationRequest/draft", "draft", "order"),  # an order still being written
        ("MedicationRequest/plan", "active", "plan"),
        ("MedicationRequest/unsaid", "", ""),  # in the chart, status not said: not a draft
    ]


def test_an_ingredient_named_by_a_reference_is_read_by_its_display() -> None:
    # DSTU2 names an ingredient by a Reference (product.ingredient.item), R4 by a CodeableConcept or a
    # Reference (itemReference) to a Substance or Medication: a reference's display names the ingredient
    def ordered(kind: str, medication: dict[str, object]) -> dict[str, object]:
        return {
            "resourceType": kind,
            "id": kind.lower(),
            "status": "active",
            "contained": [{"resourceType": "Medication", "id": "m", **medication}],
            "medicationReference": {"reference": "#m"},
        }

    dstu2 = ordered(
        "MedicationOrder",
        {"product": {"ingredient": [{"item": {"reference": "Substance/s1", "display": "Tacrolimus"}}]}},
    )
    r4 = ordered(
        "MedicationRequest",
        {
            "code": {"text": "Compounded suspension"},
            "ingredient": [
                {"itemReference": {"reference": "Substance/s2", "display": "tacrolimus monohydrate"}},
                {"itemReference": {"reference": "Substance/s3"}},  # no display: nothing to read
            ],
        },
    )
    medications = {m.ref: m for m in build(dstu2, r4).medications}
    assert medications["MedicationOrder/medicationorder"].names == ("Tacrolimus",)
    assert medications["MedicationRequest/medicationrequest"].names == (
        "Compounded suspension",
        "tacrolimus monohydrate",
    )
