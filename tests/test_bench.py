"""The benchmark compares like with like and cannot make a broken service look fast (it is run by `make bench`)."""

import asyncio
import importlib.metadata
import subprocess
from dataclasses import replace

import orjson
import pytest
from fastapi.testclient import TestClient

import bench.run as bench_run
from bench.echo_app import app as echo_app
from bench.inprocess import count_prefetched, padded_request
from bench.run import (
    SCENARIOS,
    Load,
    Output,
    best_of,
    check_cards,
    disturbed,
    load_from_wrk,
    load_table,
    peer_requirements,
    peer_table,
    planned_seconds,
    stall_table,
)
from cds_service.engine import Engine
from cds_service.protocol.request import parse_hook_request
from cds_service.settings import Settings
from hooks import HOOKS_BY_SERVICE_ID, ORDER_SIGN
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
    fast_but_failing = Load(9000.0, 1.0, 2.0, 3.0, 100.0, 36000, failed=12, socket_errors=0)
    slow = Load(5000.0, 2.0, 4.0, 6.0, 150.0, 20000, failed=0, socket_errors=1)
    best = best_of([slow, fast_but_failing])
    assert best.requests_per_s == 9000.0
    assert (best.requests, best.failed, best.socket_errors) == (56000, 12, 1)
    problems = load_table(Output(), [(SCENARIOS[1], 32, 1, best, slow)])
    assert len(problems) == 2
    assert "the service had 12 responses above 399 and 1 socket errors" in problems[0]


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


def test_the_recorded_answer_app_repeats_the_first_answer_of_each_hook_without_evaluating(knowledge, tmp_path):
    from bench.recorded_answer_app import RecordedAnswerEngine
    from cds_service.app import create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'feedback.db'}")
    engine = RecordedAnswerEngine(knowledge, settings)
    calls = {
        "imatinib-order-sign": (FIXTURES / "requests" / "order-sign-imatinib-with-carbamazepine.json").read_bytes(),
        "imatinib-order-select": (
            FIXTURES / "requests" / "order-select-sandbox-imatinib-with-rifampin.json"
        ).read_bytes(),
    }
    with TestClient(create_app(settings, knowledge, engine=engine)) as client:
        answers = {
            service_id: [
                client.post(f"/cds-services/{service_id}", content=body, headers={"Content-Type": "application/json"})
                for _ in range(2)
            ]
            for service_id, body in calls.items()
        }
        wrong_hook = client.post("/cds-services/imatinib-order-select", content=calls["imatinib-order-sign"],
                                 headers={"Content-Type": "application/json"})
    sign_first, sign_again = (answer.json()["cards"] for answer in answers["imatinib-order-sign"])
    select_first, select_again = (answer.json()["cards"] for answer in answers["imatinib-order-select"])
    assert "carbamazepine" in sign_first[0]["summary"].lower() and sign_again == sign_first  # same card uuids too
    assert "rifampin" in select_first[0]["summary"].lower() and select_again == select_first
    assert sorted(hook for hook, _instance in engine.recorded) == ["order-select", "order-sign"]
    assert wrong_hook.status_code == 400  # the checks around the evaluation still run


def test_a_failing_recorded_answer_app_is_reported():
    from bench.run import around_the_rules_table

    good = Load(2000.0, 10.0, 20.0, 30.0, 400.0, 8000, failed=0, socket_errors=0)
    echo = Load(8000.0, 3.0, 8.0, 9.0, 120.0, 32000, failed=0, socket_errors=0)
    failing = Load(6000.0, 4.0, 9.0, 12.0, 150.0, 24000, failed=24000, socket_errors=0)
    out = Output()
    problems = around_the_rules_table(out, [(SCENARIOS[1], 32, good, echo, failing)])
    assert len(problems) == 1 and "recorded-answer app had 24000 responses above 399" in problems[0]
    row = next(line for line in out.lines if line.startswith(SCENARIOS[1].name)).split("|")
    assert row[-2].strip() == "250"  # the evaluation: 400 - 150 us of CPU per request
    assert row[-1].strip() == "210"  # what 3 x the echo leaves it: 3 x 120 - 150 us


def test_a_shell_dearer_than_three_echoes_leaves_the_evaluation_nothing():
    from bench.run import evaluation_allowance

    echo = Load(3000.0, 3.0, 8.0, 9.0, 281.0, 12000, failed=0, socket_errors=0)
    recorded = Load(700.0, 40.0, 57.0, 60.0, 1408.0, 2800, failed=0, socket_errors=0)
    assert evaluation_allowance(echo, recorded) == 3 * 281.0 - 1408.0 < 0


