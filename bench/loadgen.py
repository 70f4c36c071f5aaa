"""The load generator, a process of its own (never inside a server's process).

bench/run.py starts it once per server and writes the job to its stdin as JSON:
{"url", "token", "bodies": [request body, ...], "warmup", "seconds", "concurrency", "rate"?}.
It opens `concurrency` keep-alive HTTP/1.1 connections, each driven by one task sending the
bodies in rotation, back to back: first for `warmup` seconds (not counted), then for `seconds`.
With a `rate` (requests/s) the requests are sent on a fixed schedule instead (open loop,
spread over the connections), and each latency counts from the moment its request was due,
so that a server falling behind shows in the figures rather than slowing the client down.

The client is a few lines of plain asyncio rather than httpx: on the bench machine httpx's
AsyncClient spent a whole core on about 200-450 requests/s (its pool's bookkeeping grows with
the number of connections), below what the servers answer, so it measured itself. This one
costs a few tens of microseconds a request, and its own CPU share is reported beside the
figures so that a reader can tell whether the client, not the server, was the limit.
It prints one JSON object to stdout: requests, failures, elapsed, rps, p50_ms, p99_ms,
cpu_seconds (its own, for the measured part), and the first failure seen.

A request fails if it raises, is not HTTP 200, or its body has `errors` or no `data.person`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT = 30.0  # seconds; a request slower than this counts as a failure


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that POSTs prepared requests and reads sized responses."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one whole request; the status and the body of the answer."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(request)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        status = int(head[9:12])  # "http/1.1 200 ok"
        length = close = None
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip() == "close"
        if length is None:
            raise ValueError("a response without Content-Length (the servers send one)")
        body = await reader.readexactly(length)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, of the requests that succeeded
    failures: int = 0
    first_failure: str | None = None

    def fail(self, why: str) -> None:
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = why[:500]


def check(status: int, body: bytes) -> str | None:
    """Why the answer is a failure, or None."""
    if status != 200:
        return f"HTTP {status}: {body.decode(errors='replace')}"
    answer: dict[str, Any] = json.loads(body)
    if answer.get("errors") or not (answer.get("data") or {}).get("person"):
        return f"errors or no data: {body.decode(errors='replace')}"
    return None


async def phase(
    connections: list[HttpConnection], rotation: Iterator[bytes], seconds: float, rate: float | None = None
) -> tuple[Tally, float]:
    """Every connection sends requests until the deadline, back to back or on the schedule `rate`
    gives; the tally and the time taken."""
    tally = Tally()
    start = time.perf_counter()
    deadline = start + seconds

    async def drive(index: int, conn: HttpConnection) -> None:
        n = index
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            if rate is not None:
                sent = start + n / rate  # when this request is due
                n += len(connections)
                if sent >= deadline:
                    break
                if sent > time.perf_counter():
                    await asyncio.sleep(sent - time.perf_counter())
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    why = check(*await conn.exchange(next(rotation)))
            except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as e:
                conn.close()  # the next request opens a fresh connection
                why = f"{type(e).__name__}: {e}"
            if why is None:
                tally.latencies.append(time.perf_counter() - sent)
            else:
                tally.fail(why)

    await asyncio.gather(*(drive(index, conn) for index, conn in enumerate(connections)))
    return tally, time.perf_counter() - start


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest rank."""
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(p * len(sorted_values)) - 1))]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def prepared_requests(url: str, token: str, bodies: list[Any]) -> list[bytes]:
    """Whole HTTP requests, made once: the load loop only writes bytes."""
    parts = urlsplit(url)
    requests = []
    for body in bodies:
        payload = json.dumps(body, ensure_ascii=False).encode()
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        requests.append(head.encode() + payload)
    return requests


async def run(job: dict[str, Any]) -> dict[str, Any]:
    parts = urlsplit(job["url"])
    assert parts.hostname in ("127.0.0.1", "localhost", "::1"), "the bench drives loopback servers only"
    rotation = itertools.cycle(prepared_requests(job["url"], job["token"], job["bodies"]))
    connections = [HttpConnection(parts.hostname, parts.port or 80) for _ in range(int(job["concurrency"]))]
    try:
        rate = float(job["rate"]) if job.get("rate") else None
        await phase(connections, rotation, float(job["warmup"]), rate)
        cpu_before = cpu_seconds()
        tally, elapsed = await phase(connections, rotation, float(job["seconds"]), rate)
        cpu = cpu_seconds() - cpu_before
    finally:
        for conn in connections:
            conn.close()
    latencies = sorted(tally.latencies)
    return {
        "requests": len(latencies) + tally.failures,
        "failures": tally.failures,
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed,  # answered successfully, per second
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu_seconds": cpu,
        "first_failure": tally.first_failure,
    }


def main() -> int:
    job = json.load(sys.stdin)
    json.dump(asyncio.run(run(job)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
