"""The OpenAPI document types each hook's context as the service reads it, so requests generated from the document
alone reach the rules: every generated hook call is answered as documented (no 5xx, the documented shape), and
valid ones get their cards (a 200), for each of the three services; and feedback the same way (valid: stored).

Before the contexts were typed, none of 6,349 fuzzed hook calls got a 200: `context` was any object, so every
generated call stopped at the context reader with a 400."""

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from cds_service.app import create_app
from cds_service.knowledge import load_knowledge
from cds_service.settings import Settings
from hooks import ALL_HOOKS

EXAMPLES = 25  # per service and mode: small, the machine is shared

_DB = Path(tempfile.mkdtemp(prefix="cds-fuzz-hooks-")) / "feedback.db"
APP = create_app(Settings(database_url=f"sqlite:///{_DB}"), load_knowledge())
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)


OPERATIONS = {hook.name: f"/cds-services/{hook.service_id}" for hook in ALL_HOOKS}
OPERATIONS["feedback"] = "/cds-services/{service_id}/feedback"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("operation_name", list(OPERATIONS))
def test_generated_calls_are_answered_as_documented_and_valid_ones_reach_the_rules(operation_name, mode):
    operation = SCHEMA[OPERATIONS[operation_name]]["POST"]
    statuses: list[int] = []
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if mode is GenerationMode.POSITIVE:
        checks.append(positive_data_acceptance)  # what the document calls valid, the service accepts

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case) -> None:
        response = case.call()
        statuses.append(response.status_code)
        case.validate_response(response, checks=checks)

    call()
    if mode is GenerationMode.POSITIVE:
        assert statuses.count(200) == len(statuses), statuses
    else:
        assert statuses and all(400 <= status < 500 for status in statuses), statuses
