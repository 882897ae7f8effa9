"""The preview page: what a clinician would see, without an EHR.

Served at `/`: a gallery of bundled example patients, a box to paste any hook request, the services with
their hooks and prefetch templates, and the discovery document itself (public information, shown here
because the discovery endpoint needs a token unless CDS_AUTH=off). Cards are shown as an EHR shows them:
indicator colour, summary, the Markdown detail rendered (raw HTML disabled, so nothing in a record can
inject markup), source link and topic, suggestions and links as buttons, override reasons. Server-rendered
HTML with a little CSS: no scripts, no front-end build, nothing fetched from elsewhere, so it works
offline. Evaluations of examples and pasted requests make no network calls and write nothing.

With ``CDS_PREVIEW_FHIR_SERVERS`` set, a form takes a FHIR server, a patient id and a hook, builds the
request an EHR would send (``cds.ehr``) from one of those servers, and shows its cards: the one part of
the page that makes the service fetch, so it is off by default and limited to the servers listed.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt

from cds import __version__
from cds.clock import fixed
from cds.ehr import HOOKS_WITH_ORDERS, build_request, hook_request_of
from cds.errors import CDSError, RequestError
from cds.evaluate import Evaluator
from cds.models import Card, CDSResponse, DiscoveryResponse
from cds.service import Service, StoryRenderer, service_for_hook
from cds.settings import Settings

log = logging.getLogger(__name__)

MARKDOWN = MarkdownIt("js-default")  # CommonMark with raw HTML off
FROM_HOOK = ""  # the service choice that means "the service for the request's hook"

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header.page{background:#1f3a5f;color:#fff;padding:16px 24px}header.page a{color:#cfe0ff}
footer.page{max-width:980px;margin:0 auto;padding:8px 24px 24px;font-size:13px;color:#4a5262}
main{max-width:980px;margin:0 auto;padding:16px 24px}h1{margin:0;font-size:22px}h2{margin-top:28px}
table{border-collapse:collapse;width:100%;background:#fff}td,th{border:1px solid #dde1e7;padding:6px 8px;
text-align:left;vertical-align:top;font-size:14px}code{font-size:12px;overflow-wrap:anywhere}
code.id{white-space:nowrap;overflow-wrap:normal}pre{background:#fff;border:1px solid #dde1e7;padding:12px;white-space:pre-wrap;
overflow-x:auto;font-size:12px}.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.example{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:12px}
.example a{font-weight:600}.example p{margin:6px 0 0;font-size:14px;color:#4a5262}
.card{background:#fff;border:1px solid #dde1e7;border-left:6px solid #3a6fd8;border-radius:6px;
margin:12px 0;padding:12px 16px}.card.warning{border-left-color:#e39b00}.card.critical{border-left-color:#c62828}
.badge{display:inline-block;font-size:12px;font-weight:700;text-transform:uppercase;padding:2px 8px;
border-radius:10px;background:#3a6fd8;color:#fff;margin-right:8px}.warning .badge{background:#e39b00}
.critical .badge{background:#c62828}.card h3{display:inline;font-size:16px}.detail{font-size:14px;line-height:1.45}
.source{font-size:13px;color:#4a5262}.actions button{margin:4px 8px 4px 0;padding:6px 10px;border-radius:4px;
border:1px solid #1f3a5f;background:#eef3fb;color:#1f3a5f}details{font-size:13px}
textarea{width:100%;min-height:220px;font-family:monospace;font-size:12px}.error{background:#fdecea;
border:1px solid #c62828;padding:12px;border-radius:6px}.note{background:#eef3fb;border:1px solid #c5d4ee;
padding:10px 12px;border-radius:6px;font-size:14px}form.fields label{display:block;margin:8px 0}
form.fields input[type=text],form.fields input[type=url]{width:100%;max-width:560px;padding:6px;font-size:14px}
"""


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    title: str
    description: str
    service_id: str
    request: dict[str, Any]
    as_of: datetime
    """The instant the example is evaluated at: its dates were written for it, so its cards do not change
    with the day the page is opened."""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f'<body><header class="page"><h1>{escape(title)}</h1><a href="/">Examples and services</a> · '
        f'<a href="/#discovery">Discovery</a> · <a href="/docs">API documentation</a></header>'
        f'<main>{body}</main><footer class="page">tacrolimus-cds {escape(__version__)} · '
        "Synthetic examples; not clinical advice: a pharmacist should review the knowledge before clinical use."
        "</footer></body></html>"
    )
    return HTMLResponse(html, status_code=status)


