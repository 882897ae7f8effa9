"""`make load`: a bounded load test against a service it starts on loopback.

Starts the service (WORKERS workers, CDS_AUTH=off, a throw-away SQLite file) on 127.0.0.1 and measures:

- closed loop: CONCURRENCY clients each sending its next request as soon as the last was answered, for a
  1,000-resource patient-view and a 100-resource order-select. This gives the most the workers can answer
  a second; latency is then queueing (Little's law: latency = clients / throughput).
- paced: the 1,000-resource patient-view offered at a fixed rate (by default 60% of what the closed loop
  answered) over the same number of connections. Latency is counted from when each request was due, so a
  slow answer delaying the next ones is counted too (no coordinated omission).
- closed loop with --clients (16) clients: a 1,000-resource patient-view of a patient not on tacrolimus,
  and the hospital mix (20 chart opens, 19 of them not on tacrolimus; each client goes round the 20).
  Each row also gives the workers' CPU time per request (from /proc) as a ratio to `json.loads` of the
  same bodies, timed in this process in the same run. Then the hospital mix paced at 60% of what its
  closed loop answered, over as many connections.
- with --soak N: N order-select requests, printing each worker's resident memory every N/10 requests.

Prints requests, errors, requests a second, p50, p95 and p99. Traffic goes to loopback only, and every
loop is bounded in count and time."""

import argparse
import asyncio
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx
import orjson

from bench.records import hospital_mix, order_select, patient_view
from cds.workers import reuse_port_supported

HOST = "127.0.0.1"


Requests = bytes | Sequence[bytes]  # one prepared request, or several sent in turn


class Connection:
    """One keep-alive HTTP/1.1 connection that posts the same prepared request (or each of several in
    turn) again and again.

    A deliberately small client: httpx spends more CPU per request than the service does on a small one,
    and on a 2-core machine the load generator's CPU is taken from the service it measures."""

    _opened = itertools.count()  # where in a list of requests each new connection starts

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: Requests) -> None:
        self._reader, self._writer = reader, writer
        requests = [request] if isinstance(request, bytes) else list(request)
        start = next(self._opened) % len(requests)
        self._requests = itertools.cycle(requests[start:] + requests[:start])

    @classmethod
    async def open(cls, port: int, request: Requests) -> "Connection":
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        return cls(reader, writer, request)

    async def post(self) -> int:
        """Send the next request and read the whole response; returns its status code."""
        self._writer.write(next(self._requests))
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self._reader.readexactly(length)
        return status

    def close(self) -> None:
        self._writer.close()


def prepared(port: int, path: str, body: bytes | Sequence[bytes]) -> Requests:
    """The HTTP request posting body (or one for each of several bodies)."""
    if not isinstance(body, bytes):
        return [_prepared(port, path, one) for one in body]
    return _prepared(port, path, body)


