"""A hook call leaves no reference cycles behind: everything it allocated is freed by reference counting
when it returns. A cycle through the patient record would keep a whole request's data alive until a
full garbage collection, and make those collections walk it: memory and latency both grow with load."""

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench.records import order_select, patient_view
from cards.examples import load_examples
from cds.clock import fixed
from cds.evaluate import Evaluator
from cds.main import services
from cds.settings import Settings
from tests.clock import now


@pytest.fixture
def saved_garbage() -> Iterator[None]:
    """The collector runs only when asked, and keeps what it finds in gc.garbage for inspection."""
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def cycles_from(run: Callable[[], object]) -> list[object]:
    gc.set_debug(0)
    gc.collect()  # free what earlier work left, for real
    gc.set_debug(gc.DEBUG_SAVEALL)
    run()
    gc.collect()
    found = list(gc.garbage)
    gc.garbage.clear()
    gc.set_debug(0)
    return found


def requests() -> list[tuple[str, dict[str, Any]]]:
    found = [(e.service_id, e.request) for e in load_examples(list(services()))]
    found += [("tacrolimus-patient-view", patient_view(200)), ("tacrolimus-order-select", order_select(200))]
    return found


def test_a_hook_call_leaves_no_cyclic_garbage(saved_garbage: None) -> None:
    evaluator = Evaluator(services(), Settings(database_url="sqlite://"), http=None, clock=fixed(now()))
    loop = asyncio.new_event_loop()

    def call(service: str, request: dict[str, Any]) -> None:
        loop.run_until_complete(evaluator.evaluate(service, request)).to_json()

    for service, request in requests():
        call(service, request)  # warm caches
        found = cycles_from(lambda: call(service, request))  # noqa: B023
        kinds = sorted({type(o).__name__ for o in found})
        assert found == [], f"{service}: cycles left behind ({', '.join(kinds)})"
    loop.close()


def test_the_check_finds_a_cycle(saved_garbage: None) -> None:
    def leave_a_cycle() -> None:
        record: dict[str, object] = {}
        record["memo"] = {"record": record}

    assert len(cycles_from(leave_a_cycle)) == 2
