"""Several worker processes writing at once still make one valid chain (SPEC section 7).

The real service (`xinzheng serve --workers 4`) on PostgreSQL, a few hundred requests from many
connections at once, then one entry per request and `xinzheng audit verify` content.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.auth.roles import Role
from app.auth.tokens import mint
from tests.api.conftest import settings_for
from tests.audit.conftest import XINZHENG, entry_count, service_env, stored_entries, xinzheng
from tests.conftest import DatabaseFactory

WORKERS = 4
REQUESTS = 400
CONCURRENCY = 32
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Ask the server to stop, as Ctrl-C would; its worker processes go with it."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never leave a server behind: the group is ours alone
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def postgres_url(databases: DatabaseFactory) -> str:
    if databases.backend != "postgresql":
        pytest.skip("several processes writing at once is a PostgreSQL deployment; SQLite serves one worker")
    return databases.new()


@pytest.fixture
def server(postgres_url: str, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / "server.log"
    env = {**service_env(postgres_url), "XINZHENG_AUDIT_CHECKPOINT_EVERY": "25"}
    command = [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--workers", str(WORKERS), "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    running = Server(process, port, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server stopped before it served (exit {process.returncode}):\n{running.output()}")
            try:
                if httpx.get(f"{running.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /healthz within {START_TIMEOUT:.0f}s:\n{running.output()}")
            time.sleep(0.2)
        yield running
    finally:
        running.stop()


async def test_workers_writing_at_once_make_one_valid_chain(server: Server, postgres_url: str) -> None:
    settings = settings_for(postgres_url)
    tokens = [None, mint(settings, role=Role.ADMIN), mint(settings, role=Role.BANK, org="91330100MA2H00001P"), "not-a-token"]
    queries = ["{ me { role } }", "{ me { role }", '{ person(idNumber: "330106198503120028") { name } }']
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client:

        async def send(i: int) -> httpx.Response:
            token = tokens[i % len(tokens)]
            headers = {"authorization": f"Bearer {token}"} if token else {}
            async with gate:
                return await client.post("/graphql", json={"query": queries[i % len(queries)]}, headers=headers)

        responses = await asyncio.wait_for(asyncio.gather(*(send(i) for i in range(REQUESTS))), timeout=180)
    server.stop()
    assert server.process.returncode is not None

    assert {r.status_code for r in responses} <= {200, 401}, server.output()
    seqs = sorted(r.json()["extensions"]["auditSeq"] for r in responses)
    assert seqs == list(range(1, REQUESTS + 1))  # every answer cites its own entry, none twice
    assert await entry_count(postgres_url) == REQUESTS
    stored = {e["requestId"]: e["seq"] for e in await stored_entries(postgres_url)}
    assert {r.json()["extensions"]["requestId"]: r.json()["extensions"]["auditSeq"] for r in responses} == stored

    result = xinzheng("audit", "verify", database_url=postgres_url)
    assert result.returncode == 0, result.stderr
    assert f"intact: {REQUESTS} entries" in result.stdout
    assert f"{REQUESTS // 25} signed checkpoint(s)" in result.stdout
