"""The HTTP layer: discovery, service calls, feedback and health, kept thin over the engine and the store."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx
import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds_service import __version__, metrics
from cds_service.auth import (
    ClientAuth,
    authenticate_call,
    client_for_call,
    client_for_discovery,
    trusted_issuers_for,
)
from cds_service.engine import Engine
from cds_service.errors import (
    BadRequest,
    CDSError,
    PayloadTooLarge,
    ServiceUnavailable,
    UnknownService,
    UnsupportedMediaType,
    operation_outcome,
)
from cds_service.gather.prefetch import PREFETCH_TEMPLATES
from cds_service.hook_context import Hook
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.openapi import DISCOVERY, FEEDBACK_PATH, FEEDBACK_REPORT, SERVICE_CALL_PATH, install_openapi
from cds_service.outbound import collect_capped
from cds_service.protocol.feedback import parse_feedback
from cds_service.protocol.limits import JsonLimits
from cds_service.protocol.request import parse_hook_request
from cds_service.settings import Settings, get_settings, prepare_default_database
from cds_service.store import FeedbackStore, SchemaError, migrate
from cds_service.store.cards_shown import CardsShownRecorder
from cds_service.store.feedback import clear_comments_periodically
from cds_service.store.reports import feedback_report
from cds_service.web.dosing import dosing_routes
from cds_service.web.ops import ops_router
from cds_service.web.pages import page_routes
from hooks import ALL_HOOKS, HOOKS_BY_SERVICE_ID

log = logging.getLogger("cds_service.http")
JSON = "application/json"


def discovery_document(hooks: tuple[Hook, ...] = ALL_HOOKS) -> dict[str, object]:
    return {
        "services": [
            {
                "hook": hook.name,
                "id": hook.service_id,
                "title": hook.title,
                "description": hook.description,
                "prefetch": dict(PREFETCH_TEMPLATES),
            }
            for hook in hooks
        ]
    }


MAX_LOGGED_REASON = 300  # a reason may quote what the client sent (a hook name, a media type): keep it short


def log_refusal(request: Request, status: int, reason: str, message: str = "request refused") -> None:
    """One line for every 4xx the service decides, with the reason it answered (a 503 is logged where it arose).

    The reasons name fields, limits and prefetch keys, never values from the record, so they hold no patient data.
    """
    level = logging.WARNING if status in (401, 412) else logging.INFO
    log.log(level, message, extra={"status": status, "reason": reason[:MAX_LOGGED_REASON],
                                   "method": request.method, "path": request.url.path})


def _error_response(error: CDSError) -> Response:
    body = orjson.dumps(operation_outcome(error.message, error.issue_code))
    return Response(body, status_code=error.status_code, media_type=JSON, headers=error.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (before it is all in memory)."""
    body = await collect_capped(request.stream(), request.headers.get("content-length"), limit)
    if body is None:
        raise PayloadTooLarge(f"The request body is larger than the {limit}-byte limit.")
    return body


def check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media and media not in ("application/json", "application/fhir+json") and not media.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type must be application/json, not '{media}'.")


