"""The HTTP side of client authentication: the Bearer header, the audience the caller must have named, the 401.

A FastAPI dependency on discovery; called explicitly (`authenticate_call`) by the service and feedback routes,
which are plain Starlette routes for speed. CORS preflights never reach a route (the CORS middleware answers
them), so they stay unauthenticated, and 401s pass back through that middleware with the CORS headers a browser
client needs to read them.
"""

import logging
from typing import Annotated

import httpx
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cds_service import metrics
from cds_service.auth.issuers import trusted_issuers_for
from cds_service.auth.keysets import KeySets
from cds_service.auth.replay import ReplayGuard
from cds_service.auth.verify import AuthenticationFailed, TokenVerifier, VerifiedClient
from cds_service.errors import ServiceUnavailable, Unauthenticated
from cds_service.settings import Settings

log = logging.getLogger("cds_service.auth")

REALM = "cds-services"
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="CDS client JWT",
    description="CDS Hooks 2.0 client authentication: a JWT signed by a trusted EHR, `aud` = the URL called.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


def _quoted(text: str) -> str:
    """RFC 6750 allows only printable ASCII without `"` and `\\` in error_description."""
    return "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)


def challenge(description: str | None) -> str:
    if description is None:  # no credentials at all: RFC 6750 says no error code
        return f'Bearer realm="{REALM}"'
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{_quoted(description)}"'


class ClientAuth:
    def __init__(self, verifier: TokenVerifier, *, public_base_url: str | None, anonymous_discovery: bool):
        self.verifier = verifier
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.anonymous_discovery = anonymous_discovery

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient, engine: Engine) -> "ClientAuth":
        guard = ReplayGuard(engine)

        async def first_use(issuer: str, jti: str, forget_after: float) -> bool:
            try:
                return await run_in_threadpool(guard.first_use, issuer, jti, forget_after)
            except SQLAlchemyError as exc:
                log.error("token replay check failed", extra={"error": type(exc).__name__})
                raise ServiceUnavailable("The service could not check the token against replays; retry.") from None

        key_sets = KeySets(http, timeout=settings.jwks_timeout_seconds, ttl=settings.jwks_cache_seconds)
        verifier = TokenVerifier(
            trusted_issuers_for(settings.trusted_issuers_file),
            key_sets,
            first_use,
            leeway_seconds=settings.jwt_leeway_seconds,
            max_age_seconds=settings.jwt_max_age_seconds,
        )
        return cls(verifier, public_base_url=settings.public_base_url,
                   anonymous_discovery=settings.auth_anonymous_discovery)

    def audience(self, request: Request) -> str:
        """The URL the client called: behind a proxy, CDS_PUBLIC_BASE_URL plus the path."""
        if self.public_base_url:
            return self.public_base_url + request.url.path
        return str(request.url.replace(query="", fragment=""))

    async def authenticate(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None, *, discovery: bool
    ) -> VerifiedClient | None:
        if credentials is None:
            if discovery and self.anonymous_discovery:
                return None
            metrics.jwt_rejected("missing_token")
            raise Unauthenticated(
                "This service requires client authentication: send Authorization: Bearer <JWT> (CDS Hooks 2.0).",
                challenge=challenge(None),
            )
        try:
            return await self.verifier.verify(credentials.credentials, self.audience(request))
        except AuthenticationFailed as exc:
            reason = str(exc)  # logged with the 401, as every refusal is (app.log_refusal)
            metrics.jwt_rejected(reason)
            raise Unauthenticated(reason, challenge=challenge(reason)) from None


async def client_for_call(request: Request, credentials: Credentials) -> VerifiedClient | None:
    """The authenticated client of a service or feedback call (None when authentication is off)."""
    auth: ClientAuth | None = getattr(request.app.state, "client_auth", None)
    return None if auth is None else await auth.authenticate(request, credentials, discovery=False)


async def authenticate_call(request: Request) -> VerifiedClient | None:
    """`client_for_call` for a plain Starlette route, where FastAPI solves no dependencies: the same `BEARER`
    reads the Authorization header exactly as the `Credentials` dependency does, then the same check runs."""
    return await client_for_call(request, await BEARER(request))


async def client_for_discovery(request: Request, credentials: Credentials) -> VerifiedClient | None:
    auth: ClientAuth | None = getattr(request.app.state, "client_auth", None)
    return None if auth is None else await auth.authenticate(request, credentials, discovery=True)
