"""POST /dosing/imatinib: model-informed imatinib dosing (population PK, MAP fit of measured levels) as an API,
authenticated like the hook calls, answered by the same computation the cards and the command line use."""

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.routing import Route

from cds_service.auth import client_for_call
from cds_service.errors import PayloadTooLarge, UnsupportedMediaType, operation_outcome
from cds_service.knowledge import Knowledge
from cds_service.openapi import REF, OperationOutcome
from cds_service.outbound import collect_capped
from cds_service.pk.dosing import DosingAnswer, DosingRequest, evaluate, parse_request
from cds_service.pk.estimate import DosingInputError, ModelRequest
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


def answer(body: bytes, knowledge: Knowledge) -> tuple[int, dict[str, Any]]:
    """(status, JSON) for a dosing request: the answer, or an OperationOutcome naming the field."""
    try:
        result = evaluate(parse_request(body), knowledge)
    except DosingInputError as exc:
        return exc.status, operation_outcome(f"{exc.field}: {exc.message}", "invalid")
    return 200, result.to_json_dict()


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


def dosing_routes(knowledge: Knowledge, settings: Settings) -> APIRouter:
    """The dosing API (authenticated like the hook calls when CDS_AUTH_REQUIRED) and the page (a browser has no
    EHR token: the page is public, carries no patient identity, and calls the API from the clinician's browser)."""
    router = dosing_router(knowledge, settings)
    router.routes.extend(page_routes(knowledge))
    return router


# --- the concentration-time page ---------------------------------------------------------------------------------

PAGE_PATH = "/dosing/imatinib/page"
# The page's requests are dated from this epoch: the link carries times relative to the first dose, never a date.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def page_query(request: ModelRequest) -> str:
    """The page's query for a model request: model inputs, relative times and values only (no name, identifier,
    birth date or calendar date)."""
    first = request.regimen.first_dose
    first = first.replace(tzinfo=UTC) if first.tzinfo is None else first
    covariates = request.covariates
    params: list[tuple[str, str]] = []
    for key, value in (("w", covariates.weight_kg), ("age", covariates.age_years), ("sex", covariates.sex),
                       ("ind", covariates.indication)):
        if value is not None:
            params.append((key, f"{value:g}" if isinstance(value, float | int) else str(value)))
    regimen = request.regimen
    params += [("dose", f"{regimen.dose_mg:g}"), ("tau", str(regimen.interval_hours)),
               ("n", str(regimen.doses_given or 1))]
    for level in request.levels:
        at = level.time.replace(tzinfo=UTC) if level.time.tzinfo is None else level.time
        params += [("lt", f"{(at - first).total_seconds() / 3600:.2f}"), ("lv", f"{level.value:g}"),
                   ("lu", level.unit)]
    if request.inducer:
        params.append(("inducer", request.inducer))
    # What urlencode gives, without quoting the numbers and plain words that are nearly all of it (a call's
    # links are built on every answer).
    return "&".join(f"{key}={value if _PLAIN.fullmatch(value) else quote_plus(value)}" for key, value in params)


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")


def request_from_query(query: dict[str, list[str]]) -> DosingRequest:
    """The model request a page link describes, dated from EPOCH; every problem named by its parameter."""
    def one(key: str) -> str | None:
        values = query.get(key)
        return values[0] if values else None

    def number(key: str) -> float | None:
        raw = one(key)
        if raw is None or raw == "":
            return None
        try:
            value = float(raw)
        except ValueError:
            raise DosingInputError(key, f"{raw!r} is not a number") from None
        if not math.isfinite(value):
            raise DosingInputError(key, f"{raw!r} is not a number")
        return value

    times, values, units = query.get("lt", []), query.get("lv", []), query.get("lu", [])
    if len(times) != len(values):
        raise DosingInputError("lt", "every level needs a time (lt) and a value (lv)")
    levels: list[dict[str, Any]] = []
    body: dict[str, Any] = {
        "covariates": {k: v for k, v in (("weight_kg", number("w")), ("age_years", number("age")),
                                         ("sex", one("sex")), ("indication", one("ind"))) if v is not None},
        "regimen": {"dose_mg": number("dose"), "interval_hours": int(number("tau") or 0),
                    "first_dose": EPOCH.isoformat(), "doses_given": int(number("n") or 1)},
        "levels": levels,
    }
    for index, (hours, value) in enumerate(zip(times, values, strict=True)):
        try:
            at = EPOCH + timedelta(hours=float(hours))
            amount = float(value)
        except (ValueError, OverflowError):
            raise DosingInputError(f"lt/lv[{index}]", "a level time or value is not a number") from None
        levels.append({"time": at.isoformat(), "value": amount,
                               "unit": units[index] if index < len(units) else "ng/mL"})
    if one("inducer"):
        body["inducer"] = one("inducer")
    return parse_request(orjson.dumps(body))


def page_routes(knowledge: Knowledge) -> list[Route]:
    """GET the concentration-time page: the curve of the current and a proposed regimen, the target window and the
    measured levels, drawn by the service's own Chart.js from the dosing API's answers."""
    from cds_service.web.pages import PAGE_HEADERS, templates

    env = templates()
    env.globals["knowledge_version"] = knowledge.version
    spec = knowledge.pk

    async def page(request: Request) -> HTMLResponse:
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        try:
            dosing = request_from_query(query)
            answer = evaluate(dosing, knowledge)
        except DosingInputError as exc:
            html = env.get_template("error.html").render(
                title="Not a regimen the model can draw", message=f"{exc.field}: {exc.message}")
            return HTMLResponse(html, status_code=400, headers=PAGE_HEADERS)
        data = {
            "request": orjson.loads(dosing.model_dump_json()),
            "ka": spec.absorption.ka_per_h, "bioavailability": spec.absorption.bioavailability,
            "window": [spec.proposal.window_low_fraction, spec.proposal.window_high_fraction],
            "doses": list(range(100, 900, 100)),
            "api": DOSING_PATH,
            "proposal": {"dose_mg": answer.proposal.dose_mg, "interval_hours": answer.proposal.interval_hours},
        }
        html = env.get_template("dosing.html").render(
            title="Imatinib concentration-time", active="dosing", answer=answer, request=dosing,
            data=orjson.dumps(data).decode(), model_id=spec.model_id,
            sources=[knowledge.sources[s] for s in spec.sources])
        return HTMLResponse(html, headers=PAGE_HEADERS)

    return [Route(PAGE_PATH, page, methods=["GET"])]
