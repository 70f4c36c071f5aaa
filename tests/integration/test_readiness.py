"""`/healthz` says the process answers; `/readyz` whether it can serve: the database answers and
the audit log can be written, with the reason when not, and it is ready again by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
import pytest_asyncio

from app.cli.migrate import upgrade
from app.main import create_app
from tests.api.conftest import settings_for
from tests.audit.conftest import sql
from tests.pgcluster import Cluster, throwaway_cluster


ClientFor = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest_asyncio.fixture
async def client_for() -> AsyncIterator[ClientFor]:
    """Clients of the service on a database, each app in its lifespan; all closed at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(url: str) -> httpx.AsyncClient:
            app = create_app(settings_for(url))
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://xinzheng.test"))

        yield make


async def test_ready_when_the_database_answers_and_the_log_can_be_written(empty_database_url: str, client_for: ClientFor) -> None:
    client = await client_for(empty_database_url)
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


async def test_not_ready_while_the_audit_log_cannot_be_read(empty_database_url: str, client_for: ClientFor) -> None:
    client = await client_for(empty_database_url)
    await sql(empty_database_url, "ALTER TABLE audit_log RENAME TO audit_log_elsewhere")
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    assert answer.json()["reason"].startswith("audit log: its head cannot be read"), answer.json()
    assert (await client.get("/healthz")).status_code == 200  # alive all the same
    await sql(empty_database_url, "ALTER TABLE audit_log_elsewhere RENAME TO audit_log")
    assert (await client.get("/readyz")).status_code == 200


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as running:
        upgrade(running.url)
        yield running


async def test_not_ready_while_postgres_is_down_and_ready_again_when_it_is_back(cluster: Cluster, client_for: ClientFor) -> None:
    client = await client_for(cluster.url)
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.post("/graphql", json={"query": "{ me { role } }"})).status_code == 200

    await asyncio.to_thread(cluster.stop)
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"].startswith("database: "), answer.json()
    assert (await client.get("/healthz")).status_code == 200

    await asyncio.to_thread(cluster.start)
    # The first look may meet a connection the restart dropped (the pool then replaces them all).
    answers = [(await client.get("/readyz")).status_code for _ in range(3)]
    assert answers[-1] == 200 and answers.count(200) >= 2, answers
    assert (await client.post("/graphql", json={"query": "{ me { role } }"})).status_code == 200
