"""POST /dosing/imatinib over HTTP: the answer's shape and numbers, every bad input named, the OpenAPI document,
authentication like the hook calls, and the offline command printing the same answer."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from tests.jwt_helpers import sandbox_token, write_issuers

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dosing" / "imatinib-public-case.json"
PUBLIC_CASE = json.loads(FIXTURE.read_text())
PATH = "/dosing/imatinib"


def with_(path: str, value, body=PUBLIC_CASE):
    """The public case with one field (dotted path, list indexes as numbers) set to `value`."""
    changed = copy.deepcopy(body)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = changed
    for part in parents:
        target = target[part]
    target[last] = value
    return changed


def diagnostics(response) -> str:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return outcome["issue"][0]["diagnostics"]


def test_the_public_case_answers_tucuxis_figures_in_the_documented_shape(client):
    response = client.post(PATH, json=PUBLIC_CASE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"a_priori", "a_posteriori", "target_ng_per_ml", "proposal", "candidates", "assumptions"}
    assert body["a_priori"]["trough_ng_per_ml"] == pytest.approx(673.7, rel=0.02)
    assert body["a_posteriori"] == {"clearance_l_per_h": pytest.approx(16.39, rel=0.02),
                                    "volume_l": pytest.approx(364.2, rel=0.02),
                                    "trough_ng_per_ml": pytest.approx(610.0, rel=0.02)}
    assert body["proposal"]["dose_mg"] == 600 and body["proposal"]["interval_hours"] == 24
    assert body["proposal"]["trough_ng_per_ml"] == pytest.approx(915.0, rel=0.02)
    assert [(c["dose_mg"], c["interval_hours"]) for c in body["candidates"]] == [(400, 24), (500, 24), (600, 24),
                                                                               (400, 12)]
    assert set(body["candidates"][0]) == {"dose_mg", "interval_hours", "trough_ng_per_ml", "score"}


def test_without_levels_there_is_no_a_posteriori_estimate(client):
    body = client.post(PATH, json={**PUBLIC_CASE, "levels": []}).json()
    assert body["a_posteriori"] is None
    assert body["proposal"]["dose_mg"] == 600  # a priori 673.7 -> 600 mg gives 1010.5


def test_every_covariate_is_optional(client):
    response = client.post(PATH, json={"regimen": PUBLIC_CASE["regimen"]})
    assert response.status_code == 200, response.text
    assert any("70 kg" in note for note in response.json()["assumptions"])


@pytest.mark.parametrize(("age", "bound"), [(19, "20-88"), (89, "20-88"), (5, "20-88")])
def test_age_outside_the_model_is_a_422_naming_the_bound(client, age, bound):
    response = client.post(PATH, json=with_("covariates.age_years", age))
    assert response.status_code == 422
    text = diagnostics(response)
    assert "covariates.age_years" in text and bound in text and "no model-based dose" in text


@pytest.mark.parametrize(("path", "value", "field"), [
    ("covariates.weight_kg", -70, "covariates.weight_kg"),
    ("covariates.weight_kg", "seventy", "covariates.weight_kg"),
    ("covariates.sex", "m", "covariates.sex"),
    ("covariates.indication", "ALL", "covariates.indication"),
    ("regimen.dose_mg", "400", "regimen.dose_mg"),
    ("regimen.dose_mg", "four hundred", "regimen.dose_mg"),
    ("regimen.dose_mg", 0, "regimen.dose_mg"),
    ("regimen.interval_hours", 8, "regimen.interval_hours"),
    ("regimen.first_dose", "yesterday", "regimen.first_dose"),
    ("regimen.doses_given", 0, "regimen.doses_given"),
    ("levels.0.time", "2024-12-31T08:00:00", "levels[0].time"),
    ("levels.0.time", "2025-01-01T08:00:00", "levels[0].time"),
    ("levels.0.unit", "mmol/L", "levels[0].unit"),
    ("levels.0.value", -1, "levels[0].value"),
    ("inducer", "grapefruit", "inducer"),
    ("surprise", 1, "surprise"),
])
def test_bad_input_is_refused_naming_the_field(client, path, value, field):
    response = client.post(PATH, json=with_(path, value))
    assert response.status_code in (400, 422), response.text
    assert diagnostics(response).startswith(field)


@pytest.mark.parametrize("body", [b"{", b"[]", b"null", b""])
def test_a_body_that_is_not_a_json_object_is_a_400(client, body):
    response = client.post(PATH, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "(body)" in diagnostics(response)


def test_a_body_that_is_not_json_by_its_type_is_a_415(client):
    response = client.post(PATH, content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415


def test_an_inducer_is_applied_to_the_prior(client):
    plain = client.post(PATH, json={**PUBLIC_CASE, "levels": []}).json()
    induced = client.post(PATH, json={**PUBLIC_CASE, "levels": [], "inducer": "rifampicin"}).json()
    assert induced["a_priori"]["clearance_l_per_h"] == pytest.approx(3.8 * plain["a_priori"]["clearance_l_per_h"],
                                                                     rel=0.002)


def test_the_openapi_document_describes_the_route_its_body_and_its_errors(client):
    document = client.get("/openapi.json").json()
    operation = document["paths"][PATH]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/DosingRequest")
    assert {"200", "400", "422"} <= set(operation["responses"])
    schemas = document["components"]["schemas"]
    assert {"DosingRequest", "DosingAnswer", "RegimenIn", "LevelIn"} <= set(schemas)
    assert set(schemas["RegimenIn"]["properties"]) == {"dose_mg", "interval_hours", "first_dose", "doses_given"}


@pytest.fixture
def auth_client(settings, knowledge, tmp_path):
    auth = settings.model_copy(update={"auth_required": True, "trusted_issuers_file": str(write_issuers(tmp_path))})
    with TestClient(create_app(auth, knowledge), raise_server_exceptions=False) as test_client:
        yield test_client


def test_with_authentication_required_a_call_needs_a_token_for_its_url(auth_client):
    assert auth_client.post(PATH, json=PUBLIC_CASE).status_code == 401
    token = sandbox_token("http://testserver" + PATH)
    response = auth_client.post(PATH, json=PUBLIC_CASE, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["proposal"]["dose_mg"] == 600


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cds_service", *args], capture_output=True, text=True,
                          env=dict(os.environ))


def test_the_command_line_prints_the_same_answer(client):
    result = run_cli("dosing", str(FIXTURE))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == client.post(PATH, json=PUBLIC_CASE).json()


def test_the_command_line_names_the_field_of_a_bad_request(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(with_("covariates.age_years", 12)))
    result = run_cli("dosing", str(bad))
    assert result.returncode == 1
    assert "covariates.age_years" in json.loads(result.stdout)["issue"][0]["diagnostics"]
