"""Where the service may connect: the addresses it refuses, and the HTTP client that enforces it.

A request names its FHIR server, so the address is the caller's choice. Cloud metadata services
(169.254.169.254 and its kin) hand out credentials to whoever asks from inside the machine, so the
service never calls a link-local, unspecified, multicast or known metadata address, however it is
written: ``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376`` and ``169.254.43518`` are all
169.254.169.254 to the system resolver (the legacy ``inet_aton`` forms), and ``::ffff:169.254.169.254``
is the same address in IPv6. Loopback and private addresses stay allowed: an EHR's FHIR server is often
on the local network, and on loopback in development.

Two checks. ``blocked_address`` reads a URL as written, before any token is handed over. The client of
``http_client`` then resolves each name once, refuses the connection if any address it resolves to is
forbidden, and connects to the address it checked (TLS still verifies the name): a DNS name that resolves
to a forbidden address is refused too, and cannot change between the check and the connection.
"""

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "metadata.azure.com", "instance-data"})
# Metadata services not on a link-local address: AWS's IPv6 endpoint and Alibaba Cloud's
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # 0.x.x.x reaches the host itself on Linux
NAT64 = ipaddress.ip_network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# Resolve a host name and port to the addresses to try, in order.
Resolve = Callable[[str, int], Awaitable[list[str]]]


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address of an IPv4 literal in any form ``inet_aton`` accepts: one to four parts, each decimal,
    octal (leading 0) or hexadecimal (0x), the last part filling the bytes left. None for anything else."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        lower = part.lower()
        if lower.startswith("0x"):
            digits, base, allowed = lower[2:], 16, "0123456789abcdef"
        elif len(part) > 1 and part.startswith("0"):
            digits, base, allowed = part[1:], 8, "01234567"
        else:
            digits, base, allowed = part, 10, "0123456789"
        if (not digits and base != 16) or any(c not in allowed for c in digits):
            return None
        values.append(int(digits or "0", base))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for value in head:
        number = number * 256 + value
    return ipaddress.IPv4Address((number << (8 * (4 - len(head)))) | last)


def parse_address(host: str) -> Address | None:
    """The IP address a host names as the resolver reads it, or None when it is a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return legacy_ipv4(host)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries to the same host: mapped, NAT64, 6to4 or compatible."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if int(address) >> 32 == 0 and int(address) > 1:  # ::a.b.c.d, the deprecated IPv4-compatible form
        return ipaddress.IPv4Address(int(address))
    return None


def forbidden_address(address: str | Address) -> str:
    """Why the service must never connect to this IP address ('' when it may)."""
    if isinstance(address, str):
        parsed = parse_address(address.split("%", 1)[0])
        if parsed is None:
            return "not an IP address"
        address = parsed
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
        return forbidden_address(inner)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in THIS_NETWORK):
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    return ""


def blocked_address(url: str) -> str:
    """Why the service must never call this URL ('' when it may): not http(s), a cloud metadata host name,
    or a forbidden address in any spelling the resolver accepts. Names are checked again when resolved."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"the {parts.scheme or 'missing'} scheme is not allowed"
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return "no host"
    if host in METADATA_HOSTS:
        return "a cloud metadata host"
    address = parse_address(host)
    return forbidden_address(address) if address is not None else ""


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of host from the system resolver, without blocking the event loop."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to allowed addresses: resolves the name once, refuses it if any address
    it resolves to is forbidden, and connects to the checked address itself."""

    def __init__(self, resolve: Resolve = system_resolve) -> None:
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host.lower().rstrip(".") in METADATA_HOSTS:
            raise httpcore.ConnectError(f"{host} is a cloud metadata host: not connected")
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"{host} was not resolved in time") from None
        except OSError as failure:
            raise httpcore.ConnectError(f"{host} could not be resolved: {failure}") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for address in addresses:
            why = forbidden_address(address)
            if why:
                raise httpcore.ConnectError(f"{host} resolves to {address}, a forbidden address ({why})")
        *others, last = addresses
        for address in others:  # the next address when one does not answer, the last one's error
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue
        return await self._inner.connect_tcp(
            last, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process, read when first needed (SSL_CERT_FILE and SSL_CERT_DIR apply): building
    one loads the CA bundle, about 20 ms, which every client would otherwise pay again."""
    return httpx.create_ssl_context()


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over connections opened by ``CheckedBackend``. No proxy is used: a proxy would
    resolve the names itself, after the check."""

    def __init__(self, limits: httpx.Limits, resolve: Resolve) -> None:
        context = _ssl_context()
        super().__init__(verify=context, limits=limits)  # given the context, httpx builds none of its own
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(resolve),
        )


def http_client(max_connections: int = 20, resolve: Resolve = system_resolve) -> httpx.AsyncClient:
    """The client for every outbound call (FHIR servers, key sets): checked addresses, no redirects."""
    limits = httpx.Limits(max_connections=max_connections)
    return httpx.AsyncClient(
        transport=CheckedTransport(limits, resolve), follow_redirects=False, trust_env=False
    )
