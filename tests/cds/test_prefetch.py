"""Prefetch resolution and the FHIR fallback (checklist PF-7..PF-10, §12 items 3-5), against mock servers."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from cds.errors import DataUnavailable
from cds.evaluate import Evaluator
from cds.models import CDSResponse
from cds.prefetch import PrefetchTemplate, read_value, render
from cds.service import Service
from cds.settings import Settings
from tests.builders import (
    FHIR_BASE,
    PATIENT_ID,
    bundle,
    full_prefetch,
    hook_request,
    medication_request,
    of_topic,
    tacrolimus,
)
from tests.conftest import NOW

TOKEN = "opaque-access-token-123"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def evaluator(services: list[Service], settings: Settings, http: httpx.AsyncClient) -> Evaluator:
    return Evaluator(services, settings, http, clock=lambda: NOW)


def with_server(body: dict[str, Any], token: str | None = TOKEN) -> dict[str, Any]:
    body["fhirServer"] = FHIR_BASE
    if token:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds",
        }
    return body


async def patient_view(
    services: list[Service],
    settings: Settings,
    http: httpx.AsyncClient,
    prefetch: dict[str, Any] | None = None,
    token: str | None = TOKEN,
) -> CDSResponse:
    """Call the patient-view service with this prefetch and the mock FHIR server."""
    body = with_server(hook_request(prefetch=prefetch), token=token)
    return await evaluator(services, settings, http).evaluate("tacrolimus-patient-view", body)


def empty_server(mock: respx.MockRouter) -> None:
    """Every search answers an empty searchset; the Patient read answers a patient."""
    mock.get(url__regex=rf"^{FHIR_BASE}/Patient/{PATIENT_ID}$").respond(
        json={"resourceType": "Patient", "id": PATIENT_ID}
    )
    mock.get(url__regex=rf"^{FHIR_BASE}/\w+\?.*").respond(json=bundle([]))


def test_render_fills_context_and_user_tokens() -> None:
    context = {"patientId": "p 1", "userId": "PractitionerRole/r9"}
    assert render("Condition?patient={{context.patientId}}", context) == "Condition?patient=p%201"
    assert render("PractitionerRole?_id={{userPractitionerRoleId}}", context) == "PractitionerRole?_id=r9"
    assert render("Practitioner/{{userPractitionerId}}", context) is None
    assert render("Encounter/{{context.encounterId}}", context) is None


def test_templates_refuse_tokens_that_are_not_cds_hooks_2() -> None:
    with pytest.raises(ValueError, match=r"not a CDS Hooks 2\.0 prefetch token"):
        PrefetchTemplate("MedicationRequest/{{context.draftOrders.MedicationRequest.id}}", "x")
    with pytest.raises(ValueError, match=r"not a CDS Hooks 2\.0 prefetch token"):
        PrefetchTemplate("Observation?date=gt{{today() - 90 days}}", "x")


@pytest.mark.parametrize(
    ("value", "usable", "why"),
    [
        (None, True, ""),
        ({"resourceType": "Patient", "id": "1"}, True, ""),
        (bundle([{"resourceType": "Condition"}]), True, ""),
        (bundle([], next_url=f"{FHIR_BASE}/x?page=2"), True, "next page"),
        ({"resourceType": "OperationOutcome", "issue": [{"diagnostics": "boom"}]}, False, "boom"),
        ("123", False, "not a FHIR resource"),
    ],
)
def test_every_prefetch_value_shape_is_read(value: Any, usable: bool, why: str) -> None:
    data, reason = read_value(value)
    assert (data is not None) is usable
    assert why in reason


async def test_missing_keys_are_fetched_with_the_bearer_token(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/MedicationRequest\?.*").respond(json=bundle([tacrolimus()]))
        empty_server(mock)
        response = await patient_view(services, settings, http)
        assert of_topic(response.cards, "data-incomplete") == []
        assert len(mock.calls) == 7
        for call in mock.calls:
            assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
            assert "fhir+json" in call.request.headers["Accept"]
        urls = {str(call.request.url) for call in mock.calls}
    assert f"{FHIR_BASE}/MedicationRequest?patient={PATIENT_ID}&status=active" in urls


async def test_without_a_token_no_authorization_header_is_sent(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        empty_server(mock)
        await patient_view(services, settings, http, token=None)
        assert mock.calls
        assert all("Authorization" not in call.request.headers for call in mock.calls)


async def test_only_missing_keys_are_fetched(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["allergies"]
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(url__regex=rf"^{FHIR_BASE}/AllergyIntolerance\?.*").respond(json=bundle([]))
        await patient_view(services, settings, http, prefetch)
        assert route.call_count == 1
        assert len(mock.calls) == 1


async def test_a_server_error_on_a_required_key_is_412(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/MedicationRequest\?.*").respond(500)
        mock.get(url__regex=rf"^{FHIR_BASE}/MedicationOrder\?.*").respond(500)
        empty_server(mock)
        with pytest.raises(DataUnavailable) as raised:
            await patient_view(services, settings, http)
    assert "answered 500" in raised.value.missing["medicationRequests"]


async def test_an_operation_outcome_from_the_server_is_reported(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["immunizations"]
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "diagnostics": "scope denied"}],
    }
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/Immunization\?.*").respond(403, json=outcome)
        response = await patient_view(services, settings, http, prefetch)
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.source.topic is not None
    assert card.source.topic.code == "data-incomplete"
    assert card.detail is not None
    assert "scope denied" in card.detail
    assert "immunizations" in card.detail


async def test_a_timeout_makes_the_key_unavailable(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["conditions"]
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/Condition\?.*").mock(side_effect=httpx.ReadTimeout("slow"))
        response = await patient_view(services, settings, http, prefetch)
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.detail is not None
    assert "conditions" in card.detail
    assert "no answer within" in card.detail


async def test_the_deadline_bounds_the_whole_request(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    """A server slower than the deadline costs the deadline, not more (the fetch is cancelled)."""
    settings = settings.model_copy(update={"fhir_deadline": 0.3, "fhir_request_timeout": 5.0})
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["observations"]

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(3)
        return httpx.Response(200, json=bundle([]))

    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/Observation\?.*").mock(side_effect=slow)
        started = time.perf_counter()
        response = await patient_view(services, settings, http, prefetch)
        elapsed = time.perf_counter() - started
    assert elapsed < 2.0
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.detail is not None
    assert "did not answer in time" in card.detail


async def test_missing_keys_are_fetched_concurrently(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    """Seven keys, each answered after 0.2 s: together they cost about one answer, not seven."""
    settings = settings.model_copy(update={"fhir_deadline": 5.0, "fhir_request_timeout": 5.0})
    in_flight = peak = 0

    async def delayed(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.2)
        in_flight -= 1
        if "/Patient/" in str(request.url):
            return httpx.Response(200, json={"resourceType": "Patient", "id": PATIENT_ID})
        return httpx.Response(200, json=bundle([]))

    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith=FHIR_BASE).mock(side_effect=delayed)
        await patient_view(services, settings, http)
        assert len(mock.calls) == 7
    assert peak == 7


async def test_next_links_are_followed_on_the_same_server(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch()
    prefetch["medicationRequests"] = bundle(
        [medication_request("m1", "Amlodipine 5 MG Oral Tablet")],
        next_url=f"{FHIR_BASE}/MedicationRequest?page=2",
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{FHIR_BASE}/MedicationRequest?page=2").respond(
            json=bundle([tacrolimus()], next_url=f"{FHIR_BASE}/MedicationRequest?page=3")
        )
        mock.get(f"{FHIR_BASE}/MedicationRequest?page=3").respond(json=bundle([]))
        response = await patient_view(services, settings, http, prefetch)
        assert mock.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert of_topic(response.cards, "data-incomplete") == []


async def test_next_links_to_another_server_are_not_followed(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["conditions"] = bundle([], next_url="https://attacker.example.com/fhir/Condition?page=2")
    with respx.mock(assert_all_called=False) as mock:
        response = await patient_view(services, settings, http, prefetch)
        assert len(mock.calls) == 0
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.detail is not None
    assert "another server" in card.detail


async def test_paging_without_a_server_reports_the_first_page_only(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["observations"] = bundle([], next_url=f"{FHIR_BASE}/Observation?page=2")
    response = await evaluator(services, settings, http).evaluate(
        "tacrolimus-patient-view", hook_request(prefetch=prefetch)
    )
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.detail is not None
    assert "only the first page" in card.detail


async def test_redirects_are_not_followed(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["allergies"]
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/AllergyIntolerance\?.*").respond(
            302, headers={"Location": "https://elsewhere.example.com/steal"}
        )
        response = await patient_view(services, settings, http, prefetch)
        assert len(mock.calls) == 1
    assert of_topic(response.cards, "data-incomplete")[0].detail is not None
    assert "answered 302" in of_topic(response.cards, "data-incomplete")[0].detail


async def test_a_dstu2_server_is_asked_for_medication_orders(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch()
    del prefetch["medicationRequests"]
    with respx.mock(assert_all_called=True) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/MedicationRequest\?.*").respond(
            400,
            json={"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Unknown resource type"}]},
        )
        mock.get(url__regex=rf"^{FHIR_BASE}/MedicationOrder\?.*").respond(
            json=bundle([tacrolimus(resource_type="MedicationOrder")])
        )
        response = await patient_view(services, settings, http, prefetch)
    assert of_topic(response.cards, "data-incomplete") == []


async def test_non_json_answers_make_the_key_unavailable(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["patient"]
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}").respond(200, text="<html>login</html>")
        response = await patient_view(services, settings, http, prefetch)
    assert of_topic(response.cards, "data-incomplete")[0].detail is not None
    assert "not JSON" in of_topic(response.cards, "data-incomplete")[0].detail


async def test_a_patient_read_that_finds_nothing_is_empty_not_an_error(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["patient"]
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}").respond(404)
        response = await patient_view(services, settings, http, prefetch)
    assert of_topic(response.cards, "data-incomplete") == []


# Size caps on FHIR answers


def endless_bundle(counter: list[int]) -> httpx.Response:
    """An answer that never ends: a Bundle's start, then 1 KB chunks for ever, counted as they are sent."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"resourceType": "Bundle", "type": "searchset", "entry": ['
        while True:
            counter[0] += 1
            yield b" " * 1024
            await asyncio.sleep(0)

    return httpx.Response(200, headers={"Content-Type": "application/fhir+json"}, content=chunks())


