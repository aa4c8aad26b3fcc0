"""The OpenAPI document, describing the wire shapes the service really reads and writes.

The routes read their bodies themselves (size limit first, then content type, then JSON), so FastAPI cannot infer
request bodies; they are declared here from the same pydantic models that validate them, and every status a route
can answer is listed with its body. The two POST routes are plain Starlette routes, which FastAPI does not describe:
they are described by APIRoutes made for the document only. The fuzz tests hold the service to this document.
"""

from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from cds_service.auth import client_for_call
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


DISCOVERY = {"responses": {200: {"model": DiscoveryResponse, "description": "The services"}, **_errors(401, 503)}}
SERVICE_CALL = {
    "responses": {200: {"model": CardsResponse, "description": "Cards"}, **_errors(400, 401, 404, 412, 413, 415, 503)},
    "openapi_extra": _json_body(HookRequest),
}
FEEDBACK = {
    "responses": {200: {"model": FeedbackAcknowledgement, "description": "Stored"},
                  **_errors(400, 401, 404, 413, 415, 503)},
    "openapi_extra": _json_body(FeedbackRequest),
}


FEEDBACK_REPORT = {
    "responses": {200: {"model": FeedbackReport, "description": "The report (cds_service.store.reports)"},
                  **_errors(400, 401, 503)},
}


def plain_post_routes(auth_required: bool) -> dict[str, APIRoute]:
    """The service-call and feedback routes as FastAPI routes with the same path, parameters, authentication and
    answers, by path: what the document says about the plain routes the app answers them with. Never mounted, so
    they never answer a request; the names of these stand-in endpoints make the operation ids."""
    router = APIRouter(dependencies=[Depends(client_for_call)] if auth_required else [])

    async def call_service(service_id: str) -> None:  # described, never called
        pass

    async def feedback(service_id: str) -> None:  # described, never called
        pass

    router.add_api_route(SERVICE_CALL_PATH, call_service, methods=["POST"], summary="Call a CDS service",
                         **SERVICE_CALL)
    router.add_api_route(FEEDBACK_PATH, feedback, methods=["POST"], summary="Card feedback",
                         **FEEDBACK)
    return {route.path: route for route in router.routes if isinstance(route, APIRoute)}


def install_openapi(app: FastAPI, service_ids: tuple[str, ...], auth_required: bool) -> None:
    """Make `app.openapi()` describe the plain POST routes in their place, include the request-body models the
    routes declare by reference, and name the services that exist as the only values of `{service_id}`."""
    stand_ins = plain_post_routes(auth_required)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            routes = sorted(  # paths in alphabetical order, whatever order the app matches them in
                (route if isinstance(route, APIRoute) else stand_ins.get(getattr(route, "path", ""), route)
                 for route in app.routes),
                key=lambda route: getattr(route, "path", ""),
            )
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.get("422", {}).get("description") == "Validation Error":  # FastAPI's own
                        responses.pop("422")  # validation errors are answered 400
                    for parameter in operation.get("parameters", []):
                        if parameter["name"] == "service_id":
                            parameter["schema"] = {"type": "string", "enum": list(service_ids)}
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            for model in (HookRequest, FeedbackRequest, DosingRequest):
                schema = model.model_json_schema(ref_template=REF, mode="validation")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
