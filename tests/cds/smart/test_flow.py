"""The SMART app end to end against a respx-mocked EHR (authorization server and FHIR server): the launch,
the redirect to authorize, the callback, the token exchange, the FHIR fetch and the page; and every way it
must refuse, with a clear page and never a 500, and never the token in a log line or a URL."""

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cds.app import build_app
from cds.clock import Clock
from cds.service import Service
from cds.settings import Settings
from tests.builders import PATIENT_ID
from tests.cds.smart.ehr import (
    ACCESS_TOKEN,
    AUTHORIZE,
    CLIENT_ID,
    CODE,
    EHR,
    ISS,
    TOKEN_URL,
    V2_SCOPE,
    redirect_params,
    troughs,
)

BASE = "http://testserver"
LAUNCH = "xyz123-launch"


class Clocks:
    """A clock a test moves forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def smart_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"smart_client_id": CLIENT_ID, "public_base_url": BASE, "smart_issuers": [ISS]}
    )


@pytest.fixture
def moving(now: datetime) -> Clocks:
    return Clocks(now)


@pytest.fixture
def app_client(smart_settings: Settings, services: list[Service], moving: Clocks) -> Iterator[TestClient]:
    clock: Clock = moving
    with TestClient(build_app(services, smart_settings, clock=clock, story=troughs)) as client:
        yield client


def launch(client: TestClient, iss: str = ISS, launch_id: str = LAUNCH) -> httpx.Response:
    response: httpx.Response = client.get(
        "/smart/launch", params={"iss": iss, "launch": launch_id}, follow_redirects=False
    )
    return response


def authorize(client: TestClient, ehr: EHR) -> dict[str, str]:
    """Launch, and the authorization request's parameters (what the browser is sent to the EHR with)."""
    response = launch(client)
    assert response.status_code == 303, response.text
    params = redirect_params(response.headers["location"])
    ehr.expected_challenge = params["code_challenge"]
    return params


def callback(client: TestClient, **params: str) -> httpx.Response:
    response: httpx.Response = client.get("/smart/callback", params=params, follow_redirects=False)
    return response


def test_the_whole_flow_launch_authorize_token_fetch_and_picture(
    app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ehr = EHR()
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        assert params == {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": f"{BASE}/smart/callback",
            "launch": LAUNCH,
            "scope": V2_SCOPE,
            "state": params["state"],
            "aud": ISS,
            "code_challenge": params["code_challenge"],
            "code_challenge_method": "S256",
        }
        assert len(params["state"]) >= 32
        assert len(params["code_challenge"]) == 43  # base64url of 32 bytes, unpadded
        back = callback(app_client, code=CODE, state=params["state"])
        assert back.status_code == 303, back.text
        assert back.headers["location"] == "/smart/app"
        page = app_client.get("/smart/app")
        calls = list(mock.calls)
    assert page.status_code == 200, page.text
    # the token request: the code, the verifier whose S256 is the challenge, the same redirect_uri
    (form,) = ehr.token_forms
    assert form["grant_type"] == ["authorization_code"]
    assert form["code"] == [CODE]
    assert form["redirect_uri"] == [f"{BASE}/smart/callback"]
    assert form["client_id"] == [CLIENT_ID]
    assert ehr.token_auth == [None]  # a public client: no secret
    # the FHIR server was called with the token, for the patient in context
    assert ehr.fhir_auth
    assert set(ehr.fhir_auth) == {f"Bearer {ACCESS_TOKEN}"}
    asked = [str(call.request.url) for call in calls if call.request.method == "GET"]
    # every status: a stopped order is part of the dose history the picture draws
    assert f"{ISS}/MedicationRequest?patient={PATIENT_ID}" in asked
    assert not any("status=active" in url for url in asked)
    assert any(url.startswith(f"{ISS}/Observation?patient={PATIENT_ID}&code=") for url in asked)
    # the patient read, to name them beside their id (two identifiers to check against the chart)
    assert f"{ISS}/Patient/{PATIENT_ID}" in asked
    assert not any("Immunization" in url or "AllergyIntolerance" in url for url in asked)
    assert "<strong>Ada Okafor, born 1968-02-29, female</strong>" in page.text
    # the page: the renderer's picture of the record built from the EHR's data
    assert "<title>Test level story</title>" in page.text
    assert "<td>7.5 ng/mL</td></tr><tr><td>12.5 ng/mL</td>" in page.text
    assert f'<code class="id">{PATIENT_ID}</code>' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    # the token is nowhere but in the Authorization headers sent to the EHR
    assert ACCESS_TOKEN not in page.text
    assert all(ACCESS_TOKEN not in str(call.request.url) for call in calls)
    assert ACCESS_TOKEN not in back.headers["location"]
    assert ACCESS_TOKEN not in caplog.text  # every line, the HTTP clients' included
    # the service's own lines (httpx's name the URLs, the browser's callback URL with its code among them:
    # the service runs httpx at WARNING, cds/logs.py) hold neither the code, the verifier's challenge nor
    # the session cookie
    cookie = app_client.cookies.get("cds_smart_session")
    assert cookie
    service_log = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name != "httpx")
    for secret in (ACCESS_TOKEN, CODE, params["code_challenge"], params["state"], cookie):
        assert secret not in service_log
    assert "smart_authorized" in [getattr(r, "event", "") for r in caplog.records]


