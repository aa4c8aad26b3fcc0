"""`make bench`: the service beside a bare FastAPI echo and a peer (HealthChain), under wrk, then the in-process cost.

Every server runs the same way (uvicorn, one worker, the service's event loop and httptools, JSON logging at info,
a free loopback port) and gets the same request bytes. Every response must be a 200 (wrk counts statuses above
399, and the first answer of each server is checked by content before the load, the service's by its number of
cards), so a broken service cannot look fast. Rounds of the servers are interleaved, so a disturbance of the
machine hits all of them alike; each round's p50, p99 and max are kept, because a stall shows in one round's max,
not in the best round. The servers are stopped on the way out.
"""

import argparse
import importlib.metadata
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.inprocess import Timing, time_sizes, time_stages
from bench.pk import order_select_with_level
from bench.pk import report as pk_report
from cds_service.cli import uvicorn_options
from hooks import HOOKS_BY_SERVICE_ID

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = ROOT / "fixtures" / "fhir" / "requests"
BODIES = Path(__file__).resolve().parent / "bodies"
LUA = Path(__file__).resolve().parent / "post.lua"
RESULTS = Path(__file__).resolve().parent / "results"
PEER_VENV = Path(__file__).resolve().parent / ".peer-venv"  # git-ignored; made by the bench itself
PEER = "healthchain==0.16.1"
# Served as the service is served: the same uvicorn, event loop, parser and JSON library as this environment's.
PEER_SAME_AS_OURS = ("uvicorn", "uvloop", "httptools", "orjson")

CPU_TARGET_X_ECHO = 3.0  # issue 16: the service's CPU per request at most 3 x the echo's, on every body
TARGET_EVALUATE_US = 200.0  # in-process evaluation of the 20-resource request, at most
# Stalls (issue 16): per round at 32 connections, p99 at most 2.5 x the server's own p50 and the maximum at most 6 x
# it, in at least 4 of 5 rounds (the echo's p99 is about 2 x its p50).
STALL_CONNECTIONS = 32
STALL_P99_X_P50 = 2.5
STALL_MAX_X_P50 = 6.0
STALL_ROUNDS_SHARE = 4 / 5
DISTURBED_SHARE = 0.05  # a round where other work took more of a CPU than this is marked as disturbed


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    service_id: str
    body: Path | Callable[[], dict[str, Any]]  # a file, or made when the bench runs (dates relative to today)
    cards: int  # what the service must answer before the load: a body that no longer fires its cards is not timed
    file_name: str = ""  # for a made body: the name it is written under

    def request(self) -> dict[str, Any]:
        return orjson.loads(self.body.read_bytes()) if isinstance(self.body, Path) else self.body()

    def compact(self) -> bytes:
        """The body as sent: compact JSON."""
        return orjson.dumps(self.request())


SCENARIOS = (
    Scenario("order-select (sandbox)", "imatinib-order-select",
             REQUESTS / "order-select-sandbox-imatinib-with-rifampin.json", 1),
    Scenario("order-sign (19 prefetched)", "imatinib-order-sign",
             REQUESTS / "order-sign-imatinib-with-carbamazepine.json", 1),
    # About 17 kB compact: a BCR-ABL1 variant (E255K), six imatinib levels, carbamazepine and six other medicines;
    # the inducer card and the variant card.
    Scenario("order-sign heavy (17 kB)", "imatinib-order-sign", BODIES / "order-sign-imatinib-heavy.json", 2),
    # Issue 16's budget for model-informed dosing: an imatinib draft, a weight, one low trough and routine tests up
    # to 200 prefetched resources (111 kB); the TDM card with its MAP fit.
    Scenario("order-select TDM (200 prefetched)", "imatinib-order-select",
             lambda: order_select_with_level(prefetched=200), 1, "order-select-imatinib-tdm-200.json"),
)
IN_PROCESS = SCENARIOS[1]
SIZES = (20, 200, 2000)


