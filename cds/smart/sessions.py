"""The SMART app's sessions: held in this process's memory, keyed by a random opaque id (the cookie).

A session is started by a launch, holds what the callback must check (the state and the PKCE verifier),
then the access token, and ends at its expiry: the session's lifetime from the launch, or sooner the
token's ``expires_in``. Nothing is written anywhere: a restarted process has no sessions, and a session
lives in the one worker that started it.
"""

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr

from cds.clock import Clock
from cds.smart.configuration import SmartConfiguration


@dataclass(frozen=True, slots=True)
class Pending:
    """A launch waiting for the EHR's callback."""

    iss: str
    configuration: SmartConfiguration
    state: str = field(repr=False)
    verifier: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Grant:
    """What the token endpoint granted: the access token, the patient in context, what may be read."""

    iss: str
    patient: str
    access_token: SecretStr
    resource_types: frozenset[str]


@dataclass(slots=True)
class Session:
    id: str = field(repr=False)  # the cookie's value: whoever holds it holds the session
    expires_at: datetime
    pending: Pending | None = None
    grant: Grant | None = None


class Sessions:
    """At most ``capacity`` sessions (past it the oldest ends), each ending ``lifetime`` after its launch."""

    def __init__(self, lifetime: timedelta, capacity: int, clock: Clock) -> None:
        self._lifetime = lifetime
        self._capacity = capacity
        self._clock = clock
        self._held: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    def start(self) -> Session:
        """A new session with a new random id (a launch never reuses one: no session fixation)."""
        self._drop_expired()
        while len(self._held) >= self._capacity:
            self._held.popitem(last=False)
        session = Session(secrets.token_urlsafe(32), self._clock() + self._lifetime)
        self._held[session.id] = session
        return session

    def find(self, session_id: str | None) -> Session | None:
        """The live session with this id; None when there is none or it has expired (then it ends)."""
        session = self._held.get(session_id) if session_id else None
        if session is None:
            return None
        if self._clock() >= session.expires_at:
            del self._held[session.id]
            return None
        return session

    def end(self, session_id: str) -> None:
        self._held.pop(session_id, None)

    def shorten(self, session: Session, seconds: float) -> None:
        """End the session within ``seconds`` (an access token's expires_in) if not sooner."""
        session.expires_at = min(session.expires_at, self._clock() + timedelta(seconds=seconds))

    def _drop_expired(self) -> None:
        now = self._clock()
        for session_id in [s.id for s in self._held.values() if now >= s.expires_at]:
            del self._held[session_id]
