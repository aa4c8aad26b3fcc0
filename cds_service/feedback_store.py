"""Durable storage of card feedback: SQLite by default, PostgreSQL for several replicas.

An entry is acknowledged only after its transaction committed. The same feedback sent twice is stored once
(a hash of the service id and the entry as sent is unique), so client retries are harmless.
"""

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

metadata = MetaData()
# Column sizes of what a client sends; the feedback request is held to them (protocol.feedback), so an entry that
# was accepted cannot then fail to store (PostgreSQL refuses longer values).
MAX_CARD_ID = 200
MAX_TIMESTAMP = 64

feedback_table = Table(
    "card_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_hash", String(64), nullable=False, unique=True),
    Column("service_id", String(200), nullable=False),
    Column("card_uuid", String(MAX_CARD_ID), nullable=False, index=True),
    Column("outcome", String(20), nullable=False),
    Column("accepted_suggestions", JSON, nullable=True),
    Column("override_reason", JSON, nullable=True),
    Column("outcome_timestamp", String(MAX_TIMESTAMP), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("entry", JSON, nullable=False),
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed answer survives a crash or power loss
    cursor.execute("PRAGMA busy_timeout=10000")  # several workers write to one file
    cursor.close()


def _utc(moment: datetime | None) -> str | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class FeedbackStore:
    def __init__(self, database_url: str):
        self.url = database_url
        self.engine: Engine = create_engine(database_url, pool_pre_ping=True)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def add(self, service_id: str, entries: list[dict[str, Any]]) -> int:
        """Store entries in one transaction; returns how many were new."""
        now = datetime.now(UTC)
        rows = [
            {
                "entry_hash": hashlib.sha256(
                    service_id.encode() + b"\0" + orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
                ).hexdigest(),
                "service_id": service_id,
                "card_uuid": str(entry.get("card")),
                "outcome": str(entry.get("outcome")),
                "accepted_suggestions": entry.get("acceptedSuggestions"),
                "override_reason": entry.get("overrideReason"),
                "outcome_timestamp": entry.get("outcomeTimestamp"),
                "received_at": now,
                "entry": entry,
            }
            for entry in entries
        ]
        insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = (
            insert(feedback_table)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["entry_hash"])
            .returning(feedback_table.c.id)  # rowcount is -1 on PostgreSQL (psycopg 3, SQLAlchemy 2.1): count rows
        )
        with self.engine.begin() as connection:
            return len(connection.execute(statement).all())

    def export(self) -> Iterator[dict[str, Any]]:
        query = select(feedback_table).order_by(feedback_table.c.id)
        with self.engine.connect() as connection:
            for row in connection.execute(query).mappings():
                yield {
                    "id": row["id"],
                    "service_id": row["service_id"],
                    "card": row["card_uuid"],
                    "outcome": row["outcome"],
                    "received_at": _utc(row["received_at"]),
                    "entry": row["entry"],
                }

    def count(self) -> int:
        with self.engine.connect() as connection:
            return len(connection.execute(select(feedback_table.c.id)).all())

    def close(self) -> None:
        self.engine.dispose()
