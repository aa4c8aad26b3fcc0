"""What one request costs inside the process, without HTTP, as the patient's record grows from 20 to 2000 resources.

Two figures per size: `Engine.evaluate` on an already parsed request (the pipeline: context -> facts -> rules ->
cards), and the whole of what a worker does with the bytes (parse + evaluate + serialise). Each is the best of
several repeats: on a shared machine the fastest repeat is the one least disturbed by other work.
"""

import asyncio
import copy
import gc
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from cds_service.engine import Engine
from cds_service.facts import extract_facts
from cds_service.gather.record import gather_record
from cds_service.hook_context import Hook
from cds_service.knowledge import load_knowledge
from cds_service.protocol.limits import JsonLimits, check_json_limits
from cds_service.protocol.request import HookRequest, parse_hook_request
from cds_service.settings import Settings

# Padding comes from the parts of a record that grow over the years; current medications stay as they are, so the
# cards (and the work of writing them) stay the same and only the reading of the record grows.
PADDED_KEYS = ("labResults", "medicationHistory", "conditions")


def count_prefetched(request: dict[str, Any]) -> int:
    total = 0
    for value in (request.get("prefetch") or {}).values():
        if isinstance(value, dict):
            total += len(value.get("entry") or ()) if value.get("resourceType") == "Bundle" else 1
    return total


def padded_request(request: dict[str, Any], total: int) -> dict[str, Any]:
    """`request` with copies (fresh ids) of its history, condition and lab resources until `total` are prefetched."""
    padded = copy.deepcopy(request)
    prefetch = padded["prefetch"]
    templates = [
        (key, entry["resource"])
        for key in PADDED_KEYS
        if isinstance(prefetch.get(key), dict)
        for entry in prefetch[key].get("entry") or ()
    ]
    missing = total - count_prefetched(padded)
    if missing > 0 and not templates:
        raise ValueError("the request has no history, condition or lab resources to pad with")
    for index in range(max(missing, 0)):
        key, template = templates[index % len(templates)]
        resource = {**copy.deepcopy(template), "id": f"{template.get('id', 'pad')}-pad{index}"}
        prefetch[key]["entry"].append({"resource": resource})
    return padded


@dataclass(frozen=True, slots=True)
class Timing:
    resources: int
    body_bytes: int
    evaluate_us: float
    full_us: float
    summaries: tuple[str, ...]


async def _best_per_call(call: Callable[[], Awaitable[object]], repeats: int, min_seconds: float) -> float:
    """Microseconds per call: the best of `repeats` loops, each long enough to be timed reliably."""
    loops = 1
    while True:
        started = time.process_time()
        for _ in range(loops):
            await call()
        if time.process_time() - started >= min_seconds / 4:
            break
        loops *= 2
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(loops):
            await call()
        best = min(best, (time.process_time() - started) / loops)
    return best * 1e6


async def time_request(engine: Engine, hook: Hook, body: bytes, repeats: int = 5, min_seconds: float = 0.2) -> Timing:
    parsed = parse_hook_request(body)

    async def evaluate() -> object:
        return await engine.evaluate(hook, parsed, None)

    async def parse_evaluate_serialise() -> bytes:
        return (await engine.evaluate(hook, parse_hook_request(body), None)).to_json()

    cards = (await engine.evaluate(hook, parsed, None)).cards
    return Timing(
        resources=count_prefetched(orjson.loads(body)),
        body_bytes=len(body),
        evaluate_us=await _best_per_call(evaluate, repeats, min_seconds),
        full_us=await _best_per_call(parse_evaluate_serialise, repeats, min_seconds),
        summaries=tuple(card.summary for card in cards),
    )


async def stage_costs(
    engine: Engine, hook: Hook, body: bytes, repeats: int = 5, min_seconds: float = 0.1
) -> list[tuple[str, float]]:
    """Microseconds per stage of one request, in pipeline order: where the time goes, stage by stage.

    Each stage is timed on the previous stage's (already computed) output, so the figures are warm-cache costs and
    add up to a little less than the whole.
    """
    data = orjson.loads(body)
    request = parse_hook_request(body)
    context = hook.read_context(request.context)
    record = await gather_record(request, context, None, budget_seconds=1.0, max_pages=1, outbound=engine.outbound)
    facts = extract_facts(context, record, engine.knowledge, hook.name)
    response = await engine.evaluate(hook, request, None)

    def timed(function: Callable[[], object]) -> Callable[[], Awaitable[object]]:
        async def call() -> object:
            return function()
        return call

    async def gather() -> object:
        return await gather_record(request, context, None, budget_seconds=1.0, max_pages=1, outbound=engine.outbound)

    stages: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("JSON parse (orjson)", timed(lambda: orjson.loads(body))),
        ("shape limits (depth, entries)", timed(lambda: check_json_limits(data, JsonLimits(), body=body))),
        ("request model", timed(lambda: HookRequest.model_validate(data))),
        ("hook context", timed(lambda: hook.read_context(request.context))),
        ("record from prefetch", gather),
        ("facts", timed(lambda: extract_facts(context, record, engine.knowledge, hook.name))),
        *((f"rule {rule.__name__}", timed(lambda rule=rule: rule(facts, engine.knowledge))) for rule in engine.rules),
        ("cards to JSON", timed(response.to_json)),
    ]
    return [(name, await _best_per_call(call, repeats, min_seconds)) for name, call in stages]


def time_stages(request: dict[str, Any], hook: Hook) -> list[tuple[str, float]]:
    engine = Engine(load_knowledge(), Settings())
    return asyncio.run(stage_costs(engine, hook, orjson.dumps(request)))


def time_sizes(request: dict[str, Any], hook: Hook, sizes: tuple[int, ...]) -> list[Timing]:
    engine = Engine(load_knowledge(), Settings())
    bodies = [orjson.dumps(padded_request(request, size)) for size in sizes]
    gc.collect()
    gc.freeze()  # as a worker does after start-up (cds_service.cli.worker_app)
    try:
        return [asyncio.run(time_request(engine, hook, body)) for body in bodies]
    finally:
        gc.unfreeze()
