"""One log format for every line, uvicorn's included (CDS_LOG_FORMAT); every failed call's line says why;
feedback is logged with ids and outcomes only."""

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from bench.load import free_port
from cds.logs import configure
from tests.builders import FHIR_BASE, full_prefetch, hook_request, tacrolimus

PV = "/cds-services/tacrolimus-patient-view"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(stream: io.StringIO, form: str) -> list[str]:
    configure("INFO", form, stream)
    extra = {"event": "hook_call", "status": 412, "reason": "why not"}
    logging.getLogger("cds").info("hook call", extra=extra)
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:1")
    return stream.getvalue().splitlines()


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_for_the_service_and_uvicorn_alike() -> None:
    service, server = (json.loads(line) for line in emit(io.StringIO(), "json"))
    assert (service["logger"], service["status"], service["reason"]) == ("cds", 412, "why not")
    assert (server["logger"], server["message"]) == ("uvicorn", "Uvicorn running on http://127.0.0.1:1")


@pytest.mark.usefixtures("restore_logging")
def test_readable_text_with_the_fields_after_the_message() -> None:
    service, server = emit(io.StringIO(), "text")
    assert service.endswith('INFO    cds: hook call  status=412 reason="why not"')
    assert server.endswith("INFO    uvicorn: Uvicorn running on http://127.0.0.1:1")


@pytest.mark.usefixtures("restore_logging")
def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert not emit(Terminal(), "auto")[0].startswith("{")
    assert json.loads(emit(io.StringIO(), "auto")[0])["reason"] == "why not"


@pytest.mark.parametrize(("form", "workers"), [("json", 2), ("text", 1)])
def test_a_served_process_writes_one_format_only(form: str, workers: int, tmp_path: Any) -> None:
    """The bug: uvicorn's plain 'INFO:' lines mixed with the service's JSON lines. And uvicorn's access
    log stays off: each hook call is logged once, by the service."""
    port = free_port()
    env = {
        **os.environ,
        "CDS_AUTH": "off",
        "CDS_LOG_FORMAT": form,
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
    }
    command = [sys.executable, "-m", "cds.cli", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)  # noqa: S603
    try:
        for _ in range(200):
            try:
                if httpx.post(f"http://127.0.0.1:{port}{PV}", content=b"{", timeout=1).status_code == 400:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("the service did not start")
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    lines = err.splitlines()
    assert any("Uvicorn running on" in line for line in lines), err  # uvicorn's own line
    assert any("Started server process" in line for line in lines), err
    assert any("hook call" in line and "not valid JSON" in line for line in lines), err
    assert not any('"POST ' in line for line in lines), "uvicorn's access log is on"
    for line in lines:
        assert not line.startswith("INFO:"), line
        if form == "json":
            json.loads(line)
        else:
            assert line.startswith("20"), line  # the date


def hook_lines(caplog: pytest.LogCaptureFixture, event: str = "hook_call") -> list[dict[str, Any]]:
    return [r.__dict__ for r in caplog.records if getattr(r, "event", None) == event]


def test_a_400_line_says_why(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO"):
        client.post(PV, content=b'{"hook": "patient-view"}')
    [line] = hook_lines(caplog)
    assert line["status"] == 400
    assert "hookInstance" in line["reason"]


def test_a_412_line_names_the_missing_keys_not_the_ehr_error_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    prefetch = full_prefetch([tacrolimus()])
    del prefetch["medicationRequests"]
    body = hook_request(prefetch=prefetch, fhirServer=FHIR_BASE)
    with respx.mock() as mock, caplog.at_level("INFO"):
        mock.get(url__startswith=FHIR_BASE).respond(
            403,
            json={"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Jane Doe is restricted"}]},
        )
        assert client.post(PV, json=body).status_code == 412
    [line] = hook_lines(caplog)
    assert line["status"] == 412
    assert "prefetch unavailable: medicationRequests" in line["reason"]
    assert "Jane Doe" not in caplog.text


def test_a_404_line_says_why(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO"):
        client.post("/cds-services/nope", json=hook_request())
    [line] = hook_lines(caplog)
    assert (line["status"], line["reason"].startswith("no service 'nope'")) == (404, True)


def test_feedback_is_logged_with_ids_and_outcomes_only(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    entry = {
        "card": "card-9",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-22T10:05:31Z",
        "overrideReason": {"userComment": "Jane Doe's level was checked"},
    }
    with caplog.at_level("INFO"):
        client.post("/cds-services/tacrolimus-order-select/feedback", json={"feedback": [entry, entry]})
        client.post("/cds-services/tacrolimus-order-select/feedback", json={"feedback": [{"card": "x"}]})
    ok, bad = hook_lines(caplog, "feedback")
    assert (ok["status"], ok["received"], ok["stored"]) == (200, 2, 1)
    assert ok["outcomes"] == {"overridden": 2}
    assert ok["cards"] == ["card-9", "card-9"]
    assert (bad["status"], "outcome" in bad["reason"]) == (400, True)
    assert "Jane Doe" not in caplog.text
