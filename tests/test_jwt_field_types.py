"""Every JWT header and claim, of every JSON type: a value of the wrong type is a 401 naming it, never a 500.

The tokens are validly signed by the trusted sandbox-like issuer, so only the field's type can be at fault; fields
the service and the JOSE rules give no type to are ignored, whatever their type.
"""

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.helpers import request_fixture
from tests.jwt_helpers import SANDBOX_ISS, SANDBOX_JKU, SANDBOX_KEY, SANDBOX_KID, signed_as_given, write_issuers

SERVICE = "/cds-services/imatinib-order-select"
SERVICE_URL = "http://testserver" + SERVICE
BODY = request_fixture("order-select-sandbox-imatinib-with-rifampin.json")

JSON_VALUES: dict[str, Any] = {
    "array": ["https://sandbox.example.org"], "object": {"k": "v"}, "number": 1.5, "integer": 7, "null": None,
    "true": True, "false": False, "string": "some text",
}
# The JSON types a field may have and still be accepted (with the value above); any other type is a 401 naming it.
HEADER_FIELDS: dict[str, set[str]] = {
    "alg": set(), "kid": set(), "jku": set(),  # the values above name no accepted algorithm, key or key set
    "typ": {"string"}, "cty": {"string"}, "crit": set(), "b64": set(),
    "jwk": {"object"}, "x5u": set(),  # "some text" is no URL (an x5u that is one is accepted, never fetched)
     "x5c": {"array"}, "x5t": {"string"}, "x5t#S256": {"string"},
    "x-vendor": set(JSON_VALUES),
}
CLAIM_FIELDS: dict[str, set[str]] = {
    "iss": set(), "aud": set(), "exp": set(), "iat": set(),  # the values above are no trusted iss, this URL, now
    "nbf": {"number", "integer"}, "jti": {"string"}, "sub": {"string"},
    "tenant": set(JSON_VALUES), "x-vendor": set(JSON_VALUES),
}


def _token(header_changes: dict[str, Any], claim_changes: dict[str, Any]) -> str:
    now = int(time.time())
    header = {"alg": "ES384", "typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU, **header_changes}
    claims = {"iss": SANDBOX_ISS, "aud": SERVICE_URL, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()),
              **claim_changes}
    return signed_as_given(header, claims, SANDBOX_KEY)


@pytest.fixture(scope="module")
def auth_client(tmp_path_factory, knowledge) -> TestClient:
    directory = tmp_path_factory.mktemp("jwt-types")
    settings = Settings(database_url=f"sqlite:///{directory / 'fb.db'}", auth_required=True,
                        trusted_issuers_file=str(write_issuers(directory)))
    with TestClient(create_app(settings, knowledge), raise_server_exceptions=False) as client:
        yield client


def _expect(response, field: str, accepted: bool) -> None:
    if accepted:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 401, response.text
    description = response.headers["WWW-Authenticate"]
    assert f"{field}" in description.split('error_description="', 1)[1], description
    assert field in response.json()["issue"][0]["diagnostics"]


def test_the_unchanged_token_is_accepted(auth_client):
    response = auth_client.post(SERVICE, json=BODY, headers={"Authorization": f"Bearer {_token({}, {})}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", list(JSON_VALUES))
@pytest.mark.parametrize("field", list(HEADER_FIELDS))
def test_a_header_of_any_json_type_is_accepted_or_a_401_naming_it(auth_client, field, kind):
    token = _token({field: JSON_VALUES[kind]}, {})
    response = auth_client.post(SERVICE, json=BODY, headers={"Authorization": f"Bearer {token}"})
    _expect(response, field, kind in HEADER_FIELDS[field])


@pytest.mark.parametrize("kind", list(JSON_VALUES))
@pytest.mark.parametrize("field", list(CLAIM_FIELDS))
def test_a_claim_of_any_json_type_is_accepted_or_a_401_naming_it(auth_client, field, kind):
    token = _token({}, {field: JSON_VALUES[kind]})
    response = auth_client.post(SERVICE, json=BODY, headers={"Authorization": f"Bearer {token}"})
    _expect(response, field, kind in CLAIM_FIELDS[field])


def test_a_500_carries_the_cors_headers_a_browser_needs_to_read_it(auth_client, monkeypatch):
    async def broken(*_args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(auth_client.app.state.engine, "evaluate", broken)
    token = _token({}, {})
    response = auth_client.post(SERVICE, json=BODY, headers={"Authorization": f"Bearer {token}",
                                                             "Origin": "https://sandbox.cds-hooks.org"})
    assert response.status_code == 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["access-control-allow-origin"] == "*"
