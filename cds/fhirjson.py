"""Defensive readers for FHIR JSON as it really arrives: any field may be missing or of the wrong type.

Each helper returns a sensible empty value instead of raising, so one odd field never costs a request.
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import lru_cache, partial
from typing import Any, NamedTuple


class Code(NamedTuple):
    """One coding: system, code and display, each '' when absent."""

    system: str
    code: str
    display: str


class Concept(NamedTuple):
    """A CodeableConcept: its codings, its text ('' when absent), and every human-readable name (the text
    and each coding's display), computed once: card families read names many times."""

    codings: tuple[Code, ...]
    text: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, codings: tuple[Code, ...], text: str) -> "Concept":
        return cls(codings, text, tuple(n for n in (text, *(c.display for c in codings)) if n))


EMPTY_CONCEPT = Concept.of((), "")
_new_code = partial(tuple.__new__, Code)
_new_concept = partial(tuple.__new__, Concept)


def obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def objs(value: object) -> list[dict[str, Any]]:
    """A list of objects; a lone object (e.g. R4 `category` sent as an object) counts as a list of one."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        return [value]
    return []


def text(value: object) -> str:
    return value.strip() if type(value) is str else ""


def number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _str(value: object) -> str:
    """A code or display as text: strings stripped, integer codes (seen in the wild) as digits."""
    if type(value) is str:
        return value.strip()
    if type(value) is int:
        return str(value)
    return ""


def coding(value: object) -> Code | None:
    if type(value) is not dict:
        return None
    code = _str(value.get("code"))
    display = text(value.get("display"))
    if not code and not display:
        return None
    return _new_code((text(value.get("system")), code, display))


def concept(value: object) -> Concept:
    """Read a CodeableConcept; a bare Coding or a string is accepted too. The hot path of every card
    family: it builds the tuples without NamedTuple's Python constructor."""
    if type(value) is str:
        return Concept.of((), value.strip())
    if type(value) is not dict or not value:
        return EMPTY_CONCEPT
    items = value.get("coding")
    if items is None and ("code" in value or "system" in value):
        single = coding(value)
        return Concept.of((single,) if single else (), "")
    if type(items) is dict:
        items = [items]
    label = text(value.get("text"))
    codings: list[Code] = []
    names = [label] if label else []
    if type(items) is list:
        for item in items:
            read = coding(item)
            if read is not None:
                codings.append(read)
                if read.display:
                    names.append(read.display)
    if not codings and not label:
        return EMPTY_CONCEPT
    return _new_concept((tuple(codings), label, tuple(names)))


def coding_keys(value: object) -> list[tuple[str, str]] | None:
    """(system, code) of each coding ``concept`` would read from a CodeableConcept with a list of codings,
    without building the concept; None for any other shape (``concept`` reads those)."""
    if type(value) is not dict:
        return None
    items = value.get("coding")
    if type(items) is not list:
        return None
    keys = []
    for item in items:
        if type(item) is dict:
            code = _str(item.get("code"))
            if code or text(item.get("display")):
                keys.append((text(item.get("system")), code))
    return keys


def status_code(value: object) -> str:
    """A status that is a code (DSTU2, R4 `status`) or a CodeableConcept (R4 `clinicalStatus`)."""
    if type(value) is str:
        return value.strip().lower()
    keys = coding_keys(value)  # the usual shape, read without building the concept
    if keys is not None:
        return keys[0][1].lower() if keys else ""
    first = next(iter(concept(value).codings), None)
    return first.code.lower() if first else ""


def when(value: object) -> datetime | None:
    """Parse a FHIR date, dateTime or instant ('2024', '2024-05', '2024-05-01', full) to an aware datetime."""
    if type(value) is not str or not value:
        return None
    return _when(value)


@lru_cache(maxsize=8192)
def _when(value: str) -> datetime | None:
    # Cached: a chart repeats its dates (a day's results share one), and datetimes are immutable.
    raw = value.strip()
    try:
        if len(raw) == 4:
            parsed = datetime(int(raw), 1, 1)
        elif len(raw) == 7:
            parsed = datetime(int(raw[:4]), int(raw[5:7]), 1)
        elif len(raw) == 10:
            parsed = datetime.combine(date.fromisoformat(raw), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def first_when(raw: Mapping[str, Any], *fields: str) -> datetime | None:
    """The first parseable date among fields; a Period field yields its start."""
    for name in fields:
        value = raw.get(name)
        if isinstance(value, dict):
            value = value.get("start")
        parsed = when(value)
        if parsed is not None:
            return parsed
    return None


def reference(value: object) -> str:
    return text(obj(value).get("reference"))
