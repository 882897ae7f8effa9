import functools
import gc
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cards import load_services
from cds.app import build_app
from cds.clock import Clock, fixed
from cds.evaluate import Evaluator
from cds.models import Card, Source
from cds.models.request import PatientViewContext
from cds.prefetch import KeyData
from cds.record import PatientRecord
from cds.service import Service
from cds.settings import Settings, get_settings
from cds.store import Store, metadata
from tests import clock as suite_clock

POSTGRES = os.environ.get("CDS_TEST_POSTGRES_URL")

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # for tests whose dates are written out, not computed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "now(instant): run this test at this instant (tests/clock.py)")
    config.addinivalue_line(
        "markers", "dates: the test's fixture dates are computed from the suite's now (make test-dates)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that reads the suite's clock is date-sensitive: make test-dates runs it at every instant in
    tests.clock.EDGES. It reads it through the now fixture (directly or through clock, app or client), or
    through a helper of tests.clock its module imports (now(), ago(), ...). A test pinned to an instant by its
    own now marker does not move, so it is not among them."""
    for item in items:
        if item.get_closest_marker("now") is not None:
            continue
        module = getattr(item, "module", None)
        helpers = (
            any(
                getattr(value, "__module__", None) == suite_clock.__name__
                for value in vars(module).values()
                if callable(value)
            )
            if module is not None
            else False
        )
        if helpers or "now" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.dates)
    _ids_survive_a_second_collection(items)
    _order_for_mutmut(items)


def _ids_survive_a_second_collection(items: list[pytest.Item]) -> None:
    """pytest escapes an id given in `parametrize(ids=[...])` that is not plain ASCII ("\\u2019") in the
    list itself, so a second collection in the same process (mutmut collects, then runs) escapes it again,
    the first id is "not found", and mutmut stops with pytest's usage error. Such ids must be ASCII."""
    seen: set[int] = set()  # a list serves every item it parametrizes: check it once
    for item in items:
        for mark in item.iter_markers("parametrize"):
            given = mark.kwargs.get("ids")
            if not isinstance(given, list | tuple) or id(given) in seen:
                continue
            seen.add(id(given))
            if any(isinstance(i, str) and (not i.isascii() or "\\" in i) for i in given):
                raise pytest.UsageError(f"{item.nodeid}: parametrize ids must be plain ASCII")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """mutmut's fork server collects every test once (--collect-only, in mutants/), then forks a process per
    mutant. Each of those runs pytest, which collects garbage in full twice (its unraisable-exception check)
    and more as the test runs: over that heap of every module and test, 0.2 s a pass, most of a mutant's
    cost. Frozen here, the heap the forked runs inherit is not scanned again: a one-test run takes 0.1 s
    instead of 0.6 s."""
    if session.config.option.collectonly and Path.cwd().name == "mutants":
        gc.collect()
        gc.freeze()


@functools.cache
def _test_durations() -> dict[str, float]:
    """mutmut's measured time of each test (8 MB): read once, in the process mutmut forks each run from."""
    stats = Path("mutmut-stats.json")
    durations: dict[str, float] = json.loads(stats.read_text())["duration_by_test"] if stats.exists() else {}
    return durations


def _order_for_mutmut(items: list[pytest.Item]) -> None:
    """Under mutmut (make mutants, tests/mutants.py) a mutant's tests run with -x: the tests of the mutated
    module's own test file first, then the quickest, so a killed mutant costs one or two tests."""
    mutant = os.environ.get("MUTANT_UNDER_TEST")
    if mutant is None or mutant in ("stats", "list_all_tests", "mutant_generation"):
        return  # not under mutmut, or before its stats are final
    if mutant in ("", "fail"):  # the clean and forced-fail runs, and the fork server's warm-up
        _test_durations()  # read here, inherited by every forked mutant run
        return
    durations = _test_durations()
    own = "test_" + mutant.split(".")[1] + ".py" if mutant.count(".") >= 2 else ""

    def order(item: pytest.Item) -> tuple[bool, float]:
        return (Path(item.path).name != own, durations.get(item.nodeid, 1.0))

    items.sort(key=order)


@pytest.fixture(autouse=True)
def _suite_clock(request: pytest.FixtureRequest) -> None:
    """Sets the instant tests.clock.now() and ago() answer for this test."""
    marker = request.node.get_closest_marker("now")
    suite_clock.set_now(suite_clock.suite_instant(marker.args[0] if marker else None))


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """The command line reads the environment's settings once (get_settings is cached): no test leaves
    the settings it read to the next one."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _fast_path_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call in the suite that the fast path answers (no card, record not built) is evaluated in full
    as well, and the full evaluation must give no card either (issue 22): every scenario test, example and
    API test checks the two paths agree."""
    answer = Evaluator._answer

    def checked(
        self: Evaluator,
        service: Service,
        context: PatientViewContext,
        drafts: list[Any],
        data: Mapping[str, KeyData],
        medications: list[dict[str, Any]],
        index: Mapping[str, Mapping[str, Any]],
        now: datetime,
        hook_instance: str,
    ) -> list[Card]:
        fast = self._nothing_to_say(service, data, medications, index, now, context.patientId)
        cards = answer(self, service, context, drafts, data, medications, index, now, hook_instance)
        if fast:
            full = self._evaluate_record(service, context, drafts, data, index, now, hook_instance)
            assert not full, f"the fast path gave no card; in full: {[card.summary for card in full]}"
        return cards

    monkeypatch.setattr(Evaluator, "_answer", checked)


@pytest.fixture
def now() -> datetime:
    """The test's one instant (tests/clock.py says how to move it)."""
    return suite_clock.now()


@pytest.fixture
def clock(now: datetime) -> Clock:
    return fixed(now)


class NamedDrugFamily:
    """A test card family: one card per current medication whose name contains a word."""

    def __init__(self, word: str, needs: Iterable[str] = ("medicationRequests",)) -> None:
        self.word = word
        self.title = f"{word} check"
        self.needs = frozenset(needs)

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        for medication in record.current_medications:
            if any(self.word in name.lower() for name in medication.names):
                yield Card(
                    summary=f"{self.word} found in {medication.ref}",
                    indicator="warning" if medication.selected else "info",
                    source=Source(label="test"),
                )


class BrokenFamily:
    title = "broken check"
    needs = frozenset({"medicationRequests"})

    def cards(self, record: PatientRecord) -> Iterable[Card]:
        raise RuntimeError("bug")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'feedback.db'}",
        fhir_deadline=1.0,
        fhir_request_timeout=0.5,
        auth="off",
    )


@pytest.fixture
def services() -> list[Service]:
    return load_services()


@pytest.fixture
def app(settings: Settings, services: list[Service], clock: Clock) -> FastAPI:
    return build_app(services, settings, clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on each backend: a new SQLite file; the PostgreSQL that CDS_TEST_POSTGRES_URL names
    (.ci/run starts a throw-away one), emptied first, or a skip."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if not POSTGRES:
        pytest.skip("PostgreSQL not tested: set CDS_TEST_POSTGRES_URL (.ci/run does)")
    store = Store(POSTGRES)
    with store.engine.begin() as connection:
        for table in metadata.sorted_tables:
            connection.execute(table.delete())
    store.close()
    yield POSTGRES