def test_the_session_cookie_is_opaque_httponly_samesite_lax(app_client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        EHR().mount(mock)
        response = launch(app_client)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("cds_smart_session=")
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/smart" in cookie
    assert "Max-Age=1800" in cookie
    assert "Secure" not in cookie  # served over http here (the next test: https)


def test_the_cookie_is_secure_when_the_service_is_served_over_https(
    smart_settings: Settings, services: list[Service], now: datetime
) -> None:
    https = smart_settings.model_copy(update={"public_base_url": "https://cds.example.org"})
    app = build_app(services, https, clock=lambda: now, story=troughs)
    with (
        TestClient(app, base_url="https://cds.example.org") as client,
        respx.mock(assert_all_called=False) as mock,
    ):
        EHR().mount(mock)
        response = launch(client)
    assert response.status_code == 303
    assert "Secure" in response.headers["set-cookie"]
    assert (
        redirect_params(response.headers["location"])["redirect_uri"]
        == "https://cds.example.org/smart/callback"
    )


def test_a_smart_1_server_is_asked_for_read_scopes(app_client: TestClient) -> None:
    ehr = EHR()
    ehr.configuration = {**ehr.configuration, "capabilities": ["launch-ehr", "permission-v1"]}
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
    assert params["scope"] == (
        "launch patient/Patient.read patient/Observation.read patient/MedicationRequest.read"
        " patient/MedicationStatement.read patient/Condition.read patient/Medication.read"
    )


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.example.org/fhir",  # not listed
        f"{ISS}/../other",  # below a listed one is not the listed one
        "https://ehr.example.org/fhir-other",
        "http://169.254.169.254/latest",
        "javascript:alert(1)",
        "",
    ],
)
def test_an_iss_not_allowed_is_refused_before_any_call(app_client: TestClient, iss: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        EHR().mount(mock)
        response = launch(app_client, iss=iss)
        assert not mock.calls
    assert response.status_code == 400
    assert "location" not in response.headers  # no redirect anywhere
    assert "set-cookie" not in response.headers
    assert "Open the app again from the patient" in response.text


def test_a_listed_iss_that_is_a_forbidden_address_is_still_refused(
    smart_settings: Settings, services: list[Service], now: datetime
) -> None:
    listed = smart_settings.model_copy(update={"smart_issuers": ["http://169.254.169.254/fhir"]})
    with (
        TestClient(build_app(services, listed, clock=lambda: now, story=troughs)) as client,
        respx.mock() as mock,
    ):
        response = launch(client, iss="http://169.254.169.254/fhir")
        assert not mock.calls
    assert response.status_code == 400
    assert "link-local" in response.text


def test_a_launch_without_launch_is_refused(app_client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        EHR().mount(mock)
        response = launch(app_client, launch_id="")
        assert not mock.calls
    assert response.status_code == 400
    assert "launch parameter" in response.text


@pytest.mark.parametrize(
    ("configuration", "says"),
    [
        ({"token_endpoint": TOKEN_URL}, "has no authorization_endpoint"),
        ({"authorization_endpoint": AUTHORIZE}, "has no token_endpoint"),
        (
            {"authorization_endpoint": "javascript:alert(1)", "token_endpoint": TOKEN_URL},
            "authorization_endpoint is not an absolute http(s) URL",
        ),
        (
            {"authorization_endpoint": AUTHORIZE, "token_endpoint": "http://auth.example.org/token"},
            "token_endpoint is not https, while its FHIR server is",
        ),
        (
            {"authorization_endpoint": AUTHORIZE, "token_endpoint": "https://169.254.169.254/token"},
            "token_endpoint is not allowed: a link-local address",
        ),
        (
            {
                "authorization_endpoint": AUTHORIZE,
                "token_endpoint": TOKEN_URL,
                "code_challenge_methods_supported": ["plain"],
            },
            "does not support PKCE with S256",
        ),
    ],
)
def test_a_smart_configuration_that_cannot_be_used_is_a_502_page(
    app_client: TestClient, configuration: dict[str, Any], says: str
) -> None:
    ehr = EHR()
    ehr.configuration = configuration
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        response = launch(app_client)
    assert response.status_code == 502
    assert says in response.text
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (
            httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []}),
            "publishes no SMART configuration",
        ),
        (httpx.Response(500, text="oops"), "could not be read: the FHIR server answered 500"),
        (httpx.Response(200, text="<html>"), "could not be read: the FHIR server&#x27;s answer is not JSON"),
        (httpx.Response(302, headers={"location": "https://evil.example.org/"}), "answered 302"),
    ],
)
def test_a_smart_configuration_that_cannot_be_read_is_a_502_page(
    app_client: TestClient, answer: httpx.Response, says: str
) -> None:
    with respx.mock() as mock:
        mock.get(f"{ISS}/.well-known/smart-configuration").mock(return_value=answer)
        response = launch(app_client)
    assert response.status_code == 502
    assert says in response.text


