"""Verifying a CDS client's JWT as CDS Hooks 2.0 "Trusting CDS Clients" asks, with joserfc doing the cryptography.

Order matters: the unverified header and `iss` only choose the key; nothing in the token is believed before its
signature verifies, and its `jti` is recorded only after everything else passed (so forged tokens cannot burn it).
Every failure is an `AuthenticationFailed` whose message tells an integrator what to fix and echoes nothing from
the token.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyTypeError,
    JoseError,
    MissingClaimError,
)

from cds_service.auth.issuers import TrustedIssuer
from cds_service.auth.keysets import KeySets, KeySetUnavailable

# CDS Hooks recommends ES384 and RS384; ES256/RS256 are accepted for EHRs that sign with them. Never none or HS*.
ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
REPLAY_MARGIN_SECONDS = 60  # replicas' clocks differ a little: remember a jti a minute longer than needed


class AuthenticationFailed(Exception):
    """Why a token was refused, phrased for the integrator (it becomes `error_description`)."""


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    issuer: str
    jti: str
    subject: str | None = None
    tenant: str | None = None


ReplayCheck = Callable[[str, str, float], Awaitable[bool]]


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, unverified: used only to choose the issuer and key."""
    try:
        compact = jws.extract_compact(token.encode())
        claims = orjson.loads(compact.payload)
    except (JoseError, ValueError, orjson.JSONDecodeError):
        raise AuthenticationFailed("The bearer token is not a signed JWT (JWS compact serialization).") from None
    if not isinstance(claims, dict):
        raise AuthenticationFailed("The JWT's payload is not a JSON object of claims.")
    return dict(compact.protected), claims


class TokenVerifier:
    def __init__(
        self,
        issuers: dict[str, TrustedIssuer],
        key_sets: KeySets,
        first_use: ReplayCheck,
        *,
        leeway_seconds: int = 60,
        max_age_seconds: int = 300,
        clock: Callable[[], float] = time.time,
    ):
        self._issuers = issuers
        self._key_sets = key_sets
        self._first_use = first_use
        self._leeway = leeway_seconds
        self._max_age = max_age_seconds
        self._clock = clock

    async def verify(self, token: str, audience: str) -> VerifiedClient:
        header, unverified = _peek(token)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            accepted = ", ".join(ALLOWED_ALGORITHMS)
            raise AuthenticationFailed(f"The JWT's alg is not accepted; sign with one of {accepted}.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed("The JWT header has no kid naming the signing key.")
        issuer = self._issuers.get(unverified.get("iss")) if isinstance(unverified.get("iss"), str) else None
        if issuer is None:
            raise AuthenticationFailed("The JWT's iss is not a trusted issuer of this service.")
        jku = header.get("jku")
        if jku is not None and jku not in issuer.allowed_jku:
            raise AuthenticationFailed("The JWT's jku is not allow-listed for its issuer.")
        try:
            key = await self._key_sets.key(issuer, kid, jku)
        except KeySetUnavailable as exc:
            raise AuthenticationFailed(f"The issuer's keys could not be obtained: {exc}.") from None
        if key is None:
            raise AuthenticationFailed("No key with the JWT's kid is in the issuer's key set.")
        if key.alg not in (None, alg):
            raise AuthenticationFailed("The key named by kid is for another algorithm than the JWT's alg.")
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except InvalidKeyTypeError:
            raise AuthenticationFailed("The JWT's alg does not match the type of the key named by kid.") from None
        except BadSignatureError:
            raise AuthenticationFailed("The JWT's signature does not verify with the issuer's key.") from None
        except JoseError:
            raise AuthenticationFailed("The JWT could not be verified.") from None
        self._check_claims(claims, issuer.iss, audience)
        forget_after = min(claims["exp"], claims["iat"] + self._max_age) + self._leeway + REPLAY_MARGIN_SECONDS
        if not await self._first_use(issuer.iss, claims["jti"], forget_after):
            raise AuthenticationFailed("The JWT's jti was already used; send a new token with each request.")
        return VerifiedClient(
            issuer=issuer.iss,
            jti=claims["jti"],
            subject=claims.get("sub") if isinstance(claims.get("sub"), str) else None,
            tenant=claims.get("tenant") if isinstance(claims.get("tenant"), str) else None,
        )

    def _check_claims(self, claims: dict[str, Any], iss: str, audience: str) -> None:
        now = int(self._clock())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self._leeway,
            iss={"essential": True, "value": iss},
            aud={"essential": True, "value": audience},
            **{claim: {"essential": True} for claim in ("exp", "iat", "jti")},
        )
        try:
            registry.validate(claims)
        except MissingClaimError as exc:
            raise AuthenticationFailed(
                f"The JWT lacks required claims ({exc.claim}); it needs {', '.join(REQUIRED_CLAIMS)}."
            ) from None
        except ExpiredTokenError:
            raise AuthenticationFailed("The JWT has expired (exp).") from None
        except InvalidClaimError as exc:
            raise AuthenticationFailed(_invalid_claim(exc.claim, audience)) from None
        except JoseError:
            raise AuthenticationFailed("The JWT's claims are invalid.") from None
        if claims["iat"] < now - self._max_age - self._leeway:
            raise AuthenticationFailed(f"The JWT was issued too long ago (iat older than {self._max_age} s).")


def _invalid_claim(claim: str, audience: str) -> str:
    if claim == "aud":
        return f"The JWT's aud must be the URL called: {audience}"
    if claim == "iat":
        return "The JWT's iat is in the future or not a NumericDate."
    if claim == "nbf":
        return "The JWT is not valid yet (nbf)."
    return f"The JWT's {claim} claim is invalid."
