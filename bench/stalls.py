"""Where a latency stall comes from: the worker under wrk, with every pause of its event loop accounted for.

`python -m bench.stalls` serves the real worker (`cds_service.cli.worker_app`, uvicorn with the service's options)
with probes, loads it with wrk at 32 connections (server on CPU 0, wrk on CPU 1, as `make bench` does), stops it,
and prints:

- wrk's p50 / p99 / max, and the server's own time per request (from the parser's first byte to the app's end)
  and CPU per request, and each stage of a request (parse, evaluate, log line) at its p50 / p99 / max;
- the event loop's iterations (a 1 ms heartbeat task: the gap between two beats is one pass over everything that
  was ready), and for the longest ones what the main thread did meanwhile: its own CPU time (so "off CPU" is the
  rest: another thread, a blocking call, or the machine giving the CPU to someone else), the requests run, and any
  collection, log write over 2 ms or cards-shown batch that overlapped it;
- when the connections wrk opened were accepted (uvloop took a burst one per loop iteration, which is why the
  service is served on asyncio's loop);
- what else ran on the two CPUs over the load (other processes, steal) and the server's context switches.

A stall of the service shows as long iterations with the main thread on CPU (work: which stage grew) or off it (a
blocking call or a thread: look at what overlapped). The probes cost a few microseconds a request.
"""

import argparse
import asyncio
import gc
import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.run import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "post.lua"
# The bodies of `make bench` (bench/run.py), by a short name.
BODIES = dict(zip(("order-select", "order-sign", "heavy", "tdm"), SCENARIOS, strict=True))
SLOW_LOG_WRITE_S = 0.002


# --- the instrumented worker ---------------------------------------------------------------------------------

class Probes:
    """What the worker records: (start, end) pairs in perf_counter seconds, plus CPU times where they matter."""

    def __init__(self) -> None:
        # first byte, app start, app end, CPU, connection (the same number for every request of one connection)
        self.requests: list[tuple[float, float, float, float, int]] = []
        self.stages: dict[str, list[float]] = {"parse": [], "evaluate": [], "log line": []}
        self.beats: list[tuple[float, float]] = []  # (wall, main-thread CPU)
        self.collections: list[tuple[float, float, int]] = []
        self.log_writes: list[tuple[float, float]] = []  # only the slow ones
        self.batches: list[tuple[float, float, int, float]] = []  # cards shown: start, end, rows, thread CPU
        self.connections: list[float] = []  # when uvicorn's protocol got each new connection

    def dump(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(self.__dict__))


