"""The HTTP protocol the service runs under uvicorn: uvicorn's own httptools protocol, with the
two bounds on a request's head that uvicorn does not set.

- Size: a request line and headers of more than HEAD_BYTES are refused with 431 and the
  connection closed, before more of them is buffered (uvicorn with httptools takes megabytes of
  headers; a token and a few headers are well under 2 KB).
- Time: a head that has not fully arrived XINZHENG_HEADER_TIMEOUT seconds (default 10) after
  the connection opened, or after its first byte on a kept-alive connection, is answered 408 and
  the connection closed: a client trickling a byte every few seconds holds nothing for long.

Neither reaches the application: no GraphQL request exists yet, so there is no audit entry, one
warning line in the log instead. The body has its own bound, in the view (app/view.py). Passed
to uvicorn as `http="app.protocol:BoundedHttpToolsProtocol"` (its `--http` setting takes a
protocol class), by `xinzheng serve` and by the benchmark.
"""

from __future__ import annotations

import asyncio
import logging
import os

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import header_timeout

log = logging.getLogger("xinzheng.http")

HEAD_BYTES = 32 * 1024  # as nginx's default large_client_header_buffers (4 x 8 KB)
HEADER_SECONDS = header_timeout(os.environ)  # validated with the rest by `serve` before workers start


def _refusal(status: bytes, reason: str) -> bytes:
    body = reason.encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    head_bytes: int | None = 0  # bytes of the head arriving now; None while none is expected
    head_tail = b""  # the last bytes seen of it, for a blank line split between two reads
    head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Measured before the parser sees it: httptools would buffer a header of any size.
        if self.head_bytes is not None:
            end = (self.head_tail + data).find(b"\r\n\r\n")
            self.head_bytes += len(data) if end < 0 else max(end - len(self.head_tail), 0)
            self.head_tail = data[-3:]
            if self.head_bytes > HEAD_BYTES:
                log.warning("request head from %s over %d bytes: refused", self._peer(), HEAD_BYTES)
                self._refuse(b"431 Request Header Fields Too Large", f"the request head is larger than {HEAD_BYTES} bytes")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._expect_head()  # its first byte is here: the head's time starts

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        self._stop_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What comes next on this connection is another request's head. Its time starts with
        # its first byte (until then, uvicorn's keep-alive timeout governs an idle connection).
        self.head_bytes, self.head_tail = 0, b""

    def _expect_head(self) -> None:
        if self.head_bytes is None:
            self.head_bytes, self.head_tail = 0, b""
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(HEADER_SECONDS, self._head_late)

    def _head_late(self) -> None:
        self.head_timer = None
        if self.head_bytes is None or self.transport.is_closing():
            return
        if self.head_bytes:  # a connection that sent nothing is closed without a word
            log.warning("request head from %s not complete after %g s: refused", self._peer(), HEADER_SECONDS)
            self._refuse(b"408 Request Timeout", f"the request head did not arrive within {HEADER_SECONDS:g} s")
        else:
            self.transport.close()

    def _refuse(self, status: bytes, reason: str) -> None:
        self._stop_timer()
        self.head_bytes = None
        self.transport.write(_refusal(status, reason))
        self.transport.close()

    def _stop_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _peer(self) -> str:
        return self.client[0] if self.client else "an unknown address"
