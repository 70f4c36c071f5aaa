"""Each app answers as its own configuration says, however many are built in one process.

The field policy is installed in each schema's own executor (app/execution/executor.py), not
on strawberry's shared field objects: building an app with the policy off (as the benchmark's
variants do) must not turn it off for an app built before or after it, planned or not.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from app.main import create_app
from tests.api import city
from tests.api.conftest import Tokens, codes_at, settings_for

QUERY = "query($id: String!, $a: AccessInput) { person(idNumber: $id, access: $a) { name phone idNumber } }"
ACCESS = {"purpose": "LOAN_APPROVAL", "consentId": city.CONSENT_OK}
CONFIGURATIONS = [
    {"enforce_policy": True, "planned": True},
    {"enforce_policy": False, "planned": True},
    {"enforce_policy": True, "planned": False},
    {"enforce_policy": False, "planned": False},
    {"enforce_policy": True, "planned": True},
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def clients(city_database: str) -> AsyncIterator[tuple[list[httpx.AsyncClient], Tokens]]:
    settings = settings_for(city_database)
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for configuration in CONFIGURATIONS:
            app = create_app(settings, **configuration)
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients.append(await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test")
            ))  # fmt: skip
        yield clients, Tokens(settings)


async def ask(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"id": city.BORROWER, "a": ACCESS}},
        headers={"authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 200
    return response.json()


async def test_every_app_applies_its_own_policy_setting(clients: tuple[list[httpx.AsyncClient], Tokens]) -> None:
    apps, tokens = clients
    for _ in range(2):  # twice: the second time from the plans the first one made
        for client, configuration in zip(apps, CONFIGURATIONS, strict=True):
            body = await ask(client, tokens.bank)
            person = body["data"]["person"]
            if configuration["enforce_policy"]:
                assert person["phone"] is None and codes_at(body, ["person", "phone"]) == ["FORBIDDEN"], configuration
                assert "*" in person["idNumber"], configuration
            else:
                assert person["phone"] and person["idNumber"] == city.BORROWER, configuration
