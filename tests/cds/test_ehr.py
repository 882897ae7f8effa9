"""Building the hook request an EHR would send, from a (mocked) FHIR server: the service's own templates,
client, limits and rules. Never a live server."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from cds.clock import fixed
from cds.ehr import build_request, draft_order, hook_request_of, with_token
from cds.errors import RequestError
from cds.evaluate import Evaluator
from cds.service import Service, service_for_hook
from cds.settings import Settings
from tests.builders import FHIR_BASE, PATIENT_ID, bundle, tacrolimus
from tests.clock import now

PATIENT = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "1970-01-01", "gender": "female"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False) as client:
        yield client


def ehr_server(mock: respx.MockRouter, medications: list[dict[str, Any]] | None = None) -> None:
    mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}").respond(json=PATIENT)
    mock.get(url__regex=rf"^{FHIR_BASE}/MedicationRequest\?.*").respond(
        json=bundle(medications if medications is not None else [tacrolimus()])
    )
    mock.get(url__regex=rf"^{FHIR_BASE}/\w+\?.*").respond(json=bundle([]))


def service(services: list[Service], hook: str) -> Service:
    return service_for_hook(services, hook)


async def test_a_patient_view_request_is_filled_from_the_server(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        ehr_server(mock)
        built = await build_request(
            service(services, "patient-view"), FHIR_BASE + "/", PATIENT_ID, http=http, settings=settings
        )
    request = built.request
    assert request["hook"] == "patient-view"
    assert request["fhirServer"] == FHIR_BASE
    assert request["context"] == {"userId": "Practitioner/example", "patientId": PATIENT_ID}
    assert "fhirAuthorization" not in request
    prefetch = request["prefetch"]
    assert set(prefetch) == set(service(services, "patient-view").prefetch)
    assert prefetch["patient"] == PATIENT  # a read: the resource itself
    assert prefetch["medicationRequests"]["type"] == "searchset"
    assert [e["resource"]["id"] for e in prefetch["medicationRequests"]["entry"]] == ["tac-1"]
    assert built.fetched["patient"] == "found"
    assert built.fetched["medicationRequests"] == "1 resource"
    assert built.fetched["conditions"] == "0 resources"
    # what the service makes of it, with no further call
    with respx.mock(assert_all_called=False) as mock:
        response = await Evaluator(services, settings, http, clock=fixed(now())).evaluate(
            "tacrolimus-patient-view", request
        )
        assert not mock.calls
    assert response.cards  # on tacrolimus with no level: a level is due


async def test_an_order_select_with_a_drug_name_drafts_the_order_and_selects_it(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        ehr_server(mock)
        built = await build_request(
            service(services, "order-select"),
            FHIR_BASE,
            PATIENT_ID,
            http=http,
            settings=settings,
            order="Clarithromycin 500 MG Oral Tablet",
        )
        response = await Evaluator(services, settings, http, clock=fixed(now())).evaluate(
            "tacrolimus-order-select", built.request
        )
    context = built.request["context"]
    assert context["selections"] == ["MedicationRequest/draft-1"]
    [entry] = context["draftOrders"]["entry"]
    assert entry["resource"]["medicationCodeableConcept"] == {"text": "Clarithromycin 500 MG Oral Tablet"}
    assert entry["resource"]["subject"] == {"reference": f"Patient/{PATIENT_ID}"}
    assert any(c.summary.startswith("Clarithromycin raises tacrolimus levels") for c in response.cards)


async def test_an_order_hook_without_an_order_is_refused(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    with pytest.raises(RequestError, match="needs an order"), respx.mock() as mock:
        await build_request(
            service(services, "order-sign"), FHIR_BASE, PATIENT_ID, http=http, settings=settings
        )
    assert not mock.calls


def test_an_order_file_is_completed_where_it_lacks_an_id_status_or_subject() -> None:
    order = draft_order(
        {"resourceType": "MedicationRequest", "medicationCodeableConcept": {"text": "x"}}, "p9"
    )
    assert (order["id"], order["status"], order["subject"]) == (
        "draft-1",
        "draft",
        {"reference": "Patient/p9"},
    )
    dstu2 = draft_order({"resourceType": "MedicationOrder", "id": "o1", "status": "active"}, "p9")
    assert (dstu2["id"], dstu2["status"], dstu2["patient"]) == ("o1", "active", {"reference": "Patient/p9"})
    with pytest.raises(RequestError, match="not 'Observation'"):
        draft_order({"resourceType": "Observation"}, "p9")


@pytest.mark.parametrize(
    ("server", "says"),
    [
        ("http://169.254.169.254/latest", "link-local"),
        ("http://metadata.google.internal/fhir", "metadata"),
        ("file:///etc/passwd", r"absolute http\(s\) URL"),
        ("ehr.example.org/fhir", r"absolute http\(s\) URL"),
    ],
)
async def test_servers_the_service_may_not_call_are_refused_before_any_call(
    services: list[Service], settings: Settings, http: httpx.AsyncClient, server: str, says: str
) -> None:
    with pytest.raises(RequestError, match=says), respx.mock() as mock:
        await build_request(
            service(services, "patient-view"), server, PATIENT_ID, http=http, settings=settings
        )
    assert not mock.calls


@pytest.mark.parametrize("patient", ["", "  ", "Patient/1"])
async def test_a_bad_patient_id_is_refused(
    services: list[Service], settings: Settings, http: httpx.AsyncClient, patient: str
) -> None:
    with pytest.raises(RequestError, match="patient id"):
        await build_request(
            service(services, "patient-view"), FHIR_BASE, patient, http=http, settings=settings
        )


async def test_the_service_limits_apply_pages_redirects_other_servers_and_failures(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    limited = settings.model_copy(update={"fhir_max_pages": 2})
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}").respond(404)
        mock.get(url__regex=rf"^{FHIR_BASE}/MedicationRequest\?.*").respond(
            json=bundle([tacrolimus()], next_url="https://elsewhere.example.com/fhir/page2")
        )
        mock.get(url__regex=rf"^{FHIR_BASE}/Observation\?.*").respond(
            json=bundle([], next_url=f"{FHIR_BASE}/Observation?page=2")
        )
        mock.get(url__regex=rf"^{FHIR_BASE}/Condition\?.*").respond(
            301, headers={"Location": "https://elsewhere.example.com/"}
        )
        mock.get(url__regex=rf"^{FHIR_BASE}/AllergyIntolerance\?.*").respond(
            403, json={"resourceType": "OperationOutcome", "issue": [{"diagnostics": "no access"}]}
        )
        mock.get(url__regex=rf"^{FHIR_BASE}/\w+\?.*").respond(json=bundle([]))
        elsewhere = mock.get(url__startswith="https://elsewhere.example.com").respond(json=bundle([]))
        built = await build_request(
            service(services, "patient-view"), FHIR_BASE, PATIENT_ID, http=http, settings=limited
        )
    assert not elsewhere.called
    fetched, prefetch = built.fetched, built.request["prefetch"]
    assert fetched["patient"] == f"Patient/{PATIENT_ID} was not found"
    assert prefetch["patient"] is None
    assert "another server" in fetched["medicationRequests"]
    assert "more than 2 pages" in fetched["observations"]
    assert fetched["conditions"].endswith("the FHIR server answered 301")
    assert prefetch["conditions"]["resourceType"] == "OperationOutcome"
    assert "no access" in fetched["allergies"]


async def test_the_token_goes_to_the_server_and_never_into_the_request(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    token = SecretStr("secret-token")
    with respx.mock(assert_all_called=False) as mock:
        ehr_server(
            mock,
            [tacrolimus(medicationReference={"reference": "Medication/m1"}, medicationCodeableConcept=None)],
        )
        medication = mock.get(f"{FHIR_BASE}/Medication/m1").respond(
            json={"resourceType": "Medication", "id": "m1", "code": {"text": "Tacrolimus 1 MG Oral Capsule"}}
        )
        built = await build_request(
            service(services, "patient-view"),
            FHIR_BASE,
            PATIENT_ID,
            http=http,
            settings=settings,
            token=token,
        )
        assert all(call.request.headers["Authorization"] == "Bearer secret-token" for call in mock.calls)
        assert "secret-token" not in str(built.request)
        await Evaluator(services, settings, http, clock=fixed(now())).evaluate(
            "tacrolimus-patient-view", with_token(built.request, token)
        )
        assert medication.called  # the service resolves the reference with the token, as it would
        assert medication.calls.last.request.headers["Authorization"] == "Bearer secret-token"


def test_what_try_json_prints_is_read_as_its_request() -> None:
    request = {"hook": "patient-view", "hookInstance": "x", "context": {}}
    assert hook_request_of({"request": request, "response": {"cards": []}}) == request
    assert hook_request_of(request) == request
    assert hook_request_of([1]) == [1]
