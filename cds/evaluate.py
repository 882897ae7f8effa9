"""One hook call from request JSON to response: validate, get the data, build the record, run the cards.

The same ``Evaluator`` serves the HTTP endpoint, the command line and the benchmark.
"""

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from cds.clients import Client
from cds.egress import blocked_address
from cds.errors import DataUnavailable, Issue, PayloadTooLarge, RequestError, ServiceNotFound
from cds.fhir import FHIRClient, bundle_resources
from cds.models import Card, CDSResponse, HookRequest
from cds.models.card import INDICATOR_RANK
from cds.models.request import CONTEXT_MODELS, OrderSelectContext, PatientViewContext
from cds.prefetch import KeyData, PrefetchTemplate, gather_until, resolve
from cds.record import (
    MEDICATION_TYPES,
    PatientRecord,
    RecordBuilder,
    find_medication,
    identifying_parts,
    medication_key,
    unresolved,
)
from cds.record import medication_reference as med_ref
from cds.service import Gaps, Service
from cds.settings import Settings

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def validation_issues(error: ValidationError, prefix: str = "") -> list[Issue]:
    issues = []
    for item in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in item["loc"] if part not in ("function-after", "function-before"))
        where = ".".join(p for p in (prefix, loc) if p) or "body"
        issues.append(Issue(where, str(item["msg"]).removeprefix("Value error, ")))
    return issues


