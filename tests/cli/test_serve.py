"""`xinzheng serve`'s start-up: bad rate-limit settings stop it in one line; per-worker counts are said."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from app.config import ConfigError, Settings

SECRET = {"XINZHENG_JWT_SECRET": "test-only-secret-not-for-any-deployment-0123456789"}


def serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`xinzheng serve` in a fresh process; no database is needed before it starts serving."""
    environ = {k: v for k, v in os.environ.items() if k not in ("XINZHENG_RATE_LIMITS", "XINZHENG_REDIS_URL")}
    environ.update(SECRET, XINZHENG_DATABASE_URL="sqlite+aiosqlite:////nonexistent/xz.db", **env)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", *args], env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something already listens on: `serve` prints its start-up lines, then cannot bind and exits."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--port", "0"], "--port must be 1 to 65535"),
        (["--port", "99999"], "--port must be 1 to 65535"),
        (["--workers", "0"], "--workers must be 1 to 256"),
        (["--workers", "100000"], "--workers must be 1 to 256"),
    ],
)
def test_a_port_or_a_number_of_workers_out_of_range_stops_it_in_one_line(args: list[str], reason: str) -> None:
    done = serve(*args)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"xinzheng serve: {reason}\n")


@pytest.mark.parametrize(
    "value",
    ["bank", "bank=fast", "bank=0/minute", "bank=5/minute;50/hour", "root=5/minute", "bank=1/minute,bank=2/minute", ","],
)
def test_a_malformed_rate_limit_stops_the_service_in_one_line(value: str) -> None:
    done = serve(XINZHENG_RATE_LIMITS=value)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("xinzheng serve: XINZHENG_RATE_LIMITS"), done.stderr


def test_a_redis_url_that_is_not_one_stops_the_service() -> None:
    done = serve(XINZHENG_REDIS_URL="http://127.0.0.1:6379")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "XINZHENG_REDIS_URL" in done.stderr


def test_several_workers_without_redis_are_told_each_counts_for_itself(taken_port: int) -> None:
    out = serve("--workers", "3", "--port", str(taken_port)).stdout
    notes = [line for line in out.splitlines() if "rate limits" in line]
    assert notes == [
        "  rate limits: no XINZHENG_REDIS_URL, so each of the 3 workers keeps its own count"
        " (a caller may get up to 3 times each limit); set it to share one count"
    ], out


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--workers", "1"], {}),
        (["--workers", "3"], {"XINZHENG_REDIS_URL": "redis://127.0.0.1:6379/0"}),
        (["--workers", "3"], {"XINZHENG_RATE_LIMITS": "off"}),
    ],
)
def test_shared_or_single_counts_need_no_note(taken_port: int, args: list[str], env: dict[str, str]) -> None:
    done = serve(*args, "--port", str(taken_port), **env)
    assert "Xinzheng (dev) serving" in done.stdout and "rate limits" not in done.stdout, done.stdout


def test_rate_limits_default_to_the_spec_and_off_turns_them_off() -> None:
    default = Settings.from_env(SECRET).rate_limits.per_role
    assert {str(role): str(limit) for role, limit in default.items()} == {
        "bank": "600 per 1 minute", "counter": "300 per 1 minute", "issuer": "600 per 1 minute",
        "citizen": "120 per 1 minute", "public": "60 per 1 minute",
    }  # fmt: skip
    assert Settings.from_env({**SECRET, "XINZHENG_RATE_LIMITS": "off"}).rate_limits.off
    named = Settings.from_env({**SECRET, "XINZHENG_RATE_LIMITS": "bank=10 per 2 hours, auditor=5/second"})
    assert {str(r): str(v) for r, v in named.rate_limits.per_role.items()} == {
        "bank": "10 per 2 hour", "auditor": "5 per 1 second"
    }


def test_a_config_error_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="names bank twice"):
        Settings.from_env({**SECRET, "XINZHENG_RATE_LIMITS": "bank=1/minute,bank=2/minute"})