def _install(probes: Probes) -> None:
    """Wrap the pieces a request passes through; nothing here changes what the service answers."""
    clock = time.perf_counter
    started: list[float] = [0.0]

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = clock()
        else:
            probes.collections.append((started[0], clock(), info["generation"]))

    gc.callbacks.append(on_collection)

    emit = logging.StreamHandler.emit

    def timed_emit(self: logging.StreamHandler, record: logging.LogRecord) -> None:
        begun = clock()
        emit(self, record)
        ended = clock()
        if ended - begun > SLOW_LOG_WRITE_S:
            probes.log_writes.append((begun, ended))

    logging.StreamHandler.emit = timed_emit  # type: ignore[method-assign]

    import cds_service.app as app_module
    from cds_service.engine import Engine
    from cds_service.store.cards_shown import CardsShownRecorder

    parse = app_module.parse_hook_request

    def timed_parse(*args: Any, **kwargs: Any) -> Any:
        begun = time.thread_time()
        try:
            return parse(*args, **kwargs)
        finally:
            probes.stages["parse"].append(time.thread_time() - begun)

    app_module.parse_hook_request = timed_parse
    evaluate = Engine.evaluate

    async def timed_evaluate(self: Engine, *args: Any, **kwargs: Any) -> Any:
        begun = time.thread_time()
        try:
            return await evaluate(self, *args, **kwargs)
        finally:
            probes.stages["evaluate"].append(time.thread_time() - begun)

    Engine.evaluate = timed_evaluate  # type: ignore[method-assign]
    info = app_module.log.info

    def timed_info(*args: Any, **kwargs: Any) -> None:
        begun = time.thread_time()
        info(*args, **kwargs)
        probes.stages["log line"].append(time.thread_time() - begun)

    app_module.log.info = timed_info  # type: ignore[method-assign]
    insert = CardsShownRecorder._insert

    def timed_insert(self: CardsShownRecorder, batch: list[Any]) -> None:
        begun, cpu = clock(), time.thread_time()
        insert(self, batch)
        probes.batches.append((begun, clock(), len(batch), time.thread_time() - cpu))

    CardsShownRecorder._insert = timed_insert  # type: ignore[method-assign]

    from uvicorn.protocols.http import httptools_impl

    protocol = httptools_impl.HttpToolsProtocol
    begin, headers_complete, made = protocol.on_message_begin, protocol.on_headers_complete, protocol.connection_made

    def connection_made(self: Any, transport: Any) -> None:
        probes.connections.append(clock())
        made(self, transport)

    def on_message_begin(self: Any) -> None:
        self._probe_first_byte = clock()
        begin(self)

    def on_headers_complete(self: Any) -> None:
        headers_complete(self)
        self.scope["probe.first_byte"] = self._probe_first_byte
        self.scope["probe.connection"] = id(self)

    protocol.connection_made = connection_made  # type: ignore[method-assign]
    protocol.on_message_begin = on_message_begin  # type: ignore[method-assign]
    protocol.on_headers_complete = on_headers_complete  # type: ignore[method-assign]


def probed_app(probes: Probes) -> Any:
    """The worker app wrapped in an ASGI layer that times each request and runs the loop's heartbeat."""
    from cds_service.cli import worker_app

    _install(probes)
    inner = worker_app()

    async def heartbeat() -> None:
        while True:
            probes.beats.append((time.perf_counter(), time.thread_time()))
            await asyncio.sleep(0.001)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            task = asyncio.get_running_loop().create_task(heartbeat())
            try:
                await inner(scope, receive, send)
            finally:
                task.cancel()
            return
        begun, cpu = time.perf_counter(), time.thread_time()
        await inner(scope, receive, send)
        probes.requests.append((scope.get("probe.first_byte", begun), begun, time.perf_counter(),
                                time.thread_time() - cpu, scope.get("probe.connection", 0)))

    return app


def serve(port: int, out: Path) -> None:
    import uvicorn

    from cds_service.cli import uvicorn_options

    probes = Probes()
    try:
        uvicorn.run(probed_app(probes), host="127.0.0.1", port=port, workers=1, **uvicorn_options())
    finally:
        probes.dump(out)


# --- the analysis ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Iteration:
    """One pass of the event loop: from one heartbeat to the next."""

    start: float
    wall: float
    cpu: float  # the main thread's CPU time in it
    requests: int
    overlapping: tuple[str, ...]

    @property
    def off_cpu(self) -> float:
        return max(0.0, self.wall - self.cpu)


def _overlaps(start: float, end: float, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(s, e) for s, e in spans if s < end and e > start]


def iterations(data: dict[str, Any]) -> list[Iteration]:
    """The loop's iterations while requests were being served, each with what overlapped it."""
    requests = data["requests"]
    if not requests:
        return []
    first, last = min(r[1] for r in requests), max(r[2] for r in requests)
    starts = sorted(r[1] for r in requests)
    found = []
    beats = sorted(data["beats"])
    # From the beat before the first request to the one after the last: the iterations that served them.
    before = max((i for i, b in enumerate(beats) if b[0] <= first), default=0)
    after = min((i for i, b in enumerate(beats) if b[0] >= last), default=len(beats) - 1)
    beats = beats[before:after + 1]
    for (t0, c0), (t1, c1) in itertools.pairwise(beats):
        overlapping = [f"gc gen{g} {1000 * (e - s):.1f} ms"
                       for s, e, g in data["collections"] if s < t1 and e > t0 and e - s > 0.0005]
        overlapping += [f"log write {1000 * (e - s):.1f} ms" for s, e in _overlaps(t0, t1, data["log_writes"])]
        overlapping += [f"cards-shown batch of {n} ({1000 * cpu:.1f} ms CPU)"
                        for s, e, n, cpu in data["batches"] if s < t1 and e > t0]
        count = sum(1 for s in starts if t0 <= s < t1)
        found.append(Iteration(t0 - first, t1 - t0, c1 - c0, count, tuple(overlapping)))
    return found


