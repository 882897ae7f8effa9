"""The in-memory sessions: random ids, expiry, capacity."""

from datetime import datetime, timedelta

from cds.smart.sessions import Sessions


class Moving:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_sessions_expire_and_the_oldest_ends_past_capacity(now: datetime) -> None:
    clock = Moving(now)
    sessions = Sessions(timedelta(seconds=60), 2, clock)
    first, second = sessions.start(), sessions.start()
    assert first.id != second.id
    assert len(first.id) >= 40
    third = sessions.start()
    assert sessions.find(first.id) is None  # the oldest ended
    assert sessions.find(second.id) is second
    clock.now += timedelta(seconds=59)
    assert sessions.find(third.id) is third
    clock.now += timedelta(seconds=1)
    assert sessions.find(third.id) is None
    assert sessions.find(None) is None
    assert sessions.find("") is None


def test_a_token_shortens_a_session_but_never_lengthens_it(now: datetime) -> None:
    clock = Moving(now)
    sessions = Sessions(timedelta(seconds=600), 10, clock)
    session = sessions.start()
    sessions.shorten(session, 3600)
    assert session.expires_at == now + timedelta(seconds=600)
    sessions.shorten(session, 120)
    assert session.expires_at == now + timedelta(seconds=120)


def test_a_session_never_shows_its_id_or_secrets_in_its_repr(now: datetime) -> None:
    session = Sessions(timedelta(seconds=60), 1, Moving(now)).start()
    assert session.id not in repr(session)
