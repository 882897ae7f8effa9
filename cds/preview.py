"""The preview page: what a clinician would see, without an EHR.

Served at `/`: the services with their hooks and prefetch templates, a gallery of bundled example patients
and a box to paste any hook request. Cards are shown as an EHR shows them: indicator colour, summary, the
Markdown detail rendered (raw HTML disabled, so nothing in a record can inject markup), source link and
topic, suggestions and links as buttons, override reasons. Server-rendered HTML with a little CSS: no
scripts, no front-end build, nothing fetched from elsewhere, so it works offline. Evaluations here make no
network calls and write nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt

from cds.errors import CDSError
from cds.evaluate import Evaluator
from cds.models import Card, CDSResponse
from cds.service import Service

MARKDOWN = MarkdownIt("js-default")  # CommonMark with raw HTML off

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header.page{background:#1f3a5f;color:#fff;padding:16px 24px}header.page a{color:#cfe0ff}
main{max-width:980px;margin:0 auto;padding:16px 24px}h1{margin:0;font-size:22px}h2{margin-top:28px}
table{border-collapse:collapse;width:100%;background:#fff}td,th{border:1px solid #dde1e7;padding:6px 8px;
text-align:left;vertical-align:top;font-size:14px}code{font-size:12px;word-break:break-all}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
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
border:1px solid #c62828;padding:12px;border-radius:6px}
"""


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    title: str
    description: str
    service_id: str
    request: dict[str, Any]


def page(title: str, body: str) -> HTMLResponse:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
        f'<body><header class="page"><h1>{escape(title)}</h1><a href="/">Services and examples</a> · '
        f'<a href="/docs">API documentation</a> · <a href="/cds-services">Discovery (JSON)</a></header>'
        f"<main>{body}</main></body></html>"
    )
    return HTMLResponse(html)


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


def add_preview(
    app: FastAPI, services: Sequence[Service], examples: Sequence[Example], evaluator: Evaluator
) -> None:
    by_id = {example.id: example for example in examples}

    def form(selected: str = "", text: str = "") -> str:
        options = "".join(
            f'<option value="{escape(s.id)}"{" selected" if s.id == selected else ""}>{escape(s.id)} ({escape(s.hook)})</option>'
            for s in services
        )
        return (
            '<h2>Try any hook request</h2><form method="post" action="/preview">'
            f'<label>Service <select name="service">{options}</select></label>'
            f'<textarea name="request" aria-label="Hook request JSON">{escape(text)}</textarea>'
            '<p><button type="submit">Show the cards</button></p></form>'
        )

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        rows = "".join(
            f"<tr><td><code>{escape(s.id)}</code></td><td>{escape(s.hook)}</td><td><strong>{escape(s.title)}</strong>"
            f"<br>{escape(s.description)}</td><td>"
            + "<br>".join(
                f"<code>{escape(k)}</code>: <code>{escape(t.query)}</code>" for k, t in s.prefetch.items()
            )
            + "</td></tr>"
            for s in services
        )
        gallery = "".join(
            f'<div class="example"><a href="/preview/{escape(e.id)}">{escape(e.title)}</a>'
            f"<p>{escape(e.description)}</p><p><code>{escape(e.service_id)}</code></p></div>"
            for e in examples
        )
        body = (
            "<h2>Example patients</h2><p>Synthetic patients: open one to see its cards as an EHR would show them.</p>"
            f'<div class="gallery">{gallery}</div>{form()}'
            "<h2>Services</h2><table><tr><th>id</th><th>hook</th><th>what it does</th><th>prefetch</th></tr>"
            f"{rows}</table>"
        )
        return page("Tacrolimus safety service: card preview", body)

    @app.get("/preview/{example_id}", include_in_schema=False, response_class=HTMLResponse)
    async def show_example(example_id: str) -> HTMLResponse:
        example = by_id.get(example_id)
        if example is None:
            response = page("Example not found", f'<p class="error">No example {escape(example_id)!s}.</p>')
            response.status_code = 404
            return response
        return await show(example.service_id, example.request, example.title, example.description)

    @app.post("/preview", include_in_schema=False, response_class=HTMLResponse)
    async def preview(request: Request) -> HTMLResponse:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        service_id = (fields.get("service") or [""])[0]
        text = (fields.get("request") or [""])[0]
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            return failed(service_id, text, 400, f"The request is not valid JSON: {error}")
        return await show(service_id, body, "Your request", "", text)

    def failed(service_id: str, text: str, status: int, message: str) -> HTMLResponse:
        response = page("Cards", f'<p class="error">{escape(message)}</p>{form(service_id, text)}')
        response.status_code = status
        return response

    async def show(
        service_id: str, body: object, title: str, description: str, text: str = ""
    ) -> HTMLResponse:
        try:
            response = await evaluator.evaluate(service_id, body)
        except CDSError as error:
            return failed(service_id, text, error.status_code, f"{error.status_code}: {error.message}")
        raw = escape(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        result = (
            f"<p>{escape(description)}</p><p>Service <code>{escape(service_id)}</code></p>{render_cards(response)}"
            f"<details><summary>The hook request</summary><pre><code>{raw}</code></pre></details>"
            f"{form(service_id, text or orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())}"
        )
        return page(title, result)