def _spread(values: list[float], scale: float = 1000.0) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    return (f"p50 {ordered[len(ordered) // 2] * scale:.2f}  p99 {ordered[int(0.99 * (len(ordered) - 1))] * scale:.2f}"
            f"  max {ordered[-1] * scale:.2f}")


def unanswered_gaps(requests: list[Any]) -> list[float]:
    """Per connection, from the app's end for one request to the first parsed byte of the next: wrk's turnaround
    (microseconds when its CPU is free) plus the time the next request lay unread in the server's socket."""
    by_connection: dict[int, list[Any]] = {}
    for request in requests:
        by_connection.setdefault(request[4], []).append(request)
    gaps = []
    for served in by_connection.values():
        served.sort()
        gaps += [after[0] - before[2] for before, after in itertools.pairwise(served)]
    return gaps


def accept_spread(connections: list[float], since: float) -> str:
    """When the connections wrk opened at `since` were taken by the server: all at once, or one per iteration."""
    taken = sorted(t for t in connections if t >= since)
    if not taken:
        return "none"
    return (f"{len(taken)}, the first {1000 * (taken[0] - since):.1f} ms and the last {1000 * (taken[-1] - since):.1f}"
            " ms after wrk started")


def report(data: dict[str, Any], out: Any = print, longest: int = 10) -> None:
    requests = data["requests"]
    if "wrk_started" in data:
        out(f"connections accepted: {accept_spread(data['connections'], data['wrk_started'])} (wrk opens them all at "
            "once; their first requests wait until they are accepted)")
    out(f"server, {len(requests)} requests, ms: first byte to app end {_spread([r[2] - r[0] for r in requests])}")
    out(f"  previous answer to next request's first byte, per connection (unread in the socket) "
        f"{_spread(unanswered_gaps(requests))}")
    out(f"  waiting (first byte to app start) {_spread([r[1] - r[0] for r in requests])}")
    out(f"  CPU per request {_spread([r[3] for r in requests])}")
    for stage, values in data["stages"].items():
        out(f"  {stage:<10} CPU {_spread(values)}")
    by_generation: dict[int, list[float]] = {}
    for s, e, g in data["collections"]:
        by_generation.setdefault(g, []).append(e - s)
    out("  collections: " + ", ".join(f"gen{g} {len(v)} (max {1000 * max(v):.1f} ms)"
                                      for g, v in sorted(by_generation.items())))
    batches = data["batches"]
    if batches:
        out(f"  cards-shown batches: {len(batches)}, {sum(b[2] for b in batches)} rows, writer CPU "
            f"{1000 * sum(b[3] for b in batches):.0f} ms in all (max {1000 * max(b[3] for b in batches):.1f} ms a "
            f"batch), wall max {1000 * max(b[1] - b[0] for b in batches):.0f} ms")
    out(f"  log writes over {1000 * SLOW_LOG_WRITE_S:g} ms: {len(data['log_writes'])}")
    found = iterations(data)
    if not found:
        return
    out(f"event-loop iterations: {len(found)}, wall {_spread([i.wall for i in found])}; "
        f"main thread off CPU {_spread([i.off_cpu for i in found])}")
    out(f"the {longest} longest (s into the load, wall ms, main-thread CPU ms, requests started, what overlapped):")
    for it in sorted(found, key=lambda i: i.wall, reverse=True)[:longest]:
        out(f"  {it.start:7.2f}s {1000 * it.wall:7.1f} {1000 * it.cpu:7.1f} {it.requests:4d}  "
            f"{'; '.join(it.overlapping) or '-'}")


