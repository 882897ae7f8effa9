"""Prefetch: templates a service advertises, and getting their data for one request.

For each key the request's value is read as the spec allows (PF-7): absent, ``null`` (the client has no
data: an empty result), a resource, a searchset Bundle (perhaps with a ``next`` link), or an
OperationOutcome. What is absent, failed or unreadable is fetched from ``fhirServer``, all keys
concurrently under one deadline. The result says, per key, the resources and why they may be missing.
"""

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cds.errors import FHIRError, FHIRStatusError
from cds.fhir import FHIRClient, SearchResult, bundle_resources, next_link, outcome_text, unreadable_bundle

_TOKEN = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}
# A server that does not know the query's resource type (e.g. a DSTU2 server asked for MedicationRequest)
_UNSUPPORTED_QUERY = frozenset({400, 404, 405, 422, 501})


@dataclass(frozen=True, slots=True)
class PrefetchTemplate:
    """One prefetch key: the query advertised, queries to try when the server rejects it, and a description
    ("the patient's active medication orders") used when telling the clinician what could not be checked."""

    query: str
    description: str
    alternatives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for query in (self.query, *self.alternatives):
            for token in _TOKEN.findall(query):
                if not (token.startswith("context.") and "." not in token[8:]) and token not in _USER_TOKENS:
                    raise ValueError(f"{query!r}: {{{{{token}}}}} is not a CDS Hooks 2.0 prefetch token")


@dataclass(slots=True)
class KeyData:
    """The data of one key. ``unavailable`` is '' when the data was had; ``incomplete`` is '' when whole."""

    resources: list[Any] = field(default_factory=list)
    unavailable: str = ""
    incomplete: str = ""


def render(query: str, context: Mapping[str, Any]) -> str | None:
    """Fill a template's tokens from the context; None when a token has no primitive value to fill."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        token = match.group(1)
        value: object = None
        if token.startswith("context."):
            value = context.get(token[8:])
        elif token in _USER_TOKENS:
            user = context.get("userId")
            if isinstance(user, str) and user.startswith(_USER_TOKENS[token] + "/"):
                value = user.split("/", 1)[1]
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            missing = True
            return ""
        return quote(str(value), safe="")

    rendered = _TOKEN.sub(fill, query)
    return None if missing else rendered


def read_value(value: object) -> tuple[KeyData | None, str]:
    """Read one prefetch value. Returns (data, '') when usable as it is, (data, why) when the data is
    usable but a next page must still be fetched, and (None, why) when the key must be fetched."""
    if value is None:
        return KeyData(), ""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return None, "the prefetched value is not a FHIR resource"
    if value["resourceType"] == "OperationOutcome":
        return None, f"the EHR could not prefetch it: {outcome_text(value)}"
    if value["resourceType"] != "Bundle":
        return KeyData([value]), ""
    if why := unreadable_bundle(value):
        return None, f"the prefetched Bundle cannot be read: {why}"
    data = KeyData(bundle_resources(value))
    return data, ("next page" if next_link(value) else "")


async def resolve(
    templates: Mapping[str, PrefetchTemplate],
    prefetch: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    fhir: FHIRClient | None,
    deadline: float,
    no_server: str = "no FHIR server was given",
) -> dict[str, KeyData]:
    """Get every key's data: from prefetch where it is usable, else from the FHIR server. ``no_server``
    says why there is no FHIR server to fetch from, when there is none."""
    given = prefetch or {}
    results: dict[str, KeyData] = {}
    jobs: dict[str, Any] = {}
    for key, template in templates.items():
        data, why = read_value(given[key]) if key in given else (None, "not prefetched")
        if data is not None and not why:
            results[key] = data
        elif fhir is None:
            if data is not None:  # a paged Bundle without a server to fetch the rest from
                data.incomplete = f"only the first page was sent, and {no_server}"
                results[key] = data
            else:
                results[key] = KeyData(unavailable=f"{why}, and {no_server}")
        elif data is not None:
            jobs[key] = fhir.follow(given[key])
        else:
            jobs[key] = fetch_key(fhir, template, context)
    if jobs:
        fetched = await gather_until(jobs, deadline)
        for key, outcome in fetched.items():
            if isinstance(outcome, SearchResult):
                results[key] = KeyData(outcome.resources, incomplete=outcome.incomplete)
            else:
                results[key] = KeyData(unavailable=outcome)
    return {key: results[key] for key in templates}


async def fetch_key(fhir: FHIRClient, template: PrefetchTemplate, context: Mapping[str, Any]) -> SearchResult:
    """One key's data from the server: its query, then each alternative the server does not reject as an
    unknown resource type (a DSTU2 server asked for MedicationRequest)."""
    error: FHIRError | None = None
    for query in (template.query, *template.alternatives):
        rendered = render(query, context)
        if rendered is None:
            raise FHIRError("the context lacks a value its query needs")
        try:
            return await fhir.search(rendered)
        except FHIRStatusError as failure:
            if failure.status not in _UNSUPPORTED_QUERY:
                raise
            error = failure
    assert error is not None
    raise error


async def gather_until(jobs: Mapping[str, Any], deadline: float) -> dict[str, Any]:
    """Run coroutines concurrently until the loop time ``deadline``. Each key maps to its result, or to a
    string saying why it has none (its FHIRError, or the deadline)."""
    loop = asyncio.get_running_loop()
    tasks = {key: asyncio.ensure_future(job) for key, job in jobs.items()}
    remaining = deadline - loop.time()
    if remaining > 0:
        await asyncio.wait(tasks.values(), timeout=remaining)
    outcomes: dict[str, Any] = {}
    for key, task in tasks.items():
        if not task.done():
            task.cancel()
            outcomes[key] = "the FHIR server did not answer in time"
        elif isinstance(task.exception(), FHIRError):
            outcomes[key] = f"the FHIR server could not provide it: {task.exception()}"
        elif (error := task.exception()) is not None:
            raise error
        else:
            outcomes[key] = task.result()
    return outcomes