def test_a_wrong_state_is_refused_and_no_token_is_asked_for(app_client: TestClient) -> None:
    ehr = EHR()
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        wrong = callback(app_client, code=CODE, state=params["state"][:-1] + "x")
        missing = callback(app_client, code=CODE)
        assert ehr.token_forms == []
        # a forged answer does not spend the launch: the EHR's own answer still completes it, once
        right = callback(app_client, code=CODE, state=params["state"])
        replayed = callback(app_client, code=CODE, state=params["state"])
    for refused in (wrong, missing):
        assert refused.status_code == 400
        assert "does not belong to this app session (state mismatch)" in refused.text
    assert right.status_code == 303
    assert replayed.status_code == 400
    assert "already used" in replayed.text
    assert len(ehr.token_forms) == 1


def test_a_callback_without_a_session_is_refused(app_client: TestClient) -> None:
    with respx.mock() as mock:
        response = callback(app_client, code=CODE, state="anything")
        assert not mock.calls
    assert response.status_code == 400
    assert "no app session in this browser, or it has ended" in response.text


def test_the_app_page_without_a_session_is_refused(app_client: TestClient) -> None:
    with respx.mock() as mock:
        response = app_client.get("/smart/app")
        assert not mock.calls
    assert response.status_code == 400
    assert "no app session" in response.text


def test_a_session_from_another_browser_is_not_honoured(app_client: TestClient) -> None:
    ehr = EHR()
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        app_client.cookies.clear()  # the callback arrives in a browser that did not launch
        response = callback(app_client, code=CODE, state=params["state"])
    assert response.status_code == 400
    assert ehr.token_forms == []


def test_the_session_ends_with_its_lifetime(app_client: TestClient, moving: Clocks) -> None:
    ehr = EHR()
    ehr.expires_in = None  # the session's own lifetime (1800 s) decides
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        assert callback(app_client, code=CODE, state=params["state"]).status_code == 303
        moving.now += timedelta(seconds=1799)
        assert app_client.get("/smart/app").status_code == 200
        moving.now += timedelta(seconds=1)
        ended = app_client.get("/smart/app")
    assert ended.status_code == 400
    assert "no app session in this browser, or it has ended" in ended.text


