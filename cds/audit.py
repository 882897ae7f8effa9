"""The audit trail of hook calls, written off the request path.

A hook call hands its ``AuditEntry`` to ``AuditLog.record`` and answers at once; the entries gathered in
the meantime are written to the database in one transaction at most ``interval`` seconds later, by a
worker thread. One transaction per batch instead of one per call is what lets a worker answer hundreds
of calls a second on SQLite or PostgreSQL. Reads that need the latest calls (feedback's topic, the
override report) call ``flush`` first; shutting down flushes too. A failed write is logged with the
number of entries lost and never fails a call.
"""

import asyncio
import logging

from fastapi.concurrency import run_in_threadpool

from cds.store import AuditEntry, Store

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, store: Store, interval: float = 0.2) -> None:
        self._store = store
        self._interval = interval
        self._pending: list[AuditEntry] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, entry: AuditEntry) -> None:
        """Queue an entry; it is written within `interval` seconds. Call from the event loop."""
        self._pending.append(entry)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._flush_soon)

    def _flush_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Write every entry queued so far, in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._writing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await run_in_threadpool(self._store.record_calls, batch)
            except Exception:
                log.exception("audit write failed: %d calls not recorded", len(batch))

    async def close(self) -> None:
        await self.flush()
        if self._tasks:
            await asyncio.gather(*self._tasks)
