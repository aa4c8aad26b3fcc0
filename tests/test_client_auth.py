"""CDS Hooks client authentication: tokens from trusted EHRs pass, every known attack gets a 401 that says why."""

import asyncio
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey, RSAKey

from cds_service.app import create_app
from cds_service.auth import TrustedIssuersError, load_trusted_issuers
from cds_service.auth.keysets import KeySets
from cds_service.settings import Settings
from tests.helpers import request_fixture
from tests.jwt_helpers import (
    EPIC_ISS,
    EPIC_JWKS_URL,
    EPIC_KEY,
    EPIC_KID,
    SANDBOX_ISS,
    SANDBOX_KEY,
    SANDBOX_KID,
    b64url,
    epic_token,
    public_jwks,
    sandbox_token,
    unsigned_parts,
    write_issuers,
)

SHARED_SANDBOX_JWKS = Path(__file__).resolve().parents[2] / "shared" / "cds-hooks" / "sandbox-jwks.json"
BASE = "http://testserver"
SERVICE = "/cds-services/imatinib-order-select"
SERVICE_URL = BASE + SERVICE
BODY = request_fixture("order-select-sandbox-imatinib-with-rifampin.json")
FEEDBACK = {"feedback": [{"card": "card-1", "outcome": "accepted", "acceptedSuggestions": [{"id": "s-1"}],
                          "outcomeTimestamp": "2026-11-21T10:00:00Z"}]}


@pytest.fixture
def auth_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"auth_required": True, "trusted_issuers_file": str(write_issuers(tmp_path))})


@pytest.fixture
def epic_keys(respx_mock: respx.MockRouter) -> respx.Route:
    return respx_mock.get(EPIC_JWKS_URL).respond(json=public_jwks(EPIC_KEY))


@pytest.fixture
def auth_client(auth_settings: Settings, knowledge, epic_keys) -> Iterator[TestClient]:
    with TestClient(create_app(auth_settings, knowledge), raise_server_exceptions=False) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(response, description: str) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="cds-services", error="invalid_token", error_description="')
    assert description in challenge
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"
    assert description in outcome["issue"][0]["diagnostics"]


# --- tokens from trusted EHRs pass ---------------------------------------------------------------------------


def test_sandbox_shaped_token_is_accepted_on_discovery_service_and_feedback(auth_client):
    discovery = auth_client.get("/cds-services", headers=bearer(sandbox_token(BASE + "/cds-services")))
    assert discovery.status_code == 200
    call = auth_client.post(SERVICE, json=BODY, headers=bearer(sandbox_token(SERVICE_URL)))
    assert call.status_code == 200
    assert call.json()["cards"][0]["summary"].startswith("Imatinib + rifampin")
    feedback = auth_client.post(SERVICE + "/feedback", json=FEEDBACK,
                                headers=bearer(sandbox_token(SERVICE_URL + "/feedback")))
    assert feedback.status_code == 200


def test_epic_shaped_rs384_token_with_sub_and_nbf_is_accepted_and_its_key_set_cached(auth_client, epic_keys):
    for _ in range(3):
        response = auth_client.post(SERVICE, json=BODY, headers=bearer(epic_token(SERVICE_URL)))
        assert response.status_code == 200, response.text
    assert epic_keys.call_count == 1


def test_token_with_audience_as_a_list_naming_the_url_is_accepted(auth_client):
    token = sandbox_token(SERVICE_URL, aud=[SERVICE_URL, "https://other.example.org"])
    assert auth_client.post(SERVICE, json=BODY, headers=bearer(token)).status_code == 200


# --- every attack is refused -----------------------------------------------------------------------------------


