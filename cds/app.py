"""The HTTP face of the service: discovery, hook calls, feedback, health, CORS and error bodies."""

import copy
import functools
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds import __version__
from cds.audit import AuditLog, write_on_repeated_signal
from cds.auth import Verifier, canonical_path
from cds.clients import Client, load_clients, sandbox_client
from cds.clock import Clock, system_clock
from cds.database import Database
from cds.egress import http_client
from cds.errors import (
    CDSError,
    ConfigError,
    DatabaseUnavailable,
    PayloadTooLarge,
    RequestError,
    Unauthorized,
)
from cds.evaluate import Evaluator, validate
from cds.hold import RepeatHold
from cds.memory import freeze_startup_objects
from cds.metrics import CARDS, FEEDBACK, LATENCY, REQUESTS, exposition
from cds.models import CDSResponse, DiscoveryResponse, FeedbackRequest, HookRequest
from cds.preview import Example, add_preview
from cds.service import Service, SitePolicy
from cds.settings import Settings
from cds.smart import StoryRenderer, add_smart_app
from cds.store import AuditCard, AuditEntry, Store

log = logging.getLogger("cds")

HEALTH_TIMEOUT = 0.8  # seconds: /healthz answers within a second, whatever the database does
MAX_LOGGED_CARDS = 20  # card uuids named in one feedback log line

LOCALHOST_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class CanonicalPath:
    """Routes a path however its slashes are spelt: ``/cds-services/`` is discovery and
    ``/cds-services//{id}`` a service, as the sandbox calls them when its discovery URL was entered with a
    trailing slash. No redirect: a redirected POST loses its body in some clients, and the token names the
    URL first called (the verifier accepts that spelling of the endpoint)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (path := canonical_path(scope["path"])) != scope["path"]:
            scope = {**scope, "path": path}
        await self.app(scope, receive, send)


class CatchUnexpected:
    """Answers an unexpected error with a complete 500 and returns, so the connection stays usable.

    An exception handler for Exception would not do: Starlette calls it from its outermost middleware and
    then re-raises, and uvicorn closes the kept-open connection without a ``Connection: close`` header, so
    the client's next request on it fails. An error after the answer has begun cannot be answered: it is
    re-raised and the connection closed, as it must be."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            body = {"error": "internal_error", "message": "the service failed; see its log"}
            await JSONBody(body, status_code=500)(scope, receive, send)


def error_response(error: CDSError) -> JSONBody:
    return JSONBody(error.body(), status_code=error.status_code)


@dataclass(frozen=True, slots=True)
class Serving:
    """What the endpoints use, made once at start-up and given to them as one dependency: FastAPI resolves
    each dependency again on every call, and these never change while the app runs."""

    evaluator: Evaluator
    database: Database
    audit: AuditLog


async def get_serving(request: Request) -> Serving:
    serving: Serving = request.app.state.serving
    return serving


def public_url(request: Request, settings: Settings) -> str:
    """The URL the caller used, as tokens name it in aud: the public base URL when one is set."""
    base = settings.public_base_url or f"{request.url.scheme}://{request.url.netloc}"
    return base.rstrip("/") + request.url.path


async def authenticate(request: Request) -> Client | None:
    """The verified caller, or None when authentication is off; 401 otherwise."""
    settings: Settings = request.app.state.settings
    if settings.auth == "off":
        return None
    verifier: Verifier = request.app.state.verifier
    try:
        return await verifier.verify(request.headers.get("authorization"), public_url(request, settings))
    except Unauthorized as error:
        log.warning(
            "call refused", extra={"event": "unauthorized", "reason": error.reason, "path": request.url.path}
        )
        raise


ServingDep = Annotated[Serving, Depends(get_serving)]
Caller = Annotated[Client | None, Depends(authenticate)]


def registered_clients(settings: Settings) -> dict[str, Client]:
    """The clients to trust, by settings; raises ConfigError when they cannot be had."""
    clients: dict[str, Client] = {}
    if settings.clients_file is not None:
        clients.update(load_clients(settings.clients_file))
    if settings.auth == "required" and not clients:
        raise ConfigError(
            "CDS_AUTH=required needs CDS_CLIENTS_FILE naming the registered clients (docs/security.md);"
            " to try the service on this machine use CDS_AUTH=sandbox (what make run uses) or CDS_AUTH=off"
        )
    if settings.auth == "sandbox":
        sandbox = sandbox_client()
        clients.setdefault(sandbox.iss, sandbox)
    return clients


