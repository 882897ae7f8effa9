"""The preview page in a real browser: headless Chromium (Debian's package) driven by Selenium through
Debian's chromedriver, so nothing is downloaded. Skipped, saying why, where Chromium is not installed;
.ci/run installs it. UPDATE_SCREENSHOTS=1 also writes the screenshots to docs/screenshots/."""

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
import uvicorn

from cds.main import create_app
from cds.settings import Settings
from tests.builders import FHIR_BASE, PATIENT_ID, bundle, tacrolimus

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
DOCS = Path(__file__).parent.parent / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Chromium not installed: apt-get install chromium chromium-driver (.ci/run does)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve(settings: Settings) -> Iterator[str]:
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=config.run, daemon=True)
    thread.start()
    for _ in range(100):
        if config.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    config.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("browser") / "db.sqlite"
    yield from serve(Settings(database_url=f"sqlite:///{database}", auth="off", log_format="text"))


@pytest.fixture
def server_with_form(tmp_path: Path) -> Iterator[str]:
    """The 'your own patient' form is on: CDS_PREVIEW_FHIR_SERVERS lists the (mocked) server."""
    database = tmp_path / "db.sqlite"
    settings = Settings(
        database_url=f"sqlite:///{database}", auth="off", log_format="text", preview_fhir_servers=[FHIR_BASE]
    )
    yield from serve(settings)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for a browser or driver online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,1400",
        # no name resolves but the service's own address: any page that needs the internet fails here
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=str(DRIVER)), options=options)
    yield driver
    driver.quit()


def save(browser: object, tmp_path: Path, name: str) -> None:
    browser.save_screenshot(str(tmp_path / name))  # type: ignore[attr-defined]
    if os.environ.get("UPDATE_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, DOCS / name)


def test_open_the_page_then_a_patient_and_read_the_cards(
    server: str, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(server + "/")  # type: ignore[attr-defined]
    assert "card preview" in browser.title  # type: ignore[attr-defined]
    save(browser, tmp_path, "preview-index.png")
    browser.find_element(By.LINK_TEXT, "Live vaccine ordered").click()  # type: ignore[attr-defined]
    summary = browser.find_element(By.CSS_SELECTOR, "article.card.critical h3.summary")  # type: ignore[attr-defined]
    assert summary.text == "Live vaccine (MMR) ordered for a patient on tacrolimus: avoid it"
    badge = browser.find_element(By.CSS_SELECTOR, "article.card.critical .badge")  # type: ignore[attr-defined]
    assert badge.value_of_css_property("background-color") in ("rgba(198, 40, 40, 1)", "rgb(198, 40, 40)")
    buttons = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "article.card .actions button")]  # type: ignore[attr-defined]
    assert "Remove the vaccine order" in buttons
    save(browser, tmp_path, "preview-live-vaccine.png")
    assert (tmp_path / "preview-live-vaccine.png").stat().st_size > 10_000


def test_a_level_above_target_in_the_browser(server: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(server + "/preview/level-above-target")  # type: ignore[attr-defined]
    summaries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "h3.summary")]  # type: ignore[attr-defined]
    assert "Tacrolimus 14.8 ng/mL on 2026-11-20: above target 4 to 11 ng/mL" in summaries
    save(browser, tmp_path, "preview-level.png")


def test_the_api_documentation_renders_with_no_network(server: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    assert isinstance(browser, WebDriver)
    browser.get(server + "/docs")
    wait = WebDriverWait(browser, 20)
    title = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, ".info .title")))
    assert "Tacrolimus safety service" in title.text
    assert browser.find_element(By.CSS_SELECTOR, "button.authorize").is_displayed()
    operations = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    assert "/cds-services/{service_id}" in [o.text.replace("\u200b", "") for o in operations]
    save(browser, tmp_path, "docs-swagger-ui.png")

    browser.get(server + "/redoc")
    heading = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "h1")))
    assert "Tacrolimus safety service" in heading.text


def test_your_own_patient_from_a_fhir_server(server_with_form: str, browser: object, tmp_path: Path) -> None:
    """The form as a user fills it; the FHIR server is mocked in the service's process (respx)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    assert isinstance(browser, WebDriver)
    browser.get(server_with_form + "/#your-patient")
    browser.find_element(By.NAME, "fhirServer").send_keys(FHIR_BASE)
    browser.find_element(By.NAME, "patient").send_keys(PATIENT_ID)
    Select(browser.find_element(By.NAME, "hook")).select_by_visible_text("order-select")
    browser.find_element(By.NAME, "order").send_keys("clarithromycin")
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}").respond(
            json={"resourceType": "Patient", "id": PATIENT_ID}
        )
        mock.get(url__regex=rf"^{FHIR_BASE}/MedicationRequest\?.*").respond(json=bundle([tacrolimus()]))
        mock.get(url__regex=rf"^{FHIR_BASE}/\w+\?.*").respond(json=bundle([]))
        browser.find_element(By.XPATH, "//button[text()='Fetch and show the cards']").click()
        # the page is replaced by the answer: read <main> in one script, as a node found before the new page
        # came and read after it fails ("Node with given id does not belong to the document", a CI run)
        WebDriverWait(browser, 20).until(
            lambda driver: (
                "Fetched from"
                in driver.execute_script("return document.querySelector('main')?.innerText ?? ''")
            )
        )
        summaries = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "h3.summary")]
    assert any(s.startswith("Clarithromycin raises tacrolimus levels") for s in summaries), summaries
    save(browser, tmp_path, "preview-your-patient.png")


def test_the_level_story_under_an_example_s_cards(server: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(server + "/preview/level-story")  # type: ignore[attr-defined]
    story = browser.find_element(By.CSS_SELECTOR, "section.story")  # type: ignore[attr-defined]
    title = story.find_element(By.CSS_SELECTOR, "svg title").get_attribute("textContent")
    assert title == (
        "Tacrolimus level story for Marta Example, born 1971-04-17, female, patient id example,"
        " 2026-06-02 to 2026-12-01"
    )
    assert (
        story.find_element(By.CSS_SELECTOR, "svg desc")
        .get_attribute("textContent")
        .startswith("Tacrolimus levels from 2026-06-02 to 2026-12-01: 6 troughs")
    )
    rows = story.find_elements(By.CSS_SELECTOR, "table.story-table tr")
    assert any(
        r.text.startswith("2026-11-10 10 nmol/L = 8 ng/mL 8 trough 5 to 15 yes 5 mg/day 1.60") for r in rows
    )
    assert story.find_element(By.CSS_SELECTOR, "svg").size["width"] > 800
    browser.execute_script("arguments[0].scrollIntoView()", story)  # type: ignore[attr-defined]
    save(browser, tmp_path, "level-story-preview.png")
