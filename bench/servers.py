"""The servers under test, as processes: start on a free loopback port, wait, measure, stop.

Used by bench/run.py. Each server is one process, one worker: a uvicorn worker (log level
warning, no access log), or PostGraphile's Node process (bench/pgraphile.py), in a session of
its own, so that a Ctrl-C reaches bench/run.py only, which then stops it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ServerError(Exception):
    """A server did not start or did not answer; the message says why, with its log's tail."""


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def cpu_seconds(self) -> float | None:
        """CPU time so far of the server process and its worker processes (Linux /proc), or None where unknown."""
        total, stack = 0, [self.process.pid]
        try:
            while stack:
                pid = stack.pop()
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime
                stack += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except (OSError, ValueError):
            return None
        return total / os.sysconf("SC_CLK_TCK")

    def waited_seconds(self) -> float | None:
        """Time so far that the main threads of the server process and its workers (where an
        event loop runs) were ready to run but waited for a core (Linux /proc/PID/schedstat,
        with the scheduler's statistics on), or None where unknown."""
        total, stack = 0, [self.process.pid]
        try:
            while stack:
                pid = stack.pop()
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])  # run delay, ns
                stack += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            return None
        return total / 1e9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    stack: contextlib.ExitStack, name: str, app: list[str], env: dict[str, str], tmp: Path, *, workers: int = 1
) -> Server:
    """uvicorn on a free loopback port, running `app` (one worker unless said); stopped when the stack closes."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", *app, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning", "--no-access-log",
               "--http", "app.protocol:BoundedHttpToolsProtocol"]  # as `xinzheng serve` runs it  # fmt: skip
    return start_process(stack, name, command, port, env, tmp)


def start_process(
    stack: contextlib.ExitStack, name: str, command: list[str], port: int, env: dict[str, str], tmp: Path,
    cwd: Path = PROJECT_ROOT,
) -> Server:  # fmt: skip
    """`command`, which listens on loopback `port` (and answers GET /healthz there once ready),
    as a server; its output goes to tmp/<name>.log; stopped when the stack closes."""
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name, process, port, log)
    stack.callback(stop_server, server)
    return server


def stop_server(server: Server) -> None:
    if server.process.poll() is not None:
        return
    server.process.terminate()  # uvicorn and bench/postgraphile/server.js end on SIGTERM
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


def wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(f"{server.name} exited at start-up:\n{server.log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise ServerError(f"{server.name} did not answer /healthz within {timeout:.0f} s")


def cpu_ticks() -> tuple[int, int] | None:
    """The machine's busy and total CPU time so far, in ticks of all cores (Linux /proc/stat),
    or None where unknown."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)
    except (OSError, ValueError, IndexError):
        return None


def busy_between(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of all cores busy between two `cpu_ticks` readings."""
    if before is None or after is None:
        return None
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def machine_busy(seconds: float = 1.0) -> float | None:
    """The share of all cores busy over a short sample, or None where unknown."""
    before = cpu_ticks()
    time.sleep(seconds)
    return busy_between(before, cpu_ticks())


def backend_cpu_seconds(database: str) -> float | None:
    """CPU time so far of the PostgreSQL backends serving `database` (their process titles name
    it; Linux /proc), or None where unknown. Backends that exit take their time with them, and
    PostgreSQL's own background writers are not counted: a lower bound, for comparing servers."""
    total, found = 0, False
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not title.startswith("postgres:") or f" {database} " not in title:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        total += int(fields[11]) + int(fields[12])
        found = True
    return total / os.sysconf("SC_CLK_TCK") if found else None
