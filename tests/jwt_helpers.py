"""Keys and client JWTs made by the tests: a sandbox-like EHR (ES384, inline key set, jku) and an Epic-like one
(RS384 with `sub` and `nbf`, key set fetched from its URL)."""

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

SANDBOX_ISS = "https://sandbox.example.org"
SANDBOX_JKU = "https://sandbox.example.org/.well-known/jwks.json"
SANDBOX_KID = "sandbox-es384"
EPIC_ISS = "https://epic.example.org/interconnect"
EPIC_JWKS_URL = "https://epic.example.org/interconnect/api/epic/2019/Security/Open/PublicKeys/jwks"
EPIC_KID = "epic-rs384"

SANDBOX_KEY = ECKey.generate_key("P-384", parameters={"kid": SANDBOX_KID, "use": "sig", "alg": "ES384"})
EPIC_KEY = RSAKey.generate_key(2048, parameters={"kid": EPIC_KID, "use": "sig"})


def public_jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def write_issuers(directory: Path) -> Path:
    path = directory / "trusted-issuers.json"
    path.write_text(json.dumps([
        {"iss": SANDBOX_ISS, "jwks": public_jwks(SANDBOX_KEY), "jku": [SANDBOX_JKU]},
        {"iss": EPIC_ISS, "jwks_url": EPIC_JWKS_URL},
    ]))
    return path


def sandbox_token(aud: str, /, *, key: Any = SANDBOX_KEY, alg: str = "ES384", header: dict | None = None,
                  **claims: Any) -> str:
    """Shaped like the public sandbox's: ES384, kid, jku, typ JWT, exp 5 minutes after iat."""
    now = int(time.time())
    body = {"iss": SANDBOX_ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    head = {"alg": alg, "typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU, **(header or {})}
    return jwt.encode({k: v for k, v in head.items() if v is not None},
                      {k: v for k, v in body.items() if v is not None}, key, algorithms=[alg])


def epic_token(aud: str, /, **claims: Any) -> str:
    """Shaped like Epic's: RS384, `sub` and `nbf`, no jku (the key set is configured by URL)."""
    now = int(time.time())
    body = {"iss": EPIC_ISS, "sub": "epic-client-id", "aud": aud, "exp": now + 300, "nbf": now, "iat": now,
            "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({"alg": "RS384", "typ": "JWT", "kid": EPIC_KID}, body, EPIC_KEY, algorithms=["RS384"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())


def signed_as_given(header: dict[str, Any], claims: dict[str, Any], key: Any = SANDBOX_KEY, alg: str = "ES384") -> str:
    """A JWT with exactly this header and these claims, validly signed: joserfc's own encoder refuses a header
    of the wrong type, but an attacker's is not so polite."""
    from joserfc.jws import JWSRegistry

    signing_input = unsigned_parts(header, claims)
    signature = JWSRegistry.algorithms[alg].sign(signing_input.encode(), key)
    return signing_input + "." + b64url(signature)
