import re

from cds_service.gather.prefetch import PREFETCH_QUERIES

ALLOWED_TOKEN = re.compile(
    r"\{\{(context\.patientId|context\.userId|context\.encounterId|userPractitionerId|userPractitionerRoleId"
    r"|userPatientId|userRelatedPersonId)\}\}"
)


def test_discovery_lists_one_service_per_prescribing_hook(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert {s["hook"] for s in services} == {"order-select", "order-sign", "medication-prescribe"}
    assert len({s["id"] for s in services}) == 3
    for service in services:
        assert all(isinstance(service[k], str) and service[k] for k in ("hook", "id", "title", "description"))


def test_medication_prescribe_is_marked_deprecated(client):
    services = {s["hook"]: s for s in client.get("/cds-services").json()["services"]}
    assert "deprecated" in services["medication-prescribe"]["description"].lower()


def test_prefetch_templates_use_only_tokens_the_spec_allows(client):
    for service in client.get("/cds-services").json()["services"]:
        assert set(service["prefetch"]) == {key for q in PREFETCH_QUERIES for key in q.keys}
        for template in service["prefetch"].values():
            for token in re.findall(r"\{\{[^}]*\}\}", template):
                assert ALLOWED_TOKEN.fullmatch(token), token


def test_prefetch_covers_medications_statements_conditions_and_labs(client):
    templates = client.get("/cds-services").json()["services"][0]["prefetch"].values()
    for resource_type in ("Patient/", "MedicationRequest?", "MedicationStatement?", "Condition?", "Observation?"):
        assert any(t.startswith(resource_type) for t in templates), resource_type


def test_cors_preflight_allows_authorization_and_content_type(client):
    response = client.options(
        "/cds-services/imatinib-order-select",
        headers={
            "Origin": "http://127.0.0.1:8080",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "http://127.0.0.1:8080")
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


def test_cors_header_is_on_error_responses_too(client):
    response = client.post(
        "/cds-services/imatinib-order-select", content=b"{", headers={"Origin": "http://127.0.0.1:8080"}
    )
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] in ("*", "http://127.0.0.1:8080")


def test_healthz_reports_the_knowledge_base_version(client, knowledge):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["knowledge"] == knowledge.version
