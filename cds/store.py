"""The feedback store: every feedback entry the EHR sends, in a real database through SQLAlchemy.

A SQLite file by default, PostgreSQL by URL (``CDS_DATABASE_URL=postgresql+psycopg://...``). Entries are
keyed by a hash of their content and service, so a repeated POST stores nothing twice (idempotent), while
two different outcomes for the same card (the spec allows it) are both kept.
"""

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from cds.models import FeedbackEntry

metadata = MetaData()

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_hash", String(64), nullable=False, unique=True),
    Column("service_id", String(200), nullable=False),
    Column("card_uuid", String(200), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("accepted_suggestions", Text),
    Column("override_system", Text),
    Column("override_code", Text),
    Column("override_display", Text),
    Column("user_comment", Text),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_feedback_card", "card_uuid"),
    Index("ix_feedback_service", "service_id"),
)


def _entry_hash(service_id: str, entry: FeedbackEntry) -> str:
    canonical = orjson.dumps(
        {"service": service_id, "entry": entry.model_dump(mode="json", exclude_none=True)},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def _row(service_id: str, entry: FeedbackEntry, received: datetime) -> dict[str, Any]:
    override = entry.overrideReason
    reason = override.reason if override else None
    accepted = [s.id for s in entry.acceptedSuggestions or ()]
    return {
        "entry_hash": _entry_hash(service_id, entry),
        "service_id": service_id,
        "card_uuid": entry.card,
        "outcome": entry.outcome,
        "accepted_suggestions": orjson.dumps(accepted).decode() if accepted else None,
        "override_system": reason.system if reason else None,
        "override_code": reason.code if reason else None,
        "override_display": reason.display if reason else None,
        "user_comment": override.userComment if override else None,
        "outcome_timestamp": entry.timestamp,
        "received_at": received,
    }


class FeedbackStore:
    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def save(self, service_id: str, entries: list[FeedbackEntry]) -> int:
        """Store entries; returns how many were new (the others had been stored before)."""
        now = datetime.now(UTC)
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(feedback)
        # RETURNING counts what was inserted on every backend; rowcount is 0 on PostgreSQL here
        statement = insert.on_conflict_do_nothing(index_elements=["entry_hash"]).returning(feedback.c.id)
        stored = 0
        with self.engine.begin() as connection:
            for entry in entries:
                stored += len(connection.execute(statement, _row(service_id, entry, now)).all())
        return stored

    def entries(self, card_uuid: str | None = None) -> list[dict[str, Any]]:
        query = select(feedback).order_by(feedback.c.id)
        if card_uuid is not None:
            query = query.where(feedback.c.card_uuid == card_uuid)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
