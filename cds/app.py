"""The HTTP face of the service: discovery, hook calls, feedback, health, CORS and error bodies."""

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from cds.errors import CDSError, RequestError
from cds.evaluate import Evaluator, validate
from cds.models import CDSResponse, DiscoveryResponse, FeedbackRequest, HookRequest
from cds.service import Service
from cds.settings import Settings
from cds.store import FeedbackStore

log = logging.getLogger("cds")

LOCALHOST_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: CDSError) -> JSONBody:
    return JSONBody(error.body(), status_code=error.status_code)


def get_evaluator(request: Request) -> Evaluator:
    evaluator: Evaluator = request.app.state.evaluator
    return evaluator


def get_store(request: Request) -> FeedbackStore:
    store: FeedbackStore = request.app.state.store
    return store


EvaluatorDep = Annotated[Evaluator, Depends(get_evaluator)]
StoreDep = Annotated[FeedbackStore, Depends(get_store)]


async def json_body(request: Request) -> object:
    raw = await request.body()
    if not raw:
        raise RequestError("the request body is empty; a JSON object is expected")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise RequestError(f"the request body is not valid JSON: {error}") from None


def build_app(services: Sequence[Service], settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=settings.fhir_max_connections)
        async with httpx.AsyncClient(limits=limits, follow_redirects=False) as http:
            app.state.evaluator = Evaluator(services, settings, http)
            app.state.store = FeedbackStore(settings.database_url)
            log.info("serving %d services; feedback store %s", len(services), app.state.store.url.drivername)
            try:
                yield
            finally:
                app.state.store.close()

    app = FastAPI(
        title="Tacrolimus safety service (CDS Hooks 2.0)",
        description="CDS Hooks 2.0 services: discovery at /cds-services.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=LOCALHOST_ORIGINS if settings.cors_allow_localhost else None,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        max_age=600,
    )

    @app.exception_handler(CDSError)
    async def _cds_error(_: Request, error: CDSError) -> Response:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> Response:
        return error_response(RequestError(f"the request is invalid: {error.errors()[0].get('msg', '')}"))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> Response:
        return JSONBody({"error": "http_error", "message": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONBody({"error": "internal_error", "message": "the service failed; see its log"}, 500)

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return JSONBody({"discovery": "/cds-services", "documentation": "/docs", "health": "/healthz"})

    @app.get("/cds-services", response_model=DiscoveryResponse, tags=["CDS Hooks"])
    async def discovery(evaluator: EvaluatorDep) -> Response:
        """The services offered (CDS Hooks 2.0 §Discovery)."""
        body = DiscoveryResponse(services=[s.describe() for s in evaluator.services.values()])
        return JSONBody(body.to_json())

    @app.post(
        "/cds-services/{service_id}",
        response_model=CDSResponse,
        tags=["CDS Hooks"],
        openapi_extra=_body_schema(HookRequest),
        responses={400: {}, 404: {}, 412: {}},
    )
    async def call_service(service_id: str, request: Request, evaluator: EvaluatorDep) -> Response:
        """Call a service with a hook request; answers with cards (CDS Hooks 2.0 §Calling a CDS Service)."""
        started = time.perf_counter()
        status, topics = 500, ""
        try:
            response = await evaluator.evaluate(service_id, await json_body(request))
            status = 200
            topics = ",".join(c.source.topic.code for c in response.cards if c.source.topic)
            return JSONBody(response.to_json())
        except CDSError as error:
            status = error.status_code
            raise
        finally:
            log.info(
                "hook call service=%s status=%d ms=%.1f topics=%s",
                service_id,
                status,
                (time.perf_counter() - started) * 1000,
                topics or "-",
            )

    @app.post(
        "/cds-services/{service_id}/feedback",
        tags=["CDS Hooks"],
        openapi_extra=_body_schema(FeedbackRequest),
        responses={400: {}, 404: {}},
    )
    async def feedback(
        service_id: str, request: Request, evaluator: EvaluatorDep, store: StoreDep
    ) -> Response:
        """Record what the clinician did with cards (CDS Hooks 2.0 §Feedback). Idempotent."""
        evaluator.service(service_id)
        body = validate(FeedbackRequest, await json_body(request), "the feedback")
        stored = await run_in_threadpool(store.save, service_id, body.feedback)
        return JSONBody({"received": len(body.feedback), "stored": stored})

    @app.get("/healthz", tags=["Operations"])
    async def health(store: StoreDep) -> Response:
        """Liveness and readiness: the database answers."""
        try:
            await run_in_threadpool(store.ping)
        except Exception:
            log.exception("health check: database unavailable")
            return JSONBody({"status": "unavailable", "database": "unavailable"}, status_code=503)
        return JSONBody({"status": "ok", "database": "ok"})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (HookRequest, FeedbackRequest):
                components.update(model.model_json_schema(ref_template=REF).get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


REF = "#/components/schemas/{model}"


def _body_schema(model: Any) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
