"""`make load`: a bounded load test against a service running on loopback.

Starts the service (WORKERS workers, CDS_AUTH=off, a throw-away SQLite file) on 127.0.0.1, sends requests
from CONCURRENCY concurrent clients until COUNT requests or SECONDS have passed, and prints p50, p95, p99,
requests a second and errors for a 1,000-resource patient-view and a 100-resource order-select. Traffic goes
to loopback only, and every loop is bounded in count and time."""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import orjson

from bench.records import order_select, patient_view


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Connection:
    """One keep-alive HTTP/1.1 connection that posts the same prepared request again and again.

    A deliberately small client: httpx spends more CPU per request than the service does on a small one,
    and on a 2-core machine the load generator's CPU is taken from the service it measures."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        self._reader, self._writer, self._request = reader, writer, request

    @classmethod
    async def open(cls, host: str, port: int, request: bytes) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer, request)

    async def post(self) -> int:
        """Send the request and read the whole response; returns its status code."""
        self._writer.write(self._request)
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


def prepared(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def run(
    host: str, port: int, path: str, body: bytes, concurrency: int, count: int, seconds: float
) -> dict[str, float]:
    """`concurrency` clients, each posting as soon as its previous answer arrived (a closed loop), until
    `count` requests were sent or `seconds` passed."""
    request = prepared(host, port, path, body)
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors, sent
        connection = await Connection.open(host, port, request)
        try:
            while sent < count and time.perf_counter() < deadline:
                sent += 1
                started = time.perf_counter()
                try:
                    if await connection.post() != 200:
                        errors += 1
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    connection.close()
                    connection = await Connection.open(host, port, request)
                latencies.append(time.perf_counter() - started)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "mean": statistics.mean(latencies) * 1000,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--count", type=int, default=3000, help="requests per scenario at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per scenario at most")
    args = parser.parse_args(argv)
    port = free_port()
    database = Path(tempfile.mkdtemp()) / "load.db"
    env = {
        **os.environ,
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{database}",
        "CDS_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "-m",
        "cds.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        scenarios = [
            ("patient-view, 1,000 resources", "tacrolimus-patient-view", patient_view(1000)),
            ("order-select, 100 resources", "tacrolimus-order-select", order_select(100)),
        ]
        limits = f"at most {args.count} requests or {args.seconds:g} s each"
        print(f"{args.workers} workers, {args.concurrency} concurrent clients, {limits}")
        columns = ("requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms")
        print(f"{'scenario':32} " + " ".join(f"{c:>8}" for c in columns))
        for name, service, request in scenarios:
            body = orjson.dumps(request)
            path = f"/cds-services/{service}"
            asyncio.run(run("127.0.0.1", port, path, body, args.concurrency, 200, 10.0))  # warm-up
            r = asyncio.run(run("127.0.0.1", port, path, body, args.concurrency, args.count, args.seconds))
            values = (r["requests"], r["errors"], r["rps"], r["p50"], r["p95"], r["p99"])
            print(f"{name:32} " + " ".join(f"{v:>8.1f}" for v in values))
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
