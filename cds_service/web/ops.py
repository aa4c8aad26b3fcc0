"""What an orchestrator and an operations team ask the service: is it alive (/healthz), can it do its work now
(/readyz), and what has it been doing (/metrics, see cds_service.metrics).

Liveness stays trivial, so a slow database never gets a healthy process restarted; readiness takes it out of the
load balancer instead, while feedback could not be stored.
"""

import asyncio
import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from cds_service import __version__, metrics
from cds_service.errors import operation_outcome
from cds_service.knowledge import Knowledge
from cds_service.openapi import OperationOutcome

log = logging.getLogger("cds_service.ops")
JSON = "application/json"
# The longest a readiness probe waits for the database (a locked SQLite file waits up to its busy timeout).
READY_TIMEOUT_SECONDS = 2.0


class Check(BaseModel):
    status: str
    detail: str | None = None
    elapsed_ms: float | None = None


class Readiness(BaseModel):
    status: str
    version: str
    knowledge: str
    checks: dict[str, Check]


async def _database(request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    store = getattr(request.app.state, "store", None)
    if store is None:
        return {"status": "failed", "detail": "the store is not open"}
    try:
        await asyncio.wait_for(run_in_threadpool(store.check_writable), READY_TIMEOUT_SECONDS)
    except TimeoutError:
        return {"status": "failed", "detail": f"no answer within {READY_TIMEOUT_SECONDS:g} s"}
    except SQLAlchemyError as exc:
        # The class only: a driver's message can name hosts and users, and /readyz answers anyone.
        return {"status": "failed", "detail": f"a feedback entry cannot be stored ({type(exc).__name__})"}
    return {"status": "ok", "elapsed_ms": round((time.perf_counter() - started) * 1000, 2)}


def _knowledge(knowledge: Knowledge) -> dict[str, Any]:
    """Loaded and cross-checked at start-up (a broken one stops start-up); here: still present and not empty."""
    if not (knowledge.version and knowledge.sources and knowledge.inducers and knowledge.products):
        return {"status": "failed", "detail": "the knowledge base is empty"}
    return {"status": "ok", "detail": f"version {knowledge.version}, {len(knowledge.sources)} sources"}


def ops_router(knowledge: Knowledge) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness and knowledge-base version")
    async def healthz() -> Response:
        return Response(
            orjson.dumps({"status": "ok", "version": __version__, "knowledge": knowledge.version}),
            media_type=JSON,
        )

    @router.get(
        "/readyz",
        summary="Readiness: feedback can be stored and the knowledge base is loaded",
        responses={200: {"model": Readiness, "description": "Ready"},
                   503: {"model": OperationOutcome, "description": "Not ready; each issue names what failed"}},
    )
    async def readyz(request: Request) -> Response:
        checks = {"database": await _database(request), "knowledge": _knowledge(knowledge)}
        failed = {name: check for name, check in checks.items() if check["status"] != "ok"}
        if failed:
            log.warning("not ready", extra={"reason": "; ".join(f"{n}: {c['detail']}" for n, c in failed.items())})
            outcome = operation_outcome("", "transient")
            outcome["issue"] = [{"severity": "error", "code": "transient", "diagnostics": f"{name}: {check['detail']}"}
                                for name, check in failed.items()]
            return Response(orjson.dumps(outcome), status_code=503, media_type=JSON)
        body = {"status": "ready", "version": __version__, "knowledge": knowledge.version, "checks": checks}
        return Response(orjson.dumps(body), media_type=JSON)

    @router.get(
        "/metrics", summary="Prometheus metrics (text exposition format)",
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The metrics"}},
    )
    async def prometheus_metrics() -> Response:
        body, content_type = await run_in_threadpool(metrics.exposition)  # multiprocess mode reads files
        return Response(body, media_type=content_type)

    return router
