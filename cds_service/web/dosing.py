"""POST /dosing/imatinib: model-informed imatinib dosing (population PK, MAP fit of measured levels) as an API,
authenticated like the hook calls, answered by the same computation the cards and the command line use."""

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from cds_service.auth import client_for_call
from cds_service.errors import PayloadTooLarge, UnsupportedMediaType, operation_outcome
from cds_service.knowledge import Knowledge
from cds_service.openapi import REF, OperationOutcome
from cds_service.outbound import collect_capped
from cds_service.pk.dosing import DosingAnswer, DosingInputError, DosingRequest, evaluate, parse_request
from cds_service.settings import Settings

DOSING_PATH = "/dosing/imatinib"
JSON = "application/json"
ERRORS = {
    400: "The body is not a JSON object.",
    401: "Client authentication failed (CDS_AUTH_REQUIRED); see the WWW-Authenticate header.",
    413: "The body is too large.",
    415: "The body is not JSON.",
    422: "A field is wrong, or the patient is outside the model's hard bound (age 20-88); `diagnostics` names it.",
}


def answer(body: bytes, knowledge: Knowledge) -> tuple[int, dict]:
    """(status, JSON) for a dosing request: the answer, or an OperationOutcome naming the field."""
    try:
        result = evaluate(parse_request(body), knowledge)
    except DosingInputError as exc:
        return exc.status, operation_outcome(f"{exc.field}: {exc.message}", "invalid")
    return 200, result.model_dump(mode="json")


def dosing_router(knowledge: Knowledge, settings: Settings) -> APIRouter:
    router = APIRouter(dependencies=[Depends(client_for_call)] if settings.auth_required else [])

    async def dose_imatinib(request: Request) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media and media != JSON and not media.endswith("+json"):
            raise UnsupportedMediaType(f"Content-Type must be application/json, not '{media}'.")
        body = await collect_capped(request.stream(), request.headers.get("content-length"), settings.max_body_bytes)
        if body is None:
            raise PayloadTooLarge(f"The request body is larger than the {settings.max_body_bytes}-byte limit.")
        status, content = answer(body, knowledge)
        return Response(orjson.dumps(content), status_code=status, media_type=JSON)

    router.add_api_route(
        DOSING_PATH, dose_imatinib, methods=["POST"], summary="Model-informed imatinib dose (population PK, MAP)",
        description=("Tucuxi's imatinib model (gotta2012): a priori and, with levels, MAP Bayesian clearance, volume "
                     "and steady-state trough of the given regimen; the proposal among the label's regimens "
                     "(100-600 mg once daily, 400 mg every 12 h; never a lower daily dose) and every candidate."),
        responses={200: {"model": DosingAnswer, "description": "Estimates and the proposal"},
                   **{code: {"model": OperationOutcome, "description": text} for code, text in ERRORS.items()}},
        openapi_extra={"requestBody": {"required": True, "content": {
            JSON: {"schema": {"$ref": REF.format(model=DosingRequest.__name__)}}}}},
    )
    return router
