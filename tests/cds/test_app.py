"""Hook calls over HTTP: conformance (checklist §12 items 2, 4, 5, 6, 7, 12) and error bodies."""

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bench.load import free_port
from cds.app import build_app
from cds.clock import fixed
from cds.service import Service
from cds.settings import Settings
from tests.builders import (
    example,
    full_prefetch,
    hook_request,
    medication_request,
    of_topic,
    tacrolimus,
    walk_empty,
)
from tests.clock import now

PV = "/cds-services/tacrolimus-patient-view"
OSEL = "/cds-services/tacrolimus-order-select"
OSIGN = "/cds-services/tacrolimus-order-sign"


def post(client: TestClient, path: str, body: Any) -> Any:
    return client.post(path, content=orjson.dumps(body), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("path", "hook"), [(PV, "patient-view"), (OSEL, "order-select"), (OSIGN, "order-sign")]
)
def test_each_service_answers_a_minimal_valid_request(client: TestClient, path: str, hook: str) -> None:
    drafts = [medication_request("d1", "Amoxicillin 500 MG Oral Capsule", status="draft")]
    response = post(client, path, hook_request(hook, full_prefetch(), drafts=drafts))
    assert response.status_code == 200
    assert response.json() == {"cards": []}


@pytest.mark.parametrize(
    "name",
    [
        "order-select-r4-clarithromycin.json",
        "order-sign-dstu2-medicationorder.json",
        "patient-view-minimal.json",
    ],
)
def test_sandbox_payload_shapes_replay(client: TestClient, name: str) -> None:
    body = example(name)
    path = {"patient-view": PV, "order-select": OSEL, "order-sign": OSIGN}[body["hook"]]
    if "fhirServer" in body:
        del body["fhirServer"]  # replay offline: every key is prefetched
    response = post(client, path, body)
    assert response.status_code == 200, response.text
    assert walk_empty(response.json()) == []
    for card in response.json()["cards"]:
        assert len(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]
        assert card["source"]["url"]
        assert card["source"]["topic"]["code"]


def test_no_prefetch_and_no_fhir_server_is_412(client: TestClient) -> None:
    response = post(client, PV, hook_request())
    assert response.status_code == 412
    body = response.json()
    assert body["error"] == "precondition_failed"
    assert body["missing"][0]["prefetch"] == "medicationRequests"
    assert "medication orders" in body["message"]


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"resourceType": "Bundle", "type": "searchset", "total": 0},
        {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception"}]},
        "123",
        [1, 2],
    ],
)
def test_odd_prefetch_values_never_cause_a_5xx(client: TestClient, value: Any) -> None:
    prefetch = full_prefetch([tacrolimus()])
    prefetch["allergies"] = value
    response = post(client, PV, hook_request(prefetch=prefetch))
    assert response.status_code == 200
    cards = of_topic(response.json()["cards"], "data-incomplete")
    if value is None or (isinstance(value, dict) and value["resourceType"] == "Bundle"):
        assert cards == []  # null and an empty searchset both mean: no allergies recorded
    else:
        assert [c["source"]["topic"]["code"] for c in cards] == ["data-incomplete"]
        assert "allergies" in cards[0]["detail"]


def test_medication_orders_as_operation_outcome_without_server_is_412(client: TestClient) -> None:
    prefetch = full_prefetch()
    prefetch["medicationRequests"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"diagnostics": "timeout"}],
    }
    response = post(client, PV, hook_request(prefetch=prefetch))
    assert response.status_code == 412
    assert "timeout" in response.json()["missing"][0]["reason"]


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("not json", b"{not json", "not valid JSON"),
    ("empty", b"", "empty"),
    ("array", b"[]", "JSON object"),
    ("no hook", orjson.dumps({"hookInstance": "i", "context": {"patientId": "p"}}), "hook"),
    (
        "no hookInstance",
        orjson.dumps({"hook": "patient-view", "context": {"patientId": "p"}}),
        "hookInstance",
    ),
    ("no context", orjson.dumps({"hook": "patient-view", "hookInstance": "i"}), "context"),
    (
        "context not object",
        orjson.dumps({"hook": "patient-view", "hookInstance": "i", "context": []}),
        "context",
    ),
    (
        "no patientId",
        orjson.dumps({"hook": "patient-view", "hookInstance": "i", "context": {}}),
        "context.patientId",
    ),
    (
        "patientId wrong type",
        orjson.dumps({"hook": "patient-view", "hookInstance": "i", "context": {"patientId": 5}}),
        "context.patientId",
    ),
    (
        "hook not string",
        orjson.dumps({"hook": 1, "hookInstance": "i", "context": {"patientId": "p"}}),
        "hook",
    ),
    (
        "auth without server",
        orjson.dumps(
            {
                "hook": "patient-view",
                "hookInstance": "i",
                "context": {"patientId": "p"},
                "fhirAuthorization": {"access_token": "t", "token_type": "Bearer"},
            }
        ),
        "fhirAuthorization was given without fhirServer",
    ),
    (
        "server not a URL",
        orjson.dumps(
            {
                "hook": "patient-view",
                "hookInstance": "i",
                "context": {"patientId": "p"},
                "fhirServer": "file:///etc",
            }
        ),
        "fhirServer",
    ),
    (
        "prefetch not object",
        orjson.dumps(
            {"hook": "patient-view", "hookInstance": "i", "context": {"patientId": "p"}, "prefetch": []}
        ),
        "prefetch",
    ),
]


