"""Every malformed call gets a 4xx with an OperationOutcome that says what is wrong; never a 500."""

import asyncio

import pytest

from tests.helpers import hook_request, resource

URL = "/cds-services/imatinib-order-sign"


def diagnostics(response) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]["diagnostics"]


def test_malformed_json_is_400_naming_json(client):
    response = client.post(URL, content=b'{"hook": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in diagnostics(response)


def test_body_that_is_not_an_object_is_400(client):
    response = client.post(URL, json=[1, 2, 3])
    assert response.status_code == 400
    assert "must be a JSON object" in diagnostics(response)


def test_empty_body_is_400(client):
    response = client.post(URL, content=b"", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "empty" in diagnostics(response)


def test_invalid_utf8_is_400(client):
    response = client.post(URL, content=b'{"hook": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("missing", ["hook", "hookInstance", "context"])
def test_missing_required_field_is_400_naming_it(client, missing):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")])
    del body[missing]
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert missing in diagnostics(response)


def test_hook_that_does_not_match_the_service_is_400(client):
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")])
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert "answers the 'order-sign' hook" in diagnostics(response)


def test_fhir_authorization_without_fhir_server_is_400(client):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")])
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "scope": "x", "subject": "y"}
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert "fhirAuthorization was sent without fhirServer" in diagnostics(response)


def test_unknown_service_is_404(client):
    response = client.post("/cds-services/nope", json={})
    assert response.status_code == 404
    assert "No CDS service with id 'nope'" in diagnostics(response)


def test_unknown_path_is_404_operation_outcome(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert diagnostics(response)


def test_oversized_body_is_413(client, settings):
    big = b'{"pad": "' + b"x" * (settings.max_body_bytes + 10) + b'"}'
    response = client.post(URL, content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "limit" in diagnostics(response)


def test_wrong_content_type_is_415(client):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = client.post(URL, content=b"hook=order-sign", headers=form)
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("context_change", "message"),
    [
        ({"patientId": None}, "context.patientId"),
        ({"draftOrders": None}, "context.draftOrders is required"),
        ({"draftOrders": [1, 2]}, "context.draftOrders must be a Bundle"),
        ({"draftOrders": {"resourceType": "Patient"}}, "context.draftOrders must be a Bundle"),
    ],
)
def test_missing_or_malformed_context_is_400(client, context_change, message):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")])
    body["context"].update(context_change)
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert message in diagnostics(response)


def test_order_select_without_selections_is_400(client):
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")])
    del body["context"]["selections"]
    response = client.post("/cds-services/imatinib-order-select", json=body)
    assert response.status_code == 400
    assert "selections" in diagnostics(response)


def test_resources_that_do_not_parse_as_fhir_are_skipped_not_fatal(client):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")])
    body["context"]["draftOrders"]["entry"].extend([{"resource": "junk"}, {"no": "resource"}, 7])
    body["prefetch"]["activeMedications"] = {"resourceType": "Bundle", "entry": [{"resource": {"status": 3}}]}
    response = client.post(URL, json=body)
    assert response.status_code == 200


def _set(document: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    node = document
    for step in parents:
        node = node[int(step)] if step.isdigit() else node[step]
    node[int(last) if last.isdigit() else last] = value
    return document


# Found by tests/test_fuzz.py: values of the wrong JSON type deep inside resources once raised TypeError (a 500).
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("context.draftOrders.entry.0.resource.medicationCodeableConcept.coding", 1),
        ("context.draftOrders.entry.0.resource.medicationCodeableConcept.coding.0.system", ["x"]),
        ("context.draftOrders.entry.0.resource.dosageInstruction.0.timing.repeat.periodUnit", ["d"]),
        ("context.draftOrders.entry.0.resource.dosageInstruction", {"text": "400 mg"}),
        ("prefetch.activeMedications.entry.0.resource.status", ["active"]),
        ("prefetch.labResults.entry.0.resource.status", {"final": True}),
        ("prefetch.labResults.entry.0.resource.code.coding.0.code", {"loinc": 1}),
    ],
)
def test_wrong_json_types_inside_resources_are_tolerated_not_a_500(client, path, value):
    trough = resource("imatinib-trough-low-r4.json")
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch={
        "activeMedications": {"resourceType": "Bundle", "entry": [{"resource": resource("rifampin-active-r4.json")}]},
        "labResults": {"resourceType": "Bundle", "entry": [{"resource": trough}]},
    })
    response = client.post(URL, json=_set(body, path, value))
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["cards"], list)


def test_nesting_deeper_than_the_limit_is_400(client, settings):
    deep = {"a": 1}
    for _ in range(settings.max_json_depth):
        deep = {"a": deep}
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")])
    body["context"]["extra"] = deep
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert f"nested deeper than the {settings.max_json_depth}-level limit" in diagnostics(response)


def test_nesting_beyond_what_the_json_parser_allows_is_400_not_a_crash(client):
    depth = 100_000
    body = b'{"hook": "order-sign", "hookInstance": "x", "context": ' + b"[" * depth + b"]" * depth + b"}"
    response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in diagnostics(response)


def test_more_bundle_entries_than_the_limit_is_413(client, settings):
    entries = [{"resource": {"resourceType": "Basic"}}] * (settings.max_bundle_entries + 1)
    many = {"resourceType": "Bundle", "entry": entries}
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch={"conditions": many})
    response = client.post(URL, json=body)
    assert response.status_code == 413
    assert f"more than {settings.max_bundle_entries} Bundle entries" in diagnostics(response)


def test_limits_apply_to_feedback_too(client, settings):
    deep: dict = {}
    for _ in range(settings.max_json_depth + 1):
        deep = {"x": deep}
    entry = {"card": "c-1", "outcome": "accepted", "extension": deep}
    response = client.post("/cds-services/imatinib-order-sign/feedback", json={"feedback": [entry]})
    assert response.status_code == 400
    assert "feedback body is nested deeper" in diagnostics(response)


@pytest.mark.parametrize("body", [b'{"hook": "\xff"}', b'\xfe\xff{"hook": "order-sign"}', b'{"hook": "\xed\xa0\x80"}'])
def test_invalid_utf8_is_400_naming_it(client, body):
    response = client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not UTF-8" in diagnostics(response)


def test_client_that_disconnects_mid_body_is_not_logged_as_a_service_failure(client, caplog):
    """A dropped connection is the client's doing: no 500, no error line (the answer goes nowhere, but is a 400)."""
    sent: list[dict] = []
    messages = iter([
        {"type": "http.request", "body": b'{"hook": "order-sign", ', "more_body": True},
        {"type": "http.disconnect"},
    ])

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": URL, "raw_path": URL.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
        "server": ("testserver", 80), "headers": [(b"content-type", b"application/json")],
    }
    with caplog.at_level("INFO", logger="cds_service"):
        asyncio.run(client.app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert b"disconnected" in sent[1]["body"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