@dataclass(frozen=True, slots=True)
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    # The server's own CPU time (user + system) per request: what other work on the machine disturbs least.
    cpu_us_per_request: float
    requests: int
    failed: int
    socket_errors: int
    # CPU time the machine gave to anything else (other processes, the hypervisor's steal) during the round, in ms,
    # on the server's CPU and on wrk's; None when not pinned. A stall in a round where these are large is the
    # machine's, not the server's.
    others_on_server_cpu_ms: float | None = None
    others_on_wrk_cpu_ms: float | None = None
    window_s: float | None = None  # the wall time those were counted over (wrk's start and end included)

    def within_stall_target(self) -> bool:
        """p99 <= 2.5 x this round's p50 and max <= 6 x it: no request waited far longer than the typical one."""
        return self.p99_ms <= STALL_P99_X_P50 * self.p50_ms and self.max_ms <= STALL_MAX_X_P50 * self.p50_ms


@dataclass(frozen=True, slots=True)
class Server:
    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Target:
    """One server as loaded for one body: who, where it answers, and how its first answer is checked."""

    who: str  # "service", "echo", "recorded", "HealthChain"
    server: Server
    path: str


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
def running(command: list[str], env: dict[str, str], log: Path, cpu: int | None,
            health: str = "/healthz") -> Iterator[Server]:
    """Start a server, wait for its health path, yield it; stop it (and only it) on the way out."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_pinned(cpu),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(base + health, process, log)
            yield Server(base, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise SystemExit(f"bench: the server at {url} did not start:\n{log.read_text()[-2000:]}")


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_cards(who: str, url: str, body: bytes, expected: int) -> None:
    """Stops the run unless `url` answers 200 with exactly `expected` cards."""
    status, answer = post(url, body)
    cards = orjson.loads(answer).get("cards") if status == 200 else None
    if cards is None or len(cards) != expected:
        found = "no cards" if cards is None else f"{len(cards)} cards"
        raise SystemExit(f"bench: the {who} at {url} answered {status} with {found}, not {expected}: {answer[:500]!r}")


def check_echo_answer(url: str, body: bytes) -> None:
    status, answer = post(url, body)
    if status != 200 or answer != body:
        raise SystemExit(f"bench: the echo at {url} answered {status} with other bytes")


def busy_seconds(cpu: int) -> float:
    """Time CPU `cpu` has spent on anything but idling since boot, the hypervisor's steal included (/proc/stat)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in line.split()[1:9])
            return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    raise ValueError(f"no cpu{cpu} in /proc/stat")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(server: Server, path: str, body_file: Path, connections: int, seconds: int, cpu: int | None,
        server_cpu: int | None = None) -> Load:
    """One round of wrk against `server`; with both pinned, also what else ran on the two CPUs meanwhile."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(LUA),
               server.base + path, "--", str(body_file)]
    pinned = cpu is not None and server_cpu is not None
    busy_before = (busy_seconds(server_cpu), busy_seconds(cpu)) if pinned else (0.0, 0.0)
    wrk_before = _children_cpu_seconds()
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, preexec_fn=_pinned(cpu), check=False)
    window = time.monotonic() - started
    cpu_used = server.cpu_seconds() - cpu_before
    wrk_used = _children_cpu_seconds() - wrk_before
    line = next((raw for raw in reversed(result.stdout.splitlines()) if raw.startswith("{")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(f"bench: wrk failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    load = load_from_wrk(orjson.loads(line), cpu_used)
    if pinned:
        load = replace(load,
                       others_on_server_cpu_ms=max(0.0, busy_seconds(server_cpu) - busy_before[0] - cpu_used) * 1000,
                       others_on_wrk_cpu_ms=max(0.0, busy_seconds(cpu) - busy_before[1] - wrk_used) * 1000,
                       window_s=window)
    return load


def load_from_wrk(figures: dict[str, int], cpu_seconds: float) -> Load:
    """One round's figures from post.lua's JSON line (microseconds) and the server's CPU time over the round."""
    return Load(
        requests_per_s=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        cpu_us_per_request=cpu_seconds * 1e6 / max(figures["requests"], 1),
        requests=figures["requests"],
        failed=figures["failed"],
        socket_errors=figures["socket_errors"],
    )


