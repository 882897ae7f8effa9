"""The registered clients: who may call, with which keys, and which FHIR servers we may fetch from for them.

Read once at start-up from the JSON file named by CDS_CLIENTS_FILE:

    {"clients": [{"iss": "https://ehr.example.org",
                  "jwks": {"keys": [...]},            or  "jwks_url": "https://ehr.example.org/jwks.json",
                  "jku": ["https://ehr.example.org/jwks.json"],       (optional: allowed jku values)
                  "tenant": "hospital-a",                             (optional: required tenant claim)
                  "fhir_servers": ["https://ehr.example.org/fhir"]}]}

A malformed file raises ConfigError naming the problem, so the service does not start.
"""

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cds.errors import ConfigError

SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_JWKS = Path(__file__).parent / "data" / "sandbox-jwks.json"
SANDBOX_PRIVATE_KEY = Path(__file__).parent / "data" / "sandbox-private-key.pem"  # public: see data/README
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"


def _https(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"{value!r} must be an absolute https URL")
    return value.rstrip("/")


class ClientEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iss: str = Field(min_length=1)
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    jku: list[str] = Field(default_factory=list)
    tenant: str | None = None
    fhir_servers: list[str] = Field(default_factory=list)

    @field_validator("jwks_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _https(value)

    @field_validator("jku", "fhir_servers")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        return [_https(v) for v in value]

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if (self.jwks is None) == (self.jwks_url is None):
            raise ValueError("give exactly one of jwks and jwks_url")
        return self


class ClientsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clients: list[ClientEntry] = Field(min_length=1)


@dataclass
class Client:
    """A registered caller. ``keys`` holds its static keys by kid; remote key sets are fetched by the
    verifier and cached there."""

    iss: str
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    jwks_url: str | None = None
    jku: frozenset[str] = frozenset()
    tenant: str | None = None
    fhir_servers: tuple[str, ...] = ()
    any_fhir_server: bool = False  # the sandbox profile: its users point it at any FHIR server
    proves_identity: bool = True

    def may_fetch_from(self, url: str) -> bool:
        if self.any_fhir_server:
            return True
        url = url.rstrip("/")
        return any(url == base or url.startswith(base + "/") for base in self.fhir_servers)


def parse_keys(jwks: dict[str, Any], where: str) -> dict[str, jwt.PyJWK]:
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{where}: the key set has no keys")
    parsed: dict[str, jwt.PyJWK] = {}
    for number, key in enumerate(keys):
        if not isinstance(key, dict) or not key.get("kid"):
            raise ConfigError(f"{where}: key {number} has no kid")
        try:
            parsed[str(key["kid"])] = jwt.PyJWK(key)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as error:
            raise ConfigError(f"{where}: key {key['kid']!r} cannot be read: {error}") from None
    return parsed


def load_clients(path: Path) -> dict[str, Client]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"clients file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"clients file {path} cannot be read as JSON: {error}") from None
    try:
        parsed = ClientsFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"clients file {path}: {where}: {message}") from None
    clients: dict[str, Client] = {}
    for number, entry in enumerate(parsed.clients):
        if entry.iss in clients:
            raise ConfigError(f"clients file {path}: clients.{number}: issuer {entry.iss!r} is listed twice")
        keys = parse_keys(entry.jwks, f"clients file {path}: clients.{number}") if entry.jwks else {}
        clients[entry.iss] = Client(
            iss=entry.iss,
            keys=keys,
            jwks_url=entry.jwks_url,
            jku=frozenset(entry.jku),
            tenant=entry.tenant,
            fhir_servers=tuple(entry.fhir_servers),
        )
    return clients


def sandbox_client() -> Client:
    """The public CDS Hooks sandbox, with its key shipped in the package (never fetched)."""
    keys = parse_keys(json.loads(SANDBOX_JWKS.read_text()), str(SANDBOX_JWKS))
    return Client(
        iss=SANDBOX_ISSUER,
        keys=keys,
        jku=frozenset({SANDBOX_JKU}),
        any_fhir_server=True,
        proves_identity=False,
    )


def sandbox_token(audience: str, lifetime: int = 300, now: float | None = None) -> str:
    """A token signed as the public CDS Hooks sandbox signs its calls (ES384, its kid and jku, a fresh jti,
    exp = iat + 300 s), for the URL `audience`. The sandbox's private key is published with its source,
    so such a token proves nothing: only the sandbox profile (CDS_AUTH=sandbox, loopback) accepts it."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": SANDBOX_ISSUER,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
    }
    headers = {"kid": SANDBOX_KID, "jku": SANDBOX_JKU, "typ": "JWT"}
    return jwt.encode(claims, SANDBOX_PRIVATE_KEY.read_bytes(), algorithm="ES384", headers=headers)
