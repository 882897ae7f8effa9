"""The feedback store on each backend: SQLite always; PostgreSQL when CDS_TEST_POSTGRES_URL names one
(.ci/run starts a throw-away server and sets it)."""

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from cds.models import FeedbackEntry
from cds.store import AuditCard, AuditEntry, Store


@pytest.fixture
def url(store_url: str) -> str:
    return store_url


def entry(card: str, outcome: str = "overridden", when: str = "2026-11-22T12:00:00+02:00") -> FeedbackEntry:
    data: dict[str, object] = {"card": card, "outcome": outcome, "outcomeTimestamp": when}
    if outcome == "accepted":
        data["acceptedSuggestions"] = [{"id": "s1"}]
    return FeedbackEntry.model_validate(data)


def test_saves_count_only_new_entries(url: str) -> None:
    store = Store(url)
    assert store.save("svc", [entry("a"), entry("b", "accepted")]) == 2
    assert store.save("svc", [entry("a"), entry("b", "accepted")]) == 0
    assert store.save("svc", [entry("a"), entry("c")]) == 1
    assert store.save("other-service", [entry("a")]) == 1
    assert [r["card_uuid"] for r in store.entries()] == ["a", "b", "c", "a"]
    store.close()


def test_entries_survive_a_new_connection_and_keep_utc_times(url: str) -> None:
    first = Store(url)
    first.save("svc", [entry("a")])
    first.close()
    second = Store(url)
    [row] = second.entries("a")
    stamp = row["outcome_timestamp"]
    assert stamp.replace(tzinfo=stamp.tzinfo or UTC) == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    second.ping()
    second.close()


def test_audit_batches_keep_each_call_and_its_cards(url: str) -> None:
    store = Store(url)
    instance = f"batch-{uuid.uuid4()}"
    a, b = f"{instance}-a", f"{instance}-b"
    cards = (AuditCard(a, "live-vaccine", "critical"), AuditCard(b, "trough-level", "info"))
    at = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    store.record_calls(
        [
            AuditEntry(at, "https://ehr.example.org", "tacrolimus-order-sign", instance, 200, cards),
            AuditEntry(at, None, "tacrolimus-order-sign", instance, 412, ()),
        ]
    )
    rows = store.calls(instance)
    assert [(r["status"], r["client"]) for r in rows] == [(200, "https://ehr.example.org"), (412, None)]
    assert store.topic_of(a) == "live-vaccine"
    assert store.topic_of(b) == "trough-level"
    assert rows[1]["cards"] is None
    store.close()


def open_together(url: str, workers: int = 6) -> list[BaseException]:
    """What `workers` threads raised opening a Store on the url at the same moment, as workers starting."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            Store(url).close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_workers_starting_together_all_find_the_tables(url: str) -> None:
    """Several workers (or replicas) create their Store at the same moment against a new database."""
    if url.startswith("sqlite"):
        fresh = url
    else:
        schema = f"s{uuid.uuid4().hex[:12]}"
        admin = Store(url)
        with admin.engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        admin.close()
        fresh = f"{url}?options=-csearch_path%3D{schema}"
    assert open_together(fresh) == []
    store = Store(fresh)
    assert store.calls() == []
    store.close()


def test_any_token_id_and_expiry_can_be_remembered(url: str) -> None:
    """A registered client's token may carry a jti with a NUL or longer than the column, or an exp past
    2038 (PostgreSQL's integer): each is remembered and a replay still recognised, never a 500."""
    store = Store(url)
    far = 2**40
    for jti in ("a\x00b", "j" * 600, "j" * 600 + "x", "plain"):
        assert store.remember_jti("https://ehr.example.org", jti, far) is True
        assert store.remember_jti("https://ehr.example.org", jti, far) is False
    store.close()


def test_workers_opening_a_new_sqlite_file_together_never_find_it_locked(tmp_path: Path) -> None:
    """Switching a new SQLite file to WAL takes a lock SQLite does not wait for: before the retry, about one
    start in fourteen of six workers at once failed with "database is locked" (a CI run saw it). Forty new
    files make such a failure all but certain to show (1 - (13/14)**40 is about 95 %)."""
    errors = [error for n in range(40) for error in open_together(f"sqlite:///{tmp_path / f'{n}.db'}")]
    assert errors == []
