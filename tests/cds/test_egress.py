"""Where the service may connect: every spelling of a forbidden address is refused, as written and as the
resolver answers for a name, and the connection goes to the address that was checked."""

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds.egress import blocked_address, forbidden_address, http_client
from tests.builders import hook_request

METADATA = [
    "http://169.254.169.254/latest/meta-data",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/",
    "http://169.254.43518/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[64:ff9b::169.254.169.254]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://0.0.0.0:8000/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./",
    "file:///etc/passwd",
]

ALLOWED = [
    "https://ehr.example.org/fhir",
    "http://127.0.0.1:8080/fhir",
    "http://2130706433/fhir",  # 127.0.0.1: loopback stays allowed, however it is spelt
    "http://localhost/fhir",
    "http://[::1]/fhir",
    "http://10.1.2.3/fhir",
    "http://192.168.0.10/fhir",
    "http://1.2.3.4.example.org/fhir",  # a name, not an address: checked when it is resolved
]


@pytest.mark.parametrize("url", METADATA)
def test_every_spelling_of_a_forbidden_address_is_refused(url: str) -> None:
    assert blocked_address(url) != ""


@pytest.mark.parametrize("url", ALLOWED)
def test_servers_on_ordinary_loopback_and_private_addresses_are_allowed(url: str) -> None:
    assert blocked_address(url) == ""


@pytest.mark.parametrize(
    "host",
    ["2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.43518", "0xa9.0xfe.0xa9.0xfe"],
)
def test_the_system_resolver_reads_these_spellings_as_the_metadata_address(host: str) -> None:
    """The reason the filter must parse them: the resolver the connection uses does."""
    [first, *_] = socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)
    assert first[4][0] == "169.254.169.254"
    assert forbidden_address(first[4][0])


class Resolver:
    """A fake resolver: names to addresses, and the names it was asked for."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers[host]


@pytest.fixture
async def local_server() -> AsyncIterator[int]:
    """An HTTP server on 127.0.0.1 answering every request with a small FHIR Patient."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"resourceType": "Patient", "id": "p1"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    async with server:
        yield port


@pytest.fixture
def no_respx() -> Iterator[None]:
    """These tests make real loopback connections: make sure no mock router is active."""
    with respx.mock(assert_all_mocked=False, assert_all_called=False) as mock:
        mock.route().pass_through()
        yield


async def test_a_name_resolving_to_the_metadata_address_is_refused_before_connecting() -> None:
    resolver = Resolver({"fhir.evil.test": ["93.184.216.34", "169.254.169.254"]})
    async with http_client(resolve=resolver) as http:
        with pytest.raises(httpx.ConnectError, match=r"169\.254\.169\.254"):
            await http.get("http://fhir.evil.test/fhir/Patient/p1")
    assert resolver.asked == ["fhir.evil.test"]


async def test_a_numeric_spelling_is_refused_by_what_the_resolver_answers() -> None:
    async with http_client() as http:  # the system resolver: numeric hosts need no network
        with pytest.raises(httpx.ConnectError, match="forbidden address"):
            await http.get("http://0xa9fea9fe/latest/meta-data", timeout=2.0)


async def test_the_connection_goes_to_the_address_that_was_checked(local_server: int, no_respx: None) -> None:
    # ehr.test exists only in this resolver: reaching the server proves the checked address was used
    resolver = Resolver({"ehr.test": ["127.0.0.1"]})
    async with http_client(resolve=resolver) as http:
        response = await http.get(f"http://ehr.test:{local_server}/fhir/Patient/p1")
    assert response.json() == {"resourceType": "Patient", "id": "p1"}
    assert resolver.asked == ["ehr.test"]


def test_a_hook_call_naming_a_numeric_metadata_address_makes_no_fhir_call(client: TestClient) -> None:
    body: dict[str, Any] = hook_request(prefetch={})
    body.update(fhirServer="http://0xa9fea9fe/fhir", fhirAuthorization={"access_token": "secret-token"})
    with respx.mock(assert_all_called=False) as mock:
        response = client.post("/cds-services/tacrolimus-patient-view", json=body)
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert "not allowed" in response.json()["missing"][0]["reason"]