def _round(p50: float, p99: float, max_ms: float, cpu: float = 400.0, rps: float = 2500.0, **extra) -> Load:
    return Load(rps, p50, p99, max_ms, cpu, 10000, failed=0, socket_errors=0, **extra)


def test_wrk_figures_give_p50_p99_and_max_in_ms():
    load = load_from_wrk({"requests": 10000, "duration_us": 4_000_000, "failed": 0, "socket_errors": 0,
                          "p50_us": 12_500, "p99_us": 26_000, "max_us": 263_000}, cpu_seconds=4.0)
    assert (load.p50_ms, load.p99_ms, load.max_ms) == (12.5, 26.0, 263.0)
    assert load.requests_per_s == 2500.0 and load.cpu_us_per_request == 400.0


def test_a_round_is_within_the_stall_target_only_with_p99_and_max_close_to_its_own_p50():
    assert _round(10.0, 25.0, 60.0).within_stall_target()  # exactly 2.5 x and 6 x
    assert not _round(10.0, 25.1, 30.0).within_stall_target()
    assert not _round(10.0, 20.0, 60.1).within_stall_target()
    assert _round(40.0, 90.0, 200.0).within_stall_target()  # relative to the round's own p50, not an absolute bound


def test_the_stall_target_needs_four_of_five_rounds_and_every_round_is_shown():
    steady, stalled = _round(13.0, 26.0, 35.0), _round(13.0, 97.0, 263.0)
    out = Output()
    missed = stall_table(out, [
        (SCENARIOS[0], {"service": [steady] * 4 + [stalled], "echo": [_round(3.6, 7.5, 20.0)] * 5}),
        (SCENARIOS[1], {"service": [steady] * 3 + [stalled] * 2, "echo": [stalled] * 5}),
    ], seconds=3)
    rows = {(line[:26].strip(), line[27:38].strip()): line for line in out.lines[1:]}
    assert rows[SCENARIOS[0].name, "service"].endswith("4 of 5 within: met")
    assert rows[SCENARIOS[1].name, "service"].endswith("3 of 5 within: MISSED")
    assert rows[SCENARIOS[1].name, "echo"].endswith("0 of 5 within")  # peers are shown, only the service is judged
    assert "13.0/97.0/263!" in rows[SCENARIOS[1].name, "service"]
    assert missed == [f"{SCENARIOS[1].name}: the service was within the stall target in 3 of 5 rounds "
                      "(at least 4 needed)"]


def test_a_round_where_other_work_took_the_cpu_is_marked_disturbed_and_counted():
    quiet = _round(13.0, 26.0, 35.0, others_on_server_cpu_ms=40.0, others_on_wrk_cpu_ms=100.0, window_s=3.2)
    busy_wrk_cpu = _round(13.0, 26.0, 35.0, others_on_server_cpu_ms=0.0, others_on_wrk_cpu_ms=900.0, window_s=3.2)
    assert not disturbed(quiet) and disturbed(busy_wrk_cpu)
    assert not disturbed(_round(13.0, 26.0, 35.0))  # not pinned: nothing counted, nothing claimed
    out = Output()
    stall_table(out, [(SCENARIOS[1], {"service": [quiet, busy_wrk_cpu]})], seconds=3)
    assert "13.0/26.0/35 ~" in out.lines[1] and out.lines[1].count("~") == 1
    assert out.lines[-1].endswith("1 of 2 rounds disturbed")
    assert "on wrk's CPU median 900 ms, most 900 ms" in out.lines[-1]


def test_the_peer_table_gives_cpu_and_throughput_ratios_against_the_echo_and_healthchain():
    service, echo = _round(13.0, 26.0, 35.0, cpu=450.0, rps=2200.0), _round(3.6, 7.0, 9.0, cpu=125.0, rps=8000.0)
    peer = _round(9.0, 18.0, 30.0, cpu=900.0, rps=3300.0)
    failing_peer = replace(peer, failed=10)
    out = Output()
    problems = peer_table(out, [(SCENARIOS[1], service, echo, peer), (SCENARIOS[2], service, echo, failing_peer)])
    row = next(line for line in out.lines if line.startswith(SCENARIOS[1].name))
    assert row.split("|")[4].split() == ["3.60x", "2.00x"]  # CPU: service / echo, HealthChain / service
    assert row.split("|")[5].split() == ["0.28x", "0.67x"]  # req/s: service / echo, service / HealthChain
    assert problems == [f"{SCENARIOS[2].name} at 32 connections: the HealthChain peer had 10 responses above 399 "
                        "and 0 socket errors in 10000 requests"]


