"""Cards shown, recorded off the hot path: a hook answer never waits for, or fails because of, this table.

The call route hands each answered card to `CardsShownRecorder.record` (an append to a bounded deque, no I/O);
a background task takes what has queued up and writes it in batches, in a worker thread, then pauses half a second
before the next batch: under load that is one transaction (and, on SQLite, one fsync) per pause instead of one per
request or two, and what the service loses in a crash is at most a pause's cards shown. When the queue is full
(the database is slow or down longer than the queue lasts) new cards are not recorded: they are counted in
`dropped` (and the `cds_cards_shown_dropped_total` metric) and logged once a minute, and the answer goes out as
usual. The report then undercounts "shown" for that time; acknowledged feedback is never affected (it is stored
before its own 200). At shutdown what is queued is written, within a short bound.
"""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cds_service.store.schema import MAX_CARD_ID, MAX_TOPIC, cards_shown

log = logging.getLogger("cds_service.store")
NO_TOPIC = "(no topic)"


class CardsShownRecorder:
    def __init__(self, engine: Engine, *, capacity: int = 10_000, batch_size: int = 500, pause: float = 0.5,
                 on_dropped: Callable[[int], None] | None = None, on_stored: Callable[[int], None] | None = None):
        self._engine = engine
        self.capacity = capacity
        # (card uuid, service id, topic, indicator, epoch seconds): the row is made in the writer thread, not here
        self._pending: deque[tuple[str, str, str, str, float]] = deque()
        self._batch_size = batch_size
        self._pause = pause
        self._task: asyncio.Task[None] | None = None
        self._queued = asyncio.Event()
        self._writing = asyncio.Lock()  # rows leave the queue only under it, so `flush` waits for a batch in flight
        self._on_dropped = on_dropped
        self._on_stored = on_stored
        self._last_drop_log = 0.0
        self.dropped = 0

    def record(self, service_id: str, cards: Iterable[Any]) -> None:
        """Queue the cards of one answer (protocol.cards.Card); never blocks, never raises, about a microsecond."""
        now = time.time()
        pending = self._pending
        for card in cards:
            if len(pending) >= self.capacity:
                self._dropped(1)
                continue
            topic = card.source.topic.code if card.source.topic is not None else NO_TOPIC
            pending.append((card.uuid, service_id, topic, card.indicator, now))
        if not self._queued.is_set():
            self._queued.set()

    def _dropped(self, count: int) -> None:
        self.dropped += count
        if self._on_dropped is not None:
            self._on_dropped(count)
        if time.monotonic() - self._last_drop_log > 60:
            self._last_drop_log = time.monotonic()
            log.warning("cards shown not recorded: the queue is full", extra={"count": self.dropped})

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()
            # A database that is down is not hammered once per queued card either.
            await asyncio.sleep(self._pause if await self.flush() else 1.0)

    async def _write(self, batch: list[tuple[str, str, str, str, float]]) -> bool:
        try:
            await run_in_threadpool(self._insert, batch)
        except SQLAlchemyError as exc:
            log.error("cards shown could not be stored", extra={"count": len(batch), "error": type(exc).__name__})
            self._dropped(len(batch))
            return False
        if self._on_stored is not None:
            self._on_stored(len(batch))
        return True

    def _insert(self, batch: list[tuple[str, str, str, str, float]]) -> None:
        rows = [{"card_uuid": card[:MAX_CARD_ID], "service_id": service, "topic": topic[:MAX_TOPIC],
                 "indicator": indicator, "shown_at": datetime.fromtimestamp(at, UTC)}
                for card, service, topic, indicator, at in batch]
        with self._engine.begin() as connection:
            connection.execute(insert(cards_shown), rows)

    async def flush(self) -> bool:
        """Write everything queued so far, in batches; when it returns, those rows are committed (True) or, the
        database having failed, dropped (False)."""
        written = True
        async with self._writing:
            pending = self._pending
            while pending:
                batch = [pending.popleft() for _ in range(min(self._batch_size, len(pending)))]
                written = await self._write(batch) and written
        return written

    async def stop(self, timeout: float = 5.0) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.warning("cards shown not recorded at shutdown", extra={"count": len(self._pending)})
