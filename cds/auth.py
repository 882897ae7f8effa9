"""Verifying the EHR's signed token (CDS Hooks 2.0 §Trusting CDS Clients; checklist SEC-3 to SEC-9).

In order: a Bearer token; `alg` on the allowlist (never `none`, never HMAC); `kid` present; `iss`
registered; `jku`, if present, on the client's list (never fetched); the signature by the key `kid` names
(static keys, or the client's key set fetched, cached and refreshed on an unknown kid at a bounded rate);
`aud` naming the public URL of the endpoint (the same endpoint however its path is spelt: the sandbox puts
the discovery URL as typed into `aud`, so `.../cds-services/` and `.../cds-services//{id}` name the
endpoints `.../cds-services` and `.../cds-services/{id}`); `exp`, `iat` and `nbf` within a small clock
skew; `tenant` when the client has one; `jti` never seen before (kept in the database for the token's
lifetime, so all workers share it). Any failure is a 401 with no detail; the reason goes to the log.
"""

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from cds.clients import Client, parse_keys
from cds.errors import ConfigError, Unauthorized

log = logging.getLogger(__name__)


def canonical_path(path: str) -> str:
    """A URL path as the service routes it: repeated slashes collapsed, no trailing slash (but '/')."""
    collapsed = re.sub(r"/{2,}", "/", path)
    return collapsed.rstrip("/") or "/"


def same_endpoint(first: str, second: str) -> bool:
    """Two URLs name the same endpoint: scheme and host alike, paths alike once canonical."""
    a, b = urlsplit(first), urlsplit(second)
    return (a.scheme.lower(), a.netloc.lower(), canonical_path(a.path)) == (
        b.scheme.lower(),
        b.netloc.lower(),
        canonical_path(b.path),
    ) and (a.query, a.fragment) == (b.query, b.fragment)


ALGORITHMS = frozenset({"ES256", "ES384", "RS256", "RS384"})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")

# Remember a jti until the token expires; True when it was new.
RememberJti = Callable[[str, str, int], Awaitable[bool]]


class Verifier:
    def __init__(
        self,
        clients: dict[str, Client],
        remember: RememberJti,
        http: httpx.AsyncClient | None,
        *,
        clock_skew: int = 60,
        refresh_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clients = clients
        self._remember = remember
        self._http = http
        self._skew = clock_skew
        self._refresh_interval = refresh_interval
        self._clock = clock
        self._remote: dict[str, tuple[float, dict[str, jwt.PyJWK]]] = {}  # url -> (fetched at, keys)
        self._lock = asyncio.Lock()

    async def verify(self, authorization: str | None, audience: str) -> Client:
        """The client whose valid token this is; raises Unauthorized otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise Unauthorized(f"token cannot be read: {type(error).__name__}") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthorized(f"algorithm {alg!r} is not allowed")
        if header.get("typ") not in (None, "JWT"):
            raise Unauthorized(f"typ {header.get('typ')!r} is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("no kid in the token header")
        iss = unverified.get("iss")
        client = self._clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise Unauthorized(f"issuer {iss!r} is not registered")
        jku = header.get("jku")
        if jku is not None and jku not in client.jku:
            raise Unauthorized(f"jku {jku!r} is not on the client's list")
        key = await self._key(client, kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                issuer=client.iss,
                leeway=self._skew,
                # aud and the times are checked below, the times against this verifier's clock
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"token rejected: {type(error).__name__}: {error}") from None
        self._check_times(claims)
        named = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not any(isinstance(aud, str) and same_endpoint(aud, audience) for aud in named):
            raise Unauthorized(f"token rejected: aud {claims['aud']!r} does not name {audience}")
        if client.tenant is not None and claims.get("tenant") != client.tenant:
            raise Unauthorized("tenant does not match")
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise Unauthorized("jti is not a string")
        if not await self._remember(client.iss, claims["jti"], int(claims["exp"])):
            raise Unauthorized(f"jti {claims['jti']!r} was used before")
        return client

    def _check_times(self, claims: dict[str, Any]) -> None:
        """exp, iat and nbf (RFC 7519 §4.1) against the clock, with the skew allowed each way."""
        now = self._clock()
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise Unauthorized(f"token rejected: {name} is not a number")
        if claims["exp"] <= now - self._skew:
            raise Unauthorized("token rejected: ExpiredSignatureError: Signature has expired")
        if claims["iat"] > now + self._skew:
            raise Unauthorized("token issued in the future")
        if "nbf" in claims and claims["nbf"] > now + self._skew:
            raise Unauthorized("token rejected: ImmatureSignatureError: The token is not yet valid (nbf)")

    async def _key(self, client: Client, kid: str) -> jwt.PyJWK:
        if kid in client.keys:
            return client.keys[kid]
        if client.jwks_url is None:
            raise Unauthorized(f"kid {kid!r} is unknown for {client.iss}")
        async with self._lock:
            fetched_at, keys = self._remote.get(client.jwks_url, (0.0, {}))
            stale = self._clock() - fetched_at >= self._refresh_interval
            if kid not in keys and stale:
                keys = await self._fetch(client.jwks_url) or keys  # a failed fetch keeps the keys we had
                self._remote[client.jwks_url] = (self._clock(), keys)
        if kid not in keys:
            raise Unauthorized(f"kid {kid!r} is not in {client.jwks_url}")
        return keys[kid]

    async def _fetch(self, url: str) -> dict[str, jwt.PyJWK]:
        if self._http is None:
            raise Unauthorized("no HTTP client to fetch the key set")
        try:
            response = await self._http.get(url, timeout=5.0, follow_redirects=False)
            response.raise_for_status()
            return parse_keys(response.json(), url)
        except (httpx.HTTPError, ValueError, ConfigError) as error:
            log.warning("key set %s could not be fetched: %s", url, type(error).__name__)
            return {}
