"""The witness outside the database catches what no signature can: an attacker who holds the
database and the audit key, and rewrites or truncates history with checkpoints signed again.

The real service (`xinzheng serve`) on SQLite and PostgreSQL, real requests over HTTP, and the
witness (`xinzheng audit witness --once`) as a separate process with its own state directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.audit.server import Server, start_server
from tests.audit.conftest import public_pem, service_audit_key, service_env, xinzheng
from tests.audit.forge import resign, rewrite
from tests.conftest import DatabaseFactory
from tests.live import xinzheng_command

EVERY = 5


@pytest.fixture
def server(databases: DatabaseFactory, tmp_path: Path) -> Iterator[Server]:
    url = databases.new()
    env = {**service_env(url), "XINZHENG_AUDIT_CHECKPOINT_EVERY": str(EVERY), "XINZHENG_AUDIT_CHECKPOINT_SECONDS": "3600"}
    with start_server(env, tmp_path / "server.log", workers=1) as running:
        yield running


def requests(server: Server, n: int) -> None:
    for _ in range(n):
        assert httpx.post(f"{server.base_url}/graphql", json={"query": "{ me { role } }"}, timeout=30).status_code == 200


def witness_at(url: str, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`xinzheng audit witness --once` of the log at `url`, as a separate process."""
    return subprocess.run(
        [*xinzheng_command(), "audit", "witness", "--url", url, "--state", str(state), "--once", *extra],
        env=service_env("sqlite+aiosqlite:////nonexistent/xz.db"), capture_output=True, text=True, timeout=60,
    )


def witness(server: Server, state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return witness_at(server.base_url, state, *extra)


def witnessed_log(server: Server, tmp_path: Path) -> Path:
    """15 entries, the witness's cosignatures of the log at 10 and then at 15."""
    state = tmp_path / "witness"
    key = public_pem(service_audit_key(), tmp_path / "audit.pub.pem")
    assert "no checkpoint yet" in witness(server, state, "--log-public-key", str(key), "--name", "witness.test/w1").stdout
    requests(server, 12)
    first = witness(server, state)
    assert first.returncode == 0 and "cosigned xinzheng/audit at size 10" in first.stdout, first.stderr
    requests(server, 3)
    second = witness(server, state)
    assert second.returncode == 0 and "cosigned xinzheng/audit at size 15" in second.stdout, second.stderr
    assert "nothing new" in witness(server, state).stdout
    assert (state / "checkpoint").read_text().count("\u2014 witness.test/w1 ") == 1
    result = xinzheng("audit", "verify", "--witness", str(state), database_url=server.url)
    assert result.returncode == 0, result.stderr
    assert "the witness witness.test/w1 cosigned its first 15 entries" in result.stdout
    return state


def test_a_rewrite_resigned_with_the_real_key_is_caught(server: Server, tmp_path: Path) -> None:
    state = witnessed_log(server, tmp_path)
    async def attack() -> None:
        await rewrite(server.url, change=7)
        await resign(server.url, service_audit_key(), [5, 10, 15])

    asyncio.run(attack())
    # The database alone cannot tell: every hash matches, every checkpoint is signed with the real key.
    alone = xinzheng("audit", "verify", database_url=server.url)
    assert alone.returncode == 0, alone.stderr

    result = xinzheng("audit", "verify", "--witness", str(state), database_url=server.url)
    assert result.returncode == 1
    assert "broken at entry 15: the log up to entry 15 is not the one the witness witness.test/w1 cosigned" in result.stderr
    refused = witness(server, state)
    assert refused.returncode == 1
    assert "refused: the log forked: another root at size 15" in refused.stderr
    requests(server, 5)  # the service signs the rewritten log at 20: it proves no extension of what was seen
    refused = witness(server, state)
    assert refused.returncode == 1 and "does not extend the log at 15" in refused.stderr, refused.stderr


def test_a_truncation_is_caught(server: Server, tmp_path: Path) -> None:
    state = witnessed_log(server, tmp_path)
    asyncio.run(rewrite(server.url, keep=11))  # entries 12-15 and the checkpoint at 15 gone
    alone = xinzheng("audit", "verify", database_url=server.url)
    assert alone.returncode == 0, alone.stderr

    result = xinzheng("audit", "verify", "--witness", str(state), database_url=server.url)
    assert result.returncode == 1
    assert "broken at entry 12: entries from 12 on were removed: the witness witness.test/w1 cosigned a log of 15" in result.stderr
    refused = witness(server, state)
    assert refused.returncode == 1 and "refused: the log shrank: it signed 10 entries, after 15" in refused.stderr


def test_the_witness_needs_the_log_key_first_and_keeps_its_own(server: Server, tmp_path: Path) -> None:
    state = tmp_path / "w"
    result = witness(server, state)
    assert result.returncode == 1 and "give the log's public key" in result.stderr
    requests(server, 5)
    other = public_pem(Ed25519PrivateKey.generate(), tmp_path / "other.pem")
    result = witness(server, state, "--log-public-key", str(other))
    assert result.returncode == 1 and "refused: the log's newest checkpoint is not valid" in result.stderr
    assert (state / "witness-key.pem").stat().st_mode & 0o777 == 0o600
    assert (state / "witness.pub.pem").exists() and not (state / "checkpoint").exists()


@contextlib.contextmanager
def hostile_log(answers: dict[str, bytes]) -> Iterator[str]:
    """A log that answers each path with these bytes (HTTP 200): the base URL, while it runs."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.get(self.path.split("?")[0], b"")
            self.send_response(200 if body else 404)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer) as hostile:
        threading.Thread(target=hostile.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{hostile.server_address[1]}"
        finally:
            hostile.shutdown()


def test_a_log_answering_without_end_or_nested_without_end_is_refused(server: Server, tmp_path: Path) -> None:
    """The witness watches a log it does not trust: an answer of any size is not read whole, and
    a proof nested past Python's recursion limit is a malformed proof, each said in one line."""
    state = witnessed_log(server, tmp_path)
    with hostile_log({"/audit/checkpoint": b"x" * (2 << 20)}) as url:
        huge = witness_at(url, state)
    assert huge.returncode == 1 and huge.stderr == f"xinzheng audit: {url}/audit/checkpoint: answered more than 1,048,576 bytes\n"
    requests(server, 5)  # the log signs its checkpoint at 20: the witness asks for a proof from 15
    newest = httpx.get(f"{server.base_url}/audit/checkpoint", timeout=30).content
    nested = b"[" * 100_000 + b"]" * 100_000
    with hostile_log({"/audit/checkpoint": newest, "/audit/consistency": nested}) as url:
        refused = witness_at(url, state)
    assert refused.returncode == 1
    assert refused.stderr == "xinzheng audit witness: refused: the log's consistency proof is malformed\n", refused.stderr
    assert "cosigned xinzheng/audit at size 20" in witness(server, state).stdout  # the true log's proof is taken

