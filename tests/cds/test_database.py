"""The database seen from the event loop: an unreachable, failing or hung database is a prompt
DatabaseUnavailable (503 at the edge), never a hang; and the store's own timeouts are set."""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc

from cds import __version__
from cds.app import build_app
from cds.clock import fixed
from cds.database import Database
from cds.errors import DatabaseTimeout, DatabaseUnavailable
from cds.service import Service
from cds.settings import Settings
from cds.store import Store, connect_args
from tests.builders import full_prefetch, hook_request, tacrolimus
from tests.cds.test_auth import BASE, clients_file, sign
from tests.clock import now

POSTGRES = os.environ.get("CDS_TEST_POSTGRES_URL")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'db.sqlite'}")


def operational_error() -> exc.OperationalError:
    return exc.OperationalError("SELECT 1", {}, Exception("connection refused"))


async def test_a_call_returns_its_result(store: Store) -> None:
    database = Database(store, timeout=2.0)
    assert await database.run(lambda: 41 + 1) == 42
    database.close()


async def test_an_unreachable_database_is_unavailable(store: Store) -> None:
    database = Database(store, timeout=2.0)

    def refused() -> None:
        raise operational_error()

    with pytest.raises(DatabaseUnavailable) as raised:
        await database.run(refused)
    assert raised.value.status_code == 503
    assert raised.value.retry_after > 0
    database.close()


async def test_other_errors_are_not_mistaken_for_an_outage(store: Store) -> None:
    database = Database(store, timeout=2.0)

    def refused_row() -> None:
        raise exc.DataError("INSERT", {}, Exception("value too long"))

    with pytest.raises(exc.DataError):
        await database.run(refused_row)
    database.close()


async def test_a_hung_database_is_unavailable_after_the_timeout_and_frees_the_caller(store: Store) -> None:
    database = Database(store, timeout=0.2, threads=2)
    release = threading.Event()
    ran_late: list[int] = []
    try:
        for _ in range(2):  # every thread stuck, as on a frozen server
            with pytest.raises(DatabaseTimeout):
                await database.run(lambda: release.wait(30))
            assert not release.is_set()
        # queued behind the stuck threads: answered in time, and never run later
        with pytest.raises(DatabaseTimeout):
            await database.run(lambda: ran_late.append(1))
    finally:
        release.set()
    assert await database.run(lambda: "recovered") == "recovered"
    assert ran_late == []
    database.close()


def test_the_store_sets_the_sqlite_busy_timeout_from_the_settings(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}", timeout=1.5)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1500
    store.close()


def test_postgresql_gets_connect_and_statement_timeouts_keeping_the_urls_options() -> None:
    url = "postgresql+psycopg://u@h/db?options=-csearch_path%3Ds1"
    args = connect_args(url, timeout=2.5, connect_timeout=3)
    assert args == {"connect_timeout": 3, "options": "-csearch_path=s1 -c statement_timeout=2500"}


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL not tested: set CDS_TEST_POSTGRES_URL (.ci/run does)")
def test_postgresql_sessions_run_with_the_statement_timeout() -> None:
    store = Store(str(POSTGRES), timeout=2.5)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "2500ms"
    store.close()


# At the HTTP edge: 503 with Retry-After, never a 500 and never a hang


@contextmanager
def database_down(tmp_path: Path, services: list[Service], **settings: Any) -> Iterator[TestClient]:
    """The service with a database that refuses every call after start-up, as during a restart."""
    app = build_app(
        services, Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", **settings), clock=fixed(now())
    )
    with TestClient(app) as client:
        store = app.state.database.store

        def refused(*_: object, **__: object) -> None:
            raise operational_error()

        for name in ("save", "ping", "override_report", "remember_jti", "record_calls", "topic_of"):
            setattr(store, name, refused)
        yield client


@pytest.fixture
def down(tmp_path: Path, services: list[Service]) -> Iterator[TestClient]:
    with database_down(tmp_path, services, auth="off") as client:
        yield client


def bearer(path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign(aud=BASE + path)}"}


def test_feedback_while_the_database_is_down_is_503_with_retry_after(down: TestClient) -> None:
    path = "/cds-services/tacrolimus-order-select/feedback"
    entry = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:05:31Z"}
    response = down.post(path, json={"feedback": [entry]})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json() == {
        "error": "database_unavailable",
        "message": "the database cannot be reached; try again shortly",
    }


def test_a_token_whose_replay_cannot_be_checked_is_503_not_401_or_500(
    tmp_path: Path, services: list[Service]
) -> None:
    path = "/cds-services/tacrolimus-patient-view"
    body = hook_request(prefetch=full_prefetch([tacrolimus()]))
    secured = {"auth": "required", "clients_file": clients_file(tmp_path), "public_base_url": BASE}
    with database_down(tmp_path, services, **secured) as client:
        response = client.post(path, json=body, headers=bearer(path))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_the_report_and_health_while_the_database_is_down_are_503(down: TestClient) -> None:
    response = down.get("/report")
    assert response.status_code == 503
    health = down.get("/healthz")
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "database": "unavailable", "version": __version__}
    assert health.headers["Retry-After"] == "5"


def test_health_answers_503_within_a_second_while_the_database_hangs(
    tmp_path: Path, services: list[Service]
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", auth="off", database_timeout=30)
    app = build_app(services, settings, clock=fixed(now()))
    release = threading.Event()
    with TestClient(app) as client:
        app.state.database.store.ping = lambda: release.wait(30)
        try:
            response = client.get("/healthz")
            still_hung = not release.is_set()
        finally:
            release.set()
    assert response.status_code == 503
    assert still_hung  # answered while the database call was still waiting
