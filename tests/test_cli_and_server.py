"""The console script: a real `cds-service serve` over a socket, and `cds-service evaluate` offline."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import FIXTURES, request_fixture


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'fb.db'}", "CDS_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service", "serve"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(process.stdout.read().decode() if process.stdout else "server did not start")
    yield base
    process.terminate()
    process.wait(timeout=10)


def test_running_server_answers_discovery_and_an_order_select(server):
    assert len(httpx.get(f"{server}/cds-services").json()["services"]) == 3
    response = httpx.post(
        f"{server}/cds-services/imatinib-order-select",
        json=request_fixture("order-select-sandbox-imatinib-with-rifampin.json"),
    )
    assert response.status_code == 200
    assert response.json()["cards"][0]["summary"].startswith("Imatinib + rifampin")


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cds_service", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_evaluate_prints_the_cards_without_a_server():
    result = run_cli("evaluate", str(FIXTURES / "requests" / "order-sign-imatinib-with-carbamazepine.json"))
    assert result.returncode == 0, result.stderr
    cards = json.loads(result.stdout)["cards"]
    assert cards[0]["indicator"] == "critical"
    assert "600 mg once daily" in json.dumps(cards[0]["suggestions"])


def test_evaluate_explains_a_bad_request():
    result = run_cli("evaluate", "-", "--service", "imatinib-order-sign")
    assert result.returncode == 1
    assert "empty" in json.loads(result.stdout)["issue"][0]["diagnostics"]


def test_broken_knowledge_file_stops_start_up_naming_the_file_and_entry(tmp_path):
    bundled = Path(__file__).resolve().parent.parent / "cds_service" / "knowledge" / "data"
    for item in bundled.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    inducers = (tmp_path / "inducers.toml").read_text()
    broken = inducers.replace('[rifampin]\nstrength = "strong"', '[rifampin]\nstrength = "huge"')
    (tmp_path / "inducers.toml").write_text(broken)
    result = run_cli("evaluate", str(FIXTURES / "requests" / "order-sign-imatinib-with-carbamazepine.json"),
                     env={"CDS_KNOWLEDGE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "inducers.toml: [rifampin]: strength" in result.stderr


def test_serve_with_auth_required_but_no_trusted_issuers_stops_with_a_clear_message():
    result = run_cli("serve", "--port", "1", env={"CDS_AUTH_REQUIRED": "true", "CDS_TRUSTED_ISSUERS_FILE": ""})
    assert result.returncode == 2
    assert "CDS_TRUSTED_ISSUERS_FILE is not set" in result.stderr
