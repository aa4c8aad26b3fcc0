"""`make bench`: the service side by side with a bare FastAPI echo, under wrk, then the in-process cost per request.

Both servers run the same way (uvicorn, one worker, uvloop + httptools, a free loopback port) and get the same
request bytes. Every response must be a 200 (wrk counts statuses above 399, and the first answer of each server is
checked by content before the load), so a broken service cannot look fast. The servers are stopped on the way out.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.inprocess import Timing, time_sizes, time_stages
from bench.pk import report as pk_report
from hooks import HOOKS_BY_SERVICE_ID

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = ROOT / "fixtures" / "fhir" / "requests"
LUA = Path(__file__).resolve().parent / "post.lua"
RESULTS = Path(__file__).resolve().parent / "results"

TARGET_RATIO = 0.6  # service throughput / echo throughput at 32 connections, at least
TARGET_P99_MS = 15.0  # at 32 connections, at most
TARGET_EVALUATE_US = 200.0  # in-process evaluation of the 20-resource request, at most


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    service_id: str
    fixture: str


SCENARIOS = (
    Scenario("order-select (sandbox)", "imatinib-order-select", "order-select-sandbox-imatinib-with-rifampin.json"),
    Scenario("order-sign (19 prefetched)", "imatinib-order-sign", "order-sign-imatinib-with-carbamazepine.json"),
)
IN_PROCESS = SCENARIOS[1]
SIZES = (20, 200, 2000)


@dataclass(frozen=True, slots=True)
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    # The server's own CPU time (user + system) per request: what other work on the machine disturbs least.
    cpu_us_per_request: float
    requests: int
    failed: int
    socket_errors: int


@dataclass(frozen=True, slots=True)
class Server:
    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Output:
    """Prints as it goes and keeps the text, so the run can be saved under bench/results/."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pinned(cpu: int | None):
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path, cpu: int | None) -> Iterator[Server]:
    """Start a server, wait for /healthz, yield it; stop it (and only it) on the way out."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_pinned(cpu),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(base, process, log)
            yield Server(base, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise SystemExit(f"bench: the server at {base} did not start:\n{log.read_text()[-2000:]}")


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_service_answer(url: str, body: bytes) -> int:
    """The number of cards; stops the run unless the service answers 200 with at least one card."""
    status, answer = post(url, body)
    cards = orjson.loads(answer).get("cards") if status == 200 else None
    if not cards:
        raise SystemExit(f"bench: {url} answered {status} without cards: {answer[:500]!r}")
    return len(cards)


def check_echo_answer(url: str, body: bytes) -> None:
    status, answer = post(url, body)
    if status != 200 or answer != body:
        raise SystemExit(f"bench: the echo at {url} answered {status} with other bytes")


def wrk(server: Server, path: str, body_file: Path, connections: int, seconds: int, cpu: int | None) -> Load:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(LUA),
               server.base + path, "--", str(body_file)]
    cpu_before = server.cpu_seconds()
    result = subprocess.run(command, capture_output=True, text=True, preexec_fn=_pinned(cpu), check=False)
    cpu_used = server.cpu_seconds() - cpu_before
    line = next((raw for raw in reversed(result.stdout.splitlines()) if raw.startswith("{")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    figures = orjson.loads(line)
    return Load(
        requests_per_s=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        cpu_us_per_request=cpu_used * 1e6 / max(figures["requests"], 1),
        requests=figures["requests"],
        failed=figures["failed"],
        socket_errors=figures["socket_errors"],
    )


def best_of(rounds: list[Load]) -> Load:
    """The fastest round (other work on the machine only ever slows a round down), with every round's failures."""
    best = max(rounds, key=lambda load: load.requests_per_s)
    return replace(
        best,
        requests=sum(r.requests for r in rounds),
        failed=sum(r.failed for r in rounds),
        socket_errors=sum(r.socket_errors for r in rounds),
    )


