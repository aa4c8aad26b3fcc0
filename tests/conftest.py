from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.settings import Settings
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
