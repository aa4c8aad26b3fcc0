"""The OpenAPI document, describing the wire shapes the service really reads and writes.

The routes read their bodies themselves (size limit first, then content type, then JSON), so FastAPI cannot infer
request bodies; they are declared here from the same pydantic models that validate them, and every status a route
can answer is listed with its body. The two POST routes are plain Starlette routes, which FastAPI does not describe:
they are described by APIRoutes made for the document only. The fuzz tests hold the service to this document.
"""

import copy
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from cds_service.auth import client_for_call
from cds_service.hook_context import Hook
from cds_service.pk.dosing import DosingRequest
from cds_service.protocol.cards import CardsResponse
from cds_service.protocol.feedback import FeedbackRequest
from cds_service.protocol.request import HookRequest

REF = "#/components/schemas/{model}"
# The two POST routes the app answers with plain Starlette routes, by these same paths.
SERVICE_CALL_PATH = "/cds-services/{service_id}"
FEEDBACK_PATH = "/cds-services/{service_id}/feedback"


class OutcomeIssue(BaseModel):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str
    diagnostics: str


class OperationOutcome(BaseModel):
    """Every error: a FHIR OperationOutcome whose `diagnostics` says what is wrong."""

    model_config = ConfigDict(title="OperationOutcome")

    resourceType: Literal["OperationOutcome"]
    issue: list[OutcomeIssue] = Field(min_length=1)


class DiscoveredService(BaseModel):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str]


class DiscoveryResponse(BaseModel):
    services: list[DiscoveredService] = Field(min_length=1)


class FeedbackAcknowledgement(BaseModel):
    received: int = Field(ge=1)
    stored: int = Field(ge=0, description="How many were new (the same feedback sent again is stored once).")


class CardCounts(BaseModel):
    shown: int = Field(ge=0)
    accepted: int = Field(ge=0)
    overridden: int = Field(ge=0)
    acceptance_rate: float | None = Field(ge=0, le=1, description="accepted / shown; null when none was shown")


class WeekReport(CardCounts):
    week: str = Field(description="ISO week, e.g. 2026-W49 (UTC)")


class DayReport(BaseModel):
    day: str = Field(description="YYYY-MM-DD (UTC)")
    shown: int = Field(ge=0)


class TopicReport(CardCounts):
    topic: str = Field(description="The cards' `source.topic.code`; `(unknown)` for feedback on unrecorded cards")
    overridden_by_reason: dict[str, int] = Field(description="override reason code -> cards")
    shown_by_indicator: dict[str, int]
    weeks: list[WeekReport]
    days: list[DayReport] = Field(description="cards shown per UTC day")


class FeedbackReport(BaseModel):
    since: str | None
    service_id: str | None
    topics: list[TopicReport]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "Malformed request; `diagnostics` says what is wrong.",
        401: "Client authentication failed (CDS_AUTH_REQUIRED); see the WWW-Authenticate header.",
        404: "No such service.",
        412: "Required FHIR data could not be obtained (CDS Hooks).",
        413: "The body is too large or holds too many Bundle entries.",
        415: "The body is not JSON.",
        503: "The database failed; nothing was acknowledged, the client may retry.",
    }
    return {code: {"model": OperationOutcome, "description": meaning[code]} for code in codes}


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        media: {"schema": {"$ref": REF.format(model=model.__name__)}}
        for media in ("application/json", "application/fhir+json")
    }}}


DISCOVERY: dict[str, Any] = {
    "responses": {200: {"model": DiscoveryResponse, "description": "The services"}, **_errors(401, 503)},
}


def _request_name(hook: Hook) -> str:
    """`order-select` -> `OrderSelectRequest`: the schema of one service's request body."""
    return "".join(part.capitalize() for part in hook.name.split("-")) + "Request"


def _service_call(hook: Hook) -> dict[str, Any]:
    body = _json_body(HookRequest)
    for media in body["requestBody"]["content"].values():
        media["schema"] = {"$ref": REF.format(model=_request_name(hook))}
    return {
        "responses": {200: {"model": CardsResponse, "description": "Cards"},
                      **_errors(400, 401, 412, 413, 415, 503)},
        "openapi_extra": body,
    }


