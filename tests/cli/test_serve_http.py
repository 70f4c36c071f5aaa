"""`xinzheng serve` bounds a request's head: too large is 431, too slow is 408, and the service
goes on serving everyone else. Raw sockets, as a hostile client would send them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.cli.test_serve import SECRET

HEADER_TIMEOUT = 1  # seconds, for the test (the default is 10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A running `xinzheng serve`; /healthz needs no database, so none is made."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("XINZHENG_")}
    environ.update(
        SECRET,
        XINZHENG_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('serve')}/xz.db",
        XINZHENG_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        XINZHENG_RATE_LIMITS="off",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(300):
            if process.poll() is not None:
                pytest.fail(f"serve exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                if answer(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").startswith(b"HTTP/1.1 200"):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("serve did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def answer(port: int, *parts: bytes, pause: float = 0.0) -> bytes:
    """Send `parts` (waiting `pause` between them), then read until the server closes or 10 s pass."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for part in parts:
            try:
                s.sendall(part)
            except OSError:  # the server closed first: read what it said
                break
            time.sleep(pause)
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received and b"connection: close" not in received.lower():
                    break  # a kept-alive answer: its head is enough here
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def test_a_head_of_megabytes_is_refused_431_before_it_is_buffered(port: int) -> None:
    huge = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"X-Filler: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
    reply = answer(port, huge)
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b"connection: close" in reply


def test_many_small_headers_count_together(port: int) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(400))  # ~44 KB
    reply = answer(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + headers + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]


def test_an_ordinary_head_with_a_long_token_is_served(port: int) -> None:
    token = b"Bearer " + b"e" * 4000
    reply = answer(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization: " + token + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:200]


def test_a_head_trickled_a_byte_at_a_time_is_cut_off_408(port: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 200
    started = time.monotonic()
    reply = answer(port, *[head[i : i + 1] for i in range(len(head))], pause=0.05)
    assert reply.startswith(b"HTTP/1.1 408 "), reply[:200]
    # Each byte came 50 ms after the last: only a bound on the whole head stops it (the whole
    # head would take over 12 s), not one between bytes.
    assert time.monotonic() - started < 12


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        assert s.recv(1024) == b""  # closed by the server, silently


def test_the_next_request_on_a_kept_alive_connection_has_its_own_bound(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):  # the answer may come in more than one segment
            chunk = s.recv(65536)
            assert chunk, first
            first += chunk
        assert first.startswith(b"HTTP/1.1 200 "), first
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # a head that never ends
        second = b""
        while chunk := s.recv(65536):
            second += chunk
        assert second.startswith(b"HTTP/1.1 408 "), second


def test_the_service_still_serves_after_all_that(port: int) -> None:
    assert answer(port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").startswith(b"HTTP/1.1 200 ")
