"""The audit log: calls are queued and written in batches off the request path, never lost on a clean
shutdown, and a failing database never fails a call."""

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cds.audit import AuditLog
from cds.store import AuditCard, AuditEntry, Store


def entry(n: int, cards: int = 1) -> AuditEntry:
    return AuditEntry(
        datetime.now(UTC),
        "https://ehr.example.org",
        "tacrolimus-patient-view",
        f"hook-{n}",
        200,
        tuple(AuditCard(str(uuid.uuid4()), "interaction-raises-level", "warning") for _ in range(cards)),
    )


class CountingStore(Store):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.writes: list[int] = []

    def record_calls(self, calls: object) -> None:
        self.writes.append(len(calls))  # type: ignore[arg-type]
        super().record_calls(calls)  # type: ignore[arg-type]


def test_many_calls_make_one_write_and_keep_every_card(tmp_path: Path) -> None:
    store = CountingStore(f"sqlite:///{tmp_path / 'audit.db'}")

    async def scenario() -> None:
        audit = AuditLog(store, interval=10.0)
        for n in range(50):
            audit.record(entry(n, cards=n % 3))
        assert store.writes == []  # nothing written on the request path
        await audit.flush()

    asyncio.run(scenario())
    assert store.writes == [50]
    calls = store.calls()
    assert [c["hook_instance"] for c in calls] == [f"hook-{n}" for n in range(50)]
    assert [c["cards"] is None for c in calls[:3]] == [True, False, False]


def test_entries_are_written_within_the_interval_without_a_flush(tmp_path: Path) -> None:
    store = CountingStore(f"sqlite:///{tmp_path / 'audit.db'}")

    async def scenario() -> None:
        audit = AuditLog(store, interval=0.05)
        audit.record(entry(1))
        audit.record(entry(2))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if store.writes:
                break

    asyncio.run(scenario())
    assert store.writes == [2]


def test_close_writes_what_is_pending(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'audit.db'}")

    async def scenario() -> None:
        audit = AuditLog(store, interval=10.0)
        audit.record(entry(7))
        await audit.close()

    asyncio.run(scenario())
    assert [c["hook_instance"] for c in store.calls()] == ["hook-7"]


def test_a_failed_write_is_logged_and_later_entries_still_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CountingStore(f"sqlite:///{tmp_path / 'audit.db'}")
    real = store.record_calls
    failures = [RuntimeError("database is down")]

    def flaky(calls: object) -> None:
        if failures:
            raise failures.pop()
        real(calls)

    store.record_calls = flaky  # type: ignore[method-assign]

    async def scenario() -> None:
        audit = AuditLog(store, interval=10.0)
        audit.record(entry(1))
        await audit.flush()  # does not raise
        audit.record(entry(2))
        await audit.flush()
        assert audit.pending == 0

    with caplog.at_level("ERROR"):
        asyncio.run(scenario())
    assert "audit write failed: 1 calls not recorded" in caplog.text
    assert [c["hook_instance"] for c in store.calls()] == ["hook-2"]
