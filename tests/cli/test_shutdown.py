"""Graceful shutdown (`xinzheng serve`, SIGTERM): the server stops taking requests, answers those in
flight with their audit entries, signs a final checkpoint of the head and exits; the chain is valid.
With several workers, /metrics adds up every worker's counts, and `serve` removes their directory."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.rows import checkpoints
from app.auth.roles import Role
from app.auth.tokens import mint
from tests.api.conftest import settings_for
from tests.audit.conftest import KNOWN_BANK, service_env, sql, stored_entries, xinzheng
from tests.cli.server import Server

REQUESTS = 300
CONNECTIONS = 100


@pytest.fixture
def database(empty_database_url: str) -> str:
    asyncio.run(
        sql(
            empty_database_url, "INSERT INTO authorities (code, name, authority_type) VALUES (:code, '惠民银行', 'BANK')",
            params={"code": KNOWN_BANK},
        )
    )  # fmt: skip
    return empty_database_url


def workers_for(url: str) -> int:
    """SQLite serves one worker; PostgreSQL is run with two, as a deployment would."""
    return 1 if url.startswith("sqlite") else 2


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "tmp").mkdir()
    env = {
        **service_env(database),
        # No checkpoint every N entries: the newest one is the one signed at shutdown.
        "XINZHENG_AUDIT_CHECKPOINT_EVERY": "100000",
        "TMPDIR": str(tmp_path / "tmp"),  # where `serve` makes the workers' metrics directory
    }
    running = Server(env, tmp_path, "--workers", str(workers_for(database)))
    try:
        running.wait_ready()
        yield running
    finally:
        running.kill()


async def test_sigterm_with_requests_in_flight_answers_and_audits_them_and_signs_the_head(
    server: Server, database: str, tmp_path: Path
) -> None:
    settings = settings_for(database)
    tokens = [None, mint(settings, role=Role.ADMIN), mint(settings, role=Role.BANK, org=KNOWN_BANK)]
    queries = ["{ me { role } }", "query Mine { me { role sub } }", '{ person(idNumber: "330106198503120028") { name } }']
    answered_after_signal = 0
    first_answer = asyncio.Event()
    signalled = False

    async def send(client: httpx.AsyncClient, i: int) -> httpx.Response | None:
        nonlocal answered_after_signal
        token = tokens[i % len(tokens)]
        headers = {"authorization": f"Bearer {token}"} if token else {}
        try:
            response = await client.post("/graphql", json={"query": queries[i % len(queries)]}, headers=headers)
        except httpx.TransportError:  # refused or closed once the server stopped taking requests
            return None
        first_answer.set()
        answered_after_signal += signalled
        return response

    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=60) as client:
        sending = [asyncio.create_task(send(client, i)) for i in range(REQUESTS)]
        await asyncio.wait_for(first_answer.wait(), timeout=60)
        server.signal(signal.SIGTERM)  # with the others still on their way or being served
        signalled = True
        responses = await asyncio.wait_for(asyncio.gather(*sending), timeout=120)
    status = await asyncio.to_thread(server.wait)

    log = server.stderr()
    assert status in (0, -signal.SIGTERM), log  # uvicorn's one process ends by the signal it stopped for
    assert "Traceback" not in log and "timeout graceful shutdown exceeded" not in log, log
    answered = [r for r in responses if r is not None]
    assert answered_after_signal > 0, "no request was in flight when the server was told to stop"
    assert {r.status_code for r in answered} == {200}, [r.text for r in answered if r.status_code != 200][:3]

    # Every answer cites its entry; and every entry written was answered (none was cut off).
    stored = {e["requestId"]: e["seq"] for e in await stored_entries(database)}
    cited = {r.json()["extensions"]["requestId"]: r.json()["extensions"]["auditSeq"] for r in answered}
    assert cited == stored

    verified = xinzheng("audit", "verify", database_url=database)
    assert verified.returncode == 0, verified.stderr
    assert f"intact: {len(stored)} entries" in verified.stdout
    newest = await newest_checkpoint(database)
    assert newest == max(stored.values())
    assert not list((tmp_path / "tmp").iterdir()), "serve left its metrics directory behind"


async def test_metrics_add_up_every_workers_counts(server: Server, database: str) -> None:
    if workers_for(database) < 2:
        pytest.skip("one worker: its own registry")
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        await asyncio.gather(*(client.post("/graphql", json={"query": "query Counted { me { role } }"}) for _ in range(40)))
        # Each scrape is answered by whichever worker takes it, and each tells the whole count.
        for _ in range(6):
            text = (await client.get("/metrics")).text
            counted = sum(
                s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "xinzheng_requests_total" and s.labels["operation"] == "Counted"
            )
            assert counted == 40, text


async def newest_checkpoint(url: str) -> int | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            newest: int | None = (await conn.execute(select(func.max(checkpoints.c.seq)))).scalar_one()
            return newest
    finally:
        await engine.dispose()
