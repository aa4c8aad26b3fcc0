"""Verifying a CDS client's JWT as CDS Hooks 2.0 "Trusting CDS Clients" asks, with joserfc doing the cryptography.

Order matters: the unverified header and `iss` only choose the key; nothing in the token is believed before its
signature verifies, and its `jti` is recorded only after everything else passed (so forged tokens cannot burn it).
Every failure is an `AuthenticationFailed` whose message tells an integrator what to fix and echoes nothing from
the token.
"""

import time
from base64 import urlsafe_b64decode
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidHeaderValueError,
    InvalidKeyTypeError,
    JoseError,
    MissingClaimError,
)
from joserfc.jws import JWSRegistry

from cds_service.auth.issuers import TrustedIssuer
from cds_service.auth.keysets import KeySets, KeySetUnavailable

# CDS Hooks recommends ES384 and RS384; ES256/RS256 are accepted for EHRs that sign with them. Never none or HS*.
ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
REPLAY_MARGIN_SECONDS = 60  # replicas' clocks differ a little: remember a jti a minute longer than needed
# JOSE's registered header parameters are type-checked (a `jku` array, a `kid` number, a `jwk` string are refused
# naming the parameter); unregistered ones are ignored, as RFC 7515 section 4 asks of parameters not understood.
HEADER_RULES = JWSRegistry(algorithms=ALLOWED_ALGORITHMS, strict_check_header=False)
# Extensions this service does not implement: RFC 7515 says a token marking any as critical must be refused, and
# RFC 7797's b64 only means something as such an extension.
UNSUPPORTED_HEADERS = ("crit", "b64")
NUMERIC_DATE_CLAIMS = ("exp", "iat", "nbf")


class AuthenticationFailed(Exception):
    """Why a token was refused, phrased for the integrator (it becomes `error_description`)."""


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    issuer: str
    jti: str
    subject: str | None = None
    tenant: str | None = None


ReplayCheck = Callable[[str, str, float], Awaitable[bool]]


def _json_type(value: object) -> str:
    """The JSON name of a value's type, for messages that say what was sent instead."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    names: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return names.get(type(value), "a number")


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, unverified and type-checked: used only to choose the issuer and key.

    Every header parameter and claim the service or JOSE reads is checked for its JSON type here, before any of
    them is used, so a wrongly typed one is a 401 naming it rather than a TypeError deep in a comparison.
    """
    not_a_jws = AuthenticationFailed("The bearer token is not a signed JWT (JWS compact serialization).")
    parts = token.split(".")
    if len(parts) != 3:
        raise not_a_jws
    try:
        header = orjson.loads(urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise not_a_jws from None
    if not isinstance(header, dict):
        raise AuthenticationFailed("The JWT's header is not a JSON object.")
    for name in UNSUPPORTED_HEADERS:
        if name in header:
            raise AuthenticationFailed(f"The JWT header's {name} names a JWS extension this service does not support.")
    try:
        HEADER_RULES.check_header(header)
    except InvalidHeaderValueError as exc:
        name = next((key for key in header if exc.description.startswith(f"'{key}'")), "a parameter")
        raise AuthenticationFailed(
            f"The JWT header's {name} is invalid ({exc.description.split(' in header ', 1)[-1]}, not "
            f"{_json_type(header.get(name))})."
        ) from None
    except JoseError as exc:
        raise AuthenticationFailed(f"The JWT header is invalid: {exc.description}.") from None
    try:
        claims = orjson.loads(jws.extract_compact(token.encode()).payload)
    except (JoseError, ValueError, orjson.JSONDecodeError):
        raise not_a_jws from None
    if not isinstance(claims, dict):
        raise AuthenticationFailed("The JWT's payload is not a JSON object of claims.")
    for name in NUMERIC_DATE_CLAIMS:  # JSON true is not a date, though Python's bool is an int
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], int | float)):
            raise AuthenticationFailed(f"The JWT's {name} must be a NumericDate (a number), not "
                                       f"{_json_type(claims[name])}.")
    for name in ("iss", "jti", "sub"):
        if name in claims and not isinstance(claims[name], str):
            raise AuthenticationFailed(f"The JWT's {name} must be a string, not {_json_type(claims[name])}.")
    aud = claims.get("aud")
    if "aud" in claims and not (isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str)
                                                                                        for a in aud))):
        raise AuthenticationFailed(f"The JWT's aud must be a string or an array of strings, not {_json_type(aud)}.")
    return header, claims


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
        claimed_iss = unverified.get("iss")
        issuer = self._issuers.get(claimed_iss) if isinstance(claimed_iss, str) else None
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
            claims = jwt.decode(token, key, algorithms=[alg], registry=HEADER_RULES).claims
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
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
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