def load_table(out: Output, rows: list[tuple[Scenario, int, int, Load, Load]]) -> list[str]:
    """Print the side-by-side table; return what went wrong (failed responses, socket errors)."""
    problems = []
    side = f"{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'CPU us/req':>11}"
    out(f"{'':<38} | {'service':^34} | {'echo':^34} | {'service/echo':^16}")
    out(f"{'request':<26}{'conns':>6}{'cards':>6} | {side} | {side} | {'req/s':>7}{'by CPU':>9}")
    for scenario, connections, cards, service, echo in rows:
        cells = [
            f"{load.requests_per_s:>7,.0f}{load.p50_ms:>8.2f}{load.p99_ms:>8.2f}{load.cpu_us_per_request:>11.0f}"
            for load in (service, echo)
        ]
        out(f"{scenario.name:<26}{connections:>6}{cards:>6} | {cells[0]} | {cells[1]} | "
            f"{service.requests_per_s / echo.requests_per_s:>7.2f}"
            f"{echo.cpu_us_per_request / service.cpu_us_per_request:>9.2f}")
        for who, load in (("service", service), ("echo", echo)):
            if load.failed or load.socket_errors or not load.requests:
                problems.append(f"{scenario.name} at {connections} connections: {who} had {load.failed} responses "
                                f"above 399 and {load.socket_errors} socket errors in {load.requests} requests")
    out("CPU us/req: the server process's user + system time per request; 'by CPU' is echo CPU / service CPU, the "
        "throughput ratio\nwithout interference from other work on the machine.")
    return problems


def load_targets(out: Output, rows: list[tuple[Scenario, int, int, Load, Load]]) -> None:
    for scenario, connections, _cards, service, echo in rows:
        if connections < 32:
            continue
        ratio = service.requests_per_s / echo.requests_per_s
        out(f"target {scenario.name} at {connections} connections: throughput {ratio:.2f} x echo "
            f"(>= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}), p99 {service.p99_ms:.2f} ms "
            f"(<= {TARGET_P99_MS:g} ms: {'met' if service.p99_ms <= TARGET_P99_MS else 'MISSED'})")


def around_the_rules_table(out: Output, rows: list[tuple[Scenario, int, Load, Load, Load]]) -> list[str]:
    """What the service costs with its evaluation replaced by a recorded answer, and so what the evaluation costs."""
    out("The same service with the evaluation replaced by a recorded answer (bench/recorded_answer_app.py): routing, "
        "checks,\nparsing, shape limits, request model, log lines, serialisation; the evaluation is what the full "
        "service costs on top")
    out(f"{'request':<26}{'conns':>6} | {'req/s':>7}{'p99 ms':>8}{'CPU us/req':>11}{'x echo':>8} | "
        f"{'evaluation, CPU us/req':>23}")
    problems = []
    for scenario, connections, service, echo, recorded in rows:
        out(f"{scenario.name:<26}{connections:>6} | {recorded.requests_per_s:>7,.0f}{recorded.p99_ms:>8.2f}"
            f"{recorded.cpu_us_per_request:>11.0f}{recorded.requests_per_s / echo.requests_per_s:>8.2f} | "
            f"{service.cpu_us_per_request - recorded.cpu_us_per_request:>23.0f}")
        if recorded.failed or recorded.socket_errors or not recorded.requests:
            problems.append(f"{scenario.name} at {connections} connections: the recorded-answer app had "
                            f"{recorded.failed} responses above 399 and {recorded.socket_errors} socket errors in "
                            f"{recorded.requests} requests")
    return problems


