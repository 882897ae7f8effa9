"""The store as the event loop uses it: every call in a small pool of threads of its own, with a timeout.

An unreachable or failing database (connection refused, a restart, a statement timeout) raises
``DatabaseUnavailable``, and one that does not answer in time ``DatabaseTimeout``: both answer 503 with
``Retry-After`` at the HTTP edge, never a 500 and never a hang. A frozen PostgreSQL acknowledges packets
but never answers, so no socket option bounds the wait: the caller stops waiting after the timeout and
the thread is left to finish when the server comes back. The threads are the service's own (daemon, so a
stuck one never holds up the exit), not the event loop's shared pool, so a hung database cannot starve
anything else; a call still queued when its caller gives up is never run.
"""

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc

from cds.errors import DatabaseTimeout, DatabaseUnavailable
from cds.metrics import DATABASE_UNAVAILABLE
from cds.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

# What an outage looks like through SQLAlchemy: refused or dropped connections, a pool with no free
# connection, a statement cancelled by statement_timeout, SQLite's "database is locked".
OUTAGE = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)
THREADS = 8
LOG_EVERY = 10.0  # seconds between log lines about one outage

Job = tuple[Callable[[], Any], concurrent.futures.Future[Any]]


class Database:
    def __init__(self, store: Store, timeout: float, threads: int = THREADS) -> None:
        self.store = store
        self.timeout = timeout
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"database-{n}", daemon=True) for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()
        self._logged_at = 0.0
        self._unlogged = 0

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            call, future = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up while it was queued
            try:
                future.set_result(call())
            except BaseException as error:
                future.set_exception(error)

    def submit(self, call: Callable[[], T]) -> "concurrent.futures.Future[T]":
        """Queue a call for the database threads; its future says how it ended."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((call, future))
        return future

    async def wait(self, job: "concurrent.futures.Future[T]", timeout: float | None = None) -> T:
        """The result of a submitted call; DatabaseUnavailable or DatabaseTimeout when the database fails
        or does not answer within timeout (the database timeout by default)."""
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await asyncio.wrap_future(job)
        except TimeoutError:
            self._outage(f"no answer within {limit:g} s")
            message = f"the database did not answer within {limit:g} s; try again shortly"
            raise DatabaseTimeout(message) from None
        except OUTAGE as error:
            self._outage(_first_line(error))
            raise DatabaseUnavailable("the database cannot be reached; try again shortly") from None

    async def run(self, call: Callable[[], T], timeout: float | None = None) -> T:
        """Run call on a database thread and return its result (see ``wait``)."""
        return await self.wait(self.submit(call), timeout)

    def _outage(self, why: str) -> None:
        DATABASE_UNAVAILABLE.inc()
        now = time.monotonic()
        if now - self._logged_at < LOG_EVERY:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more calls failed since the last report)" if self._unlogged else ""
        log.warning("database unavailable: %s%s", why, more, extra={"event": "database_unavailable"})
        self._logged_at, self._unlogged = now, 0

    def close(self) -> None:
        """Stop the threads once the calls queued so far have run; then close the store's connections."""
        for _ in self._threads:
            self._jobs.put(None)
        self.store.close()


def _first_line(error: BaseException) -> str:
    """What the driver said, without the statement and its parameters."""
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0][:200]}" if text else type(cause).__name__