def test_the_session_ends_with_the_tokens_expires_in(app_client: TestClient, moving: Clocks) -> None:
    ehr = EHR()
    ehr.expires_in = 300
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        assert callback(app_client, code=CODE, state=params["state"]).status_code == 303
        moving.now += timedelta(seconds=299)
        assert app_client.get("/smart/app").status_code == 200
        moving.now += timedelta(seconds=1)
        ended = app_client.get("/smart/app")
    assert ended.status_code == 400
    assert app_client.app.state.smart_sessions.find(app_client.cookies.get("cds_smart_session")) is None  # type: ignore[attr-defined]


def test_a_launch_awaiting_its_callback_expires_too(app_client: TestClient, moving: Clocks) -> None:
    ehr = EHR()
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        moving.now += timedelta(seconds=1800)
        response = callback(app_client, code=CODE, state=params["state"])
    assert response.status_code == 400
    assert ehr.token_forms == []


def test_the_ehr_refusing_authorization_is_a_clear_page(app_client: TestClient) -> None:
    ehr = EHR()
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        response = callback(
            app_client, error="access_denied", error_description="<b>user said no</b>", state=params["state"]
        )
    assert response.status_code == 400
    assert (
        "the EHR did not authorize the app (access_denied: &lt;b&gt;user said no&lt;/b&gt;)" in response.text
    )
    assert ehr.token_forms == []


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (
            (400, {"error": "invalid_grant", "error_description": "code expired"}),
            400,
            "(invalid_grant: code expired)",
        ),
        (
            (401, {"error": "invalid_client"}),
            400,
            "refused to exchange the authorization code (invalid_client)",
        ),
        ((500, "<html>down</html>"), 502, "failed with status 500 (no error code)"),
        ((200, "not json"), 502, "token response has no access_token"),
        ((200, {"token_type": "Bearer", "patient": PATIENT_ID}), 502, "has no access_token"),
        (
            (200, {"access_token": ACCESS_TOKEN, "token_type": "mac", "patient": PATIENT_ID}),
            502,
            "not a Bearer",
        ),
        ((200, {"access_token": ACCESS_TOKEN, "token_type": "Bearer"}), 400, "gave no patient in context"),
        (
            (200, {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "patient": "../x"}),
            502,
            "not a FHIR id",
        ),
        ((302, {}), 502, "answered status 302, not 200"),
    ],
)
def test_token_endpoint_errors_are_clear_pages_never_500_and_never_show_the_token(
    app_client: TestClient,
    caplog: pytest.LogCaptureFixture,
    answer: tuple[int, Any],
    status: int,
    says: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    ehr = EHR()
    ehr.token_answer = answer
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        response = callback(app_client, code=CODE, state=params["state"])
        after = app_client.get("/smart/app")
    assert response.status_code == status
    assert says in response.text
    assert ACCESS_TOKEN not in response.text
    assert ACCESS_TOKEN not in caplog.text
    assert after.status_code == 400  # nothing was authorized
    assert not ehr.fhir_auth


def test_a_token_endpoint_that_does_not_answer_is_a_502_page(app_client: TestClient) -> None:
    ehr = EHR()
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        mock.post(TOKEN_URL).mock(side_effect=httpx.ConnectTimeout("slow"))
        params = authorize(app_client, ehr)
        response = callback(app_client, code=CODE, state=params["state"])
    assert response.status_code == 502
    assert "did not answer within" in response.text


def test_a_confidential_client_sends_its_secret_with_basic_auth(
    smart_settings: Settings, services: list[Service], now: datetime
) -> None:
    confidential = smart_settings.model_copy(update={"smart_client_secret": SecretStr("s3cret-value")})
    ehr = EHR()
    with (
        TestClient(build_app(services, confidential, clock=lambda: now, story=troughs)) as client,
        respx.mock(assert_all_called=False) as mock,
    ):
        ehr.mount(mock)
        params = authorize(client, ehr)
        assert callback(client, code=CODE, state=params["state"]).status_code == 303
    assert ehr.token_auth == ["Basic dGFjcm9saW11cy1sZXZlbC1zdG9yeTpzM2NyZXQtdmFsdWU="]  # id:secret, base64


def test_only_what_the_ehr_granted_is_fetched_and_the_page_says_what_was_not(app_client: TestClient) -> None:
    ehr = EHR()
    ehr.scope = "launch patient/Observation.rs patient/MedicationRequest.rs"
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        params = authorize(app_client, ehr)
        callback(app_client, code=CODE, state=params["state"])
        page = app_client.get("/smart/app")
        asked = [str(call.request.url) for call in mock.calls if call.request.method == "GET"]
    assert page.status_code == 200
    assert not any("Condition" in url or "MedicationStatement" in url for url in asked)
    assert (
        "The EHR did not grant reading Patient, MedicationStatement, Condition, Medication: not fetched."
        in page.text
    )
    assert not any("/Patient/" in url for url in asked)
    assert "<strong>the EHR gave no Patient resource</strong>" in page.text
    assert "Some of the record could not be read" in page.text


def test_a_fhir_server_that_fails_leaves_the_page_saying_what_is_missing(app_client: TestClient) -> None:
    ehr = EHR()
    chart: dict[str, list[dict[str, Any]]] = {
        "MedicationRequest": [],
        "MedicationStatement": [],
        "Condition": [],
    }
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock, chart)
        mock.get(url__regex=rf"^{ISS}/Observation\?").respond(status_code=503)
        params = authorize(app_client, ehr)
        callback(app_client, code=CODE, state=params["state"])
        page = app_client.get("/smart/app")
    assert page.status_code == 200
    assert (
        "<strong>not available</strong>: the FHIR server could not provide it: the FHIR server answered 503"
        in page.text
    )
    assert "Some of the record could not be read" in page.text


