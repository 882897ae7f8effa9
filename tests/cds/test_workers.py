"""Several workers share the connections evenly, even keep-alive connections opened at a quiet moment
(Linux, SO_REUSEPORT); a port already taken is a clear error, not a hang."""

import os
import pickle
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.load import free_port, listening_sockets, start_server, tcp_sockets
from cds.cli import main
from cds.workers import ReusePortSocket, reuse_port_supported
from tests.builders import full_prefetch, hook_request, tacrolimus

linux_only = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT spreads load on Linux only")


@linux_only
def test_each_worker_unpickles_its_own_listening_socket_on_the_port() -> None:
    port = free_port()
    stand_in = ReusePortSocket("127.0.0.1", port)
    first, second = pickle.loads(pickle.dumps(stand_in)), pickle.loads(pickle.dumps(stand_in))  # noqa: S301
    try:
        assert first.fileno() != second.fileno()
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the kernel accepts for one of them
    finally:
        for sock in (first, second, stand_in):
            sock.close()


@linux_only
def test_a_port_in_use_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDS_AUTH", "off")
    monkeypatch.setenv("CDS_DATABASE_URL", "sqlite://")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"])
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def established(pid: int, port: int) -> int:
    """Connections the process holds on the local port, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return sum(1 for fields in tcp_sockets(port, "01") if fields[9] in inodes)  # 01: established


@pytest.fixture
def two_workers() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    server = start_server(2, port)  # the service as `make load` starts it: CDS_AUTH=off, its own SQLite
    try:
        yield server, port
    finally:
        server.terminate()
        server.wait(timeout=20)


@linux_only
def test_keep_alive_connections_spread_over_the_workers(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    server, port = two_workers
    # an EHR's connection pool: all opened at once, then used
    pool = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(32)]
    try:
        for connection in pool:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for connection in pool:
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
        children = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and (p / "stat").exists() and _parent(p) == server.pid
        ]
        counts = sorted(n for pid in children if (n := established(pid, port)))
        assert len(counts) == 2, counts
        assert sum(counts) == 32
        assert counts[0] >= 4  # with one shared socket this was 1 and 31
    finally:
        for connection in pool:
            connection.close()


def _parent(process: Path) -> int:
    try:
        return int((process / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def test_metrics_count_every_worker(two_workers: tuple[subprocess.Popen[bytes], int]) -> None:
    """Whichever worker answers the scrape, the counts are of all of them (prometheus multiprocess)."""
    _, port = two_workers
    request = hook_request(prefetch=full_prefetch([tacrolimus()]))
    for _ in range(20):  # a new connection each: both workers answer some
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.post("/cds-services/tacrolimus-patient-view", json=request).status_code == 200
    line = 'cds_requests_total{service="tacrolimus-patient-view",status="200"} 20.0'
    for _ in range(6):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert line in client.get("/metrics").text.splitlines()


@linux_only
def test_the_service_is_started_only_once_every_worker_listens() -> None:
    """/healthz is answered by the first worker up: connections opened while another still starts would all
    go to the first (a CI run saw 32 of 32), so the benchmarks and the tests above wait for every socket."""
    port = free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
        assert listening_sockets(port) == 0  # bound, not listening
        probe.listen()
        assert listening_sockets(port) == 1
    server = start_server(2, port)
    try:
        assert listening_sockets(port) == 2
    finally:
        server.terminate()
        server.wait(timeout=20)
