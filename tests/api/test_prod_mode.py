"""Prod mode (SPEC section 8): introspection for admins only, and no suggestions of any kind."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from app.config import ConfigError, Settings
from app.main import create_app
from tests.api import city
from tests.api.conftest import ProdCity, Tokens, settings_for

INTROSPECTION = "{ __schema { queryType { name } } }"
# Each names something that does not exist but nearly does: graphql-core would suggest the real one.
TYPOS: list[tuple[str, dict[str, Any]]] = [
    ('{ person(idNumbr: "%s") { name } }' % city.BORROWER, {}),  # an argument
    ('{ person(idNumber: "%s") { nme } }' % city.BORROWER, {}),  # a field
    ('{ person(idNumber: "%s") { ...F } } fragment F on Persn { name }' % city.BORROWER, {}),  # a type
    ('{ person(idNumber: "%s", access: {purpse: LOAN_APPROVAL}) { name } }' % city.BORROWER, {}),  # an input field
    ('{ person(idNumber: "%s", access: {purpose: LOAN_APROVAL}) { name } }' % city.BORROWER, {}),  # an enum value
    ("query($a: AccessInput) { person(idNumber: \"%s\", access: $a) { name } }" % city.BORROWER,
     {"a": {"purpose": "LOAN_APROVAL"}}),  # an enum value in a variable
]  # fmt: skip


async def clients(
    city_database: str, env: str, keys_dir: Path | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    dev_settings = settings_for(city_database)
    # Tokens signed with the same test secret as the dev app's: prod mints none itself.
    app = create_app(
        dataclasses.replace(
            dev_settings, env=env, dev_secret=env == "dev", signing_keys_dir=str(keys_dir) if keys_dir else None
        )
    )
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test"
    ) as client:
        yield client, Tokens(dev_settings)


@pytest_asyncio.fixture(loop_scope="session")
async def prod(prod_city: ProdCity) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    # Prod refuses a database that holds a private key: its city keeps them in a directory.
    async for pair in clients(prod_city.url, "prod", prod_city.keys_dir):
        yield pair


@pytest_asyncio.fixture(loop_scope="session")
async def dev(city_database: str) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    async for pair in clients(city_database, "dev"):
        yield pair


async def ask(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return (await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)).json()


async def test_in_prod_only_an_admin_introspects(prod: tuple[httpx.AsyncClient, Tokens]) -> None:
    client, tokens = prod
    for token in (None, tokens.bank, tokens.citizen, tokens.auditor):
        body = await ask(client, INTROSPECTION, {}, token)
        assert body.get("data") is None and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    body = await ask(client, INTROSPECTION, {}, tokens.admin)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert (await ask(client, "{ __typename }", {}, None))["data"] == {"__typename": "Query"}


@pytest.mark.parametrize(("query", "variables"), TYPOS)
async def test_in_prod_no_error_suggests_a_name(
    prod: tuple[httpx.AsyncClient, Tokens], dev: tuple[httpx.AsyncClient, Tokens], query: str, variables: dict[str, Any]
) -> None:
    body = await ask(prod[0], query, variables, prod[1].admin)
    assert body["errors"], body
    assert not any("did you mean" in e["message"].lower() for e in body["errors"]), body["errors"]
    # The same mistake in dev is suggested a fix: the test would notice a typo that suggests nothing.
    helped = await ask(dev[0], query, variables, dev[1].admin)
    assert any("did you mean" in e["message"].lower() for e in helped["errors"]), helped["errors"]


@pytest.mark.parametrize("secret", ["x" * 32, "ab" * 24, "0123456789abcdef" * 3, "aaaaaaaabbbbbbbbccccccccdddddddd"])
def test_prod_refuses_a_guessable_jwt_secret(secret: str) -> None:
    with pytest.raises(ConfigError, match="guessable"):
        Settings.from_env({"XINZHENG_ENV": "prod", "XINZHENG_JWT_SECRET": secret, "XINZHENG_AUDIT_KEY": "unused"})


def test_prod_takes_a_random_jwt_secret() -> None:
    secret = secrets.token_urlsafe(32)  # made per run, never stored
    assert Settings.from_env({"XINZHENG_ENV": "prod", "XINZHENG_JWT_SECRET": secret}).jwt_secret == secret
