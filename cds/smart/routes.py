"""The SMART app's routes: ``/smart/launch``, ``/smart/callback`` and ``/smart/app`` (see the package)."""

import hmac
import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta
from html import escape
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cds.clock import Clock
from cds.egress import blocked_address
from cds.errors import CDSError, LaunchError
from cds.evaluate import Evaluator, with_history
from cds.prefetch import KeyData
from cds.preview import page
from cds.record import PatientRecord
from cds.service import Service, StoryRenderer, service_for_hook
from cds.settings import Settings
from cds.smart import pkce
from cds.smart.configuration import RESOURCE_TYPES, discover, read_types
from cds.smart.sessions import Grant, Pending, Session, Sessions
from cds.smart.token import TokenRequest, exchange

log = logging.getLogger(__name__)


COOKIE = "cds_smart_session"
PREFIX = "/smart"
MAX_LAUNCH = 4096  # characters of an opaque launch id accepted
# Every app page: never cached, never a Referer (the callback URL carries the code), nothing but the page
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:;"
    " form-action 'none'; base-uri 'none'",
}


def launch_url(settings: Settings) -> str | None:
    """The app's launch URL, for a card's smart link; None while the app is not registered (the default)."""
    if settings.smart_client_id is None or not settings.public_base_url:
        return None
    return f"{settings.public_base_url.rstrip('/')}{PREFIX}/launch"


def redirect_uri(settings: Settings) -> str:
    return f"{(settings.public_base_url or '').rstrip('/')}{PREFIX}/callback"


def allowed_issuer(iss: str, settings: Settings) -> str:
    """The FHIR base URL of an allowed EHR, as listed; LaunchError for any other (exact match only)."""
    wanted = iss.strip().rstrip("/")
    if not wanted:
        raise LaunchError("the launch names no EHR (iss): open the app from the EHR")
    if wanted not in settings.smart_issuers:
        raise LaunchError("this EHR (iss) is not one the app may be launched from (CDS_SMART_ISSUERS)")
    if why := blocked_address(wanted):
        raise LaunchError(f"this EHR's address is not allowed: {why}")
    return wanted


def error_page(error: CDSError) -> Response:
    restart = (
        "<p>Open the app again from the patient's chart in the EHR.</p>"
        if isinstance(error, LaunchError) and error.status_code == 400
        else "<p>Try again later, or ask whoever runs the EHR's authorization server.</p>"
    )
    body = f'<div class="error" role="alert"><p>{escape(error.message)}.</p></div>{restart}'
    return with_headers(page("The level story could not be opened", body, error.status_code))


