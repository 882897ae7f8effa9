"""Several worker processes that share the load evenly, even when clients keep their connections open.

Uvicorn's workers share one listening socket, and Linux hands each new connection to the worker that
waited last: with an EHR's pool of keep-alive connections opened at a quiet moment, one worker got 31 of
32 connections in our load test and did nearly all the work while the other idled. Here each worker opens
its own socket on the same port with SO_REUSEPORT, and the kernel spreads connections across them by a
hash of their addresses. Uvicorn's supervisor still starts, watches and restarts the workers: it is handed
a `ReusePortSocket`, which each worker unpickles into a fresh listening socket of its own.
"""

import logging
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

BACKLOG = 2048


def reuse_port_supported() -> bool:
    """SO_REUSEPORT spreads connections across sockets on Linux; elsewhere it does not, or differently."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port in the port's SO_REUSEPORT group."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


class ReusePortSocket(socket.socket):
    """Stands for the listening socket in the supervisor, which never accepts on it: unpickled in a worker,
    it becomes that worker's own listening socket on the same port."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return listening_socket, (self.host, self.port)


def serve(app: str, host: str, port: int, workers: int, **options: Any) -> None:
    """Run `workers` processes of the app factory `app` ("module:function"), each with its own socket."""
    listening_socket(host, port).close()  # the port is free (or fails here, with the OS's message)
    config = uvicorn.Config(app, factory=True, host=host, port=port, workers=workers, **options)
    stand_in = ReusePortSocket(host, port)
    # uvicorn says where it listens when it binds the socket itself; here the workers bind their own
    address = f"[{host}]" if ":" in host else host
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d with %d workers (Press CTRL+C to quit)", address, port, workers
    )
    try:
        Multiprocess(config, sockets=[stand_in]).run()
    finally:
        stand_in.close()
