"""A mocked EHR for the SMART app's tests: its SMART configuration, authorization and token endpoints (an
authorization server) and its FHIR server, with respx. The authorization endpoint is never called by the
service (the browser is sent there); tests read the redirect and answer as the EHR would."""

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import respx

from cds.record import PatientRecord
from tests.builders import FHIR_BASE, LOINC, PATIENT_ID, bundle, observation, tacrolimus

ISS = FHIR_BASE
AUTHORIZE = "https://auth.example.org/authorize"
TOKEN_URL = "https://auth.example.org/token"
CLIENT_ID = "tacrolimus-level-story"
# An access token as an EHR issues one: a JWT-looking string that a test looks for in logs and URLs
ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzY29wZSI6InBhdGllbnQifQ.c2VjcmV0LXNpZ25hdHVyZS10ZXN0"
CODE = "auth-code-0b6f"
V2_SCOPE = (
    "launch patient/Patient.rs patient/Observation.rs patient/MedicationRequest.rs"
    " patient/MedicationStatement.rs patient/Condition.rs patient/Medication.rs"
)
CONFIGURATION: dict[str, Any] = {
    "issuer": "https://auth.example.org",
    "authorization_endpoint": AUTHORIZE,
    "token_endpoint": TOKEN_URL,
    "capabilities": ["launch-ehr", "client-public", "context-ehr-patient", "permission-v2", "permission-v1"],
    "code_challenge_methods_supported": ["S256"],
    "grant_types_supported": ["authorization_code"],
}


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def troughs(record: PatientRecord, now: datetime) -> str:
    """The test renderer: the tacrolimus levels of the record it is given, as a tiny SVG and table."""
    found = record.observations_coded(LOINC, ["11253-2"])
    rows = "".join(f"<tr><td>{o.quantity.value:g} {o.quantity.unit}</td></tr>" for o in found if o.quantity)
    return f'<svg role="img"><title>Test level story</title></svg><table class="levels">{rows}</table>'


@dataclass
class EHR:
    """The mocked EHR's state: what the token endpoint was sent, what the FHIR server was asked."""

    iss: str = ISS
    token_url: str = TOKEN_URL
    configuration: dict[str, Any] = field(default_factory=lambda: dict(CONFIGURATION))
    token_answer: tuple[int, Any] | None = None  # (status, JSON) to answer instead of a token
    token_forms: list[dict[str, list[str]]] = field(default_factory=list)
    token_auth: list[str | None] = field(default_factory=list)
    fhir_auth: list[str | None] = field(default_factory=list)
    expected_challenge: str = ""
    scope: str | None = V2_SCOPE
    expires_in: int | None = 3600

    def token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.token_forms.append(form)
        self.token_auth.append(request.headers.get("authorization"))
        if self.token_answer is not None:
            status, body = self.token_answer
            return (
                httpx.Response(status, json=body)
                if not isinstance(body, str)
                else httpx.Response(status, text=body)
            )
        verifier = form.get("code_verifier", [""])[0]
        if form.get("code") != [CODE] or s256(verifier) != self.expected_challenge:
            return httpx.Response(400, json={"error": "invalid_grant"})
        answer: dict[str, Any] = {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "patient": PATIENT_ID}
        if self.scope is not None:
            answer["scope"] = self.scope
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return httpx.Response(200, json=answer)

    def fhir(self, resources: list[dict[str, Any]]) -> Any:
        def answer(request: httpx.Request) -> httpx.Response:
            self.fhir_auth.append(request.headers.get("authorization"))
            if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
                return httpx.Response(401, json={"resourceType": "OperationOutcome", "issue": []})
            return httpx.Response(200, json=bundle(resources))

        return answer

    def read(self, resource: dict[str, Any]) -> Any:
        def answer(request: httpx.Request) -> httpx.Response:
            self.fhir_auth.append(request.headers.get("authorization"))
            if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
                return httpx.Response(401, json={"resourceType": "OperationOutcome", "issue": []})
            return httpx.Response(200, json=resource)

        return answer

    def mount(self, mock: respx.MockRouter, chart: dict[str, list[dict[str, Any]]] | None = None) -> None:
        chart = chart if chart is not None else default_chart()
        mock.get(f"{self.iss}/.well-known/smart-configuration").mock(
            side_effect=lambda request: httpx.Response(200, json=self.configuration)
        )
        mock.post(self.token_url).mock(side_effect=self.token)
        if "Patient" not in chart:  # a chart with no Patient: the server has none to read
            mock.get(url__regex=rf"^{self.iss}/Patient/").respond(
                404, json={"resourceType": "OperationOutcome", "issue": []}
            )
        for kind, resources in chart.items():
            if kind == "Patient":  # a read, not a search
                for patient in resources:
                    mock.get(f"{self.iss}/Patient/{patient['id']}").mock(side_effect=self.read(patient))
                continue
            mock.get(url__regex=rf"^{self.iss}/{kind}\?").mock(side_effect=self.fhir(resources))


PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": PATIENT_ID,
    "name": [{"use": "official", "family": "Okafor", "given": ["Ada"]}],
    "birthDate": "1968-02-29",
    "gender": "female",
}


def default_chart() -> dict[str, list[dict[str, Any]]]:
    from tests.clock import ago_iso

    return {
        "Patient": [PATIENT],
        "MedicationRequest": [tacrolimus()],
        "MedicationStatement": [],
        "Condition": [],
        "Observation": [
            observation("lvl-2", "11253-2", 7.5, "ng/mL", ago_iso(3)),
            observation("lvl-1", "11253-2", 12.5, "ng/mL", ago_iso(10)),
        ],
    }


def redirect_params(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE
    query = parse_qs(parts.query)
    assert all(len(values) == 1 for values in query.values()), query
    return {key: values[0] for key, values in query.items()}
