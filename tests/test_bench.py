"""The benchmark compares like with like and cannot make a broken service look fast (it is run by `make bench`)."""

import asyncio

import orjson
from fastapi.testclient import TestClient

from bench.echo_app import app as echo_app
from bench.inprocess import count_prefetched, padded_request
from bench.run import SCENARIOS, Load, Output, best_of, load_table
from cds_service.engine import Engine
from cds_service.protocol.request import parse_hook_request
from cds_service.settings import Settings
from hooks import ORDER_SIGN
from tests.helpers import FIXTURES, request_fixture


def test_padding_grows_the_record_to_the_size_asked_and_keeps_the_cards(knowledge):
    original = request_fixture("order-sign-imatinib-with-carbamazepine.json")
    padded = padded_request(original, 200)
    assert count_prefetched(padded) == 200
    for value in padded["prefetch"].values():
        ids = [e["resource"].get("id") for e in (value or {}).get("entry", [])]
        assert len(ids) == len(set(ids))
    engine = Engine(knowledge, Settings())

    def summaries(body: dict) -> list[str]:
        request = parse_hook_request(orjson.dumps(body))
        return [card.summary for card in asyncio.run(engine.evaluate(ORDER_SIGN, request, http=None)).cards]

    assert summaries(padded) == summaries(original) != []


def test_a_failed_round_is_reported_even_when_another_round_was_faster():
    fast_but_failing = Load(9000.0, 1.0, 2.0, 100.0, 36000, failed=12, socket_errors=0)
    slow = Load(5000.0, 2.0, 4.0, 150.0, 20000, failed=0, socket_errors=1)
    best = best_of([slow, fast_but_failing])
    assert best.requests_per_s == 9000.0
    assert (best.requests, best.failed, best.socket_errors) == (56000, 12, 1)
    problems = load_table(Output(), [(SCENARIOS[1], 32, 1, best, slow)])
    assert len(problems) == 2
    assert "service had 12 responses above 399 and 1 socket errors" in problems[0]


def test_the_echo_baseline_answers_with_the_request_bytes():
    body = (FIXTURES / "requests" / "order-select-sandbox-imatinib-with-rifampin.json").read_bytes()
    with TestClient(echo_app) as client:
        response = client.post("/echo/imatinib-order-select", content=body,
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.content == body


def test_stage_breakdown_covers_the_pipeline_and_every_rule(knowledge):
    from bench.inprocess import stage_costs

    engine = Engine(knowledge, Settings())
    body = (FIXTURES / "requests" / "order-sign-imatinib-with-carbamazepine.json").read_bytes()
    stages = asyncio.run(stage_costs(engine, ORDER_SIGN, body, repeats=1, min_seconds=0.001))
    names = [name for name, _ in stages]
    assert names[0] == "JSON parse (orjson)" and names[-1] == "cards to JSON"
    assert [n for n in names if n.startswith("rule ")] == [f"rule {rule.__name__}" for rule in engine.rules]
    assert all(us > 0 for _, us in stages)
