"""The service keeps its connections open between requests; when the database drops them
(a restart, a failover, an operator's pg_terminate_backend), it recovers by itself."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.db.session import READ_CONNECTIONS
from app.main import create_app
from tests.api.conftest import settings_for
from tests.conftest import drop_sessions

# An enterprise by its credit code (none in this empty database: null), and the catalogue.
QUERY = {"query": '{ enterprise(creditCode: "91330104MA2H10002C") { name } certificateTypes { typeCode } }'}


async def test_connections_the_database_dropped_are_replaced(empty_database_url: str) -> None:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop connections")
    app = create_app(settings_for(empty_database_url))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        # Several requests at once: several read connections open, then idle.
        warm = await asyncio.gather(*(client.post("/graphql", json=QUERY) for _ in range(8)))
        assert all(a.status_code == 200 and "errors" not in a.json() for a in warm)
        assert await drop_sessions(empty_database_url) >= 1

        def full(answer: httpx.Response) -> bool:
            return answer.status_code == 200 and "errors" not in answer.json()

        # The first request after it may fail on its dropped connection (it is answered, never
        # left hanging). From then on every request is answered in full, many at once too:
        # the other idle connections are replaced before they are lent again.
        first = await client.post("/graphql", json=QUERY)
        assert first.status_code in (200, 503), first.text
        burst = await asyncio.gather(*(client.post("/graphql", json=QUERY) for _ in range(READ_CONNECTIONS)))
        assert all(full(a) for a in burst), [a.text for a in burst if not full(a)]
        assert all([full(await client.post("/graphql", json=QUERY)) for _ in range(3)])
        body = (await client.post("/graphql", json=QUERY)).json()
        assert body["data"]["certificateTypes"], body
