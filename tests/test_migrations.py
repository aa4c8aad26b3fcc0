"""Alembic migrations of the store, on SQLite and PostgreSQL: from an empty database, from a database made before
migrations existed (kept with its rows), refused when newer than the code, and safe when workers start at once."""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import JSON, Column, DateTime, Float, Integer, MetaData, String, Table, create_engine, inspect, text

from cds_service.app import create_app
from cds_service.auth.replay import ReplayGuard
from cds_service.settings import Settings
from cds_service.store import FeedbackStore, SchemaError, migrate
from cds_service.store.schema import metadata
from tests.conftest import fresh_database

# The tables exactly as the service made them with `create_all` before it had migrations (feedback_store.py and
# auth/replay.py at commit 41c9044), frozen here: a hospital's database looks like this.
legacy = MetaData()
Table(
    "card_feedback", legacy,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_hash", String(64), nullable=False, unique=True),
    Column("service_id", String(200), nullable=False),
    Column("card_uuid", String(200), nullable=False, index=True),
    Column("outcome", String(20), nullable=False),
    Column("accepted_suggestions", JSON, nullable=True),
    Column("override_reason", JSON, nullable=True),
    Column("outcome_timestamp", String(64), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("entry", JSON, nullable=False),
)
Table(
    "seen_client_tokens", legacy,
    Column("token_key", String(64), primary_key=True),
    Column("forget_after", Float, nullable=False, index=True),
)
FEEDBACK_URL = "/cds-services/imatinib-order-sign/feedback"


def shape(engine, tables) -> dict:
    """What a database holds for `tables`, as reflected: columns, keys, indexes, unique constraints."""
    inspector = inspect(engine)
    return {
        table: {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
        for table in tables
    }


def revision(engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def legacy_rows(engine) -> None:
    """Feedback and a remembered token, written the way the service wrote them before migrations."""
    with engine.begin() as connection:
        connection.execute(legacy.tables["card_feedback"].insert(), [{
            "entry_hash": "a" * 64, "service_id": "imatinib-order-sign", "card_uuid": "old-card",
            "outcome": "overridden",
            "override_reason": {"reason": {"code": "patient-declined"}, "userComment": "typed before migrations"},
            "outcome_timestamp": "2026-11-20T09:00:00Z", "received_at": datetime(2026, 11, 20, 9, tzinfo=UTC),
            "entry": {"card": "old-card", "outcome": "overridden", "overrideReason": {
                "reason": {"code": "patient-declined"}, "userComment": "typed before migrations"}},
        }])
        connection.execute(legacy.tables["seen_client_tokens"].insert(),
                           [{"token_key": "b" * 64, "forget_after": 4_000_000_000.0}])


@pytest.fixture
def engine(store_url):
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


def test_an_empty_database_is_migrated_to_exactly_the_schema_module(engine):
    migrate.upgrade(engine)
    assert revision(engine) == migrate.head_revision()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert differences == []  # the migrations and store/schema.py describe the same tables


def test_the_first_migration_creates_todays_schema_exactly(engine, store_url, tmp_path):
    migrate.upgrade(engine, "0001")
    kind = "sqlite" if store_url.startswith("sqlite") else "postgresql"
    with fresh_database(kind, tmp_path / "made-by-create-all.db") as url:
        before_migrations = create_engine(url)
        try:
            legacy.create_all(before_migrations)
            tables = sorted(legacy.tables)
            assert shape(engine, tables) == shape(before_migrations, tables)
        finally:
            before_migrations.dispose()


def test_a_database_made_before_migrations_is_taken_over_with_its_rows(engine, store_url, knowledge, tmp_path):
    legacy.create_all(engine)
    legacy_rows(engine)
    tables = sorted(legacy.tables)
    made_by_create_all = shape(engine, tables)

    migrate.upgrade(engine, "0001")
    assert shape(engine, tables) == made_by_create_all  # taken over: nothing was dropped or changed
    migrate.upgrade(engine)
    assert revision(engine) == migrate.head_revision()
    settings = Settings(database_url=store_url, fhir_server_allowlist=[])
    with TestClient(create_app(settings, knowledge)) as client:
        sent = {"feedback": [{"card": "new-card", "outcome": "accepted", "outcomeTimestamp": "2026-12-01T10:00:00Z"}]}
        assert client.post(FEEDBACK_URL, json=sent).json() == {"received": 1, "stored": 1}
    store = FeedbackStore(store_url, migrate_schema=False)
    try:
        exported = list(store.export())
    finally:
        store.close()
    assert [(row["card"], row["outcome"]) for row in exported] == [("old-card", "overridden"), ("new-card", "accepted")]
    assert exported[0]["entry"]["overrideReason"]["userComment"] == "typed before migrations"
    # a comment stored before migrations is still cleared once it is older than the retention allows
    store = FeedbackStore(store_url, migrate_schema=False)
    try:
        assert store.clear_comments(datetime(2026, 11, 21, tzinfo=UTC)) == 1
        assert next(store.export())["entry"]["overrideReason"] == {"reason": {"code": "patient-declined"}}
    finally:
        store.close()
    # the remembered token still counts: replaying it is refused after the upgrade
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM seen_client_tokens")).scalar_one() == 1


def test_a_database_from_before_client_authentication_gets_the_replay_table(engine):
    """Before migrations the replay table was made only once authentication was switched on."""
    legacy.tables["card_feedback"].create(engine)
    legacy_rows_without_tokens = {"entry_hash": "c" * 64, "service_id": "imatinib-order-select", "card_uuid": "kept",
                                  "outcome": "accepted", "received_at": datetime(2026, 11, 1, tzinfo=UTC),
                                  "entry": {"card": "kept"}}
    with engine.begin() as connection:
        connection.execute(legacy.tables["card_feedback"].insert(), [legacy_rows_without_tokens])
    migrate.upgrade(engine)
    guard = ReplayGuard(engine)
    assert guard.first_use("https://ehr.example.org", "jti-1", forget_after=4_000_000_000.0)
    assert not guard.first_use("https://ehr.example.org", "jti-1", forget_after=4_000_000_000.0)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT card_uuid FROM card_feedback")).scalars().all() == ["kept"]


def test_a_table_of_the_same_name_that_is_not_the_services_is_refused_untouched(engine):
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE card_feedback (id INTEGER PRIMARY KEY, note VARCHAR(20))"))
        connection.execute(text("INSERT INTO card_feedback (id, note) VALUES (1, 'someone else''s')"))
    with pytest.raises(SchemaError, match="card_feedback exists but its columns are not the service's"):
        migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT note FROM card_feedback")).scalar_one() == "someone else's"


def test_a_database_from_a_newer_version_is_refused_unchanged(engine):
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    with pytest.raises(SchemaError, match="revision from-the-future, which this version does not know") as refused:
        migrate.upgrade(engine)
    assert "\n" not in str(refused.value)
    assert revision(engine) == "from-the-future"


def test_workers_starting_at_once_migrate_once(store_url):
    engines = [create_engine(store_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(migrate.upgrade, engines))
        assert revision(engines[0]) == migrate.head_revision()
    finally:
        for each in engines:
            each.dispose()


def cli(*args: str, database_url: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cds_service", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CDS_DATABASE_URL": database_url, **env})


def test_db_upgrade_and_status_commands(engine, store_url):
    legacy.create_all(engine)
    legacy_rows(engine)
    status = cli("db", "status", database_url=store_url)
    assert (status.returncode, status.stdout.strip()) == (1, f"schema revision none; this version needs "
                                                             f"{migrate.head_revision()}")
    upgraded = cli("db", "upgrade", database_url=store_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"schema revision none -> {migrate.head_revision()}"
    assert cli("db", "status", database_url=store_url).returncode == 0
    exported = cli("feedback", "export", database_url=store_url)
    assert '"card":"old-card"' in exported.stdout


def test_serve_refuses_a_database_it_cannot_migrate_in_one_line(engine, store_url):
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    refused = cli("serve", "--port", "1", database_url=store_url)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "CDS_DATABASE_URL" in refused.stderr and "from-the-future" in refused.stderr


def test_with_migrations_left_to_the_operator_serve_names_the_command_to_run(engine, store_url):
    legacy.create_all(engine)
    refused = cli("serve", "--port", "1", database_url=store_url, CDS_DATABASE_MIGRATE="false")
    assert refused.returncode == 2
    assert "run `cds-service db upgrade`" in refused.stderr and refused.stderr.count("\n") == 1
    assert revision(engine) is None  # nothing was changed
