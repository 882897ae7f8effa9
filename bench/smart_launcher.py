"""The SMART app end to end against a real SMART simulator: the SMART Health IT launcher
(smart-on-fhir/smart-launcher-v2, open source, Node) as the EHR's authorization server and FHIR proxy, in
front of bench/fhir_fixture.py (the bundled examples on loopback), launching the app in its simulated EHR
in headless Chromium as an EHR does after a card's smart link is clicked. docs/smart-app.md says more.

    python -m bench.smart_launcher --launcher /tmp/launcher [--screenshot docs/screenshots/x.png]

``--launcher DIR`` is a built checkout of the launcher; a DIR that does not exist is cloned from GitHub at
run time and built with npm (a few minutes). None of the launcher's code is part of this project, and this
is not part of CI: it needs Node, npm, Chromium and chromedriver. Everything listens on 127.0.0.1 only.
Exits 1 when the app did not show the patient's record.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.fhir_fixture import server as fixture_server

REPOSITORY = "https://github.com/smart-on-fhir/smart-launcher-v2"
CLIENT_ID = "tacrolimus-level-story"
FHIR_PORT, LAUNCHER_PORT, SERVICE_PORT = 8090, 8445, 8000


def build(launcher: Path) -> None:
    """Clone and build the launcher where there is none (needs git, Node >= 16 and npm)."""
    if (launcher / "build" / "index.html").is_file():
        return
    if not launcher.exists():
        subprocess.run([tool("git"), "clone", "--depth", "1", REPOSITORY, str(launcher)], check=True)  # noqa: S603
    subprocess.run([tool("npm"), "ci", "--no-audit", "--no-fund"], cwd=launcher, check=True)  # noqa: S603
    subprocess.run([tool("npx"), "react-scripts", "build"], cwd=launcher, check=True)  # noqa: S603


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is needed to build the launcher")
    return found


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds:g} s")


@contextmanager
def running(
    command: list[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=out)  # noqa: S603
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def drive(launch: str, screenshot: Path | None, patient: str) -> str:
    """Open the launcher's simulated EHR with the app in it, click through its encounter and authorization
    pages, and return the app page's text."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"
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
        "--window-size=1280,1100",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "chromedriver"), options=options
    )
    try:
        driver.get(f"http://127.0.0.1:{LAUNCHER_PORT}/ehr?app={quote(launch, safe='')}")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.TAG_NAME, "iframe"))
        driver.switch_to.frame(driver.find_elements(By.TAG_NAME, "iframe")[0])

        def through(d: WebDriver) -> bool:
            """One step of the launcher's pages (no encounter in the fixture; approve the app)."""
            for button in d.find_elements(By.TAG_NAME, "button"):
                if "without encounter" in button.text:
                    button.click()
                    return False
            for button in d.find_elements(By.ID, "approve"):
                button.click()
                return False
            return "/smart/app" in str(d.execute_script("return location.href"))

        WebDriverWait(driver, 60).until(through)
        WebDriverWait(driver, 30).until(lambda d: patient in d.find_element(By.TAG_NAME, "main").text)
        text: str = driver.find_element(By.TAG_NAME, "main").text
        has_svg = bool(driver.find_elements(By.CSS_SELECTOR, "main svg title"))
        driver.switch_to.default_content()
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot))
        return text + ("\n[picture: an SVG with a title]" if has_svg else "\n[no SVG on the page]")
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--launcher", type=Path, required=True, help="a built launcher checkout, or where to clone it"
    )
    parser.add_argument("--example", default="level-story.json", help="the bundled example to serve")
    parser.add_argument("--patient", default="example", help="its patient id")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument(
        "--logs", type=Path, default=None, help="where the logs go (default: a new temporary directory)"
    )
    args = parser.parse_args()
    build(args.launcher)
    args.logs = args.logs or Path(tempfile.mkdtemp(prefix="smart-launcher-"))
    args.logs.mkdir(parents=True, exist_ok=True)
    fhir = fixture_server(FHIR_PORT, [args.example])
    threading.Thread(target=fhir.serve_forever, daemon=True).start()
    iss = f"http://127.0.0.1:{LAUNCHER_PORT}/v/r4/fhir"
    launcher_env = {
        "PORT": str(LAUNCHER_PORT),
        "HOST": "127.0.0.1",
        "NODE_ENV": "production",
        "SOURCE_VERSION": "local",
        "FHIR_SERVER_R4": f"http://127.0.0.1:{FHIR_PORT}",
        "FHIR_SERVER_R3": "",
        "FHIR_SERVER_R2": "",
    }
    service_env = {
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{args.logs / 'cds.db'}",
        "CDS_LOG_FORMAT": "text",
        "CDS_SMART_CLIENT_ID": CLIENT_ID,
        "CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{SERVICE_PORT}",
        "CDS_SMART_ISSUERS": iss,
    }
    ts_node = ["node_modules/.bin/ts-node", "--skipProject", "--transpile-only", "backend/index.ts"]
    serve = [str(Path(sys.executable).parent / "tacrolimus-cds"), "serve", "--port", str(SERVICE_PORT)]
    with (
        running(ts_node, args.launcher, launcher_env, args.logs / "launcher.log"),
        running(serve, Path.cwd(), service_env, args.logs / "service.log"),
    ):
        wait_for(f"{iss}/.well-known/smart-configuration")
        wait_for(f"http://127.0.0.1:{SERVICE_PORT}/healthz")
        # the launcher as the EHR: the app's launch URL (a card's smart link) completed with iss and launch
        started = time.perf_counter()
        answer = httpx.get(
            f"http://127.0.0.1:{LAUNCHER_PORT}/launcher",
            params={
                "launch_uri": f"http://127.0.0.1:{SERVICE_PORT}/smart/launch",
                "fhir_ver": "4",
                "patient": args.patient,
                "sim_ehr": "1",
            },
        )
        launch = answer.headers["location"]
        text = drive(launch, args.screenshot, args.patient)
        elapsed = time.perf_counter() - started
    fhir.shutdown()
    print(text)
    print(f"\nlaunch to picture in the browser: {elapsed:.1f} s; logs in {args.logs}")
    return 0 if f"Patient {args.patient} from {iss}" in text else 1


if __name__ == "__main__":
    sys.exit(main())
