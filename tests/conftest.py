import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.settings import Settings
from tests.browser import browser, committee_pages, narrow_pages, page_server, pages  # noqa: F401  (shared fixtures)
from tests.helpers import SERVICE_FOR_HOOK


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'feedback.db'}",
        fhir_timeout_seconds=1.0,
        fhir_server_allowlist=["https://ehr.example.org/fhir"],
    )


@contextmanager
def fresh_database(kind: str, path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a SQLite file at `path`, or a new schema on CDS_TEST_POSTGRES_URL's
    server (`.ci/run` starts one; in CI a missing server fails these tests instead of skipping them)."""
    if kind == "sqlite":
        yield f"sqlite:///{path}"
        return
    server = os.environ.get("CDS_TEST_POSTGRES_URL")
    if not server:
        if os.environ.get("CI"):
            pytest.fail("CDS_TEST_POSTGRES_URL is not set in CI: the PostgreSQL store tests cannot run")
        pytest.skip("CDS_TEST_POSTGRES_URL not set (.ci/run starts a PostgreSQL server)")
    from sqlalchemy import create_engine, text

    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty feedback database, on SQLite and on PostgreSQL."""
    with fresh_database(request.param, tmp_path / "store.db") as url:
        yield url


@pytest.fixture
def client(settings: Settings, knowledge: Knowledge) -> Iterator[TestClient]:
    with TestClient(create_app(settings, knowledge), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def call(client: TestClient):
    """POST a hook request to the service for its hook."""

    def _call(body: dict, service_id: str | None = None):
        return client.post(f"/cds-services/{service_id or SERVICE_FOR_HOOK[body['hook']]}", json=body)

    return _call
