"""The real service as a process (`xinzheng serve`), on a free loopback port, for the tests that
need one: several workers writing at once, a witness fetching over HTTP."""

from __future__ import annotations

import contextlib
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

from tests.audit.conftest import XINZHENG

START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path, url: str) -> None:
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"
        self.log = log
        self.url = url  # its database

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


@contextlib.contextmanager
def start_server(env: dict[str, str], log: Path, *, workers: int) -> Iterator[Server]:
    """`xinzheng serve` with this environment, once it answers /healthz; stopped at the end."""
    port = free_port()
    command = [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--workers", str(workers), "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    running = Server(process, port, log, env["XINZHENG_DATABASE_URL"])
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