def best_of(rounds: Sequence[Load]) -> Load:
    """The fastest round (other work on the machine only ever slows a round down), with every round's failures."""
    best = max(rounds, key=lambda load: load.requests_per_s)
    return replace(
        best,
        requests=sum(r.requests for r in rounds),
        failed=sum(r.failed for r in rounds),
        socket_errors=sum(r.socket_errors for r in rounds),
    )


def failures(name: str, connections: int, who: str, load: Load) -> list[str]:
    if load.failed or load.socket_errors or not load.requests:
        return [f"{name} at {connections} connections: the {who} had {load.failed} responses above 399 and "
                f"{load.socket_errors} socket errors in {load.requests} requests"]
    return []


def load_table(out: Output, rows: list[tuple[Scenario, int, int, Load, Load]]) -> list[str]:
    """Print the side-by-side table; return what went wrong (failed responses, socket errors)."""
    problems = []
    side = f"{'req/s':>7}{'p50':>7}{'p99':>7}{'max':>7}{'CPU us':>7}"
    out(f"{'':<38} | {'service':^35} | {'echo':^35} | {'service/echo':^16}")
    out(f"{'request':<26}{'conns':>6}{'cards':>6} | {side} | {side} | {'req/s':>7}{'CPU':>9}")
    for scenario, connections, cards, service, echo in rows:
        cells = [
            f"{load.requests_per_s:>7,.0f}{load.p50_ms:>7.2f}{load.p99_ms:>7.2f}{load.max_ms:>7.1f}"
            f"{load.cpu_us_per_request:>7.0f}"
            for load in (service, echo)
        ]
        out(f"{scenario.name:<26}{connections:>6}{cards:>6} | {cells[0]} | {cells[1]} | "
            f"{service.requests_per_s / echo.requests_per_s:>7.2f}"
            f"{service.cpu_us_per_request / echo.cpu_us_per_request:>8.2f}x")
        problems += failures(scenario.name, connections, "service", service)
        problems += failures(scenario.name, connections, "echo", echo)
    out("latencies in ms (wrk); CPU us: the server process's user + system time per request; service/echo CPU is how "
        "many echo requests\none service request costs (the issue's target: at most 3 x)")
    return problems


def disturbed(load: Load) -> bool:
    """Whether other work took more than DISTURBED_SHARE of the server's CPU or of wrk's during the round."""
    if load.window_s is None:
        return False
    others = max(load.others_on_server_cpu_ms or 0.0, load.others_on_wrk_cpu_ms or 0.0)
    return others > DISTURBED_SHARE * load.window_s * 1000


def stall_table(out: Output, cells: list[tuple[Scenario, dict[str, list[Load]]]], seconds: float) -> list[str]:
    """Every round of every server at 32 connections, and whether the service meets the stall target per body.

    Returns one line per body where the service missed it (reported, not a failure of the run: a target, not a
    fault)."""
    out(f"Stalls at {STALL_CONNECTIONS} connections, every round in order: p50/p99/max ms; '!' where p99 > "
        f"{STALL_P99_X_P50:g} x p50 or max > {STALL_MAX_X_P50:g} x p50; '~' where other work took more than "
        f"{DISTURBED_SHARE:.0%} of a CPU")
    missed = []
    for scenario, per_server in cells:
        for who, rounds in per_server.items():
            within = sum(load.within_stall_target() for load in rounds)
            needed = math.ceil(len(rounds) * STALL_ROUNDS_SHARE)  # 4 of 5
            verdict = f"{within} of {len(rounds)} within"
            if who == "service":
                verdict += ": met" if within >= needed else ": MISSED"
                if within < needed:
                    missed.append(f"{scenario.name}: the service was within the stall target in {within} of "
                                  f"{len(rounds)} rounds (at least {needed} needed)")
            rounds_text = " ".join(
                f"{load.p50_ms:.1f}/{load.p99_ms:.1f}/{load.max_ms:.0f}"
                f"{' ' if load.within_stall_target() else '!'}{'~' if disturbed(load) else ' '}"
                for load in rounds
            )
            out(f"{scenario.name:<26} {who:<11} {rounds_text} {verdict}")
    every = [load for _, per_server in cells for rounds in per_server.values() for load in rounds]
    if every and every[0].others_on_server_cpu_ms is not None:
        server_side = sorted(load.others_on_server_cpu_ms or 0.0 for load in every)
        wrk_side = sorted(load.others_on_wrk_cpu_ms or 0.0 for load in every)
        out(f"other work (other processes, steal) per {seconds:g} s round: on the servers' CPU median "
            f"{server_side[len(server_side) // 2]:.0f} ms, most {server_side[-1]:.0f} ms; on wrk's CPU median "
            f"{wrk_side[len(wrk_side) // 2]:.0f} ms, most {wrk_side[-1]:.0f} ms; "
            f"{sum(disturbed(load) for load in every)} of {len(every)} rounds disturbed")
    return missed