async def test_an_answer_over_the_size_cap_is_not_read_and_the_key_is_reported_incomplete(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    settings = settings.model_copy(update={"fhir_max_response_bytes": 20_000, "fhir_deadline": 5.0})
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["conditions"]
    sent = [0]
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/Condition\?.*").mock(side_effect=lambda _: endless_bundle(sent))
        response = await patient_view(services, settings, http, prefetch)
    assert sent[0] < 40  # it stopped reading at the cap (20 KB), well before the deadline
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.detail is not None
    assert "**Data only partly received:**" in card.detail
    assert "the patient's conditions: the FHIR server's answer was larger than 20,000 bytes" in card.detail


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    settings = settings.model_copy(update={"fhir_max_response_bytes": 1_000})
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["allergies"]
    big = bundle(
        [{"resourceType": "AllergyIntolerance", "id": f"a{n}", "code": {"text": "x"}} for n in range(50)]
    )
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__regex=rf"^{FHIR_BASE}/AllergyIntolerance\?.*").respond(json=big)
        response = await patient_view(services, settings, http, prefetch)
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.detail is not None
    assert "the patient's allergies: the FHIR server's answer was larger than 1,000 bytes" in card.detail


async def test_a_later_page_over_the_cap_keeps_the_pages_already_read(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    settings = settings.model_copy(update={"fhir_max_response_bytes": 20_000})
    prefetch = full_prefetch()
    prefetch["medicationRequests"] = bundle([tacrolimus()], next_url=f"{FHIR_BASE}/MedicationRequest?page=2")
    sent = [0]
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{FHIR_BASE}/MedicationRequest?page=2").mock(side_effect=lambda _: endless_bundle(sent))
        response = await patient_view(services, settings, http, prefetch)
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.detail is not None
    assert "the patient's active medication orders: the FHIR server's answer was larger than" in card.detail
    assert len(response.cards) > 1  # the tacrolimus on the first page is still checked


async def test_the_answers_of_one_call_share_a_total_cap(
    services: list[Service], settings: Settings, http: httpx.AsyncClient
) -> None:
    """Each answer is under the per-answer cap, but together they pass the call's total."""
    settings = settings.model_copy(update={"fhir_max_response_bytes": 50_000, "fhir_max_total_bytes": 60_000})
    prefetch = full_prefetch([tacrolimus()])
    for key in ("conditions", "observations", "immunizations", "allergies"):
        del prefetch[key]
    filler = [{"resourceType": "Basic", "id": f"b{n}", "code": {"text": "x" * 200}} for n in range(100)]

    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith=FHIR_BASE).respond(json=bundle(filler))  # about 25 KB each
        response = await patient_view(services, settings, http, prefetch)
    [card] = of_topic(response.cards, "data-incomplete")
    assert card.detail is not None
    assert "the FHIR server's answers to this call passed 60,000 bytes in all" in card.detail
