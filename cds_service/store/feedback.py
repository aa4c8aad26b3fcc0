"""Durable storage of card feedback: SQLite by default, PostgreSQL for several replicas.

An entry is acknowledged only after its transaction committed. The same feedback sent twice is stored once
(a hash of the service id and the entry as sent is unique), so client retries are harmless.
"""

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from cds_service.store import migrate
from cds_service.store.schema import card_feedback


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


def open_engine(database_url: str) -> Engine:
    """The engine every part of the store shares (SQLite set up for durability and several writers)."""
    engine = create_engine(database_url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class FeedbackStore:
    """The feedback table over one engine. `migrate=True` (start-up) first brings the schema up to date."""

    def __init__(self, database_url: str, *, migrate_schema: bool = True):
        self.url = database_url
        self.engine: Engine = open_engine(database_url)
        self.dialect = self.engine.dialect.name
        if migrate_schema:
            try:
                migrate.upgrade(self.engine)
            except migrate.SchemaError:
                self.engine.dispose()
                raise

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
            insert(card_feedback)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["entry_hash"])
            .returning(card_feedback.c.id)  # rowcount is -1 on PostgreSQL (psycopg 3, SQLAlchemy 2.1): count rows
        )
        with self.engine.begin() as connection:
            return len(connection.execute(statement).all())

    def export(self) -> Iterator[dict[str, Any]]:
        query = select(card_feedback).order_by(card_feedback.c.id)
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
            return connection.execute(select(func.count()).select_from(card_feedback)).scalar_one()

    def close(self) -> None:
        self.engine.dispose()
