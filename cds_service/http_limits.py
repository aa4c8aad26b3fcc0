"""The HTTP limits uvicorn leaves unset, on the httptools protocol every worker serves with.

uvicorn's httptools protocol bounds neither the request line nor the headers (a 16 MB header and 100,000 headers
were accepted) and has no deadline for a request to arrive (a half-sent body, or a connection that never sends,
was held as long as the client liked). This protocol adds, per request:

- the request line at most `CDS_MAX_HEADER_BYTES` (414 above), the header block at most `CDS_MAX_HEADER_BYTES`
  and `CDS_MAX_HEADERS` fields (431 above);
- `CDS_REQUEST_TIMEOUT_SECONDS` from the connection opening, or from the first byte of a request, to the last
  byte of its body: a request still incomplete then is answered 408 if the service has not begun to answer it,
  and its connection closed either way.

The body's size is the service's own check (`CDS_MAX_BODY_BYTES`, 413). What only the proxy in front can do
(TLS, rates per client, the total number of connections across workers) is in the README.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from cds_service.settings import get_settings


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing: the answer has been written already."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the request line, the headers and the time to send a request bounded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._max_head_bytes = settings.max_header_bytes
        self._max_headers = settings.max_headers
        self._timeout = settings.request_timeout_seconds
        self._head_bytes = 0
        self._url_bytes = 0
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None

    # --- the deadline for a request to arrive -------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self._timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        answering = self.cycle is not None and getattr(self.cycle, "response_started", False)
        if not answering:
            self._answer(408, b"The request did not arrive in time.")
        else:
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends anything is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # --- parser callbacks, counted --------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._url_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self._max_head_bytes:
            self._answer(414, b"The request line is too long.")
            raise _Refused
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_bytes > self._max_head_bytes:
            self._answer(431, b"The request headers are too large.")
            raise _Refused
        if len(self.headers) >= self._max_headers:
            self._answer(431, b"The request has too many header fields.")
            raise _Refused
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a refusal above stops the parser with an error: it was answered already
            super().send_400_response(msg)

    def _answer(self, status: int, message: bytes) -> None:
        """A plain-text answer that closes the connection, written straight to the socket (no app is running)."""
        self._refused = True
        self._disarm()
        self.transport.write(b"".join((
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(message), b"connection: close\r\n\r\n", message,
        )))
        self.transport.close()
