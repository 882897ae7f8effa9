"""Trust: the EHR's signed token (checklist §9 and §12 item 9), and where the service may fetch from."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from cds.app import build_app
from cds.clients import SANDBOX_ISSUER, SANDBOX_JKU, SANDBOX_JWKS, SANDBOX_PRIVATE_KEY, sandbox_token
from cds.clock import fixed
from cds.errors import ConfigError
from cds.service import Service
from cds.settings import Settings
from cds.store import Store
from tests.builders import FHIR_BASE, full_prefetch, hook_request, medication_request, tacrolimus
from tests.clock import now

BASE = "https://cds.example.org"
ISS = "https://ehr.example.org"
PV = "/cds-services/tacrolimus-patient-view"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = ec.generate_private_key(ec.SECP384R1())


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def sign(
    key: Any = EC_KEY,
    alg: str = "ES384",
    kid: str = "ec-1",
    iss: str = ISS,
    aud: str = BASE + PV,
    lifetime: int = 300,
    iat_offset: int = 0,
    drop: tuple[str, ...] = (),
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    issued = int(now().timestamp()) + iat_offset
    payload = {
        "iss": iss,
        "aud": aud,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    for name in drop:
        payload.pop(name, None)
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT", **(headers or {})})


def clients_file(tmp_path: Path, **extra: Any) -> Path:
    client = {
        "iss": ISS,
        "jwks": {"keys": [public_jwk(EC_KEY, "ec-1", "ES384"), public_jwk(RSA_KEY, "rsa-1", "RS384")]},
        "jku": [f"{ISS}/jwks.json"],
        "fhir_servers": [FHIR_BASE],
        **extra,
    }
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [client]}))
    return path


@pytest.fixture
def secured(tmp_path: Path, services: list[Service]) -> Iterator[TestClient]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        auth="required",
        clients_file=clients_file(tmp_path),
        public_base_url=BASE,
        fhir_deadline=1.0,
    )
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        yield client


def call(client: TestClient, token: str | None, path: str = PV, body: dict[str, Any] | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = orjson.dumps(body if body is not None else hook_request(prefetch=full_prefetch([tacrolimus()])))
    return client.post(path, content=content, headers=headers)


def refused(response: Any) -> None:
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "authentication required"}  # no detail
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_valid_es384_token_passes(secured: TestClient) -> None:
    assert call(secured, sign()).status_code == 200


def test_a_valid_rs384_token_passes(secured: TestClient) -> None:
    assert call(secured, sign(RSA_KEY, "RS384", "rsa-1")).status_code == 200


def test_discovery_and_feedback_are_authenticated_with_their_own_audience(secured: TestClient) -> None:
    refused(secured.get("/cds-services"))
    ok = secured.get("/cds-services", headers={"Authorization": f"Bearer {sign(aud=BASE + '/cds-services')}"})
    assert ok.status_code == 200
    feedback = {
        "feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"}]
    }
    path = f"{PV}/feedback"
    refused(call(secured, sign(aud=BASE + PV), path, feedback))  # the service URL is not the feedback URL
    assert call(secured, sign(aud=BASE + path), path, feedback).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/cds-services/"),
        ("POST", "/cds-services//tacrolimus-patient-view"),
        ("POST", "/cds-services//tacrolimus-patient-view/feedback"),
        ("POST", "/cds-services/tacrolimus-patient-view/"),
    ],
)
def test_a_discovery_url_entered_with_a_trailing_slash_simply_works(
    secured: TestClient, method: str, path: str
) -> None:
    """The sandbox names in aud the URL as typed plus '/' plus the service id, and calls that URL."""
    body: Any = hook_request(prefetch=full_prefetch([tacrolimus()]))
    if path.endswith("/feedback"):
        body = {
            "feedback": [{"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:05:31Z"}]
        }
    headers = {"Authorization": f"Bearer {sign(aud=BASE + path)}"}
    response = secured.request(method, path, json=None if method == "GET" else body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "aud", [BASE + "/cds-services/tacrolimus-order-sign", BASE + "/cds-services", BASE + PV + "/feedback"]
)
def test_the_audience_of_another_endpoint_is_still_refused(secured: TestClient, aud: str) -> None:
    refused(call(secured, sign(aud=aud)))


def test_preflight_needs_no_token(secured: TestClient) -> None:
    response = secured.options(
        PV, headers={"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 200


def test_no_token(secured: TestClient) -> None:
    refused(call(secured, None))


def test_garbage(secured: TestClient) -> None:
    refused(call(secured, "abc.def.ghi"))
    refused(secured.post(PV, content=b"{}", headers={"Authorization": "Basic dXNlcjpwYXNz"}))


def test_alg_none(secured: TestClient) -> None:
    issued = int(now().timestamp())
    claims = {"iss": ISS, "aud": BASE + PV, "iat": issued, "exp": issued + 300, "jti": "n1"}
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": "ec-1"})
    refused(call(secured, unsigned))


def test_hs256_signed_with_the_public_key(secured: TestClient) -> None:
    public_pem = EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    issued = int(now().timestamp())
    claims = {"iss": ISS, "aud": BASE + PV, "iat": issued, "exp": issued + 300, "jti": "h1"}
    header = jwt.utils.base64url_encode(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": "ec-1"}))
    body = jwt.utils.base64url_encode(orjson.dumps(claims))
    import hashlib
    import hmac

    signature = hmac.new(public_pem, header + b"." + body, hashlib.sha256).digest()
    token = b".".join([header, body, jwt.utils.base64url_encode(signature)]).decode()
    refused(call(secured, token))


def test_expired(secured: TestClient) -> None:
    refused(call(secured, sign(iat_offset=-1000, lifetime=300)))


def test_not_yet_valid(secured: TestClient) -> None:
    refused(call(secured, sign(nbf=int(now().timestamp()) + 600)))
    refused(call(secured, sign(iat_offset=600)))


def test_wrong_audience_the_discovery_url_on_a_service_call(secured: TestClient) -> None:
    refused(call(secured, sign(aud=BASE + "/cds-services")))


def test_wrong_issuer(secured: TestClient) -> None:
    refused(call(secured, sign(iss="https://evil.example.com")))


def test_unknown_kid(secured: TestClient) -> None:
    refused(call(secured, sign(kid="nope")))


def test_a_valid_kid_with_another_key(secured: TestClient) -> None:
    refused(call(secured, sign(OTHER_KEY)))


def test_untrusted_jku(secured: TestClient) -> None:
    refused(call(secured, sign(headers={"jku": "https://evil.example.com/jwks.json"})))
    assert call(secured, sign(headers={"jku": f"{ISS}/jwks.json"})).status_code == 200


def test_replayed_jti(secured: TestClient) -> None:
    token = sign()
    assert call(secured, token).status_code == 200
    refused(call(secured, token))


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "jti"])
def test_missing_claims(secured: TestClient, claim: str) -> None:
    refused(call(secured, sign(drop=(claim,))))


def test_tenant_must_match_when_registered(tmp_path: Path, services: list[Service]) -> None:
    settings = Settings(
        database_url="sqlite://",
        auth="required",
        clients_file=clients_file(tmp_path, tenant="a"),
        public_base_url=BASE,
    )
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        refused(call(client, sign()))
        refused(call(client, sign(tenant="b")))
        assert call(client, sign(tenant="a")).status_code == 200


def test_a_token_made_the_way_the_sandbox_makes_it(tmp_path: Path, services: list[Service]) -> None:
    """ES384, typ JWT, kid, jku of the sandbox, iss the sandbox, aud the exact URL, exp = iat + 300, jti."""
    path = tmp_path / "clients.json"
    sandbox = {
        "iss": SANDBOX_ISSUER,
        "jwks": {"keys": [public_jwk(EC_KEY, "sb", "ES384")]},
        "jku": [SANDBOX_JKU],
    }
    path.write_text(json.dumps({"clients": [sandbox]}))
    settings = Settings(database_url="sqlite://", auth="required", clients_file=path)
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        token = sign(kid="sb", iss=SANDBOX_ISSUER, aud="http://testserver" + PV, headers={"jku": SANDBOX_JKU})
        assert call(client, token).status_code == 200  # aud is the URL called: no public base URL set


def test_the_sandbox_profile_trusts_the_shipped_sandbox_key_only(services: list[Service]) -> None:
    settings = Settings(database_url="sqlite://", auth="sandbox")
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        verifier = client.app.state.verifier  # type: ignore[attr-defined]
        assert "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f" in verifier._clients[SANDBOX_ISSUER].keys
        forged = sign(
            kid="44823f3d-0b01-4a6c-a80e-b9d3e8a7226f", iss=SANDBOX_ISSUER, aud="http://testserver" + PV
        )
        refused(call(client, forged))  # signed with another key


def test_the_shipped_sandbox_private_key_is_the_one_the_public_key_set_names() -> None:
    private = serialization.load_pem_private_key(SANDBOX_PRIVATE_KEY.read_bytes(), password=None)
    (published,) = json.loads(SANDBOX_JWKS.read_text())["keys"]
    derived = public_jwk(private, published["kid"], "ES384")
    assert (derived["crv"], derived["x"], derived["y"]) == (published["crv"], published["x"], published["y"])


def test_a_sandbox_token_is_accepted_by_the_sandbox_profile_for_its_url_once(services: list[Service]) -> None:
    settings = Settings(database_url="sqlite://", auth="sandbox")
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        token = sandbox_token("http://testserver" + PV, now=now().timestamp())
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert header == {"alg": "ES384", "typ": "JWT", "kid": header["kid"], "jku": SANDBOX_JKU}
        assert claims["iss"] == SANDBOX_ISSUER
        assert claims["exp"] - claims["iat"] == 300
        assert call(client, token).status_code == 200
        refused(call(client, token))  # its jti was used
        refused(
            call(client, sandbox_token("http://testserver/cds-services", now=now().timestamp()))
        )  # another URL
        assert (
            client.get(
                "/cds-services",
                headers={
                    "Authorization": "Bearer "
                    + sandbox_token("http://testserver/cds-services", now=now().timestamp())
                },
            ).status_code
            == 200
        )


def test_a_sandbox_token_proves_nothing_to_a_service_that_requires_registered_clients(
    secured: TestClient,
) -> None:
    refused(call(secured, sandbox_token(BASE + PV, now=now().timestamp())))


def test_a_remote_key_set_is_fetched_and_refreshed_at_a_bounded_rate(
    tmp_path: Path, services: list[Service]
) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [{"iss": ISS, "jwks_url": f"{ISS}/jwks.json"}]}))
    settings = Settings(database_url="sqlite://", auth="required", clients_file=path, public_base_url=BASE)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.get(f"{ISS}/jwks.json").respond(json={"keys": [public_jwk(EC_KEY, "ec-1", "ES384")]})
        with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
            assert call(client, sign()).status_code == 200
            assert call(client, sign()).status_code == 200
            refused(call(client, sign(kid="rotated")))
            refused(call(client, sign(kid="rotated")))
        assert route.call_count == 1  # cached; an unknown kid does not refetch within the interval


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{", "cannot be read as JSON"),
        ('{"clients": []}', "clients"),
        ('{"clients": [{"iss": "x"}]}', "give exactly one of jwks and jwks_url"),
        ('{"clients": [{"iss": "x", "jwks_url": "http://insecure"}]}', "https URL"),
        ('{"clients": [{"iss": "x", "jwks": {"keys": [{"kty": "EC"}]}}]}', "has no kid"),
    ],
)
def test_a_malformed_clients_file_stops_start_up(
    tmp_path: Path, services: list[Service], content: str, says: str
) -> None:
    path = tmp_path / "clients.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=says):
        build_app(
            services,
            Settings(database_url="sqlite://", auth="required", clients_file=path),
            clock=fixed(now()),
        )


def test_required_auth_without_a_clients_file_stops_start_up(services: list[Service]) -> None:
    with pytest.raises(ConfigError, match="CDS_CLIENTS_FILE"):
        build_app(services, Settings(database_url="sqlite://", auth="required"), clock=fixed(now()))


# Where the service fetches from


def body_with_server(server: str) -> dict[str, Any]:
    body = hook_request(prefetch={})
    body.update(fhirServer=server, fhirAuthorization={"access_token": "secret-token", "token_type": "Bearer"})
    return body


@pytest.mark.parametrize(
    "server",
    [
        "https://unregistered.example.com/fhir",
        "http://169.254.169.254/latest/meta-data",
        "http://metadata.google.internal/fhir",
    ],
)
def test_unregistered_or_metadata_servers_get_no_request(secured: TestClient, server: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        response = call(secured, sign(), body=body_with_server(server))
        assert len(mock.calls) == 0
    assert response.status_code == 412


def test_the_registered_server_is_called_with_the_token(secured: TestClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(url__startswith=FHIR_BASE).respond(json={"resourceType": "Bundle", "type": "searchset"})
        assert call(secured, sign(), body=body_with_server(FHIR_BASE)).status_code == 200
        assert mock.calls
        assert all(c.request.headers["Authorization"] == "Bearer secret-token" for c in mock.calls)
        assert all(str(c.request.url).startswith(FHIR_BASE) for c in mock.calls)


def test_metadata_addresses_are_refused_even_without_auth(client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as mock:
        response = call(client, None, body=body_with_server("http://169.254.169.254/fhir"))
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert "not allowed" in response.json()["missing"][0]["reason"]


# Heavy input, audit and logs


def test_a_body_over_the_cap_is_413(tmp_path: Path, services: list[Service]) -> None:
    settings = Settings(database_url="sqlite://", auth="off", max_body_bytes=1000)
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        response = client.post(PV, content=b"{" + b" " * 2000 + b"}")
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"


def test_bundles_are_read_up_to_the_cap(tmp_path: Path, services: list[Service]) -> None:
    settings = Settings(database_url="sqlite://", auth="off", max_bundle_entries=3)
    prefetch = full_prefetch([tacrolimus(), *[tacrolimus(f"t{n}") for n in range(5)]])
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        cards = call(client, None, body=hook_request(prefetch=prefetch)).json()["cards"]
    [gap] = [c for c in cards if c["source"]["topic"]["code"] == "data-incomplete"]
    assert "more than 3 entries; only the first 3 were read" in gap["detail"]


def test_draft_orders_over_the_cap_are_refused_not_cut(services: list[Service]) -> None:
    """A draft order after the cut could be the tacrolimus: more drafts than the cap is a clear 413."""
    settings = Settings(database_url="sqlite://", auth="off", max_bundle_entries=3)
    drafts = [medication_request(f"d{n}", "Amlodipine 5 MG Oral Tablet", status="draft") for n in range(3)]
    body = hook_request("order-sign", full_prefetch(), drafts=[*drafts, tacrolimus("d9", status="draft")])
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        response = client.post("/cds-services/tacrolimus-order-sign", json=body)
    assert response.status_code == 413
    assert response.json()["message"] == "draftOrders has 4 entries; at most 3 are read"


def test_every_call_is_audited_so_a_card_can_be_traced(secured: TestClient, tmp_path: Path) -> None:
    body = hook_request(prefetch=full_prefetch([tacrolimus()]))
    response = call(secured, sign(), body=body)
    card_uuids = {c["uuid"] for c in response.json()["cards"]}
    refused(call(secured, None))
    secured.portal.call(secured.app.state.audit.flush)  # type: ignore[union-attr, attr-defined, call-arg]
    [row, *_] = Store(f"sqlite:///{tmp_path / 'db.sqlite'}").calls(body["hookInstance"])
    assert (row["client"], row["service_id"], row["status"]) == (ISS, "tacrolimus-patient-view", 200)
    assert {c["uuid"] for c in json.loads(row["cards"])} == card_uuids


def test_logs_hold_ids_and_outcomes_never_tokens(
    secured: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    from cds.logs import JSONFormatter

    token = sign()
    body = body_with_server(FHIR_BASE)
    with respx.mock(assert_all_called=False) as mock, caplog.at_level("INFO"):
        mock.get(url__startswith=FHIR_BASE).respond(json={"resourceType": "Bundle", "type": "searchset"})
        call(secured, token, body=body)
        call(secured, "not-a-token")
    lines = [JSONFormatter().format(r) for r in caplog.records]
    text = "\n".join(lines)
    assert token not in text
    assert "secret-token" not in text
    assert "not-a-token" not in text
    [hook_line] = [
        json.loads(line) for line in lines if '"event":"hook_call"' in line and '"status":200' in line
    ]
    assert hook_line["hookInstance"] == body["hookInstance"]
    assert hook_line["client"] == ISS
    assert hook_line["service"] == "tacrolimus-patient-view"
    assert "latency_ms" in hook_line