def around_the_rules_table(out: Output, rows: list[tuple[Scenario, int, Load, Load, Load]]) -> list[str]:
    """What the service costs with its evaluation replaced by a recorded answer, and so what the evaluation costs."""
    out("The same service with the evaluation replaced by a recorded answer (bench/recorded_answer_app.py): routing, "
        "checks,\nparsing, shape limits, request model, log lines, serialisation; the evaluation is what the full "
        "service costs on top")
    out(f"{'request':<26}{'conns':>6} | {'req/s':>7}{'p99 ms':>8}{'CPU us/req':>11}{'x echo':>8} | "
        f"{'evaluation, CPU us/req':>23} | {'left by 3 x echo':>16}")
    problems = []
    for scenario, connections, service, echo, recorded in rows:
        out(f"{scenario.name:<26}{connections:>6} | {recorded.requests_per_s:>7,.0f}{recorded.p99_ms:>8.2f}"
            f"{recorded.cpu_us_per_request:>11.0f}{recorded.requests_per_s / echo.requests_per_s:>8.2f} | "
            f"{service.cpu_us_per_request - recorded.cpu_us_per_request:>23.0f} | "
            f"{evaluation_allowance(echo, recorded):>16.0f}")
        problems += failures(scenario.name, connections, "recorded-answer app", recorded)
    out("left by 3 x echo: the CPU the issue's target (at most 3 x the echo) leaves for the evaluation once the "
        "service without it\nis paid for (3 x echo - recorded answer); below 0, no evaluation at all would meet it")
    return problems


def evaluation_allowance(echo: Load, recorded: Load) -> float:
    """CPU us per request the evaluation may cost under the 3 x echo target: what is left after the shell."""
    return CPU_TARGET_X_ECHO * echo.cpu_us_per_request - recorded.cpu_us_per_request


def peer_table(out: Output, rows: list[tuple[Scenario, Load, Load, Load]]) -> list[str]:
    """The service, the echo and HealthChain side by side: req/s, CPU per request, and the ratios the issue sets."""
    out(f"Against the peer at {STALL_CONNECTIONS} connections: HealthChain 0.16.1 as shipped, one card per call "
        "(bench/healthchain_app.py)")
    side = f"{'req/s':>7}{'CPU us':>7}"
    out(f"{'request':<26} | {'service':^14} | {'echo':^14} | {'HealthChain':^14} | {'CPU per request':^27} | "
        f"{'req/s':^21}")
    out(f"{'':<26} | {side} | {side} | {side} | {'service/echo':>13}{'HC/service':>14} | "
        f"{'service/echo':>13}{'/HC':>8}")
    problems = []
    for scenario, service, echo, peer in rows:
        cells = " | ".join(
            f"{load.requests_per_s:>7,.0f}{load.cpu_us_per_request:>7.0f}" for load in (service, echo, peer))
        out(f"{scenario.name:<26} | {cells} | {service.cpu_us_per_request / echo.cpu_us_per_request:>12.2f}x"
            f"{peer.cpu_us_per_request / service.cpu_us_per_request:>13.2f}x | "
            f"{service.requests_per_s / echo.requests_per_s:>12.2f}x"
            f"{service.requests_per_s / peer.requests_per_s:>7.2f}x")
        problems += failures(scenario.name, STALL_CONNECTIONS, "HealthChain peer", peer)
    out("HC/service above 1: HealthChain's plumbing costs more CPU per request than the whole service with its rules")
    return problems


