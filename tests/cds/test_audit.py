"""The audit log: calls are queued and written in batches off the request path, never lost on a clean
shutdown; one hostile call never costs its neighbours their rows; an unavailable database never fails a
call, and the queue it leaves behind is bounded."""

import asyncio
import signal
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc

from bench.load import free_port, start_server
from cds.app import build_app
from cds.audit import AuditLog
from cds.clock import fixed
from cds.database import Database
from cds.metrics import AUDIT_DROPPED
from cds.service import Service
from cds.settings import Settings
from cds.store import AuditCard, AuditEntry, Store
from tests.builders import full_prefetch, hook_request, tacrolimus
from tests.clock import now


def entry(n: int, cards: int = 1, service: str = "tacrolimus-patient-view") -> AuditEntry:
    return AuditEntry(
        now(),
        "https://ehr.example.org",
        service,
        f"hook-{n}",
        200,
        tuple(AuditCard(str(uuid.uuid4()), "interaction-raises-level", "warning") for _ in range(cards)),
    )


class CountingStore(Store):
    """Counts the batches written; raises the errors queued in ``failures`` first, one per write."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writes: list[int] = []
        self.failures: list[Exception] = []

    def record_calls(self, calls: Sequence[AuditEntry]) -> None:
        self.writes.append(len(calls))
        if self.failures:
            raise self.failures.pop(0)
        super().record_calls(calls)


def outage() -> exc.OperationalError:
    return exc.OperationalError("INSERT", {}, Exception("connection refused"))


def dropped(reason: str) -> float:
    value = AUDIT_DROPPED.labels(reason)._value.get()
    return float(value)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(f"sqlite:///{tmp_path / 'audit.db'}")


def test_many_calls_make_one_write_and_keep_every_card(store: CountingStore) -> None:
    async def scenario() -> None:
        audit = AuditLog(Database(store, timeout=5.0), interval=10.0)
        for n in range(50):
            audit.record(entry(n, cards=n % 3))
        assert store.writes == []  # nothing written on the request path
        await audit.flush()

    asyncio.run(scenario())
    assert store.writes == [50]
    calls = store.calls()
    assert [c["hook_instance"] for c in calls] == [f"hook-{n}" for n in range(50)]
    assert [c["cards"] is None for c in calls[:3]] == [True, False, False]


def test_entries_are_written_within_the_interval_without_a_flush(store: CountingStore) -> None:
    async def scenario() -> None:
        audit = AuditLog(Database(store, timeout=5.0), interval=0.05)
        audit.record(entry(1))
        audit.record(entry(2))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if store.writes:
                break

    asyncio.run(scenario())
    assert store.writes == [2]


def test_close_writes_what_is_pending(store: CountingStore) -> None:
    async def scenario() -> None:
        audit = AuditLog(Database(store, timeout=5.0), interval=10.0)
        audit.record(entry(7))
        await audit.close()

    asyncio.run(scenario())
    assert [c["hook_instance"] for c in store.calls()] == ["hook-7"]


def test_a_refused_batch_is_retried_row_by_row_so_only_the_bad_row_is_lost(
    store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    real = store.record_calls

    def refuses_poison(calls: Sequence[AuditEntry]) -> None:
        if any(c.hook_instance == "hook-3" for c in calls):
            raise exc.DataError("INSERT", {}, Exception("invalid byte sequence"))
        real(calls)

    store.record_calls = refuses_poison  # type: ignore[method-assign]
    before = dropped("refused")

    async def scenario() -> None:
        audit = AuditLog(Database(store, timeout=5.0), interval=10.0)
        for n in range(6):
            audit.record(entry(n))
        await audit.flush()
        assert audit.pending == 0

    with caplog.at_level("ERROR"):
        asyncio.run(scenario())
    assert [c["hook_instance"] for c in store.calls()] == ["hook-0", "hook-1", "hook-2", "hook-4", "hook-5"]
    assert "audit row not recorded" in caplog.text
    assert "hook-3" in caplog.text
    assert dropped("refused") == before + 1


def test_hostile_fields_are_cleaned_before_they_are_queued(store: CountingStore) -> None:
    hostile = AuditEntry(
        now(),
        "c\x00" * 300,
        "s" * 300,
        "hook\x00-1" + "x" * 300,
        404,
        (AuditCard("u\x00", "t", "i"),),
    )

    async def scenario() -> None:
        audit = AuditLog(Database(store, timeout=5.0), interval=10.0)
        audit.record(hostile)
        await audit.flush()

    asyncio.run(scenario())
    [row] = store.calls()
    assert row["client"] == "c" * 300
    assert row["service_id"] == "s" * 200
    assert row["hook_instance"] == ("hook-1" + "x" * 300)[:200]
    assert store.topic_of("u") == "t"


def test_one_hostile_call_among_many_costs_no_neighbour_its_row(
    store_url: str, services: list[Service]
) -> None:
    """The outside test: a NUL in hookInstance, or an unknown service id over 200 characters, failed the
    whole batch on PostgreSQL. Every call is audited, the hostile ones cleaned."""
    settings = Settings(database_url=store_url, auth="off")
    body = hook_request(prefetch=full_prefetch([tacrolimus()]))
    with TestClient(build_app(services, settings, clock=fixed(now()))) as client:
        for n in range(10):
            body["hookInstance"] = f"call-{n}" if n != 4 else "call-\x00-4"
            path = "/cds-services/tacrolimus-patient-view" if n != 7 else "/cds-services/" + "x" * 300
            assert client.post(path, json=body).status_code == (200 if n != 7 else 404)
        client.get("/report")  # flushes the audit
    calls = Store(store_url).calls()
    assert [c["hook_instance"] for c in calls] == [f"call-{n}" if n != 4 else "call--4" for n in range(10)]
    assert calls[7]["service_id"] == "x" * 200


def test_while_the_database_is_unavailable_entries_are_kept_and_written_when_it_returns(
    store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.failures = [outage(), outage()]

    async def scenario() -> None:
        audit = AuditLog(Database(store, timeout=5.0), interval=10.0)
        audit.record(entry(1))
        await audit.flush()  # fails: kept
        audit.record(entry(2))
        await audit.flush()  # fails again: kept
        assert audit.pending == 2
        await audit.flush()

    with caplog.at_level("INFO"):
        asyncio.run(scenario())
    assert [c["hook_instance"] for c in store.calls()] == ["hook-1", "hook-2"]
    assert caplog.text.count("audit entries kept until the database returns") == 1
    assert "audit writes resumed" in caplog.text


def test_the_queue_is_capped_dropping_the_oldest_with_a_count_and_a_log_line(
    store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.failures = [outage()]
    before = dropped("queue_full")

    async def scenario() -> None:
        audit = AuditLog(Database(store, timeout=5.0), interval=10.0, max_pending=5)
        for n in range(3):
            audit.record(entry(n))
        await audit.flush()  # the database is down: the three are kept
        for n in range(3, 8):
            audit.record(entry(n))  # never blocks: the oldest go
        assert audit.pending == 5
        await audit.flush()

    with caplog.at_level("WARNING"):
        asyncio.run(scenario())
    assert [c["hook_instance"] for c in store.calls()] == [f"hook-{n}" for n in range(3, 8)]
    assert dropped("queue_full") == before + 3
    assert "audit queue full (5 calls): dropping the oldest" in caplog.text
    assert "3 audit entries were dropped while the queue was full" in caplog.text


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT,), (signal.SIGTERM, signal.SIGINT)])
def test_every_graceful_exit_writes_the_pending_audit(tmp_path: Path, signals: tuple[int, ...]) -> None:
    """One signal runs the app's shutdown. A SIGINT after the first signal (Ctrl-C pressed again, or reaching
    a worker its supervisor is already stopping) makes uvicorn exit at once, skipping the shutdown: the
    queue is then written at exit. A long flush interval keeps every call pending until then."""
    database = tmp_path / "audit.db"
    env = {
        "CDS_DATABASE_URL": f"sqlite:///{database}",
        "CDS_AUDIT_FLUSH_INTERVAL": "60",
        "CDS_LOG_LEVEL": "INFO",
    }
    log = (tmp_path / "service.log").open("wb")
    port = free_port()
    server = start_server(1, port, env, log)
    try:
        body = hook_request(prefetch=full_prefetch([tacrolimus()]))
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for n in range(5):
                body["hookInstance"] = f"exit-{n}"
                assert client.post("/cds-services/tacrolimus-patient-view", json=body).status_code == 200
        for sig in signals:
            server.send_signal(sig)
            time.sleep(0.05)  # one at a time: signals pending together arrive lowest number first
        server.wait(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
        log.close()
    assert [c["hook_instance"] for c in Store(f"sqlite:///{database}").calls()] == [
        f"exit-{n}" for n in range(5)
    ]
    if len(signals) > 1:
        assert "at exit, 5 pending audit entries were written" in (tmp_path / "service.log").read_text()
