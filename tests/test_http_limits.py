"""What uvicorn leaves unbounded is bounded, on a real `cds-service serve` over a socket: an oversized request line
or header block, too many header fields, and a request (or a connection) that does not arrive in time."""

import contextlib
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.servers import Server, running_server

LIMITS = {"CDS_MAX_HEADER_BYTES": "8192", "CDS_MAX_HEADERS": "40", "CDS_REQUEST_TIMEOUT_SECONDS": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("limits")
    with running_server(tmp, {"CDS_DATABASE_URL": f"sqlite:///{tmp / 'fb.db'}", **LIMITS}) as running:
        yield running


def exchange(server: Server, data: bytes, *, wait: float = 10.0) -> bytes:
    """Send `data` and read until the server closes the connection (or `wait` passes, a failure)."""
    address = urlsplit(server.base)
    with socket.create_connection((address.hostname, address.port), timeout=wait) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused before all was sent: read on
            sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for {wait} s; got {received[:200]!r}")
        except ConnectionResetError:
            pass
        return received


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_an_oversized_header_is_431_and_the_connection_closed(server):
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
    assert status(answer) == 431 and b"too large" in answer


def test_too_many_header_fields_are_431(server):
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert status(answer) == 431 and b"too many header fields" in answer


def test_an_oversized_request_line_is_414(server):
    answer = exchange(server, b"GET /healthz?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(answer) == 414


def test_headers_that_never_finish_are_408_and_closed(server):
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert status(answer) == 408


def test_a_connection_that_sends_nothing_is_closed(server):
    assert status(exchange(server, b"")) == 408


def test_a_half_sent_body_is_not_held_open(server):
    head = (b"POST /cds-services/imatinib-order-sign HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    answer = exchange(server, head + b'{"hook": "order-sign", ')
    assert answer == b"" or status(answer) in (400, 408)


def test_requests_within_the_limits_are_answered_and_kept_alive(server):
    with httpx.Client(base_url=server.base) as client:
        headers = {f"X-H{i}": "v" for i in range(30)}
        for _ in range(3):
            assert client.get("/healthz", headers=headers).status_code == 200
        assert client.get("/cds-services").json()["services"]