def peer_requirements() -> list[str]:
    """HealthChain, and the server pieces pinned to the versions the service itself runs on."""
    return [PEER, *(f"{name}=={importlib.metadata.version(name)}" for name in PEER_SAME_AS_OURS)]


def peer_python(venv: Path = PEER_VENV) -> tuple[Path | None, str]:
    """The peer's interpreter, making its virtual environment when missing or made for other requirements.

    Returns (python, "") or (None, why not): without the peer the bench still runs, and says so."""
    requirements = peer_requirements()
    python, stamp = venv / "bin" / "python", venv / ".requirements"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python, ""
    shutil.rmtree(venv, ignore_errors=True)
    steps = ([sys.executable, "-m", "venv", str(venv)],
             [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements])
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            said = (result.stderr or result.stdout).strip().splitlines()
            return None, f"could not make {venv} ({step[2]} {step[3]}): {said[-1] if said else 'no output'}"
    stamp.write_text(wanted)
    return python, ""


def planned_seconds(args: argparse.Namespace, peer: bool = True) -> int:
    """Seconds of load the run will take (the warm-up, the servers' start and the in-process part come on top)."""
    at_32 = 3 + peer  # service, echo, recorded answer, and the peer
    per_body = sum(
        args.rounds * args.duration * at_32 if connections >= STALL_CONNECTIONS
        else args.latency_rounds * args.duration * 2
        for connections in args.connections
    )
    return per_body * len(SCENARIOS)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--duration", type=int, default=3, help="seconds of load per round (default 3)")
    parser.add_argument("--rounds", type=int, default=5,
                        help=f"interleaved rounds per cell at {STALL_CONNECTIONS}+ connections, where the stall target "
                             "is judged per round (default 5)")
    parser.add_argument("--latency-rounds", type=int, default=1,
                        help="interleaved rounds per cell below 32 connections (default 1)")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, STALL_CONNECTIONS])
    parser.add_argument("--no-pin", action="store_true", help="let the OS place servers and wrk on any CPU")
    parser.add_argument("--no-peer", action="store_true", help="leave HealthChain out (no virtual environment made)")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process timings")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is not installed (make bench installs it with apt-get)")
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    server_cpu, wrk_cpu = (0, 1) if pin else (None, None)

    out = Output()
    started = datetime.now(UTC)
    out(f"bench {started:%Y-%m-%d %H:%M:%S} UTC; {os.cpu_count()} CPUs; load average {_load()} at start")
    peer_python_path, no_peer = (None, "left out (--no-peer)") if args.no_peer else peer_python()
    loop = uvicorn_options()["loop"]
    out(f"servers: uvicorn, 1 worker, {loop} loop + httptools, info logging; wrk 1 thread; "
        f"{'server on CPU 0, wrk on CPU 1' if pin else 'not pinned'}; per cell at {STALL_CONNECTIONS} connections "
        f"{args.rounds} interleaved rounds of {args.duration} s (at fewer: {args.latency_rounds}); tables show each "
        f"server's best round, the stall table every round; {planned_seconds(args, peer_python_path is not None)} s "
        "of load")
    if peer_python_path is None:
        out(f"peer HealthChain: {no_peer}")

    with tempfile.TemporaryDirectory(prefix="cds-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        env = {**os.environ, "CDS_DATABASE_URL": f"sqlite:///{scratch / 'feedback.db'}", "CDS_HOST": "127.0.0.1"}
        bodies = {}
        for scenario in SCENARIOS:
            bodies[scenario] = scratch / (scenario.file_name or Path(str(scenario.body)).name)
            bodies[scenario].write_bytes(scenario.compact())
        commands = {
            "service": ([str(Path(sys.executable).with_name("cds-service")), "serve"], env, "/healthz"),
            "echo": ([sys.executable, "-m", "bench.echo_app"], env, "/healthz"),
            "recorded": ([sys.executable, "-m", "bench.recorded_answer_app"], env, "/healthz"),
        }
        if peer_python_path is not None:
            commands["HealthChain"] = ([str(peer_python_path), "-m", "bench.healthchain_app", "--loop", loop],
                                       {**env, "PYTHONPATH": str(ROOT)}, "/health")
        with _all_running(commands, scratch, server_cpu) as servers:
            targets = {scenario: _targets(servers, scenario) for scenario in SCENARIOS}
            for scenario, cell in targets.items():
                body = bodies[scenario].read_bytes()
                for target in cell:
                    url = target.server.base + target.path
                    if target.who == "echo":
                        check_echo_answer(url, body)
                    else:
                        check_cards(target.who, url, body, scenario.cards if target.who in ("service", "recorded")
                                    else 1)
                    wrk(target.server, target.path, bodies[scenario], 32, 1, wrk_cpu)  # warm-up: caches fill
            measured: dict[tuple[Scenario, int], dict[str, list[Load]]] = {}
            for scenario, cell in targets.items():
                for connections in args.connections:
                    # The recorded answer and the peer only where the targets are set; every round interleaves them.
                    loaded = cell if connections >= STALL_CONNECTIONS else cell[:2]
                    rounds = args.rounds if connections >= STALL_CONNECTIONS else args.latency_rounds
                    per_server: dict[str, list[Load]] = {target.who: [] for target in loaded}
                    for _ in range(rounds):
                        for target in loaded:
                            per_server[target.who].append(wrk(target.server, target.path, bodies[scenario],
                                                              connections, args.duration, wrk_cpu, server_cpu))
                    measured[scenario, connections] = per_server
        out()
        sizes = ", ".join(f"{s.name} {bodies[s].stat().st_size / 1024:.1f} KB" for s in SCENARIOS)
        out(f"HTTP, one worker each; request bodies (compact): {sizes}")
        best = {key: {who: best_of(rounds) for who, rounds in per_server.items()}
                for key, per_server in measured.items()}
        problems = load_table(out, [(scenario, connections, scenario.cards, cell["service"], cell["echo"])
                                    for (scenario, connections), cell in best.items()])
        out()
        stall_cells = [(scenario, per_server) for (scenario, connections), per_server in measured.items()
                       if connections == STALL_CONNECTIONS]
        missed = stall_table(out, stall_cells, args.duration)
        out()
        at_32 = [(scenario, cell) for (scenario, connections), cell in best.items() if connections >= STALL_CONNECTIONS]
        if peer_python_path is not None:
            problems += peer_table(out, [(s, c["service"], c["echo"], c["HealthChain"]) for s, c in at_32])
            out()
        problems += around_the_rules_table(
            out, [(s, STALL_CONNECTIONS, c["service"], c["echo"], c["recorded"]) for s, c in at_32])

    if not args.no_in_process:
        out()
        out(f"In process, {IN_PROCESS.name} padded with history, conditions and labs (CPU time, best of 5; no HTTP, "
            "no FHIR server)")
        request = IN_PROCESS.request()
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
    for line in missed:
        out(f"stall target missed: {line}")
    for problem in problems:
        out(f"FAILED: {problem}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{started:%Y%m%dT%H%M%S}.txt").write_text("\n".join(out.lines) + "\n")
    return 1 if problems else 0


@contextmanager
def _all_running(commands: dict[str, tuple[list[str], dict[str, str], str]], scratch: Path,
                 cpu: int | None) -> Iterator[dict[str, Server]]:
    """Every server started (one after the other, each waited for), all stopped on the way out."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield {
            who: stack.enter_context(running(command, env, scratch / f"{who}.log", cpu, health))
            for who, (command, env, health) in commands.items()
        }


def _targets(servers: dict[str, Server], scenario: Scenario) -> list[Target]:
    """The servers for one body, in the order each round loads them: service and echo first (also at 1 connection)."""
    paths = {
        "service": f"/cds-services/{scenario.service_id}",
        "echo": f"/echo/{scenario.service_id}",
        "recorded": f"/cds-services/{scenario.service_id}",
        "HealthChain": f"/cds/cds-services/{scenario.service_id}",
    }
    return [Target(who, servers[who], paths[who]) for who in ("service", "echo", "recorded", "HealthChain")
            if who in servers]


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


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


if __name__ == "__main__":
    sys.exit(main())
