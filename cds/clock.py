"""The service's one source of "now": a clock is a function returning an aware datetime.

The app factory, the evaluator, the token verifier and the command line each take a ``Clock``; production
uses ``system_clock``, tests and examples a ``fixed`` one. ``parse_instant`` reads an instant as the command
line and the test suite take it: ISO 8601 with an offset, optionally followed by an IANA time zone in
brackets (RFC 9557), which then becomes the datetime's zone (so that local dates and daylight-saving
changes are those of that zone)::

    2026-12-01T09:00:00Z
    2026-12-31T23:30:00+14:00
    2027-03-28T00:30:00Z[Europe/Berlin]
"""

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed(instant: datetime) -> Clock:
    """A clock that always answers ``instant`` (which must be aware)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"the instant {instant.isoformat()} has no UTC offset")

    def clock() -> datetime:
        return instant

    return clock


def parse_instant(text: str) -> datetime:
    """An aware datetime from ISO 8601 text with an offset ('Z' or ±hh:mm), optionally ``[Area/City]``
    after it. Raises ValueError saying what is wrong."""
    value, zone_name = text.strip(), None
    if value.endswith("]") and "[" in value:
        value, _, zone_name = value[:-1].partition("[")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time (e.g. 2026-12-01T09:00:00Z)") from None
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: add Z or ±hh:mm (e.g. 2026-12-01T09:00:00Z)")
    if zone_name:
        try:
            instant = instant.astimezone(ZoneInfo(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{zone_name!r} is not a known IANA time zone (e.g. Europe/Berlin)") from None
    return instant


def days_since(earlier: datetime, now: datetime) -> int:
    """Whole calendar days from ``earlier``'s date to ``now``'s, both read at ``earlier``'s own offset (the
    record as written): a result drawn on 22 March is 6 days old on 28 March, whatever the hours and a
    daylight-saving change between, so the count always agrees with the date a card shows beside it.
    Negative when ``earlier`` is in the future."""
    return (now.astimezone(earlier.tzinfo).date() - earlier.date()).days
