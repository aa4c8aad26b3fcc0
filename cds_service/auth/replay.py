"""Each client JWT is accepted once: its `jti` is remembered in the SQL database until the token can no longer pass.

An in-memory cache would be per process, so with several uvicorn workers or replicas a token could be replayed to
another worker. The feedback database is already shared by all of them, so the `jti` goes there: the insert of a
unique key either succeeds (first use) or conflicts (replay), atomically, in SQLite and PostgreSQL alike.
"""

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from cds_service.store.schema import seen_client_tokens as seen_tokens

PRUNE_EVERY_SECONDS = 60.0


class ReplayGuard:
    """Over the store's engine, whose schema start-up migrated (the table is `store.schema.seen_client_tokens`)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time):
        self._engine = engine
        self._clock = clock
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        self._last_prune = 0.0

    def first_use(self, issuer: str, jti: str, forget_after: float) -> bool:
        """Record this token; False when it was seen before. Blocking: call it from a worker thread."""
        key = hashlib.sha256(issuer.encode() + b"\0" + jti.encode()).hexdigest()
        now = self._clock()
        statement = (
            self._insert(seen_tokens)
            .values(token_key=key, forget_after=forget_after)
            .on_conflict_do_nothing(index_elements=["token_key"])
            .returning(seen_tokens.c.token_key)  # rowcount is -1 on PostgreSQL with psycopg 3
        )
        with self._engine.begin() as connection:
            if now - self._last_prune > PRUNE_EVERY_SECONDS:
                connection.execute(delete(seen_tokens).where(seen_tokens.c.forget_after < now))
                self._last_prune = now
            return len(connection.execute(statement).all()) == 1
