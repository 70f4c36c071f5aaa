"""A browser against the service as a user runs it: Debian's Chromium, no network but the service.

`chromium` is the browser, or a skip that says how to install it (a failure under CI=true, whose
.ci/run installs it). `live_service` is the README's first command on a fresh SQLite file:
`xinzheng migrate`, `xinzheng seed`, `xinzheng serve` on a free port, in dev with its generated
secret, so that `xinzheng token` prints tokens it accepts.
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

CHROMIUM = Path("/usr/bin/chromium")  # Debian's `chromium` package
XINZHENG = Path(sys.executable).with_name("xinzheng")  # the console script the package installs
START_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class LiveService:
    base_url: str
    env: dict[str, str]
    log: Path

    def xinzheng(self, *args: str) -> str:
        """A `xinzheng` command on the service's database and secrets; its output."""
        command = [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]
        done = subprocess.run([*command, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"xinzheng {' '.join(args)}: {done.stderr}"
        return done.stdout

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_service(tmp_path: Path) -> Iterator[LiveService]:
    """`xinzheng serve` (dev) on a migrated, seeded SQLite file, answering /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINZHENG_")}
    env["XINZHENG_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'xinzheng.db'}"
    service = LiveService(f"http://127.0.0.1:{port}", env, tmp_path / "serve.log")
    service.xinzheng("migrate")
    service.xinzheng("seed")
    command = [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]
    with service.log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
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
            time.sleep(0.1)
        yield service
    finally:
        process.send_signal(signal.SIGINT)  # as Ctrl-C would
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # never leave a server behind: the group is ours alone
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