def failure(error: Exception) -> tuple[int, str]:
    """The status a call that raised `error` answers, and why, for its log line."""
    if isinstance(error, CDSError):
        return error.status_code, error.log_reason()
    return 500, f"unexpected {type(error).__name__}; see the error logged with it"


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than limit bytes (413) without reading the rest."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> object:
    raw = await read_body(request, request.app.state.settings.max_body_bytes)
    if not raw:
        raise RequestError("the request body is empty; a JSON object is expected")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(f"the request body is not valid JSON: {error}") from None


def build_app(
    services: Sequence[Service],
    settings: Settings,
    examples: Sequence[Example] = (),
    policy: SitePolicy | None = None,
    clock: Clock = system_clock,
    story: StoryRenderer | None = None,
) -> FastAPI:
    """The ASGI app, with the preview page at /. Raises ConfigError when the settings or the clients file
    are wrong. `policy`: what the site file asks (the repeat hold's days, the settings shown); `clock`: the
    one "now" of every evaluation, token check, audit entry and hold; `story`: what draws the level story:
    under each example's cards on the preview page, and the SMART app's picture, served at /smart/ when
    CDS_SMART_CLIENT_ID is set."""
    clients = registered_clients(settings)
    if settings.smart_client_id is not None and story is None:
        raise ConfigError("CDS_SMART_CLIENT_ID is set but this app was assembled without the app's picture")
    policy = policy or SitePolicy()
    hold = RepeatHold(policy.hold_days, settings.hmac_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with http_client(settings.fhir_max_connections) as http:
            store = Store(
                settings.database_url,
                timeout=settings.database_timeout,
                connect_timeout=settings.database_connect_timeout,
                clock=clock,
            )
            database = Database(store, settings.database_timeout)

            async def remember(iss: str, jti: str, expires_at: int) -> bool:
                return await database.run(lambda: store.remember_jti(iss, jti, expires_at))

            app.state.settings = settings
            app.state.database = database
            app.state.audit = AuditLog(
                database, interval=settings.audit_flush_interval, max_pending=settings.audit_queue_max
            )
            app.state.http = http
            app.state.evaluator = Evaluator(services, settings, http, clock)
            app.state.serving = Serving(app.state.evaluator, database, app.state.audit)
            app.state.verifier = Verifier(
                clients,
                remember,
                http,
                clock_skew=settings.clock_skew,
                clock=lambda: clock().timestamp(),
                refresh_interval=settings.jwks_refresh_interval,
            )
            log.info(
                "serving %d services; database %s; auth %s",
                len(services),
                store.url.drivername,
                settings.auth,
            )
            if settings.auth == "off":
                log.warning("CDS_AUTH=off: every caller is trusted; use it on loopback only")
            if settings.auth == "sandbox":
                log.warning(
                    "CDS_AUTH=sandbox: tokens signed with the public CDS Hooks sandbox key are accepted."
                    " Its private key is public, so such a token PROVES NOTHING about who sent it:"
                    " development only, loopback only"
                )
            freeze_startup_objects()
            restore_signals = write_on_repeated_signal(app.state.audit)
            try:
                yield
            finally:
                restore_signals()
                await app.state.audit.close()
                database.close()

    # /docs and /redoc serve Swagger UI and ReDoc from the installed fastapi-offline package, never a CDN
    app = FastAPIOffline(
        title="Tacrolimus safety service (CDS Hooks 2.0)",
        description=DESCRIPTION,
        version=__version__,
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
    )
    app.add_middleware(CatchUnexpected)  # inside CORS, so a 500 carries the CORS headers too
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=LOCALHOST_ORIGINS if settings.cors_allow_localhost else None,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        allow_private_network=True,  # Private Network Access: a public page calling a local service
        max_age=600,
    )
    app.add_middleware(CanonicalPath)

    @app.exception_handler(CDSError)
    async def _cds_error(_: Request, error: CDSError) -> Response:
        response = error_response(error)
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = "Bearer"
        if isinstance(error, DatabaseUnavailable):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> Response:
        return error_response(RequestError(f"the request is invalid: {error.errors()[0].get('msg', '')}"))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> Response:
        return JSONBody({"error": "http_error", "message": str(error.detail)}, status_code=error.status_code)

    @app.get("/cds-services", response_model=DiscoveryResponse, tags=["CDS Hooks"])
    async def discovery(serving: ServingDep, caller: Caller) -> Response:
        """The services offered (CDS Hooks 2.0 §Discovery)."""
        body = DiscoveryResponse(services=[s.describe() for s in serving.evaluator.services.values()])
        return JSONBody(body.to_json())

    @app.post(
        "/cds-services/{service_id}",
        response_model=CDSResponse,
        tags=["CDS Hooks"],
        openapi_extra=_body_schema(HookRequest),
        responses={400: {}, 404: {}, 412: {}},
    )
    async def call_service(
        service_id: str,
        request: Request,
        serving: ServingDep,
        caller: Caller,
    ) -> Response:
        """Call a service with a hook request; answers with cards (CDS Hooks 2.0 §Calling a CDS Service)."""
        evaluator, audit, database = serving.evaluator, serving.audit, serving.database
        started = time.perf_counter()
        status, hook_instance, reason = 500, None, None
        cards: tuple[AuditCard, ...] = ()
        patient_key: str | None = None
        try:
            body = await json_body(request)
            if isinstance(body, dict) and isinstance(body.get("hookInstance"), str):
                hook_instance = body["hookInstance"][:200]
            response = await evaluator.evaluate(service_id, body, caller)
            if hold.on and isinstance(body, dict):  # evaluate validated the body: a context with a patientId
                patient_key = hold.patient_key(
                    str(body.get("fhirServer") or ""), str(body["context"]["patientId"])
                )
                response = await held_back(response, patient_key, database)
            status = 200
            cards = tuple(
                AuditCard(c.uuid, c.source.topic.code if c.source.topic else "", c.indicator, c.hold_key)
                for c in response.cards
            )
            return JSONBody(response.to_json())
        except Exception as error:
            status, reason = failure(error)
            raise
        finally:
            client = caller.iss if caller else None
            elapsed = time.perf_counter() - started
            REQUESTS.labels(service_id if status != 404 else "unknown", str(status)).inc()
            LATENCY.labels(service_id if status != 404 else "unknown").observe(elapsed)
            for card in cards:
                CARDS.labels(card.topic, card.indicator).inc()
            log.info(
                "hook call",
                extra={
                    "event": "hook_call",
                    "hookInstance": hook_instance,
                    "service": service_id,
                    "client": client,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 1),
                    "topics": [c.topic for c in cards],
                    "reason": reason,
                },
            )
            audit.record(AuditEntry(clock(), client, service_id, hook_instance, status, cards, patient_key))

    async def held_back(response: CDSResponse, patient_key: str, database: Database) -> CDSResponse:
        """The answer without the cards the clinician overrode for this patient within the hold (never a
        critical one). If the database cannot say, every card is shown: silence must not hide anything."""
        keys = hold.candidates(response.cards)
        if not keys:
            return response
        store, now = database.store, clock()
        try:
            held = await database.run(lambda: store.held(patient_key, keys, now))
        except DatabaseUnavailable:
            return response
        return CDSResponse(cards=hold.without(response.cards, held)) if held else response

    @app.post(
        "/cds-services/{service_id}/feedback",
        tags=["CDS Hooks"],
        openapi_extra=_body_schema(FeedbackRequest),
        responses={400: {}, 404: {}},
    )
    async def feedback(
        service_id: str,
        request: Request,
        serving: ServingDep,
        caller: Caller,
    ) -> Response:
        """Record what the clinician did with cards (CDS Hooks 2.0 §Feedback). Idempotent."""
        evaluator, audit, database = serving.evaluator, serving.audit, serving.database
        status, reason, received, stored = 500, None, None, None
        outcomes: dict[str, int] = {}
        card_ids: list[str] = []
        try:
            evaluator.service(service_id)
            raw = await json_body(request)
            entries = raw.get("feedback") if isinstance(raw, dict) else None
            cap = request.app.state.settings.max_feedback_entries
            if isinstance(entries, list) and len(entries) > cap:
                raise PayloadTooLarge(
                    f"the feedback has {len(entries)} entries; at most {cap} are accepted in one request"
                )
            body = validate(FeedbackRequest, raw, "the feedback")
            received = len(body.feedback)
            card_ids = [entry.card[:100] for entry in body.feedback][:MAX_LOGGED_CARDS]
            for entry in body.feedback:
                outcomes[entry.outcome] = outcomes.get(entry.outcome, 0) + 1
            store = database.store
            stored = await database.run(lambda: store.save(service_id, body.feedback))  # 503 if it cannot be
            try:  # stored: the answer is 200 whatever happens to the metrics' topics
                await audit.flush()  # the cards' topics come from the audit
                topics = await database.run(lambda: [store.topic_of(entry.card) for entry in body.feedback])
            except DatabaseUnavailable:
                topics = [""] * len(body.feedback)
            for entry, topic in zip(body.feedback, topics, strict=True):
                FEEDBACK.labels(entry.outcome, topic or "unknown").inc()
            overridden = [entry.card for entry in body.feedback if entry.outcome == "overridden"]
            if hold.on and overridden:
                now = clock()
                with suppress(DatabaseUnavailable):  # the feedback itself is stored: answered 200
                    await database.run(lambda: store.hold(overridden, hold.days, now))
            status = 200
            return JSONBody({"received": received, "stored": stored})
        except Exception as error:
            status, reason = failure(error)
            raise
        finally:
            # ids and outcomes only: a comment may hold patient data and is never logged
            log.info(
                "feedback",
                extra={
                    "event": "feedback",
                    "service": service_id,
                    "client": caller.iss if caller else None,
                    "status": status,
                    "received": received,
                    "stored": stored,
                    "outcomes": outcomes or None,
                    "cards": card_ids or None,
                    "reason": reason,
                },
            )

    @app.get("/metrics", tags=["Operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics (counts only: no patient data)."""
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/report", tags=["Operations"])
    async def report(serving: ServingDep, caller: Caller) -> Response:
        """The override report: per card topic, how often cards were shown, accepted and overridden, and the
        reasons given. This is how alert fatigue is found and fixed."""
        await serving.audit.flush()
        database = serving.database
        return JSONBody({"topics": await database.run(database.store.override_report)})

    @app.get("/healthz", tags=["Operations"])
    async def health(serving: ServingDep) -> Response:
        """Liveness and readiness: the database answers, within a second."""
        database = serving.database
        try:
            await database.run(database.store.ping, timeout=HEALTH_TIMEOUT)
        except DatabaseUnavailable as error:
            body = {"status": "unavailable", "database": "unavailable", "version": __version__}
            return JSONBody(body, status_code=503, headers={"Retry-After": str(error.retry_after)})
        return JSONBody({"status": "ok", "database": "ok", "version": __version__})

    add_preview(
        app, services, examples, Evaluator(services, settings, None, clock), settings, policy.shown, story
    )
    if settings.smart_client_id is not None and story is not None:
        app.state.smart_sessions = add_smart_app(app, settings, services, story, clock)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (HookRequest, FeedbackRequest):
                components.update(model.model_json_schema(ref_template=REF).get("$defs", {}))
            declare_bearer_token(app, schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


REF = "#/components/schemas/{model}"

DESCRIPTION = """CDS Hooks 2.0 services for tacrolimus: discovery at `/cds-services`, a hook call at
`/cds-services/{id}`, feedback at `/cds-services/{id}/feedback`.

**Tokens.** Unless the service runs with `CDS_AUTH=off`, these and `/report` need
`Authorization: Bearer <JWT>` whose `aud` is the exact URL called. Under `make run` (`CDS_AUTH=sandbox`)
make one with `tacrolimus-cds token URL` and paste it under *Authorize*; each token is good for one call."""

BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A JWT signed by a registered CDS client (CDS Hooks 2.0, Trusting CDS Clients), its aud"
    " the exact URL called. Under make run: `tacrolimus-cds token URL`.",
}


def declare_bearer_token(app: FastAPI, schema: dict[str, Any]) -> None:
    """Declare the bearer token on every operation that authenticates its caller, so the documentation
    says which need one and its "Try it out" can send one."""
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = BEARER
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema and _authenticates(route.dependant):
            for method in route.methods or ():
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    operation["security"] = [{"bearer": []}]


def _authenticates(dependant: Any) -> bool:
    return any(d.call is authenticate or _authenticates(d) for d in dependant.dependencies)


def _body_schema(model: Any) -> dict[str, Any]:
    schema = copy.deepcopy(_model_schema(model))  # FastAPI may merge into it
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@functools.cache
def _model_schema(model: Any) -> dict[str, Any]:
    """A model's JSON schema, made once per process (each app built, in tests one per test, needs it)."""
    schema: dict[str, Any] = model.model_json_schema(ref_template=REF)
    schema.pop("$defs", None)
    return schema