def _none_alg(aud: str) -> str:
    now = int(time.time())
    claims = {"iss": SANDBOX_ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return unsigned_parts({"alg": "none", "typ": "JWT", "kid": SANDBOX_KID}, claims) + "."


def _hs256_with_public_key_as_secret(aud: str) -> str:
    now = int(time.time())
    claims = {"iss": SANDBOX_ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    signing_input = unsigned_parts({"alg": "HS256", "typ": "JWT", "kid": SANDBOX_KID}, claims)
    secret = SANDBOX_KEY.as_pem(private=False)
    return signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def _signed_by_an_impostor(aud: str) -> str:
    impostor = ECKey.generate_key("P-384", parameters={"kid": SANDBOX_KID})
    return sandbox_token(aud, key=impostor)


def _rs384_header_on_the_sandbox_ec_kid(aud: str) -> str:
    return sandbox_token(aud, key=EPIC_KEY, alg="RS384")


def _es256_header_on_epic_rsa_kid(aud: str) -> str:
    ec = ECKey.generate_key("P-256")
    return sandbox_token(aud, key=ec, alg="ES256", iss=EPIC_ISS, header={"kid": EPIC_KID, "jku": None})


def _tampered_claims(aud: str) -> str:
    header, _claims, signature = sandbox_token(aud).split(".")
    now = int(time.time())
    forged = {"iss": SANDBOX_ISS, "aud": aud, "exp": now + 86400, "iat": now, "jti": "forged"}
    return header + "." + b64url(json.dumps(forged).encode()) + "." + signature


ATTACKS: dict[str, tuple[Callable[[str], str], str]] = {
    "none-alg": (_none_alg, "alg is not accepted"),
    "hs256-with-public-key-as-secret": (_hs256_with_public_key_as_secret, "alg is not accepted"),
    "rs384-header-on-ec-key": (_rs384_header_on_the_sandbox_ec_kid, "key named by kid is for another algorithm"),
    "es256-header-on-rsa-key": (_es256_header_on_epic_rsa_kid, "does not match the type of the key"),
    "bad-signature": (_signed_by_an_impostor, "signature does not verify"),
    "tampered-claims": (_tampered_claims, "signature does not verify"),
    "wrong-kid": (lambda aud: sandbox_token(aud, header={"kid": "someone-else"}), "No key with the JWT's kid"),
    "no-kid": (lambda aud: sandbox_token(aud, header={"kid": None}), "has no kid"),
    "unknown-iss": (lambda aud: sandbox_token(aud, iss="https://evil.example.com"), "not a trusted issuer"),
    "no-iss": (lambda aud: sandbox_token(aud, iss=None), "not a trusted issuer"),
    "jku-not-allow-listed": (
        lambda aud: sandbox_token(aud, header={"jku": "https://evil.example.com/jwks.json"}), "jku is not allow-listed"
    ),
    "wrong-aud": (lambda aud: sandbox_token("https://other.example.org/cds-services"), "aud must be the URL called"),
    "aud-of-another-service": (
        lambda aud: sandbox_token(BASE + "/cds-services/imatinib-order-sign"), "aud must be the URL called"
    ),
    "no-aud": (lambda aud: sandbox_token(aud, aud=None), "lacks required claims (aud)"),
    "expired": (lambda aud: sandbox_token(aud, exp=int(time.time()) - 120), "expired"),
    "no-exp": (lambda aud: sandbox_token(aud, exp=None), "lacks required claims (exp)"),
    "iat-in-future": (lambda aud: sandbox_token(aud, iat=int(time.time()) + 600), "iat is in the future"),
    "iat-too-old": (
        lambda aud: sandbox_token(aud, iat=int(time.time()) - 3600, exp=int(time.time()) + 300), "issued too long ago"
    ),
    "nbf-in-future": (lambda aud: epic_token(aud, nbf=int(time.time()) + 600), "not valid yet"),
    "no-jti": (lambda aud: sandbox_token(aud, jti=None), "lacks required claims (jti)"),
    "not-a-jwt": (lambda aud: "not-a-jwt", "not a signed JWT"),
    "garbage-segments": (lambda aud: "a.b.c", "not a signed JWT"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attack_is_refused_with_401_and_a_reason(auth_client, respx_mock, attack):
    make, description = ATTACKS[attack]
    elsewhere = respx_mock.route(host="evil.example.com").respond(json=public_jwks(SANDBOX_KEY))
    response = auth_client.post(SERVICE, json=BODY, headers=bearer(make(SERVICE_URL)))
    refused(response, description)
    assert not elsewhere.called


def test_replayed_jti_is_refused(auth_client):
    token = sandbox_token(SERVICE_URL)
    assert auth_client.post(SERVICE, json=BODY, headers=bearer(token)).status_code == 200
    refused(auth_client.post(SERVICE, json=BODY, headers=bearer(token)), "jti was already used")


def test_replay_is_caught_by_another_worker_sharing_the_database(auth_settings, knowledge, epic_keys):
    token = sandbox_token(SERVICE_URL)
    app_a, app_b = create_app(auth_settings, knowledge), create_app(auth_settings, knowledge)
    with TestClient(app_a) as worker_a, TestClient(app_b) as worker_b:
        assert worker_a.post(SERVICE, json=BODY, headers=bearer(token)).status_code == 200
        refused(worker_b.post(SERVICE, json=BODY, headers=bearer(token)), "jti was already used")


def test_missing_authorization_is_401_with_a_plain_bearer_challenge(auth_client):
    for response in (
        auth_client.get("/cds-services"),
        auth_client.post(SERVICE, json=BODY),
        auth_client.post(SERVICE + "/feedback", json=FEEDBACK),
        auth_client.post(SERVICE, json=BODY, headers={"Authorization": "Basic dXNlcjpwdw=="}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="cds-services"'
        assert "Authorization: Bearer <JWT>" in response.json()["issue"][0]["diagnostics"]


def test_refused_feedback_is_not_stored(auth_client, auth_settings):
    from cds_service.store import FeedbackStore

    response = auth_client.post(SERVICE + "/feedback", json=FEEDBACK, headers=bearer(sandbox_token(SERVICE_URL)))
    refused(response, "aud must be the URL called")
    assert FeedbackStore(auth_settings.database_url).count() == 0


def test_anonymous_discovery_can_be_allowed_on_its_own(auth_settings, knowledge, epic_keys):
    open_discovery = auth_settings.model_copy(update={"auth_anonymous_discovery": True})
    with TestClient(create_app(open_discovery, knowledge)) as client:
        assert client.get("/cds-services").status_code == 200
        assert client.post(SERVICE, json=BODY).status_code == 401


def test_audience_is_the_public_base_url_behind_a_proxy(auth_settings, knowledge, epic_keys):
    proxied = auth_settings.model_copy(update={"public_base_url": "https://cds.hospital.example/"})
    with TestClient(create_app(proxied, knowledge)) as client:
        public = sandbox_token("https://cds.hospital.example" + SERVICE)
        assert client.post(SERVICE, json=BODY, headers=bearer(public)).status_code == 200
        refused(client.post(SERVICE, json=BODY, headers=bearer(sandbox_token(SERVICE_URL))),
                "aud must be the URL called: https://cds.hospital.example" + SERVICE)


def test_cors_preflight_needs_no_token_and_a_401_still_carries_cors_headers(auth_client):
    origin = {"Origin": "https://sandbox.cds-hooks.org"}
    preflight = auth_client.options(SERVICE, headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    })
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    denied = auth_client.post(SERVICE, json=BODY, headers=origin)
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == "*"
    assert "www-authenticate" in denied.headers["access-control-expose-headers"].lower()


def test_unreachable_key_set_is_401_naming_the_problem(auth_client, respx_mock):
    respx_mock.get(EPIC_JWKS_URL).respond(500)
    refused(auth_client.post(SERVICE, json=BODY, headers=bearer(epic_token(SERVICE_URL))),
            "issuer's keys could not be obtained: the issuer's key set URL answered HTTP 500")


def test_rotated_key_is_found_by_refetching_the_key_set_but_made_up_kids_do_not_hammer_the_issuer(respx_mock):
    clock = [1000.0]
    route = respx_mock.get(EPIC_JWKS_URL).respond(json=public_jwks(EPIC_KEY))
    issuer = load_trusted_issuers_from([{"iss": EPIC_ISS, "jwks_url": EPIC_JWKS_URL}])[EPIC_ISS]
    rotated = RSAKey.generate_key(2048, parameters={"kid": "epic-2027", "use": "sig"})

    async def scenario() -> list:
        async with httpx.AsyncClient() as http:
            key_sets = KeySets(http, ttl=3600, refetch_interval=60, clock=lambda: clock[0])
            found = [await key_sets.key(issuer, EPIC_KID, None)]
            route.respond(json=public_jwks(EPIC_KEY, rotated))
            found.append(await key_sets.key(issuer, "epic-2027", None))  # too soon: no refetch
            found.append(await key_sets.key(issuer, "made-up", None))
            clock[0] += 61
            found.append(await key_sets.key(issuer, "epic-2027", None))  # rotated key found by one refetch
            route.respond(500)
            clock[0] += 3601
            found.append(await key_sets.key(issuer, EPIC_KID, None))  # issuer down: the last good set serves
            return found

    first, too_soon, made_up, after_rotation, stale = asyncio.run(scenario())
    assert first is not None and first.kid == EPIC_KID
    assert too_soon is None and made_up is None
    assert after_rotation is not None and after_rotation.kid == "epic-2027"
    assert stale is not None and stale.kid == EPIC_KID
    assert route.call_count == 3


def load_trusted_issuers_from(entries: list[dict]) -> dict:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(entries, handle)
    try:
        return load_trusted_issuers(handle.name)
    finally:
        Path(handle.name).unlink()


def test_auth_required_without_a_trusted_issuers_file_stops_start_up(settings, knowledge):
    with pytest.raises(TrustedIssuersError, match="CDS_TRUSTED_ISSUERS_FILE is not set"):
        create_app(settings.model_copy(update={"auth_required": True}), knowledge)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{]", "not valid JSON"),
        ("[]", "lists no issuer"),
        ('[{"iss": "https://a"}]', "exactly one of jwks_url or jwks"),
        ('[{"iss": "https://a", "jwks_url": "http://169.254.169.254/keys"}]', "link-local"),
        ('[{"iss": "https://a", "jwks_url": "http://keys.example.org/jwks"}]', "https only"),
        ('[{"iss": "https://a", "jwks": {"keys": []}, "jku": ["https://metadata.google.internal/x"]}]', "metadata"),
        ('[{"iss": "https://a", "jwks": {}}]', "'keys' list"),
    ],
)
def test_broken_trusted_issuers_file_is_refused_naming_the_problem(tmp_path, content, message):
    path = tmp_path / "issuers.json"
    path.write_text(content)
    with pytest.raises(TrustedIssuersError, match=message):
        load_trusted_issuers(str(path))


@pytest.mark.skipif(
    not SHARED_SANDBOX_JWKS.exists() and not os.environ.get("CI"),
    reason="needs ../shared beside the repository (always there in CI)",
)
def test_builtin_sandbox_preset_is_the_public_sandbox_key_set_and_jku():
    sandbox = load_trusted_issuers("builtin:sandbox")["https://sandbox.cds-hooks.org"]
    assert sandbox.allowed_jku == {"https://sandbox.cds-hooks.org/.well-known/jwks.json"}
    assert sandbox.jwks == json.loads(SHARED_SANDBOX_JWKS.read_text())


def test_sandbox_preset_refuses_a_token_claiming_the_sandbox_kid_but_signed_by_someone_else(settings, knowledge):
    preset = settings.model_copy(update={"auth_required": True, "trusted_issuers_file": "builtin:sandbox"})
    impostor = ECKey.generate_key("P-384")
    token = sandbox_token(SERVICE_URL, key=impostor, iss="https://sandbox.cds-hooks.org",
                          header={"kid": "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
                                  "jku": "https://sandbox.cds-hooks.org/.well-known/jwks.json"})
    with TestClient(create_app(preset, knowledge)) as client:
        refused(client.post(SERVICE, json=BODY, headers=bearer(token)), "signature does not verify")


def test_without_auth_required_calls_need_no_token(client):
    assert client.post(SERVICE, json=BODY).status_code == 200



def test_service_and_feedback_routes_read_the_authorization_header_as_fastapi_bearer_does(auth_client):
    lower = {"Authorization": f"bearer {sandbox_token(SERVICE_URL)}"}  # the scheme is case-insensitive
    assert auth_client.post(SERVICE, json=BODY, headers=lower).status_code == 200
    spaced = {"Authorization": f"Bearer  {sandbox_token(SERVICE_URL + '/feedback')} "}
    assert auth_client.post(SERVICE + "/feedback", json=FEEDBACK, headers=spaced).status_code == 200
    for empty in ("Bearer", "Bearer ", ""):
        response = auth_client.post(SERVICE, json=BODY, headers={"Authorization": empty})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="cds-services"'


def test_authentication_comes_before_everything_else_on_a_call(auth_client):
    for path in ("/cds-services/nope", "/cds-services/nope/feedback", SERVICE):
        response = auth_client.post(path, content=b"not json", headers={"Content-Type": "text/plain"})
        assert response.status_code == 401, path


def test_openapi_names_the_bearer_scheme_on_every_authenticated_operation(auth_client):
    document = auth_client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["CDS client JWT"]["scheme"] == "bearer"
    for path, method in (("/cds-services", "get"), ("/cds-services/imatinib-order-select", "post"),
                         ("/cds-services/imatinib-order-sign", "post"),
                         ("/cds-services/imatinib-medication-prescribe", "post"),
                         ("/cds-services/{service_id}/feedback", "post")):
        assert document["paths"][path][method]["security"] == [{"CDS client JWT": []}], path
