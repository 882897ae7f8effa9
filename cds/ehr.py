"""Acting as the EHR: the hook request an EHR with prefetch would send for a patient on a FHIR server.

Used by ``tacrolimus-cds try`` and the preview page's "your own patient" form. The service's own prefetch
templates are filled from the server with the service's own FHIR client, under the same limits (the
per-call timeout, one deadline for all calls, the pages followed per key, the entries read) and the same
rules (http(s) only, no link-local or cloud metadata address, no redirects, ``next`` links only on the
same server). A key the server could not provide is sent as an OperationOutcome, as CDS Hooks asks of an
EHR whose prefetch failed. The request never carries the access token: the caller adds it, when it has
one, to the copy it evaluates.
"""

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from cds.egress import blocked_address
from cds.errors import RequestError
from cds.fhir import FHIRClient, SearchResult
from cds.prefetch import fetch_key, gather_until, render
from cds.service import Service
from cds.settings import Settings

HOOKS_WITH_ORDERS = frozenset({"order-select", "order-sign"})
ORDER_TYPES = frozenset({"MedicationRequest", "MedicationOrder"})
DRAFT_ID = "draft-1"
USER_ID = "Practitioner/example"  # an EHR always names its user; no template of ours reads it


@dataclass(frozen=True, slots=True)
class BuiltRequest:
    """The hook request, and what was fetched for each prefetch key in words ("3 resources", or why not)."""

    request: dict[str, Any]
    fetched: Mapping[str, str]


def fhir_server_url(url: str) -> str:
    """The base URL, checked as the service checks a request's fhirServer; RequestError otherwise."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RequestError(f"the FHIR server must be an absolute http(s) URL, not {url!r}")
    blocked = blocked_address(url)
    if blocked:
        raise RequestError(f"the FHIR server {url} is not allowed: {blocked}")
    return url


def draft_order(order: Mapping[str, Any] | str, patient_id: str) -> dict[str, Any]:
    """A draft medication order: a MedicationRequest (or DSTU2 MedicationOrder) as given, completed with an
    id, status and subject where missing; or, from a drug name, a MedicationRequest naming it in text."""
    if isinstance(order, str):
        name = order.strip()
        if not name:
            raise RequestError("the order is empty: give a drug name or a MedicationRequest file")
        return {
            "resourceType": "MedicationRequest",
            "id": DRAFT_ID,
            "status": "draft",
            "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"},
            "medicationCodeableConcept": {"text": name},
        }
    kind = order.get("resourceType")
    if kind not in ORDER_TYPES:
        raise RequestError(f"the order must be a MedicationRequest or MedicationOrder, not {kind!r}")
    resource = dict(order)
    if not isinstance(resource.get("id"), str) or not resource["id"]:
        resource["id"] = DRAFT_ID
    resource.setdefault("status", "draft")
    subject = "patient" if kind == "MedicationOrder" else "subject"
    resource.setdefault(subject, {"reference": f"Patient/{patient_id}"})
    return resource


def context_for(hook: str, patient_id: str, order: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": USER_ID, "patientId": patient_id}
    if hook in HOOKS_WITH_ORDERS:
        if order is None:
            raise RequestError(f"the {hook} hook needs an order: a drug name or a MedicationRequest file")
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": order}],
        }
        if hook == "order-select":
            context["selections"] = [f"{order['resourceType']}/{order['id']}"]
    return context


def operation_outcome(reason: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": reason}],
    }


async def build_request(
    service: Service,
    fhir_server: str,
    patient_id: str,
    *,
    http: httpx.AsyncClient,
    settings: Settings,
    order: Mapping[str, Any] | str | None = None,
    token: SecretStr | None = None,
) -> BuiltRequest:
    """The hook request for `service`, its prefetch filled from `fhir_server`. Raises RequestError when
    the server, the patient id or the order cannot be used."""
    server = fhir_server_url(fhir_server)
    patient_id = patient_id.strip()
    if not patient_id or "/" in patient_id:
        raise RequestError(f"the patient id must be a FHIR id such as 'smart-1288992', not {patient_id!r}")
    drafted = (
        draft_order(order, patient_id) if order is not None and service.hook in HOOKS_WITH_ORDERS else None
    )
    context = context_for(service.hook, patient_id, drafted)
    fhir = FHIRClient(
        http, server, token, timeout=settings.fhir_request_timeout, max_pages=settings.fhir_max_pages
    )
    deadline = asyncio.get_running_loop().time() + settings.fhir_deadline
    jobs = {key: fetch_key(fhir, template, context) for key, template in service.prefetch.items()}
    outcomes = await gather_until(jobs, deadline)
    prefetch: dict[str, Any] = {}
    fetched: dict[str, str] = {}
    for key, template in service.prefetch.items():
        outcome = outcomes[key]
        query = render(template.query, context) or template.query
        if not isinstance(outcome, SearchResult):
            prefetch[key] = operation_outcome(str(outcome))
            fetched[key] = str(outcome)
            continue
        resources = outcome.resources[: settings.max_bundle_entries]
        if "?" not in query and "/_search" not in query:  # a read: the resource, or null when there is none
            prefetch[key] = resources[0] if resources else None
            fetched[key] = "found" if resources else f"{query} was not found"
        else:
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(resources),
                "entry": [{"resource": resource} for resource in resources],
            }
            fetched[key] = f"{len(resources)} resource{'' if len(resources) == 1 else 's'}"
        if outcome.incomplete:
            fetched[key] += f" ({outcome.incomplete}: only those are sent)"
        elif len(outcome.resources) > len(resources):
            fetched[key] += f" (more than {settings.max_bundle_entries}: only those are sent)"
    request = {
        "hook": service.hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": server,
        "context": context,
        "prefetch": prefetch,
    }
    return BuiltRequest(request, fetched)


def hook_request_of(body: object) -> object:
    """The hook request in `body`: the body itself, or the "request" of what `try --json` prints."""
    if isinstance(body, dict) and "hook" not in body and isinstance(body.get("request"), dict):
        return body["request"]
    return body


def with_token(request: Mapping[str, Any], token: SecretStr | None) -> dict[str, Any]:
    """A copy of the request that carries the access token, to evaluate (never to print or store)."""
    copy = dict(request)
    if token is not None:
        copy["fhirAuthorization"] = {"access_token": token.get_secret_value(), "token_type": "Bearer"}
    return copy
