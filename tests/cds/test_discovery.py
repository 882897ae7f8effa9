"""Discovery, CORS and health (checklist §12 items 1 and 10)."""

import re

import pytest
from fastapi.testclient import TestClient

from cds import __version__
from tests.builders import walk_empty

TOKEN = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
VALID_TOKENS = {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}


def test_discovery_lists_three_services_one_per_hook(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    services = response.json()["services"]
    assert sorted(s["hook"] for s in services) == ["order-select", "order-sign", "patient-view"]
    for service in services:
        assert service["id"]
        assert service["description"]
        assert service["title"]
        assert all(isinstance(v, str) for v in service["prefetch"].values())
    assert walk_empty(response.json()) == []


def test_prefetch_templates_use_only_cds_hooks_2_tokens(client: TestClient) -> None:
    for service in client.get("/cds-services").json()["services"]:
        for template in service["prefetch"].values():
            for token in TOKEN.findall(template):
                assert token in VALID_TOKENS or (token.startswith("context.") and token.count(".") == 1), (
                    f"{template}: {token}"
                )


def test_prefetch_covers_what_the_cards_need(client: TestClient) -> None:
    prefetch = client.get("/cds-services").json()["services"][0]["prefetch"]
    queries = " ".join(prefetch.values())
    for resource in (
        "Patient/",
        "MedicationRequest?",
        "MedicationStatement?",
        "Condition?",
        "Observation?",
        "Immunization?",
        "AllergyIntolerance?",
    ):
        assert resource in queries
    for loinc in ("11253-2", "29463-7", "63895-7", "82810-3", "2160-0", "2823-3", "84413-4"):
        assert loinc in prefetch["observations"]


@pytest.mark.parametrize(
    "path",
    [
        "/cds-services",
        "/cds-services/tacrolimus-patient-view",
        "/cds-services/tacrolimus-patient-view/feedback",
    ],
)
@pytest.mark.parametrize("origin", ["https://sandbox.cds-hooks.org", "http://localhost:3000"])
def test_cors_preflight_needs_no_auth_and_allows_the_headers(
    client: TestClient, path: str, origin: str
) -> None:
    response = client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed


def test_a_private_network_preflight_is_answered_as_private_network_access_asks(client: TestClient) -> None:
    """Chromium asks before a public page (the sandbox) calls a service on localhost or a private address."""
    response = client.options(
        "/cds-services/tacrolimus-patient-view",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-private-network"] == "true"
    assert response.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"


def test_a_private_network_preflight_from_an_unknown_origin_is_still_refused(client: TestClient) -> None:
    response = client.options(
        "/cds-services",
        headers={
            "Origin": "https://evil.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_cors_headers_also_on_the_actual_post(client: TestClient) -> None:
    response = client.post(
        "/cds-services/tacrolimus-patient-view",
        content=b"{}",
        headers={"Origin": "https://sandbox.cds-hooks.org"},
    )
    assert response.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"


def test_cors_refuses_unknown_origins(client: TestClient) -> None:
    response = client.options(
        "/cds-services",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_health_reports_the_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "version": __version__}


def test_openapi_documents_the_request_bodies(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/cds-services/{service_id}"]["post"]["requestBody"]
    assert "hookInstance" in body["content"]["application/json"]["schema"]["properties"]
    assert "FhirAuthorization" in schema["components"]["schemas"]