@pytest.mark.parametrize(("case", "body", "says"), BAD_BODIES, ids=[c for c, _, _ in BAD_BODIES])
def test_malformed_requests_get_400_saying_what_is_wrong(
    client: TestClient, case: str, body: bytes, says: str
) -> None:
    response = client.post(PV, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, case
    assert response.json()["error"] == "invalid_request"
    assert says in response.text
    assert "Traceback" not in response.text


def test_hook_that_does_not_match_the_service_is_400(client: TestClient) -> None:
    response = post(client, PV, hook_request("order-sign", full_prefetch()))
    assert response.status_code == 400
    assert "answers the 'patient-view' hook" in response.json()["message"]


@pytest.mark.parametrize(
    ("context", "says"),
    [
        ({"patientId": "p", "selections": ["MedicationRequest/x"]}, "draftOrders"),
        ({"patientId": "p", "draftOrders": {"resourceType": "Bundle"}}, "selections"),
        ({"patientId": "p", "selections": [], "draftOrders": {"resourceType": "Bundle"}}, "selections"),
        ({"patientId": "p", "selections": ["x"], "draftOrders": {"resourceType": "Bundle"}}, "Type/id"),
        (
            {
                "patientId": "p",
                "selections": ["MedicationRequest/x"],
                "draftOrders": {"resourceType": "List"},
            },
            "Bundle",
        ),
    ],
)
def test_order_select_context_of_the_wrong_shape_is_400(
    client: TestClient, context: dict[str, Any], says: str
) -> None:
    response = post(client, OSEL, {"hook": "order-select", "hookInstance": "i", "context": context})
    assert response.status_code == 400
    assert says in response.text


def test_selection_missing_from_draft_orders_is_400(client: TestClient) -> None:
    body = hook_request(
        "order-select", full_prefetch(), drafts=[tacrolimus("d1")], selections=["MedicationRequest/zz"]
    )
    response = post(client, OSEL, body)
    assert response.status_code == 400
    assert "MedicationRequest/zz" in response.json()["message"]


def test_unknown_service_is_404_listing_the_services(client: TestClient) -> None:
    response = post(client, "/cds-services/nope", hook_request(prefetch=full_prefetch()))
    assert response.status_code == 404
    assert "tacrolimus-patient-view" in response.json()["message"]


def test_unknown_fields_and_extensions_are_ignored(client: TestClient) -> None:
    body = hook_request(prefetch=full_prefetch([tacrolimus()]))
    body["extension"] = {"org.example.flag": True}
    body["user"] = "Practitioner/legacy"
    body["context"]["extension"] = {"com.epic.x": 1}
    assert post(client, PV, body).status_code == 200


def test_user_id_may_be_missing(client: TestClient) -> None:
    body = hook_request(prefetch=full_prefetch())
    del body["context"]["userId"]
    assert post(client, PV, body).status_code == 200


# Error answers keep the connection usable


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """The app under uvicorn on a free loopback port, in a thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_after_a_500_the_kept_open_connection_still_works(
    services: list[Service], settings: Settings
) -> None:
    """uvicorn dropped the connection after an unexpected error without saying Connection: close, so the
    client's next request on it failed. The 500 is a complete answer and the connection stays usable."""
    app = build_app(services, settings, clock=fixed(now()))

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("a bug")

    with serving(app) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/fails", headers={"Origin": "https://sandbox.cds-hooks.org"})
        failed = connection.getresponse()
        body = orjson.loads(failed.read())
        connection.request("GET", "/healthz")
        after = connection.getresponse()
        after.read()
        connection.close()
    assert failed.status == 500
    assert body == {"error": "internal_error", "message": "the service failed; see its log"}
    assert failed.getheader("Access-Control-Allow-Origin") == "https://sandbox.cds-hooks.org"
    assert after.status == 200