def _prepared(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.started = time.perf_counter()

    def summary(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self.started
        latencies = sorted(self.latencies)

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

        return {
            "requests": len(latencies),
            "errors": self.errors,
            "rps": len(latencies) / elapsed,
            "p50": pct(0.50),
            "p95": pct(0.95),
            "p99": pct(0.99),
            "mean": statistics.mean(latencies) * 1000,
        }


async def _send(connection: Connection, port: int, request: Requests, tally: Tally, due: float) -> Connection:
    try:
        if await connection.post() != 200:
            tally.errors += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        tally.errors += 1
        connection.close()
        connection = await Connection.open(port, request)
    tally.latencies.append(time.perf_counter() - due)
    return connection


async def closed_loop(
    port: int, path: str, body: bytes | Sequence[bytes], concurrency: int, count: int, seconds: float
) -> dict[str, float]:
    """`concurrency` clients, each posting as soon as its previous answer arrived, until `count` requests
    were sent or `seconds` passed."""
    request = prepared(port, path, body)
    tally, sent = Tally(), 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal sent
        connection = await Connection.open(port, request)
        while sent < count and time.perf_counter() < deadline:
            sent += 1
            connection = await _send(connection, port, request, tally, time.perf_counter())
        connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return tally.summary()


async def paced(
    port: int,
    path: str,
    body: bytes | Sequence[bytes],
    concurrency: int,
    rate: float,
    count: int,
    seconds: float,
) -> dict[str, float]:
    """Requests due at a steady `rate` a second, sent over `concurrency` connections; each latency runs
    from when the request was due, so time spent waiting for a free connection counts."""
    request = prepared(port, path, body)
    total = min(count, int(rate * seconds))
    due_times: asyncio.Queue[float] = asyncio.Queue()
    start = time.perf_counter() + 0.05
    for i in range(total):
        due_times.put_nowait(start + i / rate)
    tally = Tally()

    async def client() -> None:
        connection = await Connection.open(port, request)
        while not due_times.empty():
            due = due_times.get_nowait()
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            connection = await _send(connection, port, request, tally, due)
        connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return tally.summary()


def worker_memory(server: int) -> list[int]:
    """Resident memory in KiB of the server's processes (the workers, or the one process), from /proc."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(server) or status.parent.name == str(server):
            found.append((status.parent.name, int(fields.get("VmRSS", "0 kB").split()[0])))
    children = [kib for pid, kib in found if pid != str(server) and not _helper(pid)]
    return children or [kib for _, kib in found]


def _helper(pid: str) -> bool:
    """multiprocessing's resource tracker, a child of the supervisor that serves nothing."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def worker_cpu(server: int) -> float:
    """CPU seconds (user and system) the server's workers have used, from /proc."""
    workers = [
        pid
        for status in Path("/proc").glob("[0-9]*/status")
        if (pid := status.parent.name) != str(server) and not _helper(pid) and _parent(pid) == str(server)
    ]
    total = 0
    for pid in workers or [str(server)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _parent(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""


def parse_time(bodies: Sequence[bytes], seconds: float = 1.0) -> float:
    """Seconds `json.loads` takes per body, on average over the bodies (the median of 5 rounds)."""
    rounds = []
    for _ in range(5):
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds / 5 or calls < len(bodies):
            json.loads(bodies[calls % len(bodies)])
            calls += 1
        rounds.append(elapsed / calls)
    return statistics.median(rounds)


def costed(
    port: int, path: str, bodies: Sequence[bytes], clients: int, args: argparse.Namespace, server: int
) -> tuple[dict[str, float], float]:
    """A closed loop over the bodies, and the workers' CPU seconds per request it took."""
    before = worker_cpu(server)
    result = asyncio.run(closed_loop(port, path, bodies, clients, args.count, args.seconds))
    return result, (worker_cpu(server) - before) / max(1, result["requests"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(
    workers: int, port: int, env: Mapping[str, str] | None = None, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """The service on loopback (CDS_AUTH=off, a throw-away SQLite file unless env says otherwise), once
    /healthz answers. Its log goes to log, or nowhere."""
    database = Path(tempfile.mkdtemp()) / "load.db"
    environment = {
        **os.environ,
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{database}",
        "CDS_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = [sys.executable, "-m", "cds.cli", "serve", "--host", HOST, "--port", str(port)]
    output = log if log is not None else subprocess.DEVNULL
    server = subprocess.Popen(  # noqa: S603
        [*command, "--workers", str(workers)], env=environment, stdout=output, stderr=output
    )
    for _ in range(300):
        try:
            answered = httpx.get(f"http://{HOST}:{port}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            answered = False
        # /healthz is answered by the first worker up; a worker still starting has no socket yet, and
        # every connection opened meanwhile goes to the others (each worker listens on its own socket)
        if answered and (not reuse_port_supported() or listening_sockets(port) >= workers):
            return server
        time.sleep(0.1)
    server.terminate()
    raise SystemExit("the service did not start within 30 s")


def listening_sockets(port: int) -> int:
    """Sockets listening on the local TCP port, from /proc/net (Linux)."""
    return len(tcp_sockets(port, "0A"))  # 0A: LISTEN


def tcp_sockets(port: int, state: str) -> list[list[str]]:
    """The /proc/net/tcp and tcp6 lines (split into fields) of sockets on the local port in the state
    ('0A' listening, '01' established); none where /proc/net is not there."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                found.append(fields)
    return found


def row(name: str, r: dict[str, float], cpu: float | None = None, parse: float | None = None) -> str:
    values = (r["requests"], r["errors"], r["rps"], r["p50"], r["p95"], r["p99"])
    line = f"{name:52} " + " ".join(f"{v:>8.1f}" for v in values)
    if cpu is not None and parse is not None:
        line += f" {cpu * 1e3:>8.2f} {parse * 1e3:>8.2f} {cpu / parse:>6.1f}x"
    return line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--count", type=int, default=5000, help="requests per scenario at most")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds per scenario at most")
    parser.add_argument(
        "--rate", type=float, help="paced patient-view requests a second (default: 60%% of capacity)"
    )
    parser.add_argument("--clients", type=int, default=16, help="clients of the hospital-mix rows")
    parser.add_argument("--soak", type=int, default=0, help="then send this many order-select requests")
    args = parser.parse_args(argv)
    port = free_port()
    server = start_server(args.workers, port)
    path = "/cds-services/tacrolimus-patient-view"
    view = (path, orjson.dumps(patient_view(1000)))
    order = ("/cds-services/tacrolimus-order-select", orjson.dumps(order_select(100)))
    other = [orjson.dumps(patient_view(1000, tacrolimus=False))]
    mix = [orjson.dumps(request) for request in hospital_mix(1000)]
    try:
        for warm_path, body in (view, order, (path, mix)):  # warm-up
            asyncio.run(closed_loop(port, warm_path, body, args.concurrency, 200, 10.0))
        limits = f"at most {args.count} requests or {args.seconds:g} s each"
        print(f"{args.workers} workers, {args.concurrency} connections, {limits}")
        columns = ("requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "CPU ms", "json ms")
        print(f"{'scenario':52} " + " ".join(f"{c:>8}" for c in columns) + "  ratio")
        most = asyncio.run(closed_loop(port, *view, args.concurrency, args.count, args.seconds))
        print(row("patient-view, 1,000 resources, closed loop", most))
        rate = args.rate or round(most["rps"] * 0.6)
        steady = asyncio.run(paced(port, *view, args.concurrency, rate, args.count, args.seconds))
        print(row(f"patient-view, 1,000 resources, {rate:g}/s paced", steady))
        print(
            row(
                "order-select, 100 resources, closed loop",
                asyncio.run(closed_loop(port, *order, args.concurrency, args.count, args.seconds)),
            )
        )
        for name, bodies in (("not on tacrolimus", other), ("hospital mix (19 in 20 not on it)", mix)):
            result, cpu = costed(port, path, bodies, args.clients, args, server.pid)
            label = f"{name}, 1k res., {args.clients} cl."
            print(row(label, result, cpu, parse_time(bodies)))
        # the mix again at 60% of what its closed loop answered: latency without the queue of a saturated
        # machine (closed loop: latency = clients / throughput)
        pace = round(result["rps"] * 0.6)
        steady = asyncio.run(paced(port, path, mix, args.clients, pace, args.count, args.seconds))
        print(row(f"hospital mix, 1k res., {pace:g}/s paced, {args.clients} conn.", steady))
        if args.soak:
            soak(port, order, args, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


def soak(port: int, order: tuple[str, bytes], args: argparse.Namespace, server: int) -> None:
    step = max(1, args.soak // 10)
    print(f"\nsoak: {args.soak} order-select requests; resident memory of each worker (MiB)")
    print(f"{'requests':>9}  {'errors':>6}  memory")
    done, errors = 0, 0
    print(f"{done:>9}  {errors:>6}  " + "  ".join(f"{kib / 1024:.1f}" for kib in worker_memory(server)))
    while done < args.soak:
        r = asyncio.run(closed_loop(port, *order, args.concurrency, step, 3600.0))
        done += int(r["requests"])
        errors += int(r["errors"])
        print(f"{done:>9}  {errors:>6}  " + "  ".join(f"{kib / 1024:.1f}" for kib in worker_memory(server)))


if __name__ == "__main__":
    sys.exit(main())
