"""The database: feedback, the audit of every call, and the token ids already seen (replay protection).

A SQLite file by default, PostgreSQL by URL (``CDS_DATABASE_URL=postgresql+psycopg://...``), so several
workers or replicas share it. Feedback entries are keyed by a hash of their content and service, so a
repeated POST stores nothing twice (idempotent), while two different outcomes for the same card (the spec
allows it) are both kept. The audit ties each card uuid to its call, so feedback can be traced back.
"""

import hashlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

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
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateTable

from cds.clock import Clock, system_clock
from cds.hold import ISSUED_DAYS
from cds.models import FeedbackEntry

metadata = MetaData()
SCHEMA_LOCK = 0x7AC2015  # the PostgreSQL advisory lock held while the tables are created
LAST_INSTANT = 2**31 - 1  # the largest Unix time an Integer column holds on every backend (2038)


class AuditCard(NamedTuple):
    uuid: str
    topic: str
    indicator: str
    key: str = ""  # the card's hold key (cds/hold.py)


def clean(value: str, length: int) -> str:
    """Text as a column can keep it on every backend: no NUL (PostgreSQL refuses it), at most length."""
    return value.replace("\x00", "")[:length]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One hook call as the audit keeps it: caller, service, outcome and cards; no patient data."""

    at: datetime
    client: str | None
    service_id: str
    hook_instance: str | None
    status: int
    cards: tuple[AuditCard, ...]
    patient_key: str | None = None  # the repeat hold's pseudonym of the patient (an HMAC), when it is on

    def cleaned(self) -> "AuditEntry":
        """This entry with every text field fit for its column (the caller chose most of them)."""
        return AuditEntry(
            self.at,
            None if self.client is None else clean(self.client, 500),
            clean(self.service_id, 200),
            None if self.hook_instance is None else clean(self.hook_instance, 200),
            self.status,
            tuple(
                AuditCard(clean(c.uuid, 200), clean(c.topic, 100), clean(c.indicator, 20), clean(c.key, 500))
                for c in self.cards
            ),
            None if self.patient_key is None else clean(self.patient_key, 64),
        )


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


token_replay = Table(
    "token_replay",
    metadata,
    Column("iss", String(500), primary_key=True),
    Column("jti", String(500), primary_key=True),
    Column("expires_at", Integer, nullable=False),
    Index("ix_token_replay_expires", "expires_at"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("client", String(500)),
    Column("service_id", String(200), nullable=False),
    Column("hook_instance", String(200)),
    Column("status", Integer, nullable=False),
    Column("cards", Text),  # JSON: [{"uuid": ..., "topic": ...}]
    Index("ix_audit_hook_instance", "hook_instance"),
)


audit_card = Table(
    "audit_card",
    metadata,
    Column("card_uuid", String(200), primary_key=True),
    Column("audit_id", Integer, nullable=False),
    Column("service_id", String(200), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("indicator", String(20), nullable=False),
    Index("ix_audit_card_topic", "topic"),
)


# The repeat hold (cds/hold.py): warning and info cards by uuid, with the patient's pseudonym and the card's
# hold key; and the holds an override made, by pseudonym and key, until they end.
card_issue = Table(
    "card_issue",
    metadata,
    Column("card_uuid", String(200), primary_key=True),
    Column("patient_key", String(64), nullable=False),
    Column("hold_key", String(500), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Index("ix_card_issue_issued", "issued_at"),
)

card_hold = Table(
    "card_hold",
    metadata,
    Column("patient_key", String(64), primary_key=True),
    Column("hold_key", String(500), primary_key=True),
    Column("until", DateTime(timezone=True), nullable=False),
    Index("ix_card_hold_until", "until"),
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


def connect_args(url: str, timeout: float, connect_timeout: int) -> dict[str, Any]:
    """The driver's timeouts. PostgreSQL: libpq's connect_timeout (whole seconds, at least 2) and the
    server's statement_timeout, added to any options the URL gives. SQLite: the busy timeout, the longest a
    writer waits for another's lock."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return {"timeout": timeout}
    given = parsed.query.get("options")
    options = [given] if isinstance(given, str) and given else []
    options.append(f"-c statement_timeout={round(timeout * 1000)}")
    return {"connect_timeout": connect_timeout, "options": " ".join(options)}


