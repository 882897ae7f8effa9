"""The audit trail of hook calls, written off the request path.

A hook call hands its ``AuditEntry`` to ``AuditLog.record`` and answers at once: recording never blocks
and never fails a call. Each entry is cleaned as it is queued (no NUL, no field longer than its column),
and the entries gathered in the meantime are written in one transaction at most ``interval`` seconds later,
on a database thread: one transaction per batch instead of one per call is what lets a worker answer
hundreds of calls a second. Reads that need the latest calls (feedback's topic, the override report) call
``flush`` first.

When a batch fails:

- the database is unavailable: the batch goes back to the queue and is retried, less often, until the
  database returns; the queue holds at most ``max_pending`` entries, and past that the oldest are dropped,
  counted (``cds_audit_dropped_total{reason="queue_full"}``) and logged;
- the database refuses a row: the batch is written again row by row, so only the row it refuses is lost,
  counted (``reason="refused"``) and logged with its service and hookInstance.

Shutting down writes what is pending. uvicorn skips the shutdown when a SIGINT follows a first stop
signal: from the second signal on, the queue is written in the signal handler (``write_on_repeated_signal``),
and an ``atexit`` hook writes what remains at any other exit that skipped the shutdown. A process killed
outright (``kill -9``, the out-of-memory killer) loses what was queued: at most ``interval`` seconds of
calls, or the queue kept while the database was unavailable.
"""

import asyncio
import atexit
import concurrent.futures
import logging
import signal
import threading
from collections import deque
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from cds.database import Database
from cds.errors import DatabaseTimeout, DatabaseUnavailable
from cds.metrics import AUDIT_DROPPED
from cds.store import AuditEntry

log = logging.getLogger(__name__)

RETRY_INTERVAL = 1.0  # seconds between writes while the database is unavailable


class AuditLog:
    def __init__(self, database: Database, interval: float = 0.2, max_pending: int = 10_000) -> None:
        self._database = database
        self._interval = interval
        self._max_pending = max_pending
        self._pending: deque[AuditEntry] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._writing = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing = False  # the database was unavailable at the last write
        self._dropped = 0  # entries dropped from a full queue since that was last logged
        # batches whose write was cancelled mid-way (a forced exit): written at exit unless it completed
        self._interrupted: list[tuple[list[AuditEntry], concurrent.futures.Future[None]]] = []
        atexit.register(self.write_now)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, entry: AuditEntry) -> None:
        """Queue an entry; it is written within `interval` seconds. Call from the event loop."""
        self._pending.append(entry.cleaned())
        self._trim()
        self._schedule(self._interval)

    def _trim(self) -> None:
        over = len(self._pending) - self._max_pending
        if over <= 0:
            return
        for _ in range(over):
            self._pending.popleft()
        AUDIT_DROPPED.labels("queue_full").inc(over)
        if not self._dropped:
            log.warning("audit queue full (%d calls): dropping the oldest", self._max_pending)
        self._dropped += over

    def _schedule(self, delay: float) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._flush_soon)

    def _flush_soon(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Write every entry queued so far. Never raises: what cannot be written is kept or logged."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._writing:
            batch = list(self._pending)
            self._pending.clear()
            if batch:
                await self._write(batch)
        if self._pending:
            self._schedule(RETRY_INTERVAL if self._failing else self._interval)

    async def _write(self, batch: list[AuditEntry]) -> None:
        store = self._database.store
        job = self._database.submit(lambda: store.record_calls(batch))
        try:
            await self._database.wait(job)
        except asyncio.CancelledError:
            self._interrupted.append((batch, job))
            raise
        except DatabaseTimeout:
            # the write may still complete when the database answers: writing it again could double it
            log.error("audit write did not finish in time: %d calls may not be recorded", len(batch))
            return
        except DatabaseUnavailable:
            self._keep(batch)
            return
        except Exception:
            await self._write_one_by_one(batch)
            return
        self._written()

    def _keep(self, entries: Sequence[AuditEntry]) -> None:
        """Put entries back at the front of the queue, to be retried."""
        self._pending.extendleft(reversed(entries))
        self._trim()
        if not self._failing:
            log.warning(
                "database unavailable: %d audit entries kept until the database returns", len(self._pending)
            )
            self._failing = True

    def _written(self) -> None:
        if self._failing:
            log.info("audit writes resumed")
            self._failing = False
        if self._dropped:
            log.warning("%d audit entries were dropped while the queue was full", self._dropped)
            self._dropped = 0

    async def _write_one_by_one(self, batch: list[AuditEntry]) -> None:
        """The database refused the batch: write each row alone, losing only those it refuses."""
        store = self._database.store
        for position, entry in enumerate(batch):
            try:
                await self._database.run(lambda e=entry: store.record_calls([e]))  # type: ignore[misc]
            except DatabaseTimeout:
                log.error("audit write did not finish in time: %d calls may not be recorded", 1)
            except DatabaseUnavailable:
                self._keep(batch[position:])
                return
            except Exception as error:
                AUDIT_DROPPED.labels("refused").inc()
                log.error(
                    "audit row not recorded (service %s, hookInstance %s, status %d): %s",
                    entry.service_id,
                    entry.hook_instance,
                    entry.status,
                    type(error).__name__,
                )
        self._written()

    async def close(self) -> None:
        await self.flush()
        if self._tasks:
            await asyncio.gather(*self._tasks)
        atexit.unregister(self.write_now)

    def write_now(self) -> None:
        """Write what is still queued, from outside the event loop, waiting at most the database timeout:
        at the exit of a process that skipped the app's shutdown, or on the signal that makes uvicorn skip
        it. Says how much is written or lost."""
        for batch, job in self._interrupted:
            try:
                job.result(timeout=self._database.timeout)
            except concurrent.futures.TimeoutError:
                continue  # still running: it may yet complete
            except BaseException:
                self._pending.extendleft(reversed(batch))
        self._interrupted.clear()
        if not self._pending:
            return
        batch = list(self._pending)
        self._pending.clear()
        store = self._database.store
        try:
            self._database.submit(lambda: store.record_calls(batch)).result(timeout=self._database.timeout)
        except BaseException as error:
            AUDIT_DROPPED.labels("exit").inc(len(batch))
            log.error("at exit, %d audit entries could not be written: %s", len(batch), type(error).__name__)
        else:
            log.info("at exit, %d pending audit entries were written", len(batch))


def write_on_repeated_signal(audit: AuditLog) -> Callable[[], None]:
    """uvicorn exits at once, skipping the app's shutdown, on a SIGINT after a first stop signal (Ctrl-C
    pressed twice, or reaching a worker its supervisor is already stopping), and then re-raises SIGTERM,
    which ends the process before any exit hook. So from the second stop signal on, the queue is written
    in the signal handler itself, before uvicorn's handler runs. Call from the main thread, after uvicorn
    has installed its handlers (the app's startup); returns what puts its handlers back. Elsewhere (a test
    client's thread) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    received = 0
    previous: dict[int, Any] = {}

    def handle(sig: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received > 1:
            audit.write_now()
        handler = previous[sig]
        if callable(handler):
            handler(sig, frame)

    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):  # uvicorn's; leave the default dispositions alone
            previous[sig] = handler
            signal.signal(sig, handle)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is handle:
                signal.signal(sig, handler)

    return restore
