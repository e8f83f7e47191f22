"""uvicorn's httptools protocol with the limits of edge_http.http_limits (read why there)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from edge_http.http_limits import HttpLimits

# How long a refused connection is drained before it is closed (see _LimitedHttpTools._refuse).
LINGER_SECONDS = 1.0


def limited_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """The httptools protocol with `limits`; uvicorn takes it as `Config(http=...)`."""
    return type("LimitedHttpToolsProtocol", (_LimitedHttpTools,), {"limits": limits})


def _answer(status: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: 0\r\nconnection: close\r\n" + extra + b"\r\n"
    )


_HEAD_TOO_LARGE = _answer(b"431 Request Header Fields Too Large")
_HEAD_TIMEOUT = _answer(b"408 Request Timeout")
_TOO_MANY_CONNECTIONS = _answer(b"503 Service Unavailable", b"retry-after: 1\r\n")


class _Refused(Exception):
    """Raised from a parser callback to stop the parse; the answer was already written."""


class _LimitedHttpTools(HttpToolsProtocol):
    limits: ClassVar[HttpLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        # Bytes received since the head being read began; -1 between a complete head and the
        # next request's first byte. `_parsed` counts the parsed pieces of the same head.
        self._head_bytes = 0
        self._parsed = 0
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(_TOO_MANY_CONNECTIONS, linger=False)  # keep no descriptor longer
            return
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """The parent's, plus the raw count: httptools buffers a header until it ends, so an
        endless one must be refused by the bytes that arrive, not by what was parsed."""
        if self._refused:
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if not self._refused:  # a malformed request, not a limit (which answered already)
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        if self._head_bytes >= 0:
            # Still inside a head. A chunk that also carried the end of the previous request
            # counts whole: over by at most that tail, never under.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse(_HEAD_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._parsed = 0
        if self._head_deadline is None:
            self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._parsed += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._parsed += len(name) + len(value) + 4  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._head_bytes = -1
        self._disarm_head_deadline()
        # A head that arrived whole, with its body, in one chunk is complete before
        # data_received can count it: the parsed size decides then.
        if self._parsed > self.limits.max_head_bytes:
            self._refuse(_HEAD_TOO_LARGE)
            raise _Refused  # stops the parse; data_received sees it as a parser error
        super().on_headers_complete()

    def _arm_head_deadline(self) -> None:
        self._head_deadline = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._head_bytes >= 0:
            self._refuse(_HEAD_TIMEOUT)

    def _refuse(self, answer: bytes, linger: bool = True) -> None:
        """Answer and end the connection. With `linger`, like nginx's lingering close: send the
        answer and a FIN, then read and drop what the client is still sending for a moment
        before closing; closing at once with unread input makes the kernel send a reset, and
        the client would lose the answer it is owed."""
        self._refused = True
        self._disarm_head_deadline()
        if self.transport.is_closing():
            return
        self.transport.write(answer)
        if linger and self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
