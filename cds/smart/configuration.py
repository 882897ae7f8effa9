"""The EHR's SMART configuration (``{iss}/.well-known/smart-configuration``) and the scopes asked of it."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from cds.egress import blocked_address
from cds.errors import EHRServerError, FHIRError
from cds.fhir import FHIRClient

WELL_KNOWN = ".well-known/smart-configuration"
# What the app reads, for the patient in context: the patient (name, birth date and sex to identify them;
# age for the target), levels and other results, orders, what the patient reports taking, conditions
# (transplant, colitis), and the Medications that orders name by reference.
RESOURCE_TYPES = (
    "Patient",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "Condition",
    "Medication",
)
# patient/Observation.rs, user/*.read, patient/Condition.cruds: the resource types a granted scope reads
_READ_SCOPE = re.compile(r"^(?:patient|user)/(\*|[A-Za-z]+)\.(read|\*|c?r?u?d?s?)(?:\?.*)?$")


@dataclass(frozen=True, slots=True)
class SmartConfiguration:
    """What the app needs of the EHR's authorization server."""

    authorization_endpoint: str
    token_endpoint: str
    capabilities: frozenset[str]
    code_challenge_methods: frozenset[str] | None  # None when the server does not say (SMART 1 servers)

    @property
    def scope(self) -> str:
        """The scopes to ask for: ``launch`` and read access to each resource type for the patient in
        context, in SMART 2 form (``.rs``) when the server advertises ``permission-v2``, else in SMART 1
        form (``.read``), which SMART 1 servers and SMART 2 servers offering ``permission-v1`` take."""
        suffix = "rs" if "permission-v2" in self.capabilities else "read"
        return " ".join(["launch", *(f"patient/{kind}.{suffix}" for kind in RESOURCE_TYPES)])


def read_types(scope: str, asked: Iterable[str] = RESOURCE_TYPES) -> frozenset[str]:
    """The resource types of ``asked`` that a granted scope string lets the app read (search included)."""
    asked = tuple(asked)
    granted: set[str] = set()
    for part in scope.split():
        match = _READ_SCOPE.match(part)
        if match is None:
            continue
        kind, access = match.groups()
        if access in ("read", "*") or "r" in access:
            granted.update(asked if kind == "*" else (kind,))
    return frozenset(granted) & frozenset(asked)


def endpoint(value: object, name: str, iss: str) -> str:
    """An endpoint of the configuration, checked: absolute http(s), https when the EHR's FHIR server is (the
    code and verifier never travel in clear from an https EHR), and not a forbidden address."""
    if not isinstance(value, str) or not value:
        raise EHRServerError(f"the EHR's SMART configuration has no {name}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EHRServerError(f"the EHR's {name} is not an absolute http(s) URL")
    if urlsplit(iss).scheme == "https" and parts.scheme != "https":
        raise EHRServerError(f"the EHR's {name} is not https, while its FHIR server is")
    if why := blocked_address(value):
        raise EHRServerError(f"the EHR's {name} is not allowed: {why}")
    return value


def parse(body: Mapping[str, Any], iss: str) -> SmartConfiguration:
    """The configuration of a well-known document; EHRServerError when it cannot be used."""
    capabilities = body.get("capabilities")
    methods = body.get("code_challenge_methods_supported")
    configuration = SmartConfiguration(
        authorization_endpoint=endpoint(body.get("authorization_endpoint"), "authorization_endpoint", iss),
        token_endpoint=endpoint(body.get("token_endpoint"), "token_endpoint", iss),
        capabilities=frozenset(c for c in capabilities if isinstance(c, str))
        if isinstance(capabilities, list)
        else frozenset(),
        code_challenge_methods=frozenset(m for m in methods if isinstance(m, str))
        if isinstance(methods, list)
        else None,
    )
    if (
        configuration.code_challenge_methods is not None
        and "S256" not in configuration.code_challenge_methods
    ):
        raise EHRServerError("the EHR does not support PKCE with S256, which the app requires")
    return configuration


async def discover(http: httpx.AsyncClient, iss: str, timeout: float) -> SmartConfiguration:
    """The EHR's SMART configuration, read with the service's FHIR client (its egress rules, no redirects,
    bounded size); EHRServerError when it cannot be had or used."""
    client = FHIRClient(http, iss, None, timeout=timeout, max_pages=1, max_response_bytes=256 * 1024)
    try:
        body = await client.get(WELL_KNOWN)
    except FHIRError as error:
        raise EHRServerError(f"the EHR's SMART configuration could not be read: {error}") from None
    if body is None:
        raise EHRServerError(f"the EHR publishes no SMART configuration at {iss}/{WELL_KNOWN}")
    return parse(body, iss)