def validate(model: type[M], data: object, what: str, prefix: str = "") -> M:
    """Validate data against a model; a RequestError lists every issue with its location."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        issues = validation_issues(error, prefix)
        summary = "; ".join(f"{i.loc}: {i.msg}" for i in issues[:3])
        raise RequestError(f"{what} is invalid: {summary}", issues) from None


class Evaluator:
    def __init__(
        self,
        services: Sequence[Service],
        settings: Settings,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.services = {service.id: service for service in services}
        if len(self.services) != len(services):
            raise ValueError("service ids must be unique")
        self._settings = settings
        self._http = http
        self._clock = clock

    def service(self, service_id: str) -> Service:
        try:
            return self.services[service_id]
        except KeyError:
            known = ", ".join(sorted(self.services))
            raise ServiceNotFound(f"no service {service_id!r}; this server offers: {known}") from None

    def parse(self, service: Service, body: object) -> tuple[HookRequest, PatientViewContext]:
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object")
        request = validate(HookRequest, body, "the request")
        if request.hook != service.hook:
            raise RequestError(
                f"service {service.id!r} answers the {service.hook!r} hook, not {request.hook!r}",
                [Issue("hook", f"expected {service.hook!r}")],
            )
        model = CONTEXT_MODELS.get(service.hook, PatientViewContext)
        context = validate(model, request.context, f"the {service.hook} context", "context")
        if isinstance(context, OrderSelectContext):
            in_bundle = {
                f"{r.get('resourceType')}/{r.get('id')}"
                for r in bundle_resources(context.draftOrders)
                if isinstance(r, dict)
            }
            absent = [s for s in context.selections if s not in in_bundle]
            if absent:
                raise RequestError(
                    f"selections not found in draftOrders: {', '.join(absent)}",
                    [Issue("context.selections", f"{s} is not in draftOrders") for s in absent],
                )
        return request, context

    async def evaluate(self, service_id: str, body: object, client: Client | None = None) -> CDSResponse:
        """Answer a hook call. ``client`` is the verified caller (None when authentication is off): FHIR
        calls go only to the FHIR servers registered for it."""
        service, request, context, drafts, data, index, medications = await self._gather(
            service_id, body, client
        )
        now = self._clock()
        cards = self._answer(service, context, drafts, data, medications, index, now, request.hookInstance)
        return CDSResponse(cards=cards)

    async def record(self, service_id: str, body: object, client: Client | None = None) -> PatientRecord:
        """The patient record a hook call's full evaluation would read (the fast path aside), for what
        draws it (the preview's level story): no card family runs."""
        service, _, context, drafts, data, index, _ = await self._gather(service_id, body, client)
        selections = getattr(context, "selections", ())
        return self._build(service, context.patientId, drafts, data, index, self._clock(), selections)

    async def _gather(
        self, service_id: str, body: object, client: Client | None
    ) -> tuple[
        Service,
        HookRequest,
        PatientViewContext,
        list[Any],
        dict[str, KeyData],
        dict[str, dict[str, Any]],
        list[dict[str, Any]],
    ]:
        """A hook call's request checked, its prefetch resolved and its Medications fetched: what both the
        answer and the record are made from."""
        service = self.service(service_id)
        request, context = self.parse(service, body)
        drafts = bundle_resources(getattr(context, "draftOrders", {}))
        if len(drafts) > self._settings.max_bundle_entries:  # one after the cut may be the tacrolimus
            cap = self._settings.max_bundle_entries
            raise PayloadTooLarge(f"draftOrders has {len(drafts)} entries; at most {cap} are read")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.fhir_deadline
        fhir, no_server = self._fhir_client(request, client)
        data = await resolve(service.prefetch, request.prefetch, request.context, fhir, deadline, no_server)
        self._cap(data)
        missing = {key: data[key].unavailable for key in sorted(service.required) if data[key].unavailable}
        if missing:
            what = ", ".join(service.prefetch[key].description for key in missing)
            raise DataUnavailable(f"cannot check this patient without {what}", missing)

        index, medications = _medications(data, drafts)
        if fhir is not None:
            await _fetch_medications(fhir, medications, index, deadline)
        return service, request, context, drafts, data, index, medications

    def _answer(
        self,
        service: Service,
        context: PatientViewContext,
        drafts: list[Any],
        data: Mapping[str, KeyData],
        medications: list[dict[str, Any]],
        index: Mapping[str, Mapping[str, Any]],
        now: datetime,
        hook_instance: str,
    ) -> list[Card]:
        """No card when the fast path shows there is none to give; otherwise the full evaluation."""
        if self._nothing_to_say(service, data, medications, index, now, context.patientId):
            return []
        return self._evaluate_record(service, context, drafts, data, index, now, hook_instance)

    def _evaluate_record(
        self,
        service: Service,
        context: PatientViewContext,
        drafts: list[Any],
        data: Mapping[str, KeyData],
        index: Mapping[str, Mapping[str, Any]],
        now: datetime,
        hook_instance: str,
    ) -> list[Card]:
        """The full evaluation: the patient record built from every resource, every card family run."""
        selections = getattr(context, "selections", ())
        record = self._build(service, context.patientId, drafts, data, index, now, selections)
        return self._run(service, record, data, hook_instance)

    async def fetch_record(
        self,
        service_id: str,
        fhir_server: str,
        patient_id: str,
        token: SecretStr,
        resource_types: frozenset[str],
    ) -> tuple[PatientRecord, dict[str, KeyData]]:
        """The patient's record as the service's hook path builds it, fetched from the FHIR server with an
        access token (the SMART app): the service's prefetch queries of ``resource_types`` only (those the
        token's scopes allow), under the same limits, with every status (a stopped order is part of the dose
        history: ``with_history``), then the Medications they reference. Also each key's
        data, whose ``unavailable`` and ``incomplete`` say what is missing. The server must be checked by
        the caller (an allowed issuer)."""
        service = self.service(service_id)
        if self._http is None:
            raise RuntimeError("fetch_record needs an evaluator with an HTTP client")
        templates = {
            key: with_history(template)
            for key, template in service.prefetch.items()
            if re.split(r"[/?]", template.query, maxsplit=1)[0] in resource_types
        }
        fhir = FHIRClient(
            self._http,
            fhir_server,
            token,
            timeout=self._settings.fhir_request_timeout,
            max_pages=self._settings.fhir_max_pages,
            max_response_bytes=self._settings.fhir_max_response_bytes,
            max_total_bytes=self._settings.fhir_max_total_bytes,
        )
        deadline = asyncio.get_running_loop().time() + self._settings.fhir_deadline
        data = await resolve(templates, None, {"patientId": patient_id}, fhir, deadline)
        self._cap(data)
        index, medications = _medications(data, [])
        await _fetch_medications(fhir, medications, index, deadline)
        return self._build(service, patient_id, [], data, index, self._clock()), data

    def _build(
        self,
        service: Service,
        patient_id: str,
        drafts: list[Any],
        data: Mapping[str, KeyData],
        index: Mapping[str, Mapping[str, Any]],
        now: datetime,
        selections: Iterable[str] = (),
    ) -> PatientRecord:
        """The patient record built from the drafts and every key's resources."""
        builder = RecordBuilder(
            hook=service.hook,
            now=now,
            patient_id=patient_id,
            selections=selections,
            medication_index=index,
        )
        builder.add(drafts, where="draftOrders", draft=True)
        for key, key_data in data.items():
            builder.add(key_data.resources, where=f"prefetch {key}")
        return builder.build()

    def _nothing_to_say(
        self,
        service: Service,
        data: Mapping[str, KeyData],
        medications: list[dict[str, Any]],
        index: Mapping[str, Mapping[str, Any]],
        now: datetime,
        patient_id: str,
    ) -> bool:
        """The fast path: True when the service's relevance test shows that no card family has anything to
        say, no medication is left unidentified, and the gap card has nothing to say about what is missing
        (it is asked with an empty record: no family ran). The answer is then no card, as the full
        evaluation would give, without building the record."""
        if service.relevant is None:
            return False
        parts: list[object] = [identifying_parts(resource) for resource in medications]
        parts.extend(index.values())
        if service.relevant(parts):
            return False
        if any(unresolved(resource, index) for resource in medications if "medicationReference" in resource):
            return False
        unavailable = {key for key, d in data.items() if d.unavailable}
        not_run = tuple(family.title for family in service.families if family.needs & unavailable)
        empty = RecordBuilder(hook=service.hook, now=now, patient_id=patient_id).build()
        return service.gap_card(self._gaps(service, data, empty, not_run, ()), empty) is None

    def _fhir_client(self, request: HookRequest, client: Client | None) -> tuple[FHIRClient | None, str]:
        """The FHIR client for this call, or None with the reason there is none. The access token goes only
        to the request's own server, and only when that server is allowed for the caller."""
        if not request.fhirServer:
            return None, "no FHIR server was given"
        if self._http is None:
            return None, "this evaluation makes no network calls"
        blocked = blocked_address(request.fhirServer)
        if blocked:
            log.warning("fhirServer refused: %s", blocked)
            return None, f"the FHIR server is not allowed ({blocked})"
        if client is not None and not client.may_fetch_from(request.fhirServer):
            log.warning("fhirServer is not registered for client %s", client.iss)
            return None, "the FHIR server is not registered for this client"
        token = request.fhirAuthorization.access_token if request.fhirAuthorization else None
        fhir = FHIRClient(
            self._http,
            request.fhirServer,
            token,
            timeout=self._settings.fhir_request_timeout,
            max_pages=self._settings.fhir_max_pages,
            max_response_bytes=self._settings.fhir_max_response_bytes,
            max_total_bytes=self._settings.fhir_max_total_bytes,
        )
        return fhir, ""

    def _cap(self, data: Mapping[str, KeyData]) -> None:
        """Read at most max_bundle_entries resources of a key; say so when there were more."""
        cap = self._settings.max_bundle_entries
        for key_data in data.values():
            if len(key_data.resources) > cap:
                del key_data.resources[cap:]
                key_data.incomplete = f"more than {cap} entries; only the first {cap} were read"

    def _run(
        self, service: Service, record: PatientRecord, data: Mapping[str, KeyData], hook_instance: str
    ) -> list[Card]:
        unavailable = {key for key, d in data.items() if d.unavailable}
        cards: list[Card] = []
        not_run: list[str] = []
        failed: list[str] = []
        for family in service.families:
            if family.needs & unavailable:
                not_run.append(family.title)
                continue
            try:
                cards.extend(family.cards(record))
            except Exception:
                log.exception("card family %r failed (hookInstance %s)", family.title, hook_instance)
                failed.append(family.title)
        gaps = self._gaps(service, data, record, tuple(not_run), tuple(failed))
        if (card := service.gap_card(gaps, record)) is not None:  # it decides: gaps may be in the record too
            cards.append(card)
        cards.sort(key=lambda card: INDICATOR_RANK[card.indicator])
        return cards

    @staticmethod
    def _gaps(
        service: Service,
        data: Mapping[str, KeyData],
        record: PatientRecord,
        not_run: tuple[str, ...],
        failed: tuple[str, ...],
    ) -> Gaps:
        return Gaps(
            unavailable={
                service.prefetch[k].description: d.unavailable for k, d in data.items() if d.unavailable
            },
            incomplete={
                service.prefetch[k].description: d.incomplete for k, d in data.items() if d.incomplete
            },
            not_run=not_run,
            failed=failed,
            skipped=record.skipped,
            unidentified=record.unidentified,
        )


ACTIVE_ONLY = re.compile(r"&status=active(?=&|$)")


def with_history(template: PrefetchTemplate) -> PrefetchTemplate:
    """The query without its `status=active` filter: what the record held before (the level story's
    stopped orders and statements); the hook path asks for active ones only."""
    query = ACTIVE_ONLY.sub("", template.query)
    alternatives = tuple(ACTIVE_ONLY.sub("", q) for q in template.alternatives)
    description = template.description.replace("active ", "")
    return PrefetchTemplate(query, description, alternatives)


def _medications(
    data: Mapping[str, KeyData], drafts: list[Any]
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """One pass over every resource: the Medications by reference, and the medication orders, statements
    and drafts (drafts first, then the keys in order)."""
    index: dict[str, dict[str, Any]] = {}
    medications: list[dict[str, Any]] = []
    for resources in (drafts, *(d.resources for d in data.values())):
        for resource in resources:
            if not isinstance(resource, dict):
                continue
            kind = resource.get("resourceType")
            if kind in MEDICATION_TYPES:
                medications.append(resource)
            elif kind == "Medication":
                rid = resource.get("id")
                if isinstance(rid, str) and rid:
                    index[f"Medication/{rid}"] = resource
    return index, medications


async def _fetch_medications(
    fhir: FHIRClient,
    medications: list[dict[str, Any]],
    index: dict[str, dict[str, Any]],
    deadline: float,
) -> None:
    """Fetch from the FHIR server the Medications referenced but not found in the request."""
    wanted: set[str] = set()
    for resource in medications:
        ref = med_ref(resource)
        if not ref or ref.startswith("#") or resource.get("medicationCodeableConcept"):
            continue
        if find_medication(resource, index):
            continue
        key = medication_key(ref)
        if key.startswith("Medication/") and (ref == key or fhir.on_server(ref)):
            wanted.add(key)
    if not wanted:
        return
    fetched = await gather_until({key: fhir.get(key) for key in sorted(wanted)}, deadline)
    for key, found in fetched.items():
        if isinstance(found, dict) and found.get("resourceType") == "Medication":
            index[key] = found