def render_card(card: Card) -> str:
    topic = f" · topic <code>{escape(card.source.topic.code)}</code>" if card.source.topic else ""
    source = escape(card.source.label)
    if card.source.url:
        source = f'<a href="{escape(card.source.url)}" rel="noopener noreferrer">{source}</a>'
    buttons = [f'<button type="button" disabled>{escape(s.label)}</button>' for s in card.suggestions or ()]
    buttons += [
        f'<a href="{escape(link.url)}" rel="noopener noreferrer"><button type="button">{escape(link.label)}</button></a>'
        for link in card.links or ()
    ]
    reasons = "".join(f"<li>{escape(r.display or r.code)}</li>" for r in card.overrideReasons or ())
    return (
        f'<article class="card {card.indicator}" data-topic="{escape(card.source.topic.code if card.source.topic else "")}">'
        f'<span class="badge">{card.indicator}</span><h3 class="summary">{escape(card.summary)}</h3>'
        f'<div class="detail">{MARKDOWN.render(card.detail or "")}</div>'
        f'<p class="source">Source: {source}{topic}</p>'
        + (f'<div class="actions">{"".join(buttons)}</div>' if buttons else "")
        + (f"<details><summary>Override reasons</summary><ul>{reasons}</ul></details>" if reasons else "")
        + "</article>"
    )


def render_cards(response: CDSResponse) -> str:
    if not response.cards:
        return "<p>No cards: nothing to say for this request.</p>"
    return "".join(render_card(card) for card in response.cards)


def render_fetched(server: str, fetched: Mapping[str, str]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(k)}</code></td><td>{escape(v)}</td></tr>" for k, v in fetched.items()
    )
    return (
        f"<h2>Fetched from <code>{escape(server)}</code></h2>"
        f"<table><tr><th>prefetch key</th><th>what the server gave</th></tr>{rows}</table>"
    )


def allowed(server: str, servers: Sequence[str]) -> bool:
    """True when `server` is one of `servers` or below one ('*': any)."""
    server = server.strip().rstrip("/")
    return "*" in servers or any(server == s or server.startswith(s + "/") for s in servers)


