"""Prometheus metrics and the override report, from real calls and feedback."""

from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from cds.cli import main
from cds.settings import Settings
from tests.builders import full_prefetch, hook_request, medication_request, tacrolimus

PV = "/cds-services/tacrolimus-patient-view"


def busy(client: TestClient) -> list[dict[str, object]]:
    body = hook_request(
        prefetch=full_prefetch([tacrolimus(), medication_request("m2", "Clarithromycin 500 MG Oral Tablet")])
    )
    cards: list[dict[str, object]] = client.post(PV, content=orjson.dumps(body)).json()["cards"]
    return cards


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_cards_and_feedback(client: TestClient) -> None:
    before = client.get("/metrics").text
    cards = busy(client)
    client.post(PV, content=b"{")  # a 400
    interaction = next(c for c in cards if c["source"]["topic"]["code"] == "interaction-raises-level")  # type: ignore[index]
    feedback = {
        "feedback": [
            {"card": interaction["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"}
        ]
    }
    client.post(f"{PV}/feedback", content=orjson.dumps(feedback))
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text, service = after.text, "tacrolimus-patient-view"
    assert (
        sample(text, "cds_requests_total", service=service, status="200")
        == sample(before, "cds_requests_total", service=service, status="200") + 1
    )
    assert sample(text, "cds_requests_total", service=service, status="400") >= 1
    assert sample(text, "cds_cards_total", topic="interaction-raises-level", indicator="warning") >= 1
    assert sample(text, "cds_feedback_total", outcome="overridden", topic="interaction-raises-level") >= 1
    assert "cds_request_seconds_bucket" in text


def test_the_override_report(
    client: TestClient,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for _ in range(3):
        cards = busy(client)
    interaction = next(c for c in cards if c["source"]["topic"]["code"] == "interaction-raises-level")  # type: ignore[index]
    reason = {"reason": {"code": "levels-monitored", "system": "urn:tacrolimus-cds:override-reason"}}
    entries = [
        {
            "card": interaction["uuid"],
            "outcome": "overridden",
            "overrideReason": reason,
            "outcomeTimestamp": "2026-11-22T10:00:00Z",
        },
        {
            "card": interaction["uuid"],
            "outcome": "overridden",
            "overrideReason": {"userComment": "levels fine"},
            "outcomeTimestamp": "2026-11-22T10:01:00Z",
        },
    ]
    client.post(f"{PV}/feedback", content=orjson.dumps({"feedback": entries}))
    report = client.get("/report").json()["topics"]
    row = next(r for r in report if r["topic"] == "interaction-raises-level")
    assert (row["shown"], row["accepted"], row["overridden"]) == (3, 0, 2)
    assert row["reasons"] == {"levels-monitored": 1}
    assert row["comments"] == 1
    assert row["override_rate"] == pytest.approx(0.667, abs=0.001)
    assert "levels fine" not in orjson.dumps(report).decode()  # free-text comments may hold patient data

    from cds.settings import get_settings

    monkeypatch.setenv("CDS_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    try:
        assert main(["report"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "interaction-raises-level" in out
    assert "levels-monitored (1)" in out


def test_report_on_an_empty_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cds.settings import get_settings

    monkeypatch.setenv("CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        assert main(["report", "--json"]) == 0
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().out.strip() == "[]"