class Store:
    def __init__(
        self, url: str, *, timeout: float = 3.0, connect_timeout: int = 2, clock: Clock = system_clock
    ) -> None:
        """``timeout``: seconds a statement may take (PostgreSQL statement_timeout, SQLite busy timeout,
        and the wait for a free pooled connection); ``connect_timeout``: seconds to connect to PostgreSQL;
        ``clock``: when feedback is received and a token id expires."""
        self.url = make_url(url)
        self._clock = clock
        arguments = connect_args(url, timeout, connect_timeout)
        if self.url.get_backend_name() == "sqlite" and self.url.database in (None, "", ":memory:"):
            # an in-memory database lives in one connection: share it, or each connection sees an empty one
            self.engine: Engine = create_engine(
                url, poolclass=StaticPool, connect_args={**arguments, "check_same_thread": False}
            )
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_timeout=timeout, connect_args=arguments)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", partial(_sqlite_pragmas, busy_ms=round(timeout * 1000)))
        self._create_tables()

    def _create_tables(self) -> None:
        """Create what is missing. Workers and replicas start together, so every statement says IF NOT
        EXISTS, and on PostgreSQL (where even that can race on its catalogue) an advisory lock lets one
        create while the others wait."""
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            for table in metadata.sorted_tables:
                connection.execute(CreateTable(table, if_not_exists=True))
                for index in sorted(table.indexes, key=lambda i: str(i.name)):
                    connection.execute(CreateIndex(index, if_not_exists=True))

    def save(self, service_id: str, entries: list[FeedbackEntry]) -> int:
        """Store entries; returns how many were new (the others had been stored before)."""
        now = self._clock()
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(feedback)
        # RETURNING counts what was inserted on every backend; rowcount is 0 on PostgreSQL here
        statement = insert.on_conflict_do_nothing(index_elements=["entry_hash"]).returning(feedback.c.id)
        stored = 0
        with self.engine.begin() as connection:
            for entry in entries:
                stored += len(connection.execute(statement, _row(service_id, entry, now)).all())
        return stored

    def remember_jti(self, iss: str, jti: str, expires_at: int) -> bool:
        """Record a token id until it expires; False when it was seen before (a replay). A jti the column
        cannot hold (a NUL, over 500 characters) is kept as its hash; an expiry past PostgreSQL's integer
        (2038) is kept as the largest it holds."""
        if "\x00" in jti or len(jti) > 500:
            jti = "sha256:" + hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()
        expires_at = min(expires_at, LAST_INSTANT)
        now = int(self._clock().timestamp())
        insert = (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(
            token_replay
        )
        statement = insert.on_conflict_do_nothing(index_elements=["iss", "jti"]).returning(token_replay.c.jti)
        with self.engine.begin() as connection:
            connection.execute(token_replay.delete().where(token_replay.c.expires_at < now))
            return bool(
                connection.execute(statement, {"iss": iss, "jti": jti, "expires_at": expires_at}).all()
            )

    def record_calls(self, calls: Sequence[AuditEntry]) -> None:
        """Audit calls in one transaction; each card is kept by uuid with its topic so feedback can be
        traced to it."""
        with self.engine.begin() as connection:
            for call in calls:
                row = {
                    "at": call.at,
                    "client": call.client,
                    "service_id": call.service_id,
                    "hook_instance": call.hook_instance,
                    "status": call.status,
                    "cards": orjson.dumps([c._asdict() for c in call.cards]).decode() if call.cards else None,
                }
                audit_id = connection.execute(audit.insert().returning(audit.c.id), row).scalar_one()
                holdable = [c for c in call.cards if call.patient_key and c.key and c.indicator != "critical"]
                if holdable:
                    connection.execute(
                        self._insert(card_issue).on_conflict_do_nothing(index_elements=["card_uuid"]),
                        [
                            {
                                "card_uuid": c.uuid,
                                "patient_key": call.patient_key,
                                "hold_key": c.key,
                                "issued_at": call.at,
                            }
                            for c in holdable
                        ],
                    )
                if call.cards:
                    connection.execute(
                        audit_card.insert(),
                        [
                            {
                                "card_uuid": c.uuid,
                                "audit_id": audit_id,
                                "service_id": call.service_id,
                                "topic": c.topic,
                                "indicator": c.indicator,
                            }
                            for c in call.cards
                        ],
                    )

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert)(table)

    def held(self, patient_key: str, keys: set[str], now: datetime) -> set[str]:
        """Which of these hold keys are held for the patient now."""
        query = select(card_hold.c.hold_key).where(
            card_hold.c.patient_key == patient_key,
            card_hold.c.hold_key.in_(sorted(keys)),
            card_hold.c.until > now,
        )
        with self.engine.connect() as connection:
            return {str(key) for key in connection.execute(query).scalars()}

    def hold(self, card_uuids: Sequence[str], days: int, now: datetime) -> int:
        """Hold back the cards these (overridden) uuids were, for their patient, for `days`; a uuid this
        service did not remember (a critical card, an unknown or old one) holds nothing. Returns how many
        holds were made or lengthened. Deletes what has expired."""
        until = now + timedelta(days=days)
        made = 0
        with self.engine.begin() as connection:
            connection.execute(card_hold.delete().where(card_hold.c.until <= now))
            connection.execute(
                card_issue.delete().where(card_issue.c.issued_at < now - timedelta(days=ISSUED_DAYS))
            )
            for uuid in card_uuids:
                issued = connection.execute(
                    select(card_issue.c.patient_key, card_issue.c.hold_key).where(
                        card_issue.c.card_uuid == uuid
                    )
                ).first()
                if issued is None:
                    continue
                statement = self._insert(card_hold).on_conflict_do_update(
                    index_elements=["patient_key", "hold_key"], set_={"until": until}
                )
                connection.execute(
                    statement,
                    {"patient_key": issued.patient_key, "hold_key": issued.hold_key, "until": until},
                )
                made += 1
        return made

    def topic_of(self, card_uuid: str) -> str:
        """The topic of a card this service returned, or '' when it is unknown."""
        with self.engine.connect() as connection:
            topic = connection.execute(
                select(audit_card.c.topic).where(audit_card.c.card_uuid == card_uuid)
            ).scalar()
        return str(topic or "")

    def override_report(self) -> list[dict[str, Any]]:
        """Per card topic: how often cards were shown, accepted and overridden, and the reasons given."""
        with self.engine.connect() as connection:
            counts = connection.execute(select(audit_card.c.topic, func.count()).group_by(audit_card.c.topic))
            shown: dict[str, int] = {str(topic): int(count) for topic, count in counts.all()}
            rows = connection.execute(
                select(
                    audit_card.c.topic,
                    feedback.c.outcome,
                    feedback.c.override_code,
                    feedback.c.override_display,
                    feedback.c.user_comment,
                ).join(audit_card, audit_card.c.card_uuid == feedback.c.card_uuid)
            ).all()
        report: dict[str, dict[str, Any]] = {
            topic: {
                "topic": topic,
                "shown": int(count),
                "accepted": 0,
                "overridden": 0,
                "reasons": {},
                "comments": 0,
            }
            for topic, count in shown.items()
        }
        for topic, outcome, code, display, comment in rows:
            entry = report[topic]
            entry[outcome] += 1
            if outcome == "overridden" and (code or display):
                reason = str(display or code)
                entry["reasons"][reason] = entry["reasons"].get(reason, 0) + 1
            if comment:
                entry["comments"] += 1
        for entry in report.values():
            entry["override_rate"] = round(entry["overridden"] / entry["shown"], 3) if entry["shown"] else 0.0
        return sorted(report.values(), key=lambda e: (-e["override_rate"], e["topic"]))

    def calls(self, hook_instance: str | None = None) -> list[dict[str, Any]]:
        query = select(audit).order_by(audit.c.id)
        if hook_instance is not None:
            query = query.where(audit.c.hook_instance == hook_instance)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

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


def _sqlite_pragmas(connection: Any, _record: Any, busy_ms: int) -> None:
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    # Workers opening a new database together: switching it to WAL takes a lock SQLite does not wait for
    # (no busy handler on that path), so one of them failed at start-up with "database is locked" (about 1
    # start in 14 of six at once). Try again until the busy timeout.
    deadline = time.monotonic() + busy_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
    cursor.close()
