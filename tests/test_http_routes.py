"""The two POST routes are plain Starlette routes (for speed): they still answer, refuse and are documented exactly
as FastAPI routes were."""

import pytest
from starlette.routing import Route

from cds_service.app import create_app
from tests.helpers import request_fixture

SERVICE = "/cds-services/imatinib-order-select"
BODY = request_fixture("order-select-sandbox-imatinib-with-rifampin.json")
FEEDBACK = {"feedback": [{"card": "card-1", "outcome": "accepted"}]}
ORIGIN = {"Origin": "https://sandbox.cds-hooks.org"}


def test_the_post_routes_skip_fastapi_parameter_solving_and_are_matched_first(settings, knowledge):
    first, second = create_app(settings, knowledge).routes[:2]
    assert type(first) is type(second) is Route
    assert (first.path, second.path) == ("/cds-services/{service_id}", "/cds-services/{service_id}/feedback")
    assert first.methods == second.methods == {"POST"}


@pytest.mark.parametrize("path", [SERVICE, SERVICE + "/feedback"])
def test_get_on_a_post_route_is_405_naming_the_allowed_method(client, path):
    response = client.get(path)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "not-supported"


def test_unknown_service_feedback_is_404(client):
    response = client.post("/cds-services/nope/feedback", json=FEEDBACK)
    assert response.status_code == 404
    assert "No CDS service with id 'nope'" in response.json()["issue"][0]["diagnostics"]


def test_answers_of_both_post_routes_carry_cors_headers(client):
    for path, body in ((SERVICE, BODY), (SERVICE + "/feedback", FEEDBACK)):
        response = client.post(path, json=body, headers=ORIGIN)
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["content-type"] == "application/json"


def test_openapi_describes_both_post_routes_with_their_bodies_and_no_get(client):
    """The service-call route is described once per service (each answers one hook, with its own context);
    feedback once for all of them."""
    document = client.get("/openapi.json").json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    assert "/cds-services/{service_id}" not in paths
    feedback = paths["/cds-services/{service_id}/feedback"]
    assert set(feedback) == {"post"}
    assert feedback["post"]["operationId"] == "feedback_cds_services__service_id__feedback_post"
    assert [p["name"] for p in feedback["post"]["parameters"]] == ["service_id"]
    assert "imatinib-order-select" in feedback["post"]["parameters"][0]["schema"]["enum"]
    operations = [(feedback["post"], "FeedbackRequest")]
    for service_id, name, context in (
        ("imatinib-order-select", "OrderSelectRequest", "OrderSelectContext"),
        ("imatinib-order-sign", "OrderSignRequest", "OrderSignContext"),
        ("imatinib-medication-prescribe", "MedicationPrescribeRequest", "MedicationPrescribeContext"),
    ):
        call = paths[f"/cds-services/{service_id}"]
        assert set(call) == {"post"}
        snake = service_id.replace("-", "_")
        assert call["post"]["operationId"] == f"call_{snake}_cds_services_{snake}_post"
        assert {"200", "400", "412", "413", "415"} <= set(call["post"]["responses"])
        assert schemas[name]["properties"]["context"] == {"$ref": f"#/components/schemas/{context}"}
        operations.append((call["post"], name))
    for operation, model in operations:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model}"}
        assert "security" not in operation  # authentication is off in these settings
