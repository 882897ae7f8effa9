"""Logs in one format for the whole process, uvicorn's lines included, chosen by ``CDS_LOG_FORMAT``:

- ``json``: one object a line with the fields a log pipeline indexes (what compose and Kubernetes use);
- ``text``: one readable line, the same fields as ``key=value`` after the message;
- ``auto`` (the default): text when the log goes to a terminal, JSON otherwise.

Only ids and outcomes are logged (hookInstance, service, client issuer, status, latency, card topics and
uuids, the reason a call failed): never a token, a JWT or patient data beyond ids.
"""

import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

import orjson

# The attributes every LogRecord has; anything else on a record was passed in `extra` and is a field.
# uvicorn adds color_message, its message with terminal colours.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}
# uvicorn.access is left to uvicorn: with access_log=False it stops that logger's lines at the source
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi")


def fields(record: logging.LogRecord) -> dict[str, object]:
    """The fields given with `extra`, in the order given; None values left out."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and v is not None}


def logger_name(record: logging.LogRecord) -> str:
    # uvicorn logs its start-up and shutdown on "uvicorn.error", which reads as an error when it is not
    return "uvicorn" if record.name == "uvicorn.error" else record.name


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": logger_name(record),
            "message": record.getMessage(),
        }
        entry.update(fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """`2026-11-22 09:00:00.123 WARNING cds: hook call  service=... status=412 reason="..."`"""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        name, message = logger_name(record), record.getMessage()
        line = f"{when}.{int(record.msecs):03d} {record.levelname:<7} {name}: {message}"
        extra = " ".join(f"{key}={_text(value)}" for key, value in fields(record).items() if key != "event")
        if extra:
            line += "  " + extra
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text(value: object) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and '"' not in value else orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


def resolve_format(form: str, stream: TextIO) -> str:
    """`auto` is text on a terminal and JSON elsewhere."""
    if form != "auto":
        return form
    return "text" if stream.isatty() else "json"


def configure(level: str, form: str, stream: TextIO | None = None) -> None:
    """One handler on the root logger for every logger, uvicorn's included (serve starts uvicorn with
    log_config=None, so it installs no handlers of its own)."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter() if resolve_format(form, stream) == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)  # the root's level decides, whatever uvicorn set before
        uvicorn_logger.disabled = False
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its lines name every FHIR URL called
