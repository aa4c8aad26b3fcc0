"""Fetching an issuer's key set when its URL hangs or fails: one fetch at a time per URL, shared by every caller
waiting for it; a failure remembered briefly; and no caller waiting longer than the key-set timeout in all.

Before this, eight concurrent calls for one issuer whose URL hung waited 1, 2, ... 8 timeouts, each fetching again
under a per-URL lock. The server here is a real loopback socket that counts requests and answers late or never.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.auth.issuers import TrustedIssuer
from cds_service.auth.keysets import KeySets, KeySetUnavailable
from tests.helpers import request_fixture
from tests.jwt_helpers import EPIC_ISS, EPIC_KEY, EPIC_KID, epic_token, public_jwks

TIMEOUT = 0.4  # CDS_JWKS_TIMEOUT_SECONDS for these tests
CALLERS = 8


@dataclass
class KeyServer:
    """Answers GET with the Epic-like key set after `delay` seconds (None: never)."""

    delay: float | None
    requests: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        while True:  # one request after another on a kept-alive connection
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            self.requests += 1
            if self.delay is None:
                await asyncio.Event().wait()  # hangs until the test ends
            await asyncio.sleep(self.delay)
            body = orjson.dumps(public_jwks(EPIC_KEY))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()


@asynccontextmanager
async def key_server(delay: float | None) -> AsyncIterator[tuple[KeyServer, TrustedIssuer]]:
    state = KeyServer(delay)
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield state, TrustedIssuer(iss=EPIC_ISS, jwks_url=f"http://127.0.0.1:{port}/jwks")
    finally:
        for writer in state.writers:
            writer.close()
        server.close()


async def _timed(key_sets: KeySets, issuer: TrustedIssuer) -> tuple[float, object]:
    started = time.monotonic()
    try:
        outcome: object = await key_sets.key(issuer, EPIC_KID, None)
    except KeySetUnavailable as exc:
        outcome = exc
    return time.monotonic() - started, outcome


def test_concurrent_callers_share_one_fetch_of_a_hanging_url_and_none_waits_past_the_timeout():
    clock = [1000.0]

    async def scenario():
        async with key_server(delay=None) as (server, issuer), httpx.AsyncClient() as http:
            key_sets = KeySets(http, timeout=TIMEOUT, clock=lambda: clock[0])
            results = await asyncio.gather(*(_timed(key_sets, issuer) for _ in range(CALLERS)))
            fetches_at_first = server.requests
            again = await _timed(key_sets, issuer)  # the failure is remembered: no new fetch, no wait
            fetches_while_remembered = server.requests
            clock[0] += 61  # later, the URL is tried again
            await _timed(key_sets, issuer)
            return results, fetches_at_first, again, fetches_while_remembered, server.requests

    results, fetches_at_first, again, fetches_while_remembered, fetches_later = asyncio.run(scenario())
    assert fetches_at_first == 1
    waits = sorted(wait for wait, _ in results)
    assert waits[-1] < TIMEOUT + 0.5, waits  # one timeout each, not 1..8 timeouts one after the other
    assert all(isinstance(outcome, KeySetUnavailable) for _, outcome in results)
    assert all("did not answer within 0.4 s" in str(outcome) for _, outcome in results)
    wait, outcome = again
    assert isinstance(outcome, KeySetUnavailable) and "did not answer within 0.4 s" in str(outcome)
    assert wait < TIMEOUT / 2
    assert fetches_while_remembered == 1
    assert fetches_later == 2


def test_concurrent_callers_share_one_slow_but_successful_fetch():
    async def scenario():
        async with key_server(delay=TIMEOUT / 4) as (server, issuer), httpx.AsyncClient() as http:
            key_sets = KeySets(http, timeout=TIMEOUT)
            results = await asyncio.gather(*(_timed(key_sets, issuer) for _ in range(CALLERS)))
            return results, server.requests

    results, fetches = asyncio.run(scenario())
    assert fetches == 1
    assert all(getattr(outcome, "kid", None) == EPIC_KID for _, outcome in results)


def test_a_failed_refetch_keeps_serving_the_last_good_key_set_without_waiting_again():
    """The issuer answered once, then hangs: the known key still verifies, and the URL is not hammered."""
    clock = [1000.0]

    async def scenario():
        async with key_server(delay=0.0) as (server, issuer), httpx.AsyncClient() as http:
            key_sets = KeySets(http, timeout=TIMEOUT, ttl=60, clock=lambda: clock[0])
            first = await _timed(key_sets, issuer)
            server.delay = None
            clock[0] += 61  # expired: refetched, the refetch hangs
            stale = await asyncio.gather(*(_timed(key_sets, issuer) for _ in range(CALLERS)))
            again = await _timed(key_sets, issuer)
            return first, stale, again, server.requests

    first, stale, again, fetches = asyncio.run(scenario())
    assert getattr(first[1], "kid", None) == EPIC_KID
    assert all(getattr(outcome, "kid", None) == EPIC_KID for _, outcome in stale)
    assert max(wait for wait, _ in stale) < TIMEOUT + 0.5
    assert getattr(again[1], "kid", None) == EPIC_KID and again[0] < TIMEOUT / 2
    assert fetches == 2


@pytest.mark.parametrize("status", [500, 404])
def test_over_http_a_failing_key_set_url_is_a_401_naming_it_and_is_not_refetched_at_once(
    settings, knowledge, tmp_path, respx_mock, status
):
    url = "https://epic.example.org/jwks"
    issuers = tmp_path / "issuers.json"
    issuers.write_text(orjson.dumps([{"iss": EPIC_ISS, "jwks_url": url}]).decode())
    route = respx_mock.get(url).respond(status)
    auth = settings.model_copy(update={"auth_required": True, "trusted_issuers_file": str(issuers),
                                       "jwks_timeout_seconds": TIMEOUT})
    service = "http://testserver/cds-services/imatinib-order-select"
    body = request_fixture("order-select-sandbox-imatinib-with-rifampin.json")
    with TestClient(create_app(auth, knowledge)) as client:
        for _ in range(3):
            response = client.post(service, json=body, headers={"Authorization": f"Bearer {epic_token(service)}"})
            assert response.status_code == 401
            assert f"the issuer's key set URL answered HTTP {status}" in response.headers["WWW-Authenticate"]
    assert route.call_count == 1