def hook_request_schemas(hooks: tuple[Hook, ...]) -> dict[str, dict[str, Any]]:
    """One request schema per service: the CDS Hooks request as `HookRequest` reads it, with `hook` fixed to the
    service's hook and `context` typed as that hook's reader accepts it (`Hook.context_model`), so a generated
    request can reach the rules. What the model's validator checks beyond its fields is said here too."""
    base = HookRequest.model_json_schema(ref_template=REF, mode="validation")
    schemas: dict[str, dict[str, Any]] = dict(base.pop("$defs", {}))
    for hook in hooks:
        request = copy.deepcopy(base)
        properties = request["properties"]
        properties["hook"] = {"type": "string", "const": hook.name, "title": "Hook"}
        context = hook.context_model
        if context is not None:
            context_schema = context.model_json_schema(ref_template=REF, mode="validation")
            schemas.update(context_schema.pop("$defs", {}))
            schemas[context.__name__] = context_schema
            properties["context"] = {"$ref": REF.format(model=context.__name__)}
        properties["fhirServer"] = {"anyOf": [{"type": "string", "pattern": "^https?://"}, {"type": "null"}],
                                    "title": "Fhirserver", "description": "An absolute http(s) URL."}
        # fhirAuthorization only together with fhirServer (HookRequest's validator)
        request["if"] = {"properties": {"fhirAuthorization": {"type": "object"}}, "required": ["fhirAuthorization"]}
        request["then"] = {"properties": {"fhirServer": {"type": "string"}}, "required": ["fhirServer"]}
        request["title"] = _request_name(hook)
        schemas[_request_name(hook)] = request
    return schemas


FEEDBACK: dict[str, Any] = {
    "responses": {200: {"model": FeedbackAcknowledgement, "description": "Stored"},
                  **_errors(400, 401, 404, 413, 415, 503)},
    "openapi_extra": _json_body(FeedbackRequest),
}


FEEDBACK_REPORT: dict[str, Any] = {
    "responses": {200: {"model": FeedbackReport, "description": "The report (cds_service.store.reports)"},
                  **_errors(400, 401, 503)},
}


def plain_post_routes(hooks: tuple[Hook, ...], auth_required: bool) -> dict[str, list[APIRoute]]:
    """The service-call and feedback routes as FastAPI routes with the same authentication and answers, by the
    path of the plain route they stand for: what the document says about the routes the app answers with. The
    service-call route is described once per service, at the service's own path, since each answers one hook
    with its own context. Never mounted, so they never answer a request; their names make the operation ids."""
    router = APIRouter(dependencies=[Depends(client_for_call)] if auth_required else [])

    for hook in hooks:
        async def call_service() -> None:  # described, never called
            pass

        call_service.__name__ = "call_" + hook.service_id.replace("-", "_")
        router.add_api_route(SERVICE_CALL_PATH.replace("{service_id}", hook.service_id), call_service,
                             methods=["POST"], summary=hook.title, description=hook.description,
                             **_service_call(hook))

    async def feedback(service_id: str) -> None:  # described, never called
        pass

    router.add_api_route(FEEDBACK_PATH, feedback, methods=["POST"], summary="Card feedback", **FEEDBACK)
    stand_ins: dict[str, list[APIRoute]] = {}
    for route in router.routes:
        if isinstance(route, APIRoute):
            path = FEEDBACK_PATH if route.path == FEEDBACK_PATH else SERVICE_CALL_PATH
            stand_ins.setdefault(path, []).append(route)
    return stand_ins


def install_openapi(app: FastAPI, hooks: tuple[Hook, ...], auth_required: bool) -> None:
    """Make `app.openapi()` describe the plain POST routes in their place, include the request-body models the
    routes declare by reference, and name the services that exist as the only values of `{service_id}`."""
    stand_ins = plain_post_routes(hooks, auth_required)
    service_ids = [hook.service_id for hook in hooks]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            described = [
                stand_in
                for route in app.routes
                for stand_in in (
                    [route] if isinstance(route, APIRoute) else stand_ins.get(getattr(route, "path", ""), [route])
                )
            ]
            routes = sorted(described, key=lambda route: getattr(route, "path", ""))  # alphabetical, not match order
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.get("422", {}).get("description") == "Validation Error":  # FastAPI's own
                        responses.pop("422")  # validation errors are answered 400
                    for parameter in operation.get("parameters", []):
                        if parameter["name"] == "service_id":
                            parameter["schema"] = {"type": "string", "enum": service_ids}
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            schemas.update(hook_request_schemas(hooks))
            for model in (FeedbackRequest, DosingRequest):
                schema = model.model_json_schema(ref_template=REF, mode="validation")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
