"""The suite's one clock: every test runs at one fixed instant, and every date a fixture writes is computed
from it, so no test depends on the day it runs.

The instant is, by precedence: a test's ``@pytest.mark.now("2027-01-31T12:00:00Z")``; the environment
variable ``CDS_TEST_NOW`` for a whole run (``make test-dates`` sets it to each instant in ``EDGES``); else
``DEFAULT``. It is ISO 8601 with an offset, optionally ``[Area/City]`` after it (cds.clock.parse_instant):
then fixture dates are written in that zone's local time and offset, as an EHR there writes them.

Tests read it through the ``now`` and ``clock`` fixtures, or ``now()`` / ``ago()`` here (set for each test
by the autouse fixture in conftest.py), never through ``datetime.now``.
"""

import os
from datetime import UTC, datetime, timedelta

from cds.clock import parse_instant

ENVIRONMENT = "CDS_TEST_NOW"
DEFAULT = "2026-12-01T09:00:00Z"

# The instants `make test-dates` runs the date-sensitive tests at (tests/dates.py).
EDGES = (
    "2027-01-31T12:00:00Z",  # the last day of a month (31 days)
    "2027-04-30T23:00:00Z",  # the last day of a 30-day month, an hour before midnight
    "2026-12-31T23:59:00Z",  # a minute before the new year
    "2027-01-01T00:01:00Z",  # a minute into it
    "2028-02-29T12:00:00Z",  # a leap day
    "2028-03-01T00:30:00Z",  # the day after it
    "2027-03-28T01:30:00Z[Europe/Berlin]",  # European summer time began half an hour ago
    "2027-10-31T01:30:00Z[Europe/Berlin]",  # European summer time ended half an hour ago
    "2027-03-14T07:30:00Z[America/New_York]",  # US daylight saving time began half an hour ago
    "2027-11-07T06:30:00Z[America/New_York]",  # US daylight saving time ended half an hour ago
    "2026-12-31T23:50:00Z[Pacific/Kiritimati]",  # just before midnight UTC, local offset +14:00
    "2026-12-31T23:50:00Z[Etc/GMT+12]",  # just before midnight UTC, local offset -12:00
)

_current: list[datetime] = [parse_instant(os.environ.get(ENVIRONMENT) or DEFAULT)]


def suite_instant(marker: str | None = None) -> datetime:
    """The instant of a test: its marker's, else the run's (CDS_TEST_NOW), else DEFAULT."""
    return parse_instant(marker or os.environ.get(ENVIRONMENT) or DEFAULT)


def set_now(instant: datetime) -> None:
    _current[0] = instant


def now() -> datetime:
    """The current test's instant."""
    return _current[0]


def ago(days: float = 0, *, hours: float = 0) -> datetime:
    """The instant ``days`` (and ``hours``) before the test's now, in its zone: wall-clock arithmetic, as a
    record written there would show it."""
    return now() - timedelta(days=days, hours=hours)


def ago_iso(days: float = 0, *, hours: float = 0) -> str:
    """``ago`` as a FHIR dateTime with its offset."""
    return ago(days, hours=hours).isoformat()


def ago_date(days: float) -> str:
    """The local date ``days`` before the test's now, as a FHIR date."""
    return ago(days).date().isoformat()


def ago_at(days: int, time: str) -> str:
    """The local date ``days`` before the test's today at wall-clock ``time`` ("HH:MM") in its zone, as a
    FHIR dateTime with its offset: for a result drawn at a time of day, before or after another event."""
    hour, minute = (int(part) for part in time.split(":"))
    day = ago(days)
    local = day.replace(hour=hour, minute=minute, second=0, microsecond=0)
    # normalise through UTC so the offset is the one in force on that day at that time (DST)
    if local.tzinfo is not None:
        local = local.astimezone(UTC).astimezone(local.tzinfo)
    return local.isoformat()


def years_ago(years: int, *, days: int = 0) -> str:
    """The local date ``years`` calendar years before the test's today, then ``days`` later (29 February
    becomes 28 February in a common year: the patient turned ``years`` at most a day ago), as a FHIR date.
    ``years_ago(2)`` is a second birthday today; ``years_ago(2, days=1)`` is one due tomorrow."""
    today = now().date()
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    return (born + timedelta(days=days)).isoformat()
