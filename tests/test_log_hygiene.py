"""A full run through a real server, with debug logging on, leaves no access token, JWT or patient id in its logs.

The run: authenticated discovery, a service call whose data comes from a (loopback) FHIR server with the caller's
access token, a refused call with a bad JWT, and feedback. Everything the server process prints is read back.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from tests.helpers import bundle, request_fixture, resource
from tests.jwt_helpers import SANDBOX_KEY, public_jwks, sandbox_token
from tests.servers import running_server

ACCESS_TOKEN = "LEAK-CANARY-access-token-7f3a9c"
PATIENT_ID = "pt-canary-4821"


class FakeFhir(BaseHTTPRequestHandler):
    """Answers every search with the patient's rifampin order; remembers the Authorization headers it got."""

    seen_authorization: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        FakeFhir.seen_authorization.append(self.headers.get("Authorization", ""))
        if self.path.startswith("/fhir/Patient/"):
            body = {**resource("patient-cml-1.json"), "id": PATIENT_ID}
        elif self.path.startswith("/fhir/MedicationRequest") and "status=active" in self.path:
            rifampin = resource("rifampin-active-r4.json")
            rifampin["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
            body = bundle(rifampin)
        else:
            body = bundle()
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def fhir_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeFhir)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    finally:
        server.shutdown()
        server.server_close()


def test_logs_of_a_full_run_hold_no_token_jwt_or_patient_id(tmp_path, fhir_server):
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps([{"iss": "https://sandbox.example.org", "jwks": public_jwks(SANDBOX_KEY)}]))
    env = {
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'fb.db'}",
        "CDS_LOG_LEVEL": "debug",
        "CDS_AUTH_REQUIRED": "true",
        "CDS_TRUSTED_ISSUERS_FILE": str(issuers),
        "CDS_FHIR_SERVER_ALLOWLIST": fhir_server,
    }
    body = request_fixture("order-sign-no-prefetch.json")
    body["fhirServer"] = fhir_server
    body["fhirAuthorization"]["access_token"] = ACCESS_TOKEN
    body["fhirAuthorization"]["patient"] = PATIENT_ID
    body["context"]["patientId"] = PATIENT_ID
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    jwts = []

    def signed(url: str) -> dict[str, str]:
        jwts.append(sandbox_token(url, header={"jku": None}))
        return {"Authorization": f"Bearer {jwts[-1]}"}

    with running_server(tmp_path, env) as server:
        discovery, service = f"{server.base}/cds-services", f"{server.base}/cds-services/imatinib-order-sign"
        assert httpx.get(discovery, headers=signed(discovery)).status_code == 200
        answer = httpx.post(service, json=body, headers=signed(service), timeout=10)
        assert answer.status_code == 200, answer.text
        card = answer.json()["cards"][0]
        assert "rifampin" in card["summary"]
        replayed = httpx.post(service, json=body, headers={"Authorization": f"Bearer {jwts[-1]}"})
        assert replayed.status_code == 401
        override = {"reason": {"code": "x", "system": "urn:x"}, "userComment": f"{PATIENT_ID} stops rifampin"}
        feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden", "overrideReason": override}]}
        stored = httpx.post(f"{service}/feedback", json=feedback, headers=signed(f"{service}/feedback"))
        assert stored.status_code == 200
        server.stop()
        logs = server.log()

    assert FakeFhir.seen_authorization and set(FakeFhir.seen_authorization) == {f"Bearer {ACCESS_TOKEN}"}
    assert "service call answered" in logs and "feedback stored" in logs and "client authentication failed" in logs
    assert ACCESS_TOKEN not in logs
    assert PATIENT_ID not in logs
    for jwt in jwts:
        for part in jwt.split("."):
            assert part not in logs
