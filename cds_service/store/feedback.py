"""Durable storage of card feedback: SQLite by default, PostgreSQL for several replicas.

An entry is acknowledged only after its transaction committed. The same feedback sent twice is stored once
(a hash of the service id and the entry as sent is unique), so client retries are harmless.
"""

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import create_engine, delete, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cds_service.store import migrate
from cds_service.store.schema import card_feedback, cards_shown

log = logging.getLogger("cds_service.store")
COMMENT_SWEEP_SECONDS = 3600.0


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


def _user_comment(entry: dict[str, Any]) -> Any:
    reason = entry.get("overrideReason")
    return reason.get("userComment") if isinstance(reason, dict) else None


def _without_comment(value: Any) -> Any:
    """An entry (or its override reason) with `userComment` taken out, everything else as it was sent."""
    if not isinstance(value, dict):
        return value
    if "overrideReason" in value:
        return {**value, "overrideReason": _without_comment(value["overrideReason"])}
    return {key: item for key, item in value.items() if key != "userComment"}


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
                "has_user_comment": _user_comment(entry) is not None,
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

    def clear_comments(self, received_before: datetime) -> int:
        """Take the free-text comments out of feedback received before the cutoff; returns how many entries.

        The comment is the one field of feedback a clinician types, so it may hold anything: it is kept only
        for CDS_FEEDBACK_COMMENT_DAYS. The rest of the entry (outcome, coded reason) stays for the report."""
        table = card_feedback
        cleared = 0
        with self.engine.begin() as connection:
            rows = connection.execute(
                select(table.c.id, table.c.entry, table.c.override_reason)
                .where(table.c.has_user_comment, table.c.received_at < received_before)
            ).all()
            for row in rows:
                connection.execute(
                    update(table).where(table.c.id == row.id).values(
                        entry=_without_comment(row.entry),
                        override_reason=_without_comment(row.override_reason),
                        has_user_comment=False,
                    )
                )
                cleared += 1
        return cleared

    def purge(self, before: datetime) -> dict[str, int]:
        """Delete feedback received and cards shown before `before` (the retention a hospital chooses)."""
        with self.engine.begin() as connection:
            feedback = connection.execute(delete(card_feedback).where(card_feedback.c.received_at < before))
            shown = connection.execute(delete(cards_shown).where(cards_shown.c.shown_at < before))
            return {"feedback": feedback.rowcount, "cards_shown": shown.rowcount}

    def check_writable(self) -> None:
        """Raise (SQLAlchemyError) unless a feedback entry could be stored now: one is written and rolled back,
        so a missing table, a read-only file or standby, lost privileges or a full lock all show."""
        probe = {"entry_hash": f"readiness-{uuid.uuid4().hex}", "service_id": "readiness", "card_uuid": "readiness",
                 "outcome": "accepted", "received_at": datetime.now(UTC), "entry": {}}
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(insert(card_feedback).values(probe))
            finally:
                transaction.rollback()

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(card_feedback)).scalar_one()

    def close(self) -> None:
        self.engine.dispose()


async def clear_comments_periodically(store: FeedbackStore, keep_days: int) -> None:
    """Every hour (and at start-up), clear the comments older than `keep_days`; a failed sweep waits for the next."""
    while True:
        try:
            cleared = await run_in_threadpool(store.clear_comments, datetime.now(UTC) - timedelta(days=keep_days))
        except SQLAlchemyError as exc:
            log.error("old feedback comments could not be cleared", extra={"error": type(exc).__name__})
        else:
            if cleared:
                log.info("old feedback comments cleared", extra={"rows": cleared})
        await asyncio.sleep(COMMENT_SWEEP_SECONDS)
