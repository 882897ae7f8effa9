"""The token request: the authorization code and PKCE verifier exchanged at the EHR's token endpoint."""

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from cds.errors import EHRServerError, LaunchError

log = logging.getLogger(__name__)

MAX_TOKEN_RESPONSE = 64 * 1024
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True, slots=True)
class TokenRequest:
    token_endpoint: str
    code: str
    verifier: str
    redirect_uri: str
    client_id: str
    client_secret: SecretStr | None


@dataclass(frozen=True, slots=True)
class TokenResponse:
    access_token: SecretStr
    patient: str
    scope: str | None  # None when the server did not say: what was asked was granted (RFC 6749 5.1)
    expires_in: int | None


async def exchange(http: httpx.AsyncClient, request: TokenRequest, timeout: float) -> TokenResponse:
    """POST the code to the token endpoint; LaunchError when the EHR refuses it, EHRServerError when the
    endpoint fails or answers what is not a usable token response. Nothing of the answer is logged but the
    OAuth error code."""
    form = {
        "grant_type": "authorization_code",
        "code": request.code,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.verifier,
        "client_id": request.client_id,
    }
    auth = (
        httpx.BasicAuth(request.client_id, request.client_secret.get_secret_value())
        if request.client_secret is not None
        else None
    )
    try:
        async with http.stream(
            "POST",
            request.token_endpoint,
            data=form,
            auth=auth,
            headers={"Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        ) as response:
            content = bytearray()
            async for chunk in response.aiter_bytes():
                content += chunk
                if len(content) > MAX_TOKEN_RESPONSE:
                    raise EHRServerError("the EHR's token endpoint answered more than a token response holds")
    except httpx.TimeoutException:
        raise EHRServerError(f"the EHR's token endpoint did not answer within {timeout:g} s") from None
    except httpx.HTTPError as error:
        log.info("token endpoint call failed: %s", type(error).__name__)
        raise EHRServerError(
            f"the EHR's token endpoint could not be reached ({type(error).__name__})"
        ) from None
    body = _json(bytes(content))
    if response.status_code >= 400:
        code = _text(body.get("error"), 64) or "no error code"
        description = _text(body.get("error_description"), 200)
        log.warning("token endpoint refused the code", extra={"event": "smart_token_refused", "error": code})
        said = f"{code}: {description}" if description else code
        if response.status_code in (400, 401):  # RFC 6749 5.2: the code, the client or the grant refused
            raise LaunchError(f"the EHR refused to exchange the authorization code ({said})")
        raise EHRServerError(f"the EHR's token endpoint failed with status {response.status_code} ({said})")
    if response.status_code != 200:
        raise EHRServerError(f"the EHR's token endpoint answered status {response.status_code}, not 200")
    return _token_response(body)


def _json(content: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        body = {}
    return body if isinstance(body, dict) else {}


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _token_response(body: dict[str, Any]) -> TokenResponse:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise EHRServerError("the EHR's token response has no access_token")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise EHRServerError("the EHR's token response is not a Bearer token")
    patient = body.get("patient")
    if not isinstance(patient, str) or not patient:
        raise LaunchError("the EHR gave no patient in context: launch the app from a patient's chart")
    if not FHIR_ID.match(patient):
        raise EHRServerError("the EHR's patient in context is not a FHIR id")
    expires_in = body.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():  # some servers send it as a string
        expires_in = int(expires_in)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = None
    scope = body.get("scope")
    return TokenResponse(SecretStr(token), patient, scope if isinstance(scope, str) else None, expires_in)
