"""The body of a CDS Hooks service call, checked just enough to route it: hook-specific context is read in `hooks`."""

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from cds_service.errors import BadRequest
from cds_service.fhir import with_uri_systems
from cds_service.protocol.limits import JsonLimits, check_json_limits


class FhirAuthorization(BaseModel):
    """An OAuth token the EHR lends for this one call. SecretStr keeps it out of reprs, logs and tracebacks."""

    model_config = ConfigDict(extra="allow")

    access_token: SecretStr
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


class HookRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None

    @model_validator(mode="after")
    def _server_with_authorization(self) -> "HookRequest":
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirAuthorization was sent without fhirServer")
        if self.fhirServer is not None and not self.fhirServer.startswith(("http://", "https://")):
            raise ValueError("fhirServer must be an absolute http(s) URL")
        return self

    @property
    def bearer_token(self) -> str | None:
        if self.fhirAuthorization is None:
            return None
        return self.fhirAuthorization.access_token.get_secret_value()


def parse_json_object(body: bytes, what: str = "request body", limits: JsonLimits | None = None) -> dict[str, Any]:
    """Decode a JSON object, turning every way it can fail into a message the integrator can act on."""
    if not body.strip():
        raise BadRequest(f"The {what} is empty; expected a JSON object.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The {what} is not valid JSON (or not UTF-8): {exc}.") from None
    if not isinstance(data, dict):
        raise BadRequest(f"The {what} must be a JSON object, not {type(data).__name__}.")
    check_json_limits(data, limits or JsonLimits(), what, body)
    return data


def describe_validation_error(exc: ValidationError) -> str:
    """One readable line per problem, e.g. "context: Field required"."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def parse_hook_request(body: bytes, limits: JsonLimits | None = None) -> HookRequest:
    data = with_uri_systems(parse_json_object(body, limits=limits), body)
    try:
        return HookRequest.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(f"Invalid CDS Hooks request: {describe_validation_error(exc)}") from None