def test_a_new_launch_starts_a_new_session(app_client: TestClient) -> None:
    ehr = EHR()
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock)
        first = launch(app_client).headers["set-cookie"].split(";")[0]
        second = launch(app_client).headers["set-cookie"].split(";")[0]
    assert first != second
    assert len(app_client.app.state.smart_sessions) == 1  # type: ignore[attr-defined]


def test_the_app_is_off_by_default(client: TestClient) -> None:
    with respx.mock() as mock:
        for path in ("/smart/launch?iss=x&launch=y", "/smart/callback", "/smart/app"):
            assert client.get(path, follow_redirects=False).status_code == 404
        assert not mock.calls


def test_a_renderer_that_fails_is_a_page_saying_so_not_a_500(
    smart_settings: Settings, services: list[Service], now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(record: Any, at: datetime) -> str:
        raise ValueError("a bug in the picture")

    ehr = EHR()
    with (
        TestClient(build_app(services, smart_settings, clock=lambda: now, story=broken)) as client,
        respx.mock(assert_all_called=False) as mock,
    ):
        ehr.mount(mock)
        params = authorize(client, ehr)
        callback(client, code=CODE, state=params["state"])
        page = client.get("/smart/app")
    assert page.status_code == 200
    assert "The picture could not be drawn from this record" in page.text
    assert "<td>the patient&#x27;s medication orders</td><td>1 resource</td>" in page.text
    assert "the level story could not be drawn (patient pat-1)" in caplog.text
    assert ACCESS_TOKEN not in caplog.text


def test_a_medication_named_by_reference_is_read_with_the_token(app_client: TestClient) -> None:
    ehr = EHR()
    order = {
        "resourceType": "MedicationRequest",
        "id": "tac-ref",
        "status": "active",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "medicationReference": {"reference": "Medication/med-1"},
    }
    chart: dict[str, list[dict[str, Any]]] = {
        "MedicationRequest": [order],
        "MedicationStatement": [],
        "Condition": [],
        "Observation": [],
    }
    medication = {
        "resourceType": "Medication",
        "id": "med-1",
        "code": {"text": "Tacrolimus 1 MG Oral Capsule"},
    }
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock, chart)
        read = mock.get(f"{ISS}/Medication/med-1").respond(json=medication)
        params = authorize(app_client, ehr)
        callback(app_client, code=CODE, state=params["state"])
        assert app_client.get("/smart/app").status_code == 200
        assert read.call_count == 1
        assert read.calls.last.request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