def add_preview(
    app: FastAPI,
    services: Sequence[Service],
    examples: Sequence[Example],
    evaluator: Evaluator,
    settings: Settings,
    site: Mapping[str, object] | None = None,
    story: StoryRenderer | None = None,
) -> None:
    """The preview routes. `site`: the site settings in force, shown on the page; `story`: what draws an
    example patient's level story under its cards (built only for this page, never on a hook's path). `evaluator` makes no network calls; the "your own patient" form, when the
    settings enable it, uses the app's live evaluator and HTTP client (app.state)."""
    by_id = {example.id: example for example in examples}
    fhir_servers = settings.preview_fhir_servers
    discovery = orjson.dumps(
        DiscoveryResponse(services=[s.describe() for s in services]).to_json(), option=orjson.OPT_INDENT_2
    ).decode()

    def paste_form(selected: str = FROM_HOOK, text: str = "") -> str:
        options = f'<option value="{FROM_HOOK}">the service for the request\'s hook</option>' + "".join(
            f'<option value="{escape(s.id)}"{" selected" if s.id == selected else ""}>{escape(s.id)} ({escape(s.hook)})</option>'
            for s in services
        )
        return (
            '<h2>Try any hook request</h2><form method="post" action="/preview">'
            f'<label>Service <select name="service">{options}</select></label>'
            f'<textarea name="request" aria-label="Hook request JSON">{escape(text)}</textarea>'
            '<p><button type="submit">Show the cards</button> A hook request, or what '
            "<code>tacrolimus-cds try --json</code> prints.</p></form>"
        )

    def patient_form(server: str = "", patient: str = "", hook: str = "patient-view", order: str = "") -> str:
        if not fhir_servers:
            return ""
        hooks = "".join(
            f'<option value="{escape(h)}"{" selected" if h == hook else ""}>{escape(h)}</option>'
            for h in dict.fromkeys(s.hook for s in services)
        )
        which = (
            "any server but link-local and cloud metadata addresses (development: CDS_PREVIEW_FHIR_SERVERS=*)"
            if "*" in fhir_servers
            else ", ".join(f"<code>{escape(s)}</code>" for s in fhir_servers)
        )
        return (
            '<h2 id="your-patient">Your own patient</h2><p>The service fetches the patient from your FHIR'
            " server with its own prefetch templates, as an EHR with prefetch would, and shows the cards."
            f" Servers allowed here: {which}. No access token is sent: for a server that needs one, use"
            " <code>tacrolimus-cds try --token</code>.</p>"
            '<form class="fields" method="post" action="/preview/patient">'
            f'<label>FHIR server <input type="url" name="fhirServer" required value="{escape(server)}"'
            ' placeholder="https://fhir.example.org/r4"></label>'
            f'<label>Patient id <input type="text" name="patient" required value="{escape(patient)}"></label>'
            f'<label>Hook <select name="hook">{hooks}</select></label>'
            f'<label>Order, for order-select and order-sign: a drug name <input type="text" name="order"'
            f' value="{escape(order)}" placeholder="clarithromycin"></label>'
            '<p><button type="submit">Fetch and show the cards</button></p></form>'
        )

    def discovery_section(request: Request) -> str:
        base = str(request.base_url).rstrip("/")
        if settings.auth == "off":
            access = (
                "This server runs with <code>CDS_AUTH=off</code>: discovery, the hook calls, feedback and"
                " <code>/report</code> take calls without a token (loopback only)."
            )
        else:
            access = (
                f"With <code>CDS_AUTH={escape(settings.auth)}</code>, discovery "
                f'(<a href="/cds-services">/cds-services</a>), the hook calls, feedback and <code>/report</code>'
                " answer 401 without <code>Authorization: Bearer &lt;JWT&gt;</code> whose <code>aud</code>"
                " is the exact URL called"
                + (
                    f". Under <code>make run</code>, make one with <code>tacrolimus-cds token "
                    f"{escape(base)}/cds-services</code>; the README shows a curl call."
                    if settings.auth == "sandbox"
                    else ", signed by a registered client."
                )
                + " <code>/healthz</code>, <code>/metrics</code> and this page need none."
            )
        return (
            '<h2 id="discovery">Discovery</h2><p>What an EHR reads at <code>/cds-services</code> to learn the'
            f' services, shown here as it is public information.</p><p class="note">{access}</p>'
            f"<pre><code>{escape(discovery)}</code></pre>"
        )

    def site_section() -> str:
        if not site:
            return ""
        rows = "".join(
            f"<tr><th>{escape(name)}</th><td>"
            + (
                "<br>".join(escape(str(v)) for v in value)
                if isinstance(value, list)
                else "<br>".join(f"{escape(str(k))}: {escape(str(v))}" for k, v in value.items())
                if isinstance(value, dict)
                else escape(str(value))
            )
            + "</td></tr>"
            for name, value in site.items()
        )
        return (
            '<h2 id="site">Site settings in force</h2><p>From the site file (<code>CDS_SITE_FILE</code>):'
            f" what this service runs, as the site set it.</p><table>{rows}</table>"
        )

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def index(request: Request) -> HTMLResponse:
        rows = "".join(
            f'<tr><td><code class="id">{escape(s.id)}</code></td><td><code class="id">{escape(s.hook)}</code>'
            f"</td><td><strong>{escape(s.title)}</strong><br>{escape(s.description)}</td><td>"
            + "<br>".join(
                f"<code>{escape(k)}</code>: <code>{escape(t.query)}</code>" for k, t in s.prefetch.items()
            )
            + "</td></tr>"
            for s in services
        )
        gallery = "".join(
            f'<div class="example"><a href="/preview/{escape(e.id)}">{escape(e.title)}</a>'
            f'<p>{escape(e.description)}</p><p><code class="id">{escape(e.service_id)}</code></p></div>'
            for e in examples
        )
        body = (
            "<h2>Example patients</h2><p>Synthetic patients: open one to see its cards as an EHR would show them.</p>"
            f'<div class="gallery">{gallery}</div>{patient_form()}{paste_form()}'
            "<h2>Services</h2><table><tr><th>id</th><th>hook</th><th>what it does</th><th>prefetch</th></tr>"
            f"{rows}</table>{site_section()}{discovery_section(request)}"
        )
        return page("Tacrolimus safety service: card preview", body)

    @app.get("/preview/{example_id}", include_in_schema=False, response_class=HTMLResponse)
    async def show_example(example_id: str) -> HTMLResponse:
        example = by_id.get(example_id)
        if example is None:
            return page("Example not found", f'<p class="error">No example {escape(example_id)!s}.</p>', 404)
        as_of = Evaluator(services, settings, http=None, clock=fixed(example.as_of))
        when = f"{example.description} Evaluated as of {example.as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC, the day its dates were written for."
        return await show(as_of, example.service_id, example.request, example.title, when, with_story=True)

    @app.post("/preview", include_in_schema=False, response_class=HTMLResponse)
    async def preview(request: Request) -> HTMLResponse:
        fields = await form_fields(request)
        service_id, text = fields.get("service", FROM_HOOK), fields.get("request", "")
        try:
            body = hook_request_of(orjson.loads(text))
        except orjson.JSONDecodeError as error:
            return failed(paste_form(service_id, text), 400, f"The request is not valid JSON: {error}")
        if service_id == FROM_HOOK:
            try:
                service_id = service_for_hook(
                    services, body.get("hook") if isinstance(body, dict) else None
                ).id
            except RequestError as error:
                return failed(paste_form(service_id, text), 400, f"400: {error.message}")
        return await show(evaluator, service_id, body, "Your request", "", text)

    @app.post("/preview/patient", include_in_schema=False, response_class=HTMLResponse)
    async def your_patient(request: Request) -> HTMLResponse:
        if not fhir_servers:
            message = (
                "The 'your own patient' form is off: CDS_PREVIEW_FHIR_SERVERS lists the servers it may use."
            )
            return page("Not enabled", f'<p class="error">{escape(message)}</p>', 404)
        fields = await form_fields(request)
        server, patient = fields.get("fhirServer", "").strip(), fields.get("patient", "").strip()
        hook, order = fields.get("hook", "patient-view"), fields.get("order", "").strip()
        refill = patient_form(server, patient, hook, order)
        if not allowed(server, fhir_servers):
            log.warning(
                "preview: FHIR server refused",
                extra={
                    "event": "preview_patient",
                    "status": 403,
                    "reason": "not in CDS_PREVIEW_FHIR_SERVERS",
                },
            )
            return failed(refill, 403, f"{server or 'That server'} is not one of the servers allowed here.")
        try:
            service = service_for_hook(services, hook)
            built = await build_request(
                service,
                server,
                patient,
                http=request.app.state.http,
                settings=settings,
                order=order if hook in HOOKS_WITH_ORDERS and order else None,
            )
        except RequestError as error:
            return failed(refill, 400, error.message)
        fetched = render_fetched(built.request["fhirServer"], built.fetched)
        log.info("preview: patient fetched", extra={"event": "preview_patient", "service": service.id})
        return await show(
            request.app.state.evaluator,
            service.id,
            built.request,
            f"Patient/{patient} on your server",
            "",
            before=fetched,
            after=refill,
        )

    async def form_fields(request: Request) -> dict[str, str]:
        parsed = parse_qs((await request.body()).decode("utf-8", "replace"))
        return {name: values[0] for name, values in parsed.items() if values}

    def failed(form: str, status: int, message: str) -> HTMLResponse:
        return page("Cards", f'<p class="error">{escape(message)}</p>{form}', status)

    async def show(
        using: Evaluator,
        service_id: str,
        body: object,
        title: str,
        description: str,
        text: str = "",
        before: str = "",
        after: str = "",
        *,
        with_story: bool = False,
    ) -> HTMLResponse:
        try:
            response = await using.evaluate(service_id, body)
            drawn = ""
            if with_story and story is not None:
                record = await using.record(service_id, body)
                picture = story(record, record.now)
                drawn = f'<section class="story"><h2>Level story</h2>{picture}</section>' if picture else ""
        except CDSError as error:
            message = f'<p class="error">{escape(f"{error.status_code}: {error.message}")}</p>'
            return page(
                "Cards", before + message + (after or paste_form(service_id, text)), error.status_code
            )
        raw = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
        result = (
            f"{before}<p>{escape(description)}</p><p>Service <code>{escape(service_id)}</code></p>"
            f"{render_cards(response)}{drawn}"
            f"<details><summary>The hook request</summary><pre><code>{escape(raw)}</code></pre></details>"
            f"{after}{paste_form(service_id, text or raw)}"
        )
        return page(title, result)
