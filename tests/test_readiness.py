"""Liveness and readiness: /healthz answers while the process runs; /readyz says 503, naming the failure, while
feedback cannot be stored; the Docker health check asks the port the service was configured with."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.servers import free_port, running_server

DOCKERFILE = Path(__file__).resolve().parent.parent / "Dockerfile"


def rename_feedback_table(url: str, old: str, new: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
    engine.dispose()


def test_ready_when_feedback_can_be_stored_and_knowledge_is_loaded(client, knowledge):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["knowledge"] == knowledge.version
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["knowledge"] == {"status": "ok",
                                           "detail": f"version {knowledge.version}, {len(knowledge.sources)} sources"}


def test_not_ready_while_feedback_cannot_be_stored_and_ready_again_after(store_url, knowledge):
    settings = Settings(database_url=store_url, fhir_server_allowlist=[])
    with TestClient(create_app(settings, knowledge)) as client:
        rename_feedback_table(store_url, "card_feedback", "card_feedback_away")
        response = client.get("/readyz")
        assert response.status_code == 503
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert [issue["diagnostics"] for issue in outcome["issue"]] == [
            "database: a feedback entry cannot be stored (ProgrammingError)"
            if store_url.startswith("postgresql") else "database: a feedback entry cannot be stored (OperationalError)"
        ]
        assert outcome["issue"][0]["code"] == "transient"
        assert "cds_test" not in response.text and "store.db" not in response.text  # no URL, user or path
        assert client.post("/cds-services/imatinib-order-select/feedback",
                           json={"feedback": [{"card": "c", "outcome": "accepted"}]}).status_code == 503
        assert client.get("/healthz").status_code == 200  # alive: not a reason to restart the process

        rename_feedback_table(store_url, "card_feedback_away", "card_feedback")
        assert client.get("/readyz").status_code == 200


def test_the_probe_leaves_no_row_behind(client, settings):
    for _ in range(3):
        assert client.get("/readyz").status_code == 200
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM card_feedback")).scalar_one() == 0
    engine.dispose()


def test_not_ready_without_a_knowledge_base(client, knowledge, monkeypatch):
    monkeypatch.setattr(knowledge, "sources", {})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["issue"][0]["diagnostics"] == "knowledge: the knowledge base is empty"


def healthcheck_command() -> list[str]:
    """The Dockerfile's HEALTHCHECK, as the container would run it."""
    line = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("HEALTHCHECK"))
    words = shlex.split(line.removeprefix("HEALTHCHECK").strip())
    assert words[0] == "CMD" and words[1] == "python"
    return [sys.executable, *words[2:]]


def test_the_docker_health_check_asks_the_configured_port(tmp_path):
    env = {"CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.db'}"}
    with running_server(tmp_path, env) as server:
        port = server.base.rsplit(":", 1)[1]
        healthy = subprocess.run(healthcheck_command(), env={**os.environ, "CDS_PORT": port}, capture_output=True)
        assert healthy.returncode == 0, healthy.stderr
        nobody = subprocess.run(healthcheck_command(), env={**os.environ, "CDS_PORT": str(free_port())},
                                capture_output=True)
        assert nobody.returncode != 0


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_client_authentication(settings, knowledge, tmp_path, path):
    from tests.jwt_helpers import write_issuers

    secured = settings.model_copy(update={"auth_required": True, "trusted_issuers_file": str(write_issuers(tmp_path))})
    with TestClient(create_app(secured, knowledge)) as client:
        assert client.get(path).status_code == 200
