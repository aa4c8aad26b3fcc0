"""Fuzzing: nothing a client sends gets a 5xx, and every answer has the shape the OpenAPI document promises.

Two generators, both bounded so the suite stays fast and repeatable (derandomized, fixed example counts):
schemathesis derives requests from the service's own OpenAPI document, and hypothesis mutates the readable
CDS Hooks requests in fixtures/fhir/requests/ (replace, delete, splice values from elsewhere in the request).
"""

import copy
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cds_service.app import create_app
from cds_service.knowledge import load_knowledge
from cds_service.settings import Settings
from tests.helpers import FIXTURES, SERVICE_FOR_HOOK, request_fixture

SCHEMATHESIS_EXAMPLES = 60
MUTATION_EXAMPLES = 300

_DB = Path(tempfile.mkdtemp(prefix="cds-fuzz-")) / "feedback.db"
APP = create_app(Settings(database_url=f"sqlite:///{_DB}"), load_knowledge())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# Valid shapes and deliberately invalid ones (wrong types, missing required fields): both must get a documented 4xx.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@schema.parametrize()
@settings(max_examples=SCHEMATHESIS_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_openapi_operations_never_fail_and_answer_as_documented(case):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])


# --- mutations of real requests ---------------------------------------------------------------------------------

REQUESTS = [request_fixture(path.name) for path in sorted((FIXTURES / "requests").glob("*.json"))]
Path_ = tuple[Any, ...]


def paths_in(value: Any, prefix: Path_ = ()) -> list[Path_]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths_in(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths_in(child, (*prefix, index)))
    return found


def value_at(document: Any, path: Path_) -> Any:
    for step in path:
        document = document[step]
    return document


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30) | st.sampled_from(["MedicationRequest", "MedicationOrder", "Bundle", "OperationOutcome",
                                              "Patient", "Medication", "draft", "active", "", "Patient/x"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated_requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    original = draw(st.sampled_from(REQUESTS))
    body = copy.deepcopy(original)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        path = draw(st.sampled_from(paths_in(body)))
        if not path:
            continue
        parent, last = value_at(body, path[:-1]), path[-1]
        action = draw(st.sampled_from(["replace", "delete", "splice"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif action == "splice":
            parent[last] = copy.deepcopy(value_at(original, draw(st.sampled_from(paths_in(original)))))
        else:
            parent[last] = draw(JSON_VALUES)
    return SERVICE_FOR_HOOK[original["hook"]], body


@pytest.fixture(scope="module")
def fuzz_client():
    with TestClient(APP, raise_server_exceptions=False) as client:
        yield client


@given(mutated_requests())
@settings(max_examples=MUTATION_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_mutated_cds_hooks_requests_get_cards_or_an_operation_outcome(fuzz_client, mutated):
    service_id, body = mutated
    response = fuzz_client.post(f"/cds-services/{service_id}", json=body)
    assert response.status_code < 500, response.text
    answer = response.json()
    if response.status_code == 200:
        assert all(0 < len(card["summary"]) < 140 for card in answer["cards"])
    else:
        assert response.status_code in (400, 404, 412, 413, 415)
        assert answer["resourceType"] == "OperationOutcome" and answer["issue"][0]["diagnostics"]