def with_headers(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


def fetched_rows(service: Service, data: Mapping[str, KeyData]) -> str:
    """What the EHR gave for each query, and what it did not: a picture never hides missing data."""
    rows = []
    for key, key_data in data.items():
        described = escape(with_history(service.prefetch[key]).description)
        if key_data.unavailable:
            said = f"<strong>not available</strong>: {escape(key_data.unavailable)}"
        else:
            count = len(key_data.resources)
            said = f"{count} resource{'' if count == 1 else 's'}"
            if key_data.incomplete:
                said += f" (<strong>incomplete</strong>: {escape(key_data.incomplete)})"
        rows.append(f"<tr><td>{described}</td><td>{said}</td></tr>")
    return "".join(rows)


def story_page(
    service: Service,
    grant: Grant,
    record: PatientRecord,
    data: Mapping[str, KeyData],
    story: str,
    not_granted: Sequence[str],
) -> HTMLResponse:
    gaps = [key for key, key_data in data.items() if key_data.unavailable or key_data.incomplete]
    warning = (
        '<div class="error" role="alert"><p>Some of the record could not be read (below): the picture'
        " shows only what was.</p></div>"
        if gaps or not_granted
        else ""
    )
    refused = (
        f"<p>The EHR did not grant reading {escape(', '.join(not_granted))}: not fetched.</p>"
        if not_granted
        else ""
    )
    found = record.patient
    said = [found.name or "no name on record"] if found else ["the EHR gave no Patient resource"]
    if found is not None:
        said.append(f"born {found.birth_date.isoformat()}" if found.birth_date else "no birth date on record")
        said.append(found.gender or "sex not recorded")
    body = (
        f'<p class="patient"><strong>{escape(", ".join(said))}</strong></p>'
        f'<p class="note">Patient <code class="id">{escape(grant.patient)}</code> from'
        f" <code>{escape(grant.iss)}</code>, read with the EHR's authorization for this session.</p>"
        f'{warning}<section class="story">{story}</section>'
        f"<h2>Read from the EHR</h2><table><tr><th>data</th><th>what the EHR gave</th></tr>"
        f"{fetched_rows(service, data)}</table>{refused}"
    )
    return page("Tacrolimus level story", body)


def add_smart_app(
    app: FastAPI,
    settings: Settings,
    services: Sequence[Service],
    story: StoryRenderer,
    clock: Clock,
) -> Sessions:
    """The app's routes, served only when the app is registered (CDS_SMART_CLIENT_ID). The record is built
    by the service that answers patient-view; the live evaluator and HTTP client are the app's (app.state).
    Returns the session store (for tests)."""
    client_id = settings.smart_client_id
    if client_id is None:
        raise ValueError("the SMART app is off: CDS_SMART_CLIENT_ID is not set")
    service = service_for_hook(services, "patient-view")
    sessions = Sessions(timedelta(seconds=settings.smart_session_seconds), settings.smart_max_sessions, clock)
    secure = urlsplit(settings.public_base_url or "").scheme == "https"
    callback_uri = redirect_uri(settings)

    def set_cookie(response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=settings.smart_session_seconds,
            path=PREFIX,
            secure=secure,
            httponly=True,
            samesite="lax",
        )

    def session_of(request: Request) -> Session:
        session = sessions.find(request.cookies.get(COOKIE))
        if session is None:
            raise LaunchError("there is no app session in this browser, or it has ended")
        return session

    @app.get(f"{PREFIX}/launch", tags=["SMART app"], response_class=HTMLResponse)
    async def launch(
        request: Request,
        iss: Annotated[str, Query(max_length=2048)] = "",
        launch: Annotated[str, Query(max_length=MAX_LAUNCH)] = "",
    ) -> Response:
        """The EHR launch (SMART App Launch 2, EHR launch): checks iss, reads the EHR's SMART configuration
        and redirects to its authorization endpoint (authorization code, PKCE S256, state)."""
        try:
            server = allowed_issuer(iss, settings)
            if not launch:
                raise LaunchError("the launch has no launch parameter: open the app from the EHR")
            configuration = await discover(request.app.state.http, server, settings.fhir_request_timeout)
        except CDSError as error:
            log.warning("SMART launch refused", extra={"event": "smart_launch", "reason": error.message})
            return error_page(error)
        old = request.cookies.get(COOKIE)
        if old:
            sessions.end(old)
        session = sessions.start()
        verifier = pkce.new_verifier()
        session.pending = Pending(server, configuration, secrets.token_urlsafe(32), verifier)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": callback_uri,
                "launch": launch,
                "scope": configuration.scope,
                "state": session.pending.state,
                "aud": server,
                "code_challenge": pkce.challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = configuration.authorization_endpoint
        log.info("SMART launch", extra={"event": "smart_launch", "iss": server})
        response = RedirectResponse(f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", status_code=303)
        set_cookie(response, session)
        return with_headers(response)

    @app.get(f"{PREFIX}/callback", tags=["SMART app"], response_class=HTMLResponse)
    async def callback(
        request: Request,
        code: Annotated[str, Query(max_length=4096)] = "",
        state: Annotated[str, Query(max_length=512)] = "",
        error: Annotated[str, Query(max_length=256)] = "",
        error_description: Annotated[str, Query(max_length=1024)] = "",
    ) -> Response:
        """The EHR's redirect after authorization: checks the state against the session's, exchanges the
        code (with the PKCE verifier) for an access token, and redirects to the app's page."""
        try:
            session = session_of(request)
            pending = session.pending
            if pending is None:
                raise LaunchError("this app session has no authorization waiting: it was already used")
            if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
                raise LaunchError("the EHR's answer does not belong to this app session (state mismatch)")
            session.pending = None  # one answer per launch, whatever it is
            if error:
                said = f"{error}: {error_description}" if error_description else error
                raise LaunchError(f"the EHR did not authorize the app ({said[:300]})")
            if not code:
                raise LaunchError("the EHR's answer has no authorization code")
            token = await exchange(
                request.app.state.http,
                TokenRequest(
                    pending.configuration.token_endpoint,
                    code,
                    pending.verifier,
                    callback_uri,
                    client_id,
                    settings.smart_client_secret,
                ),
                settings.fhir_request_timeout,
            )
        except CDSError as failure:
            log.warning(
                "SMART callback refused", extra={"event": "smart_callback", "reason": failure.message}
            )
            return error_page(failure)
        granted = read_types(token.scope) if token.scope is not None else frozenset(RESOURCE_TYPES)
        session.grant = Grant(pending.iss, token.patient, token.access_token, granted)
        if token.expires_in is not None:
            sessions.shorten(session, token.expires_in)
        log.info(
            "SMART app authorized",
            extra={"event": "smart_authorized", "iss": pending.iss, "patient": token.patient},
        )
        return with_headers(RedirectResponse(f"{PREFIX}/app", status_code=303))

    @app.get(f"{PREFIX}/app", tags=["SMART app"], response_class=HTMLResponse)
    async def story_view(request: Request) -> Response:
        """The patient's level story, read from the EHR with the session's access token."""
        try:
            session = session_of(request)
            if session.grant is None:
                raise LaunchError("this app session has not been authorized by the EHR")
        except CDSError as error:
            return error_page(error)
        grant = session.grant
        evaluator: Evaluator = request.app.state.evaluator
        record, data = await evaluator.fetch_record(
            service.id, grant.iss, grant.patient, grant.access_token, grant.resource_types
        )
        not_granted = [kind for kind in RESOURCE_TYPES if kind not in grant.resource_types]
        try:
            picture = story(record, record.now)
        except Exception:  # the record is shown as read, and the failure said: never a 500 page
            log.exception("the level story could not be drawn (patient %s)", grant.patient)
            picture = (
                '<div class="error" role="alert"><p>The picture could not be drawn from this record; the'
                " failure is in the service's log.</p></div>"
            )
        html = story_page(service, grant, record, data, picture, not_granted)
        return with_headers(html)

    return sessions
