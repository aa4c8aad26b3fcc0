"""The feedback store and the token replay guard, against SQLite and PostgreSQL alike (see the store_url fixture)."""

import time
from concurrent.futures import ThreadPoolExecutor

import orjson
from sqlalchemy import create_engine

from cds_service.auth.replay import ReplayGuard
from cds_service.protocol.feedback import parse_feedback
from cds_service.store import MAX_CARD_ID, MAX_TIMESTAMP, FeedbackStore, migrate


def entry(card: str, outcome: str = "accepted") -> dict:
    return {"card": card, "outcome": outcome, "outcomeTimestamp": "2026-11-21T10:00:00Z"}


def test_feedback_is_stored_once_and_exported_in_order(store_url):
    store = FeedbackStore(store_url)
    try:
        assert store.add("imatinib-order-sign", [entry("c-1"), entry("c-2", "overridden")]) == 2
        assert store.add("imatinib-order-sign", [entry("c-1")]) == 0  # a client retry
        rows = list(store.export())
        assert [(r["card"], r["outcome"]) for r in rows] == [("c-1", "accepted"), ("c-2", "overridden")]
        assert rows[0]["entry"] == entry("c-1")
    finally:
        store.close()


def test_several_writers_at_once_lose_nothing(store_url):
    """Like several workers or replicas: each writer has its own store (its own connection pool)."""
    stores = [FeedbackStore(store_url) for _ in range(4)]

    def write(writer: int) -> int:
        return sum(stores[writer].add("imatinib-order-select", [entry(f"w{writer}-{i}")]) for i in range(25))

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            acknowledged = sum(pool.map(write, range(4)))
        assert acknowledged == 100
        assert {row["card"] for row in stores[0].export()} == {f"w{w}-{i}" for w in range(4) for i in range(25)}
    finally:
        for store in stores:
            store.close()


def test_a_token_id_is_accepted_once_across_workers_and_forgotten_after_it_expires(store_url):
    clock = [1_000_000.0]
    engines = [create_engine(store_url), create_engine(store_url)]
    migrate.upgrade(engines[0])
    worker_a, worker_b = (ReplayGuard(engine, clock=lambda: clock[0]) for engine in engines)
    try:
        assert worker_a.first_use("https://ehr.example.org", "jti-1", forget_after=clock[0] + 300)
        assert not worker_b.first_use("https://ehr.example.org", "jti-1", forget_after=clock[0] + 300)
        assert worker_b.first_use("https://other-ehr.example.org", "jti-1", forget_after=clock[0] + 300)
        clock[0] += 3600  # long after the token expired: its row is pruned, the table does not grow forever
        assert worker_b.first_use("https://ehr.example.org", "jti-2", forget_after=clock[0] + 300)
        assert worker_a.first_use("https://ehr.example.org", "jti-1", forget_after=clock[0] + 300)
    finally:
        for engine in engines:
            engine.dispose()


def test_replay_guard_stores_no_token_content(store_url):
    from sqlalchemy import text

    engine = create_engine(store_url)
    migrate.upgrade(engine)
    try:
        ReplayGuard(engine).first_use("https://ehr.example.org", "secret-jti-value", forget_after=time.time() + 60)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT token_key FROM seen_client_tokens")).all()
        assert len(rows) == 1 and "secret-jti-value" not in rows[0][0] and len(rows[0][0]) == 64
    finally:
        engine.dispose()


def test_the_longest_feedback_the_protocol_accepts_fits_the_store(store_url):
    """The feedback request's length limits are the store's column sizes, so nothing it accepts fails to store."""
    longest = {"card": "c" * MAX_CARD_ID, "outcome": "overridden", "outcomeTimestamp": "2" * MAX_TIMESTAMP}
    _parsed, entries = parse_feedback(orjson.dumps({"feedback": [longest]}))
    store = FeedbackStore(store_url)
    try:
        assert store.add("imatinib-order-select", entries) == 1
        assert next(store.export())["card"] == longest["card"]
    finally:
        store.close()
