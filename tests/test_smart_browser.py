"""The SMART app in a real browser (headless Chromium, as tests/test_browser.py): the EHR's launch, its
authorization page, the callback and the app's page. The EHR's SMART configuration, token endpoint and
FHIR server are respx-mocked in the service's process; the authorization page, which the browser itself
visits, is a tiny loopback page that approves with a click, as an EHR's does. UPDATE_SCREENSHOTS=1 writes
the screenshot to docs/screenshots/."""

import threading
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import pytest
import respx
import uvicorn
from fastapi import FastAPI

from cards import load_examples
from cds.app import build_app
from cds.clock import fixed
from cds.main import assembled, story_renderer
from cds.settings import Settings
from tests.builders import EXAMPLES, PATIENT_ID
from tests.cds.smart.ehr import ACCESS_TOKEN, CLIENT_ID, CODE, CONFIGURATION, EHR
from tests.clock import now
from tests.test_browser import CHROMIUM, DRIVER, browser, free_port, save

__all__ = ["browser"]  # the module-scoped browser fixture of tests/test_browser.py

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Chromium not installed: apt-get install chromium chromium-driver (.ci/run does)",
)

ISS = "http://ehr.example.org/fhir"  # respx-mocked in the service's process
TOKEN_URL = "http://ehr.example.org/auth/token"


class AuthorizationPage(BaseHTTPRequestHandler):
    """The EHR's authorization endpoint: a page with an Approve link back to the app with a code."""

    asked: list[dict[str, str]] = []

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/authorize":  # the browser's favicon.ico
            self.send_response(404)
            self.end_headers()
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.asked.append(query)
        back = f"{query.get('redirect_uri', '')}?{urlencode({'code': CODE, 'state': query.get('state', '')})}"
        page = (
            "<!doctype html><title>EHR authorization</title><h1>Authorize the app?</h1>"
            f"<p>{escape(query.get('client_id', ''))} asks for {escape(query.get('scope', ''))}</p>"
            f'<a id="approve" href="{escape(back)}">Approve</a>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def authorization_page() -> Iterator[str]:
    AuthorizationPage.asked = []
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), AuthorizationPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/authorize"
    server.shutdown()


def serve(app: FastAPI, port: int) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(timeout=0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def smart_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        auth="off",
        log_format="text",
        smart_client_id=CLIENT_ID,
        public_base_url=f"http://127.0.0.1:{port}",
        smart_issuers=[ISS],
    )
    offered, policy = assembled(settings)
    app = build_app(
        offered, settings, load_examples(offered), policy, clock=fixed(now()), story=story_renderer()
    )
    yield from serve(app, port)


def story_chart() -> dict[str, list[dict[str, Any]]]:
    """The EHR's FHIR server holds the bundled example "Six months of levels"."""
    prefetch = orjson.loads((EXAMPLES / "level-story.json").read_bytes())["prefetch"]
    return {
        "Patient": [{**prefetch["patient"], "id": PATIENT_ID}],
        **{
            kind: [e["resource"] for e in prefetch[key]["entry"]]
            for kind, key in (
                ("MedicationRequest", "medicationRequests"),
                ("MedicationStatement", "medicationStatements"),
                ("Condition", "conditions"),
                ("Observation", "observations"),
            )
        },
    }


@pytest.mark.now("2026-12-01T09:00:00Z")  # the example's dates were written for it
def test_the_smart_app_end_to_end_in_the_browser(
    smart_server: str, authorization_page: str, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    assert isinstance(browser, WebDriver)
    ehr = EHR(iss=ISS, token_url=TOKEN_URL)
    ehr.configuration = {
        **CONFIGURATION,
        "authorization_endpoint": authorization_page,
        "token_endpoint": TOKEN_URL,
    }
    with respx.mock(assert_all_called=False) as mock:
        ehr.mount(mock, story_chart())
        browser.get(f"{smart_server}/smart/launch?{urlencode({'iss': ISS, 'launch': 'launch-42'})}")
        WebDriverWait(browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "approve")))
        (asked,) = AuthorizationPage.asked
        ehr.expected_challenge = asked["code_challenge"]
        assert asked["code_challenge_method"] == "S256"
        assert asked["launch"] == "launch-42"
        browser.find_element(By.ID, "approve").click()
        WebDriverWait(browser, 20).until(expected_conditions.url_to_be(f"{smart_server}/smart/app"))
        main = browser.find_element(By.TAG_NAME, "main").text
        title = browser.find_element(By.CSS_SELECTOR, "main svg title").get_attribute("textContent")
        captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "main table caption")]
        troughs = browser.find_elements(By.CSS_SELECTOR, "main svg circle.trough")
    assert f"Patient {PATIENT_ID} from {ISS}" in main
    assert "the patient's medication orders 6 resources" in main  # every status: the dose history
    assert title == (
        "Tacrolimus level story for Marta Example, born 1971-04-17, female,"
        f" patient id {PATIENT_ID}, 2026-06-02 to 2026-12-01"
    )
    assert "Marta Example, born 1971-04-17, female" in main  # two identifiers to check against the chart
    assert "Tacrolimus levels" in captions
    assert len(troughs) == 6 + 2  # the example's six troughs and the legend's two
    assert "Coefficient of variation (CV): 14.3 %" in main
    assert ACCESS_TOKEN not in browser.page_source
    assert ACCESS_TOKEN not in browser.current_url
    cookies = {c["name"]: c for c in browser.get_cookies()}
    assert cookies["cds_smart_session"]["httpOnly"] is True
    assert cookies["cds_smart_session"]["sameSite"] == "Lax"
    assert ehr.token_forms  # the code was exchanged
    save(browser, tmp_path, "smart-app.png")