class UnexpectedErrors:
    """Answers an unexpected exception with a 500 OperationOutcome from inside the CORS middleware, so a browser
    client can read it too (Starlette's own last-resort handler sits outside every middleware), and logs it with
    its traceback. An exception after the answer has started is left to the server, which closes the connection."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except Exception as exc:
            log.error("unexpected error", exc_info=exc, extra={"error": type(exc).__name__, "path": scope["path"]})
            if started:
                raise
            body = orjson.dumps(operation_outcome("The service failed unexpectedly; the error was logged.",
                                                  "exception"))
            await Response(body, status_code=500, media_type=JSON)(scope, receive, send)


def open_store(settings: Settings) -> FeedbackStore:
    """The store at the schema this version needs: migrated now, or checked when migrations are left to an operator."""
    prepare_default_database(settings.database_url)
    store = FeedbackStore(settings.database_url, migrate_schema=settings.database_migrate)
    if not settings.database_migrate:
        try:
            migrate.check_current(store.engine)
        except SchemaError:
            store.close()
            raise
    return store


def create_app(
    settings: Settings | None = None,
    knowledge: Knowledge | None = None,
    http: httpx.AsyncClient | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    """The whole HTTP service; `engine` replaces the clinical pipeline (the benchmark times the rest without it)."""
    settings = settings or get_settings()
    knowledge = knowledge or load_knowledge(settings.knowledge_dir)
    engine = engine or Engine(knowledge, settings)
    discovery = orjson.dumps(discovery_document())
    limits = JsonLimits(max_depth=settings.max_json_depth, max_bundle_entries=settings.max_bundle_entries)
    if settings.auth_required:
        trusted_issuers_for(settings.trusted_issuers_file)  # a broken file stops start-up, not each call
    # Without client authentication there is nothing to resolve per call: leave the dependency out altogether.
    discovery_auth = [Depends(client_for_discovery)] if settings.auth_required else []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings)
        owns_client = http is None
        app.state.http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.fhir_timeout_seconds),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            follow_redirects=False,
        )
        if settings.auth_required:
            app.state.client_auth = ClientAuth.from_settings(settings, app.state.http, app.state.store.engine)
        app.state.cards_shown = CardsShownRecorder(app.state.store.engine, on_stored=metrics.CARDS_SHOWN_RECORDED.inc,
                                                   on_dropped=metrics.CARDS_SHOWN_DROPPED.inc)
        app.state.cards_shown.start()
        comments = asyncio.get_running_loop().create_task(
            clear_comments_periodically(app.state.store, settings.feedback_comment_days)
        )
        log.info("service started", extra={"version": knowledge.version})
        try:
            yield
        finally:
            comments.cancel()
            await app.state.cards_shown.stop()
            if owns_client:
                await app.state.http.aclose()
            app.state.store.close()

    # The two POST routes are plain Starlette routes, not FastAPI ones: FastAPI's per-request parameter and
    # dependency solving costs about 30 us a call, which is most of what a bare echo costs in all. They read their
    # own bodies and authenticate explicitly; `install_openapi` describes them (`openapi.plain_post_routes`). They
    # come first in the route list, so a call is not first matched against the documentation routes (~4 us).
    def page_base_url(request: Request) -> str:
        """Where the card links point: CDS_PUBLIC_BASE_URL behind a proxy, else the URL the call came to."""
        return (settings.public_base_url or str(request.base_url)).rstrip("/")

    async def call_service(request: Request) -> Response:
        """A hook call, counted and timed for /metrics by the status it is answered with (errors included)."""
        started = time.perf_counter()
        status = 500
        try:
            answer = await answer_call(request, started)
            status = 200
            return answer
        except CDSError as exc:
            status = exc.status_code
            raise
        except ClientDisconnect:
            status = 400
            raise
        finally:
            metrics.hook_call(request.path_params["service_id"], status, time.perf_counter() - started)

    async def answer_call(request: Request, started: float) -> Response:
        if settings.auth_required:
            await authenticate_call(request)
        service_id: str = request.path_params["service_id"]
        hook = HOOKS_BY_SERVICE_ID.get(service_id)
        if hook is None:
            raise UnknownService(f"No CDS service with id '{service_id}'. GET /cds-services lists them.")
        check_content_type(request)
        hook_request = parse_hook_request(await read_body(request, settings.max_body_bytes), limits)
        if hook_request.hook != hook.name:
            raise BadRequest(
                f"Service '{service_id}' answers the '{hook.name}' hook, but the request is for '{hook_request.hook}'."
            )
        response = await engine.evaluate(hook, hook_request, request.app.state.http, page_base_url(request))
        request.app.state.cards_shown.record(service_id, response.cards)
        metrics.cards_answered(response.cards)
        log.info(
            "service call answered",
            extra={
                "service_id": service_id,
                "hook_instance": hook_request.hookInstance,
                "cards": len(response.cards),
                "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return Response(response.to_json(), media_type=JSON)

    async def feedback(request: Request) -> Response:
        if settings.auth_required:
            await authenticate_call(request)
        service_id: str = request.path_params["service_id"]
        if service_id not in HOOKS_BY_SERVICE_ID:
            raise UnknownService(f"No CDS service with id '{service_id}'.")
        check_content_type(request)
        _parsed, entries = parse_feedback(await read_body(request, settings.max_body_bytes), limits)
        try:
            stored = await run_in_threadpool(request.app.state.store.add, service_id, entries)
        except SQLAlchemyError as exc:
            log.error("feedback could not be stored", extra={"service_id": service_id, "error": type(exc).__name__})
            metrics.feedback_failed(service_id, len(entries))
            raise ServiceUnavailable("The feedback could not be stored and was not acknowledged; retry.") from None
        metrics.feedback_received(service_id, len(entries), stored)
        log.info("feedback stored", extra={"service_id": service_id, "rows": stored, "count": len(entries)})
        return Response(orjson.dumps({"received": len(entries), "stored": stored}), media_type=JSON)

    app = FastAPI(
        routes=[
            Route(SERVICE_CALL_PATH, call_service, methods=["POST"]),
            Route(FEEDBACK_PATH, feedback, methods=["POST"]),
        ],
        title="Imatinib CDS Hooks service",
        version=__version__,
        description="CDS Hooks 2.0 service: imatinib with CYP3A4 inducers, and imatinib-relevant variants.",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN, which a hospital network often cannot
        # reach (and should not have to trust): only the document is served, for tools to render.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.engine = engine
    install_openapi(app, ALL_HOOKS, settings.auth_required)
    app.add_middleware(UnexpectedErrors)  # added first, so it runs inside CORS
    app.router.routes.extend(page_routes(knowledge, settings))  # /guide, /evidence, /dashboard, /static
    app.include_router(dosing_routes(knowledge, settings))  # POST /dosing/imatinib and the concentration-time page
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_allow_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept"],
        expose_headers=["WWW-Authenticate"],
        max_age=600,
    )

    @app.exception_handler(CDSError)
    async def _cds_error(request: Request, exc: CDSError) -> Response:
        if exc.status_code < 500:
            log_refusal(request, exc.status_code, exc.message, exc.log_message)
        return _error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = "not-found" if exc.status_code == 404 else "not-supported" if exc.status_code == 405 else "invalid"
        if exc.status_code < 500:
            log_refusal(request, exc.status_code, str(exc.detail))
        return Response(  # keeps the exception's headers: a 405 names the allowed methods in Allow (RFC 9110)
            orjson.dumps(operation_outcome(str(exc.detail), code)), status_code=exc.status_code, media_type=JSON,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        error = BadRequest(f"Invalid request: {exc.errors()[0].get('msg', 'invalid')}")
        log_refusal(request, error.status_code, error.message)
        return _error_response(error)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(_request: Request, _exc: ClientDisconnect) -> Response:
        # Nobody is left to read an answer: not a fault of the service, so no error line and no 500.
        log.info("client disconnected before the request body was complete")
        return _error_response(
            CDSError("The client disconnected before the request body was complete.", issue_code="incomplete")
        )

    @app.get("/cds-services", summary="CDS Hooks discovery", dependencies=discovery_auth, **DISCOVERY)
    async def list_services() -> Response:
        return Response(discovery, media_type=JSON)

    report_auth = [Depends(client_for_call)] if settings.auth_required else []

    @app.get("/feedback/report", summary="The CDS committee's feedback report", dependencies=report_auth,
             **FEEDBACK_REPORT)
    async def report(request: Request, since: str | None = None, service: str | None = None) -> Response:
        """Per card topic: cards shown, accepted, overridden by reason, acceptance rate per ISO week
        (`cds_service.store.reports`). `since`: a date (YYYY-MM-DD, UTC); `service`: one service id."""
        since_day = None
        if since is not None:
            try:
                since_day = date.fromisoformat(since)
            except ValueError:
                raise BadRequest(f"since must be a date as YYYY-MM-DD, not '{since[:40]}'.") from None
        if service is not None and service not in HOOKS_BY_SERVICE_ID:
            raise BadRequest(f"service must be one of {', '.join(sorted(HOOKS_BY_SERVICE_ID))}.")
        await request.app.state.cards_shown.flush()  # this worker's cards shown so far are in the report
        try:
            body = await run_in_threadpool(
                feedback_report, request.app.state.store.engine, since=since_day, service_id=service
            )
        except SQLAlchemyError as exc:
            log.error("feedback report failed", extra={"error": type(exc).__name__})
            raise ServiceUnavailable("The feedback report could not be read from the database; retry.") from None
        return Response(orjson.dumps(body), media_type=JSON)

    app.include_router(ops_router(knowledge))  # /healthz, /readyz, /metrics
    return app
