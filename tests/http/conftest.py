"""The service as a client across the network meets it: `xinzheng serve` in its own process on
a free port, on a fresh database holding the demo city (`xinzheng seed`), with the test keys
and rate limits off (these tests send bursts; tests/api/test_rate_limits.py tests the limits).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Tokens, settings_for
from tests.audit.conftest import XINZHENG, service_env, xinzheng
from tests.conftest import DatabaseFactory

START_TIMEOUT = 60.0


@dataclass
class LiveService:
    database_url: str
    base_url: str
    tokens: Tokens
    log: Path

    @property
    def url(self) -> str:
        return f"{self.base_url}/graphql"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def live(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    database_url = databases.new()
    seeded = xinzheng("seed", database_url=database_url)
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    log = tmp_path_factory.mktemp("live") / "server.log"
    command = [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            env=service_env(database_url), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    service = LiveService(database_url, f"http://127.0.0.1:{port}", Tokens(settings_for(database_url)), log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the service stopped before it served (exit {process.returncode}):\n{service.output()}")
            try:
                if httpx.get(f"{service.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not answer /healthz within {START_TIMEOUT:.0f}s:\n{service.output()}")
            time.sleep(0.2)
        yield service
    finally:
        # Stopped as Ctrl-C would stop it; the process group is the test's own, never left behind.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