def test_the_peer_runs_healthchain_0_16_1_on_the_services_own_server_stack():
    requirements = peer_requirements()
    assert requirements[0] == "healthchain==0.16.1"
    for name in ("uvicorn", "uvloop", "httptools", "orjson"):
        assert f"{name}=={importlib.metadata.version(name)}" in requirements


def test_the_peer_environment_is_reused_when_made_for_the_same_requirements_and_remade_otherwise(
        tmp_path, monkeypatch):
    venv = tmp_path / ".peer-venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / ".requirements").write_text("\n".join(peer_requirements()) + "\n")
    calls = []

    def refusing_run(command, **_kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for healthchain")

    monkeypatch.setattr(bench_run.subprocess, "run", refusing_run)
    assert bench_run.peer_python(venv) == (venv / "bin" / "python", "")
    assert calls == []  # made for these requirements: nothing installed again
    (venv / ".requirements").write_text("healthchain==0.15.0\n")
    python, why = bench_run.peer_python(venv)
    assert python is None and "No matching distribution found for healthchain" in why
    assert not venv.exists()  # a half-made environment is not left to be taken for a good one


def test_every_bench_body_gets_the_cards_it_declares_and_the_heavy_one_is_17_kb(knowledge):
    engine = Engine(knowledge, Settings())
    for scenario in SCENARIOS:
        body = scenario.compact()
        hook = HOOKS_BY_SERVICE_ID[scenario.service_id]
        cards = asyncio.run(engine.evaluate(hook, parse_hook_request(body), http=None)).cards
        assert len(cards) == scenario.cards, scenario.name
    heavy = SCENARIOS[2]
    body = orjson.loads(heavy.body.read_bytes())
    assert 16_000 <= len(orjson.dumps(body)) <= 18_000
    cards = asyncio.run(engine.evaluate(ORDER_SIGN, parse_hook_request(orjson.dumps(body)), http=None)).cards
    summaries = " ".join(card.summary for card in cards)
    assert "carbamazepine" in summaries.lower() and "E255K" in summaries
    levels = [e for e in body["prefetch"]["labResults"]["entry"] if e["resource"]["id"].startswith("trough-")]
    assert len(levels) == 6
    assert len(body["prefetch"]["activeMedications"]["entry"]) >= 5


def test_the_tdm_bench_body_has_200_resources_one_level_and_gets_the_model_fitted_tdm_card(knowledge):
    """Issue 16's budget body: the MAP fit's cost is what it shows, so the card must be the fitted TDM card."""
    [tdm] = [s for s in SCENARIOS if s.name.startswith("order-select TDM")]
    request = tdm.request()
    assert count_prefetched(request) == 200
    labs = [e["resource"] for e in request["prefetch"]["labResults"]["entry"]]
    assert [lab["code"]["coding"][0]["code"] for lab in labs].count("57844-3") == 1  # one imatinib level
    assert request["prefetch"]["vitalSigns"]["entry"][0]["resource"]["code"]["coding"][0]["code"] == "29463-7"
    response = asyncio.run(Engine(knowledge, Settings()).evaluate(
        HOOKS_BY_SERVICE_ID[tdm.service_id], parse_hook_request(tdm.compact()), http=None))
    [card] = response.cards
    assert card.source.topic is not None and card.source.topic.code == "imatinib-tdm"
    assert "predicted" in card.summary and "model proposes" in card.summary  # the fit's prediction and proposal


def test_a_body_that_no_longer_gets_its_cards_stops_the_run_before_the_load(monkeypatch):
    answers = {"one": (200, b'{"cards": [{"summary": "a"}]}'), "two": (200, b'{"cards": [{}, {}]}'),
               "error": (400, b'{"resourceType": "OperationOutcome"}')}
    monkeypatch.setattr(bench_run, "post", lambda url, _body: answers[url])
    check_cards("service", "two", b"{}", 2)
    for url, expected in (("one", 2), ("two", 1), ("error", 1)):
        with pytest.raises(SystemExit, match=f"answered .* not {expected}"):
            check_cards("service", url, b"{}", expected)


def test_the_default_run_loads_for_under_five_minutes_with_five_rounds_at_32_connections():
    args = bench_run.arguments([])
    assert (args.rounds, args.connections) == (5, [1, 32])
    assert planned_seconds(args) < 300
    assert planned_seconds(bench_run.arguments(["--rounds", "2", "--duration", "1"])) < planned_seconds(args)


def test_the_pk_bench_times_what_it_says():
    """The fit timings cover one and three levels, and the order-select request is a valid call for the same
    patient as the fixtures (no timing is asserted: the machine is shared)."""
    from bench.pk import fit_timings, order_select_with_level

    assert [levels for levels, _ in fit_timings()] == [1, 3]
    request = order_select_with_level()
    assert parse_hook_request(orjson.dumps(request)).hook == "order-select"
    assert request["prefetch"]["labResults"]["entry"][0]["resource"]["code"]["coding"][0]["code"] == "57844-3"


def _probe_data(**recorded):
    """Probe records as the instrumented worker dumps them: three requests, a heartbeat every 10 ms then one gap."""
    data = {
        "requests": [(0.000, 0.001, 0.002, 0.001, 1), (0.010, 0.011, 0.012, 0.001, 2), (0.020, 0.021, 0.250, 0.001, 1)],
        "stages": {"parse": [0.0001] * 3, "evaluate": [0.0004] * 3, "log line": [0.00005] * 3},
        "beats": [(0.0, 0.0), (0.010, 0.009), (0.020, 0.018), (0.260, 0.030)],  # 240 ms, 12 ms of it on CPU
        "collections": [], "log_writes": [], "batches": [],
    }
    return {**data, **recorded}


def test_a_long_loop_iteration_is_split_into_main_thread_cpu_and_off_cpu_time_with_what_overlapped_it():
    from bench.stalls import iterations

    data = _probe_data(collections=[(0.005, 0.006, 0), (0.100, 0.180, 2)], log_writes=[(0.030, 0.200)],
                       batches=[(0.050, 0.240, 120, 0.004)])
    found = iterations(data)
    assert [round(i.wall, 3) for i in found] == [0.01, 0.01, 0.24]
    stall = max(found, key=lambda i: i.wall)
    assert round(stall.cpu, 3) == 0.012 and round(stall.off_cpu, 3) == 0.228
    assert stall.requests == 1
    assert stall.overlapping == ("gc gen2 80.0 ms", "log write 170.0 ms", "cards-shown batch of 120 (4.0 ms CPU)")
    assert found[0].overlapping == ("gc gen0 1.0 ms",)


def test_the_stall_report_names_the_longest_iteration_first_and_only_counts_the_measured_load():
    from bench.stalls import during_load, report

    data = _probe_data(collections=[(-5.0, -4.8, 2)])  # start-up, before the load
    lines: list[str] = []
    report(during_load(data, seconds=0.25), out=lines.append)
    assert any(line.startswith("  collections: ") and "gen2" not in line for line in lines)
    longest = lines[lines.index(next(line for line in lines if line.startswith("the "))) + 1].split()
    assert longest[1:4] == ["240.0", "12.0", "1"]  # wall ms, main-thread CPU ms, requests started
    assert "CPU per request p50 1.00" in " ".join(lines)


def test_a_request_left_unread_in_its_socket_shows_as_the_gap_after_the_previous_answer_on_its_connection():
    from bench.stalls import unanswered_gaps

    # connection 1: answered at 2 ms, next request parsed at 302 ms; connection 2: answered at 12 ms, next at 13 ms
    requests = [(0.000, 0.001, 0.002, 0.001, 1), (0.010, 0.011, 0.012, 0.001, 2),
                (0.302, 0.303, 0.304, 0.001, 1), (0.013, 0.014, 0.015, 0.001, 2)]
    assert sorted(round(gap, 3) for gap in unanswered_gaps(requests)) == [0.001, 0.3]


def test_the_stall_report_says_how_long_the_connections_wrk_opened_together_took_to_be_accepted():
    from bench.stalls import accept_spread, during_load, report

    one_per_iteration = [10.0 + 0.001 * k * k for k in range(32)]  # each iteration longer by one more connection
    spread = accept_spread(one_per_iteration, since=10.0)
    assert spread == "32, the first 0.0 ms and the last 961.0 ms after wrk started"
    assert accept_spread([9.0, 10.0005, 10.0006], since=10.0).startswith("2, the first 0.5 ms")  # warm-up's left out
    lines: list[str] = []
    report(during_load({**_probe_data(), "connections": [0.0004, 0.0009], "wrk_started": 0.0}, 0.25), lines.append)
    assert lines[0].startswith("connections accepted: 2, the first 0.4 ms and the last 0.9 ms after wrk started")


def test_workers_are_served_on_asyncios_loop_which_accepts_a_burst_of_connections_at_once():
    """uvloop took new connections one per loop iteration under load: the last of 32 waited 0.2-1.3 s (issue 16's
    stalls). This pins the choice; `python -m bench.stalls` shows the accept times if it is ever reconsidered."""
    from cds_service.cli import uvicorn_options

    assert uvicorn_options()["loop"] == "asyncio"
