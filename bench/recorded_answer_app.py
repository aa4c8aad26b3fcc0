"""The service with its clinical evaluation replaced by a recorded answer: what everything around the rules costs.

The first call of each hook instance is evaluated for real; later calls with that hook and `hookInstance` (the
benchmark sends each body over and over) get the same cards back without any evaluation. Everything else is the
real worker (`cds_service.cli.worker_app`): routing, the content-type and hook checks, JSON parsing and shape
limits, the request model, the log line, serialisation, CORS, and uvicorn's access log. Under load, the service's
CPU per request minus this app's is what the evaluation itself costs there, caches as cold as they really are; the
in-process stage breakdown gives the same split warm.
"""

import argparse

import httpx
import uvicorn
from fastapi import FastAPI

from cds_service.cli import uvicorn_options, worker_app
from cds_service.engine import Engine
from cds_service.hook_context import Hook
from cds_service.knowledge import Knowledge, load_knowledge
from cds_service.protocol.cards import CardsResponse
from cds_service.protocol.request import HookRequest
from cds_service.settings import Settings, get_settings


class RecordedAnswerEngine(Engine):
    """Answers every call of a hook instance with the cards of its first call (each bench body has its own)."""

    def __init__(self, knowledge: Knowledge, settings: Settings) -> None:
        super().__init__(knowledge, settings)
        self.recorded: dict[tuple[str, str], CardsResponse] = {}

    async def evaluate(
        self, hook: Hook, request: HookRequest, http: httpx.AsyncClient | None, base_url: str | None = None
    ) -> CardsResponse:
        key = (hook.name, request.hookInstance)
        if key not in self.recorded:
            self.recorded[key] = await super().evaluate(hook, request, http, base_url)
        return self.recorded[key]


def recorded_answer_app() -> FastAPI:
    settings = get_settings()
    return worker_app(engine=RecordedAnswerEngine(load_knowledge(settings.knowledge_dir), settings))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run("bench.recorded_answer_app:recorded_answer_app", factory=True, host="127.0.0.1",
                port=parser.parse_args().port, workers=1, **uvicorn_options())