def _context_switches(pid: int) -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["voluntary_ctxt_switches"]), int(fields["nonvoluntary_ctxt_switches"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.stalls", description=__doc__)
    parser.add_argument("--body", choices=sorted(BODIES), default="order-sign")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.out)
        return 0

    from bench.run import busy_seconds, free_port, post

    scenario = BODIES[args.body]
    service_id = scenario.service_id
    with tempfile.TemporaryDirectory(prefix="cds-stalls-") as scratch_dir:
        scratch = Path(scratch_dir)
        body = scratch / "body.json"
        body.write_bytes(scenario.compact())
        port, dump = free_port(), scratch / "probes.json"
        env = {**os.environ, "CDS_DATABASE_URL": f"sqlite:///{scratch / 'feedback.db'}", "CDS_HOST": "127.0.0.1"}
        with (scratch / "server.log").open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "bench.stalls", "--serve", str(port), "--out", str(dump)], cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
        try:
            url = f"http://127.0.0.1:{port}/cds-services/{service_id}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    status, _ = post(url, body.read_bytes())
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("bench.stalls: the server did not start") from None
                    time.sleep(0.2)
            if status != 200:
                raise SystemExit(f"bench.stalls: the service answered {status}")
            command = ["wrk", "-t1", f"-c{args.connections}", "--timeout", "5s", "-s", str(LUA), url, "--",
                       str(body)]
            pin = {"preexec_fn": lambda: os.sched_setaffinity(0, {1})}
            subprocess.run([*command[:2], "-d2s", *command[2:]], capture_output=True, check=True, **pin)  # warm-up
            busy = (busy_seconds(0), busy_seconds(1))
            switches = _context_switches(server.pid)
            wrk_started = time.perf_counter()  # CLOCK_MONOTONIC, the clock the server's probes use too
            result = subprocess.run([*command[:2], f"-d{args.seconds}s", *command[2:]], capture_output=True,
                                    text=True, check=True, **pin)
            busy = (busy_seconds(0) - busy[0], busy_seconds(1) - busy[1])
            switched = [after - before for before, after in zip(switches, _context_switches(server.pid),
                                                                 strict=True)]
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        figures = json.loads(next(line for line in reversed(result.stdout.splitlines()) if line.startswith("{")))
        data = orjson.loads(dump.read_bytes())
        data["wrk_started"] = wrk_started
    print(f"wrk, {args.body} at {args.connections} connections for {args.seconds} s after a 2 s warm-up: "
          f"{figures['requests'] / args.seconds:,.0f} req/s, p50 {figures['p50_us'] / 1000:.1f} ms, "
          f"p99 {figures['p99_us'] / 1000:.1f} ms, max {figures['max_us'] / 1000:.1f} ms")
    print(f"CPUs busy over the load (everything, the server and wrk included): CPU 0 {busy[0]:.1f} s, CPU 1 "
          f"{busy[1]:.1f} s of {args.seconds}; server context switches: {switched[0]} voluntary, "
          f"{switched[1]} involuntary")
    report(during_load(data, args.seconds))
    return 0


def during_load(data: dict[str, Any], seconds: float) -> dict[str, Any]:
    """What was recorded over the last `seconds` of requests: the measured load, not the start-up or the warm-up."""
    ends = [r[2] for r in data["requests"]]
    if not ends:
        return data
    start = max(ends) - seconds
    return {
        "requests": [r for r in data["requests"] if r[1] >= start],
        "stages": data["stages"],  # per call, without times: the warm-up's calls are a small share
        "beats": [b for b in data["beats"] if b[0] >= start],
        "collections": [c for c in data["collections"] if c[1] >= start],
        "log_writes": [w for w in data["log_writes"] if w[1] >= start],
        "batches": [b for b in data["batches"] if b[1] >= start],
        **{key: data[key] for key in ("connections", "wrk_started") if key in data},
    }


if __name__ == "__main__":
    sys.exit(main())
