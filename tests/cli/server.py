"""`xinzheng serve` in a process of its own, as an operator runs it: started, waited for, signalled."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.cli.conftest import XINZHENG

START_SECONDS = 60.0
STOP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, env: dict[str, str], workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.stdout_path, self.stderr_path = workdir / "serve.out", workdir / "serve.err"
        command = [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [*command, "serve", "--port", str(self.port), *args],
                env=env, stdout=out, stderr=err, start_new_session=True,
            )  # fmt: skip

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"serve stopped before it served (exit {self.process.returncode}):\n{self.stderr()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not answer /healthz within {START_SECONDS:.0f} s:\n{self.stderr()}")
            time.sleep(0.2)

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait(self) -> int:
        return self.process.wait(timeout=STOP_SECONDS)

    def kill(self) -> None:
        """Never leave a server behind: the process group is ours alone."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")
