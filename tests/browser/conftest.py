"""A browser against the service as a user runs it: Debian's Chromium, no network but the service.

`chromium` is the browser, or a skip that says how to install it (a failure under CI=true, whose
.ci/run installs it). `live_service` is the README's first command on a fresh SQLite file:
`xinzheng migrate`, `xinzheng seed`, `xinzheng serve` on a free port, in dev with its generated
secret, so that `xinzheng token` prints tokens it accepts.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live import free_port, output, serving, xinzheng_command

CHROMIUM = Path("/usr/bin/chromium")  # Debian's `chromium` package
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
        done = subprocess.run([*xinzheng_command(), *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"xinzheng {' '.join(args)}: {done.stderr}"
        return done.stdout

    def output(self) -> str:
        return output(self.log)


@pytest.fixture
def live_service(tmp_path: Path) -> Iterator[LiveService]:
    """`xinzheng serve` (dev) on a migrated, seeded SQLite file, answering /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINZHENG_")}
    env["XINZHENG_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'xinzheng.db'}"
    service = LiveService(f"http://127.0.0.1:{port}", env, tmp_path / "serve.log")
    service.xinzheng("migrate")
    service.xinzheng("seed")
    with serving(env, service.log, port=port, start_timeout=START_TIMEOUT):
        yield service
