"""A service as a user runs it: `xinzheng serve` in a process group of its own on a free port,
used once it answers /healthz, and stopped as Ctrl-C stops it (killed if it will not), never
left behind. tests/http/ and tests/browser/ start theirs with `serving`."""

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

XINZHENG = Path(sys.executable).with_name("xinzheng")  # the console script the package installs


def xinzheng_command() -> list[str]:
    return [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def output(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else ""


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path, *, port: int, start_timeout: float = 60.0) -> Iterator[str]:
    """`xinzheng serve --port PORT` with `env`, its output in `log`; its base URL once it answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*xinzheng_command(), "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"the service stopped before it served (exit {process.returncode}):\n{output(log)}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the service did not answer /healthz within {start_timeout:.0f}s:\n{output(log)}")
            time.sleep(0.1)
        yield base_url
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl-C would
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # never leave a server behind: the group is ours alone
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
