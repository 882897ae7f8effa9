"""Reads from the EHR's FHIR server on behalf of one hook request.

The access token goes only to the request's own ``fhirServer``: redirects are never followed and a
``next`` link that leaves the server is not fetched. Every call has a timeout; the caller bounds all calls
of a request with one deadline. Answers are streamed and read up to a size cap, and all the answers of
one hook call up to a total: past either the reading stops, and what was not read is reported as
incomplete, never parsed (a 60 MB Bundle would cost a worker a gigabyte and block its event loop).
"""

import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import SecretStr

from cds.egress import blocked_address
from cds.errors import FHIRError, FHIRResponseError, FHIRStatusError, FHIRTimeout, FHIRTooLarge
from cds.metrics import FHIR_CALLS

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json, application/json;q=0.9"


class SearchResult:
    """The resources a search found, and why the list may be incomplete ('' when it is complete)."""

    __slots__ = ("incomplete", "resources")

    def __init__(self, resources: list[Any], incomplete: str = "") -> None:
        self.resources = resources
        self.incomplete = incomplete


def bundle_resources(bundle: dict[str, Any]) -> list[Any]:
    """The resources of a Bundle's entries, leaving out search outcome entries (warnings, not data)."""
    found: list[Any] = []
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            found.append(entry)  # kept so the record reports it as malformed
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        found.append(entry.get("resource"))
    return found


def unreadable_bundle(bundle: dict[str, Any]) -> str:
    """Why a Bundle's entries cannot be read ('' when they can): ``entry`` is there but not a list."""
    entries = bundle.get("entry")
    return "its entry is not a list" if entries is not None and not isinstance(entries, list) else ""


def next_link(bundle: dict[str, Any]) -> str:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return ""


def outcome_text(outcome: dict[str, Any]) -> str:
    """A short description of an OperationOutcome (diagnostics or details of its first issue)."""
    issues = outcome.get("issue")
    for issue in issues if isinstance(issues, list) else ():
        if isinstance(issue, dict):
            details = issue.get("details")
            detail_text = details.get("text") if isinstance(details, dict) else None
            message = issue.get("diagnostics") or detail_text or issue.get("code")
            if isinstance(message, str) and message:
                return message[:200]
    return "the server reported an error"


class FHIRClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: SecretStr | None,
        *,
        timeout: float,
        max_pages: int,
        max_response_bytes: int = 5 * 1024 * 1024,
        max_total_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http
        self._timeout = timeout
        self._max_pages = max_pages
        self._max_response = max_response_bytes
        self._max_total = max_total_bytes
        self._read_total = 0  # bytes read from every answer of this client (one hook call)
        self._headers = {"Accept": FHIR_JSON}
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        base = urlsplit(self.base_url)
        self._origin = (base.scheme, base.netloc.lower())
        self._path = base.path.rstrip("/") + "/"

    def on_server(self, url: str) -> bool:
        """True when url is on this FHIR server (same scheme, host, port and base path)."""
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc.lower()) == self._origin and (parts.path + "/").startswith(
            self._path
        )

    async def get(self, url: str) -> dict[str, Any] | None:
        """GET one URL on the server. None for a read that found nothing (404/410)."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}/{url.lstrip('/')}"
        if not self.on_server(url) or blocked_address(url):
            raise FHIRResponseError("URL is not on the request's FHIR server; not fetched")
        is_read = "?" not in url and "/_search" not in url
        try:
            async with self._http.stream(
                "GET", url, headers=self._headers, timeout=self._timeout, follow_redirects=False
            ) as response:
                FHIR_CALLS.labels(
                    "ok" if response.status_code < 300 or response.status_code in (404, 410) else "failed"
                ).inc()
                if response.status_code in (404, 410) and is_read:
                    return None
                content = await self._read(response)
        except httpx.TimeoutException:
            FHIR_CALLS.labels("failed").inc()
            raise FHIRTimeout(f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as error:
            FHIR_CALLS.labels("failed").inc()
            log.info("FHIR call failed: %s", error)  # says why (e.g. a forbidden address); never the token
            raise FHIRError(f"could not reach the FHIR server ({type(error).__name__})") from None
        body = _json(response, content)
        if body.get("resourceType") == "OperationOutcome" or response.status_code >= 300:
            reason = outcome_text(body) if body.get("resourceType") == "OperationOutcome" else ""
            raise FHIRStatusError(
                f"the FHIR server answered {response.status_code}" + (f": {reason}" if reason else ""),
                response.status_code,
            )
        return body

    async def _read(self, response: httpx.Response) -> bytes:
        """The body, up to the caps; raises FHIRTooLarge, leaving the rest unread, past either."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_response:
            raise FHIRTooLarge(f"the FHIR server's answer was larger than {self._max_response:,} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            self._read_total += len(chunk)
            if size > self._max_response:
                raise FHIRTooLarge(f"the FHIR server's answer was larger than {self._max_response:,} bytes")
            if self._read_total > self._max_total:
                raise FHIRTooLarge(
                    f"the FHIR server's answers to this call passed {self._max_total:,} bytes in all"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def search(self, query: str) -> SearchResult:
        """Run a read or search and collect every resource, following `next` links on the same server. An
        answer over a size cap leaves the result incomplete (empty, when it was the first)."""
        try:
            body = await self.get(query)
        except FHIRTooLarge as error:
            return SearchResult([], f"{error}; it was not read")
        if body is None:
            return SearchResult([])
        if body.get("resourceType") != "Bundle":
            return SearchResult([body])
        return await self.follow(body)

    async def follow(self, bundle: dict[str, Any]) -> SearchResult:
        """Collect a searchset Bundle's resources and those of its next pages (bounded)."""
        if why := unreadable_bundle(bundle):
            raise FHIRResponseError(f"the FHIR server's Bundle cannot be read: {why}")
        resources = bundle_resources(bundle)
        url, pages = next_link(bundle), 1
        while url:
            if pages >= self._max_pages:
                return SearchResult(resources, f"more than {self._max_pages} pages of results")
            if not self.on_server(url):
                return SearchResult(resources, "the next page is on another server and was not fetched")
            try:
                page = await self.get(url)
            except FHIRTooLarge as error:
                return SearchResult(resources, f"{error}; only the pages before it were read")
            if page is None or page.get("resourceType") != "Bundle":
                raise FHIRResponseError("a next page was not a Bundle")
            if why := unreadable_bundle(page):
                raise FHIRResponseError(f"a next page cannot be read: {why}")
            resources.extend(bundle_resources(page))
            url, pages = next_link(page), pages + 1
        return SearchResult(resources)


def _json(response: httpx.Response, content: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        if response.status_code >= 300:
            return {}
        raise FHIRResponseError("the FHIR server's answer is not JSON") from None
    if not isinstance(body, dict):
        raise FHIRResponseError("the FHIR server's answer is not a FHIR resource")
    return body
