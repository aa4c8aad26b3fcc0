"""Bring a database to the schema this version of the service needs, with Alembic, once, whoever starts first.

Every worker (and `cds-service serve` before it forks them) calls `upgrade`. A lock makes the first one migrate
and the others wait and then find nothing to do: a PostgreSQL advisory lock, or a lock file beside a SQLite file.
A database made before migrations existed (today's tables, no `alembic_version`) is taken over by the first
migration, which keeps those tables and their rows. A database newer than this code (a revision it does not
know) is refused, never changed.
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant 64-bit key: every process of this service takes the same PostgreSQL advisory lock.
ADVISORY_LOCK_KEY = 0x1C_D5_F0_0D


class SchemaError(Exception):
    """The database cannot be brought to (or is not at) the schema this version needs; the message says why."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "the store has no migrations"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database migrations never ran on (empty, or made before)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine, connection: Connection) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        connection.commit()  # a session lock: it outlives this transaction, and the migration runs in its own
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _known(revision: str | None) -> bool:
    if revision is None:
        return True
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def upgrade(engine: Engine, target: str = "head") -> None:
    """Run the pending migrations (up to `target`); SchemaError (one line) when the database cannot be migrated."""
    try:
        with engine.connect() as connection, _migration_lock(engine, connection):
            found = MigrationContext.configure(connection).get_current_revision()
            connection.commit()
            if not _known(found):
                raise SchemaError(
                    f"the database is at schema revision {found}, which this version does not know (made by a newer "
                    f"version?); its newest is {head_revision()}"
                )
            command.upgrade(_config(connection), target)
            connection.commit()
    except SchemaError:
        raise
    except (SQLAlchemyError, OSError, CommandError) as exc:
        raise SchemaError(f"the database schema could not be migrated: {_one_line(exc)}") from exc


def check_current(engine: Engine) -> None:
    """SchemaError unless the database is at the newest revision (for start-up with migrations turned off)."""
    try:
        found = current_revision(engine)
    except SQLAlchemyError as exc:
        raise SchemaError(f"the database could not be read: {_one_line(exc)}") from exc
    head = head_revision()
    if found != head:
        raise SchemaError(
            f"the database is at schema revision {found or 'none'}, this version needs {head}: "
            "run `cds-service db upgrade`"
        )


def _one_line(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text_[0] if text_ else ''}"
