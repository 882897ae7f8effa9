"""The fault test: a throw-away PostgreSQL restarted, then frozen, under a short load on the service.

What must hold: callers get 503 with Retry-After while the database is away (never a 500, never a dropped
connection, never a hang), hook calls that need no database keep answering 200, the service recovers by
itself when the database returns, and every feedback entry that was acknowledged (200) is in the
database at the end. The test starts its own PostgreSQL from the Debian binaries (as the postgres user
when run as root), on a free port, and skips with a message where they are missing. Bounded: about half
a minute on a quiet machine.
"""

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bench.load import free_port, start_server
from cds.store import Store
from tests.builders import full_prefetch, hook_request, tacrolimus

FEEDBACK = "/cds-services/tacrolimus-order-select/feedback"
HOOK = "/cds-services/tacrolimus-patient-view"


class Postgres:
    """A PostgreSQL cluster in a temporary directory, on loopback, that the test may stop, freeze and
    restart."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)")
        self.bin = Path(found[-1]).parent
        self.root = os.geteuid() == 0
        if self.root and shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to start PostgreSQL as the postgres user")
        self.data = Path(tempfile.mkdtemp(prefix="cds-fault-pg-"))
        if self.root:
            shutil.chown(self.data, "postgres")
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def processes(self) -> list[int]:
        """The postmaster and every server process under it."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if parent == postmaster:
                    children.append(int(entry.name))
        return [postmaster, *children]

    def signal(self, sig: int) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def destroy(self) -> None:
        try:
            self.signal(signal.SIGCONT)
            self.stop()
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@dataclass
class Load:
    """Clients on kept-open connections sending feedback, hook calls and health checks until stopped."""

    base: str
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # card ids of feedback answered 200
    missing_retry_after: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, kind: str, send: Callable[[httpx.Client], httpx.Response], card: str = "") -> None:
        with httpx.Client(base_url=self.base, timeout=10.0) as client:
            while not self.stop.is_set():
                try:
                    response = send(client)
                except httpx.HTTPError as error:
                    with self.lock:
                        self.errors.append(f"{kind}: {type(error).__name__}: {error}")
                    continue
                with self.lock:
                    self.statuses[(kind, response.status_code)] += 1
                    if response.status_code == 503 and "retry-after" not in response.headers:
                        self.missing_retry_after += 1
                    if kind == "feedback" and response.status_code == 200:
                        self.acknowledged.append(response.request.headers["x-card"])
                time.sleep(0.02)

    def start(self) -> list[threading.Thread]:
        hook = hook_request(prefetch=full_prefetch([tacrolimus()]))

        def feedback(client: httpx.Client) -> httpx.Response:
            card = str(uuid.uuid4())
            entry = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:05:31Z"}
            return client.post(FEEDBACK, json={"feedback": [entry]}, headers={"x-card": card})

        senders: list[tuple[str, Callable[[httpx.Client], httpx.Response]]] = [
            ("feedback", feedback),
            ("feedback", feedback),
            ("hook", lambda client: client.post(HOOK, json=hook)),
            ("hook", lambda client: client.post(HOOK, json=hook)),
        ]
        threads = [threading.Thread(target=self.run, args=sender, daemon=True) for sender in senders]
        for thread in threads:
            thread.start()
        return threads

    def count(self, kind: str, status: int) -> int:
        with self.lock:
            return self.statuses[(kind, status)]


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_restarted_then_frozen_database_gives_503s_recovers_and_loses_no_acknowledged_feedback(
    postgres: Postgres, tmp_path: Path
) -> None:
    port = free_port()
    env = {"CDS_DATABASE_URL": postgres.url, "CDS_DATABASE_TIMEOUT": "1", "CDS_DATABASE_CONNECT_TIMEOUT": "2"}
    log = (tmp_path / "service.log").open("wb")
    service = start_server(1, port, env, log)
    load = Load(f"http://127.0.0.1:{port}")
    threads = load.start()
    try:
        assert wait_for(lambda: load.count("feedback", 200) >= 5, 10), load.statuses

        # a restart: stopped long enough for calls to find it away, then started again
        postgres.stop()
        assert wait_for(lambda: load.count("feedback", 503) >= 3, 10), load.statuses
        postgres.start()
        recovered = load.count("feedback", 200)
        assert wait_for(lambda: load.count("feedback", 200) >= recovered + 5, 15), load.statuses

        # a freeze: the server accepts connections and never answers
        postgres.signal(signal.SIGSTOP)
        try:
            with httpx.Client(base_url=load.base, timeout=5.0) as client:
                started = time.monotonic()
                health = client.get("/healthz")
                health_seconds = time.monotonic() - started
                started = time.monotonic()
                hook = client.post(HOOK, json=hook_request(prefetch=full_prefetch([tacrolimus()])))
                hook_seconds = time.monotonic() - started
            frozen_503 = load.count("feedback", 503)
            assert wait_for(lambda: load.count("feedback", 503) >= frozen_503 + 2, 10), load.statuses
        finally:
            postgres.signal(signal.SIGCONT)
        recovered = load.count("feedback", 200)
        assert wait_for(lambda: load.count("feedback", 200) >= recovered + 5, 15), load.statuses
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(15)
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
        log.close()

    assert health.status_code == 503
    assert health_seconds < 1.5  # /healthz answers within a second (and a little for the machine)
    assert hook.status_code == 200
    assert hook_seconds < 1.5  # hook calls never wait for the database
    assert load.errors == []  # no dropped or reset connection, no client timeout
    assert not [key for key in load.statuses if key[1] >= 500 and key[1] != 503], load.statuses
    assert load.missing_retry_after == 0
    assert load.count("hook", 200) > 0
    assert not [key for key in load.statuses if key[0] == "hook" and key[1] != 200], load.statuses
    store = Store(postgres.url)
    stored = {row["card_uuid"] for row in store.entries()}
    store.close()
    lost = [card for card in load.acknowledged if card not in stored]
    assert lost == [], f"{len(lost)} acknowledged feedback entries are not in the database"
    assert len(load.acknowledged) >= 15
