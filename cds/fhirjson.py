"""Defensive readers for FHIR JSON as it really arrives: any field may be missing or of the wrong type.

Each helper returns a sensible empty value instead of raising, so one odd field never costs a request.
"""

from datetime import UTC, date, datetime
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
    return value.strip() if isinstance(value, str) else ""


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


def coding(value: object) -> Code | None:
    raw = obj(value)
    code = raw.get("code")
    if isinstance(code, int):
        code = str(code)
    code_text = text(code)
    display = text(raw.get("display"))
    if not code_text and not display:
        return None
    return Code(text(raw.get("system")), code_text, display)


def concept(value: object) -> Concept:
    """Read a CodeableConcept; a bare Coding or a string is accepted too."""
    if isinstance(value, str):
        return Concept.of((), value.strip())
    raw = obj(value)
    if not raw:
        return EMPTY_CONCEPT
    if "coding" not in raw and ("code" in raw or "system" in raw):
        single = coding(raw)
        return Concept.of((single,) if single else (), "")
    codings = tuple(c for c in (coding(item) for item in objs(raw.get("coding"))) if c is not None)
    return Concept.of(codings, text(raw.get("text")))


def status_code(value: object) -> str:
    """A status that is a code (DSTU2, R4 `status`) or a CodeableConcept (R4 `clinicalStatus`)."""
    if isinstance(value, str):
        return value.strip().lower()
    first = next(iter(concept(value).codings), None)
    return first.code.lower() if first else ""


def when(value: object) -> datetime | None:
    """Parse a FHIR date, dateTime or instant ('2024', '2024-05', '2024-05-01', full) to an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
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


def first_when(raw: dict[str, Any], *fields: str) -> datetime | None:
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