def in_process_table(out: Output, timings: list[Timing]) -> None:
    base = timings[0]
    out(f"{'prefetched':>10}{'body KB':>9}{'evaluate us':>13}{'parse+evaluate+serialise us':>29}"
        f"{'us per added resource':>23}")
    for timing in timings:
        added = timing.resources - base.resources
        marginal = f"{(timing.full_us - base.full_us) / added:.2f}" if added else "-"
        out(f"{timing.resources:>10}{timing.body_bytes / 1024:>9.1f}{timing.evaluate_us:>13.1f}"
            f"{timing.full_us:>29.1f}{marginal:>23}")
    same = all(t.summaries == base.summaries for t in timings)
    out(f"cards at every size: {list(base.summaries)}{'' if same else ' -- BUT THEY DIFFER BETWEEN SIZES'}")
    met = base.evaluate_us <= TARGET_EVALUATE_US
    out(f"target evaluate at {base.resources} resources: {base.evaluate_us:.1f} us "
        f"(<= {TARGET_EVALUATE_US:g} us: {'met' if met else 'MISSED'}); linear if the cost per added resource "
        "is about the same at every size")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--duration", type=int, default=4, help="seconds of load per round (default 4)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per cell; the best counts")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--no-pin", action="store_true", help="let the OS place servers and wrk on any CPU")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is not installed (make bench installs it with apt-get)")
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    server_cpu, wrk_cpu = (0, 1) if pin else (None, None)

    out = Output()
    started = datetime.now(UTC)
    out(f"bench {started:%Y-%m-%d %H:%M:%S} UTC; {os.cpu_count()} CPUs; load average {_load()} at start")
    out(f"servers: uvicorn, 1 worker, uvloop + httptools, info logging; wrk 1 thread; "
        f"{'server on CPU 0, wrk on CPU 1' if pin else 'not pinned'}; per cell {args.rounds} rounds of "
        f"{args.duration} s alternating service and echo, the best round of each shown")

    with tempfile.TemporaryDirectory(prefix="cds-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        env = {**os.environ, "CDS_DATABASE_URL": f"sqlite:///{scratch / 'feedback.db'}", "CDS_HOST": "127.0.0.1"}
        bodies = {}
        for scenario in SCENARIOS:
            bodies[scenario] = scratch / scenario.fixture
            bodies[scenario].write_bytes(orjson.dumps(orjson.loads((REQUESTS / scenario.fixture).read_bytes())))
        service_command = [str(Path(sys.executable).with_name("cds-service")), "serve"]
        echo_command = [sys.executable, "-m", "bench.echo_app"]
        recorded_command = [sys.executable, "-m", "bench.recorded_answer_app"]
        rows, around_rows = [], []
        with (
            running(service_command, env, scratch / "service.log", server_cpu) as service,
            running(echo_command, env, scratch / "echo.log", server_cpu) as echo,
            running(recorded_command, env, scratch / "recorded.log", server_cpu) as recorded,
        ):
            targets = {
                scenario: (
                    (service, f"/cds-services/{scenario.service_id}"),
                    (echo, f"/echo/{scenario.service_id}"),
                    (recorded, f"/cds-services/{scenario.service_id}"),
                )
                for scenario in SCENARIOS
            }
            cards = {}
            for scenario, ((_, service_path), (_, echo_path), _recorded) in targets.items():
                cards[scenario] = check_service_answer(service.base + service_path, bodies[scenario].read_bytes())
                check_echo_answer(echo.base + echo_path, bodies[scenario].read_bytes())
                if check_service_answer(recorded.base + service_path, bodies[scenario].read_bytes()) != cards[scenario]:
                    raise SystemExit(f"bench: the recorded-answer app does not answer {scenario.name} as the service")
                for server, path in targets[scenario]:  # warm the servers up (the first requests fill caches)
                    wrk(server, path, bodies[scenario], 32, 1, wrk_cpu)
            for scenario, servers in targets.items():
                for connections in args.connections:
                    # The recorded-answer app only where the targets are set; every round alternates the servers.
                    measured = servers if connections >= 32 else servers[:2]
                    rounds = [
                        tuple(wrk(server, path, bodies[scenario], connections, args.duration, wrk_cpu)
                              for server, path in measured)
                        for _ in range(args.rounds)
                    ]
                    per_server = (best_of(list(cell)) for cell in zip(*rounds, strict=True))
                    service_load, echo_load, *recorded_load = per_server
                    rows.append((scenario, connections, cards[scenario], service_load, echo_load))
                    if recorded_load:
                        around_rows.append((scenario, connections, service_load, echo_load, recorded_load[0]))
        out()
        sizes = ", ".join(f"{s.name} {bodies[s].stat().st_size / 1024:.1f} KB" for s in SCENARIOS)
        out(f"HTTP, one worker each; request bodies: {sizes}")
        problems = load_table(out, rows)
        load_targets(out, rows)
        out()
        problems += around_the_rules_table(out, around_rows)

    out()
    out(f"In process, {IN_PROCESS.name} padded with history, conditions and labs (CPU time, best of 5; no HTTP, "
        "no FHIR server)")
    request = orjson.loads((REQUESTS / IN_PROCESS.fixture).read_bytes())
    in_process_table(out, time_sizes(request, HOOKS_BY_SERVICE_ID[IN_PROCESS.service_id], SIZES))
    out()
    out(f"Where the time goes: {IN_PROCESS.name}, 20 resources, each stage on the previous stage's output (warm)")
    stages = time_stages(request, HOOKS_BY_SERVICE_ID[IN_PROCESS.service_id])
    for name, us in stages:
        out(f"  {name:<40}{us:>8.1f} us")
    out(f"  {'sum':<40}{sum(us for _, us in stages):>8.1f} us")
    out()
    problems += pk_report(out)
    out()
    out(f"load average {_load()} at the end; {(datetime.now(UTC) - started).total_seconds():.0f} s in all")
    for problem in problems:
        out(f"FAILED: {problem}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{started:%Y%m%dT%H%M%S}.txt").write_text("\n".join(out.lines) + "\n")
    return 1 if problems else 0


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
