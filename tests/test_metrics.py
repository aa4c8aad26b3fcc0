"""/metrics after real calls: each counter moved by exactly what was done, no label holds patient data, and with
two worker processes a scrape of either one adds up both."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import respx
from fastapi.testclient import TestClient
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from cds_service.app import create_app
from cds_service.gather.prefetch import PREFETCH_QUERIES
from tests.helpers import request_fixture
from tests.jwt_helpers import sandbox_token, write_issuers
from tests.servers import running_server
from tests.test_prefetch_and_fetch import FHIR, mock_searches

SELECT = "imatinib-order-select"
INDUCER = "imatinib-strong-cyp3a4-inducer"


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_hook_calls_cards_and_feedback_are_counted_by_what_happened(client):
    before = scrape(client)
    rifampin = request_fixture("order-select-rifampin-for-patient-on-imatinib.json")
    cards = [client.post(f"/cds-services/{SELECT}", json=rifampin).json()["cards"] for _ in range(3)]
    assert client.post("/cds-services/no-such-service-pt-cml-1", json=rifampin).status_code == 404
    assert client.post("/cds-services/imatinib-order-sign", json=rifampin).status_code == 400  # hook mismatch
    entries = [{"card": c[0]["uuid"], "outcome": "accepted"} for c in cards[:2]]
    assert client.post(f"/cds-services/{SELECT}/feedback", json={"feedback": entries}).status_code == 200
    assert client.post(f"/cds-services/{SELECT}/feedback", json={"feedback": entries}).status_code == 200  # a retry
    after = scrape(client)

    assert moved(before, after, "cds_hook_calls_total", service=SELECT, status="200") == 3
    assert moved(before, after, "cds_hook_calls_total", service="unknown", status="404") == 1
    assert moved(before, after, "cds_hook_calls_total", service="imatinib-order-sign", status="400") == 1
    assert moved(before, after, "cds_hook_call_seconds_count", service=SELECT) == 3
    assert moved(before, after, "cds_hook_call_seconds_bucket", service=SELECT, le="+Inf") == 3
    assert moved(before, after, "cds_cards_total", topic=INDUCER, indicator="warning") == 3
    assert moved(before, after, "cds_feedback_entries_total", service=SELECT, result="stored") == 2
    assert moved(before, after, "cds_feedback_entries_total", service=SELECT, result="duplicate") == 2


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_fhir_fetches_are_counted_by_prefetch_key_and_outcome(respx_mock, client):
    respx_mock.route(url__startswith="http://testserver").pass_through()
    mock_searches(respx_mock, medications=request_fixture("order-select-rifampin-for-patient-on-imatinib.json")
                  ["prefetch"]["activeMedications"])
    respx_mock.get(f"{FHIR}/Condition").respond(500)
    before = scrape(client)
    response = client.post("/cds-services/imatinib-order-sign", json=request_fixture("order-sign-no-prefetch.json"))
    assert response.status_code == 200, response.text
    after = scrape(client)

    assert moved(before, after, "cds_fhir_fetches_total", prefetch_key="conditions", outcome="failed") == 1
    assert moved(before, after, "cds_fhir_fetches_total", prefetch_key="activeMedications", outcome="ok") == 1
    fetched = {query.key for query in PREFETCH_QUERIES} - {"conditions"}
    assert sum(moved(before, after, "cds_fhir_fetches_total", prefetch_key=key, outcome="ok") for key in fetched) \
        == len(respx_mock.calls) - 1  # every other request the server got, each counted once


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_a_fetch_cut_off_by_the_time_budget_counts_as_a_timeout(respx_mock, client):
    import asyncio

    async def slow(_request):
        await asyncio.sleep(5)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})

    respx_mock.route(url__startswith="http://testserver").pass_through()
    mock_searches(respx_mock)
    respx_mock.get(f"{FHIR}/MedicationRequest", params={"status": "active,on-hold"}).mock(side_effect=slow)
    before = scrape(client)
    client.post("/cds-services/imatinib-order-sign", json=request_fixture("order-sign-no-prefetch.json"))
    after = scrape(client)
    assert moved(before, after, "cds_fhir_fetches_total", prefetch_key="activeMedications", outcome="timeout") == 1
    assert moved(before, after, "cds_fhir_fetches_total", prefetch_key="activeMedications", outcome="ok") == 0


def test_jwt_rejections_are_counted_by_reason(settings, knowledge, tmp_path):
    secured = settings.model_copy(update={"auth_required": True, "trusted_issuers_file": str(write_issuers(tmp_path))})
    url = f"http://testserver/cds-services/{SELECT}"
    body = request_fixture("order-select-sandbox-imatinib-with-rifampin.json")
    with TestClient(create_app(secured, knowledge)) as client:
        before = scrape(client)
        client.post(url, json=body)  # no token
        token = sandbox_token(url)
        assert client.post(url, json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})  # the same token again
        client.post(url, json=body, headers={"Authorization": f"Bearer {sandbox_token('https://elsewhere/x')}"})
        client.post(url, json=body, headers={"Authorization": "Bearer not.a.jwt"})
        after = scrape(client)
    for reason, count in {"missing_token": 1, "replayed": 1, "audience": 1, "malformed": 1}.items():
        assert moved(before, after, "cds_jwt_rejections_total", reason=reason) == count, reason
    assert moved(before, after, "cds_hook_calls_total", service=SELECT, status="401") == 4


def test_no_label_carries_patient_data_or_anything_the_caller_chose(client):
    body = request_fixture("order-select-rifampin-for-patient-on-imatinib.json")
    client.post(f"/cds-services/{SELECT}", json=body)
    client.post(f"/cds-services/{body['context']['patientId']}", json=body)  # a patient id where a service goes
    text = client.get("/metrics").text
    for private in (body["context"]["patientId"], body["hookInstance"], body["context"]["userId"]):
        assert private not in text
    services = {labels["service"] for family in text_string_to_metric_families(text)
                for labels in (s.labels for s in family.samples) if "service" in labels}
    assert services <= {"unknown", SELECT, "imatinib-order-sign", "imatinib-medication-prescribe"}


def calls_in(path) -> float:
    """The hook calls one worker process counted, read from its own multiprocess file."""
    return sum(sample.value for metric in MultiProcessCollector.merge([str(path)]) for sample in metric.samples
               if sample.name == "cds_hook_calls_total")


def test_with_two_workers_any_scrape_counts_the_calls_both_answered(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")  # wiped at start, never added in
    env = {"CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.db'}", "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    body = request_fixture("order-select-rifampin-for-patient-on-imatinib.json")

    def call(_: int) -> int:
        return httpx.post(f"{server.base}/cds-services/{SELECT}", json=body, timeout=10).status_code

    sent = 0
    with running_server(tmp_path, env, workers=2) as server, httpx.Client(base_url=server.base, timeout=10) as http:
        with ThreadPoolExecutor(max_workers=4) as pool:
            while sent < 200:  # until the kernel has handed connections to both workers
                assert set(pool.map(call, range(4))) == {200}
                sent += 4
                per_process = [calls_in(path) for path in directory.glob("counter_*.db")]
                if sum(count > 0 for count in per_process) == 2:
                    break
        scrapes = [scrape(http) for _ in range(6)]
    assert sum(count > 0 for count in per_process) == 2 and sum(per_process) == sent
    for after in scrapes:  # whichever worker answered the scrape
        assert moved({}, after, "cds_hook_calls_total", service=SELECT, status="200") == sent
        assert moved({}, after, "cds_cards_total", topic=INDUCER, indicator="warning") == sent


def refusal_messages() -> list[str]:
    """Every message auth/verify.py can refuse a token with, formatted parts replaced by `X`."""
    import ast
    from pathlib import Path

    import cds_service.auth.verify as verify

    def text(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
        return None

    tree = ast.parse(Path(verify.__file__).read_text())
    messages = [text(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "AuthenticationFailed" and node.args]
    invalid_claim = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "_invalid_claim")
    messages += [text(n.value) for n in ast.walk(invalid_claim) if isinstance(n, ast.Return) and n.value]
    return [m for m in messages if m]


def test_every_refusal_the_verifier_can_give_has_a_reason_label():
    """A new refusal message without a label would count as `other`: the table in metrics.py must name it."""
    from cds_service.metrics import rejection_reason

    messages = refusal_messages()
    assert len(messages) > 20
    assert [m for m in messages if rejection_reason(m) == "other"] == []
