"""The API as callers reach it: GraphQL over HTTP, real tokens, a real database of the city."""

from __future__ import annotations

import contextlib

import asyncio
import datetime as dt
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest
import pytest_asyncio

from app.auth.roles import Role
from app.auth.tokens import mint
from app.config import RateLimits, Settings
from app.main import create_app
from tests.api import city
from tests.conftest import DatabaseFactory

# The suite reads the service's own messages in English (Chinese is the default: tests/api/test_language.py).
ENGLISH = {"accept-language": "en"}
# Test-only signing secret: never used outside this suite.
TEST_SECRET = "test-only-secret-not-for-any-deployment-0123456789"
# Test-only audit checkpoint key, made for this run.
TEST_AUDIT_KEY = (
    Ed25519PrivateKey.generate()
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode()
)


def settings_for(database_url: str, *, checkpoint_every: int = 10, rate_limits: str = "off") -> Settings:
    """The suite's settings. Rate limits are off unless a test asks: the shared `api` app sends
    hundreds of requests a minute (tests/api/test_rate_limits.py builds its own limited apps)."""
    return Settings(
        database_url=database_url,
        env="dev",
        jwt_secret=TEST_SECRET,
        jwt_public_key=None,
        jwt_issuer="xinzheng-test",
        jwt_audience="xinzheng",
        dev_secret=True,
        audit_key_pem=TEST_AUDIT_KEY,
        audit_checkpoint_every=checkpoint_every,
        rate_limits=RateLimits.parse(rate_limits),
    )


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """The `xinzheng` command, as a user runs it."""
    env = {**os.environ, "XINZHENG_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True, timeout=300)


@dataclass
class Tokens:
    settings: Settings

    def make(self, role: Role, **claims: Any) -> str:
        return mint(self.settings, role=role, **claims)

    @property
    def citizen(self) -> str:
        return self.make(Role.CITIZEN, id_number=city.CITIZEN)

    @property
    def borrower(self) -> str:
        return self.make(Role.CITIZEN, id_number=city.BORROWER)

    @property
    def bank(self) -> str:
        return self.make(Role.BANK, org=city.BANK)

    @property
    def counter(self) -> str:
        return self.make(Role.COUNTER, org=city.COUNTER)

    @property
    def admin(self) -> str:
        return self.make(Role.ADMIN)

    @property
    def auditor(self) -> str:
        return self.make(Role.AUDITOR)

    def issuer(self, org: str) -> str:
        return self.make(Role.ISSUER, org=org)


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings, engines: list[Any]) -> None:
        self.client = client
        self.tokens = Tokens(settings)
        self.engines = engines

    async def post(
        self, json: Any = None, *, token: str | None = None, headers: dict[str, str] | None = None, content: bytes | None = None
    ) -> httpx.Response:
        h = dict(headers or {})
        if token:
            h["authorization"] = f"Bearer {token}"
        return await self.client.post("/graphql", json=json, content=content, headers=h)

    async def graphql(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None, status: int = 200
    ) -> dict[str, Any]:
        response = await self.post({"query": query, "variables": variables or {}}, token=token)
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        return body


def codes_at(body: dict[str, Any], path: list[str | int]) -> list[str]:
    """The error codes the response carries at one path."""
    return [e["extensions"]["code"] for e in body.get("errors", []) if e.get("path") == path]


def all_codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.fixture(scope="session")
def city_database(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding the test city, loaded with `xinzheng import` as an operator would."""
    url = databases.new()
    data = city.write(tmp_path_factory.mktemp("city") / "city.jsonl")
    result = run_cli("import", str(data), database_url=url)
    assert result.returncode == 0, result.stderr
    return url


@dataclass(frozen=True)
class ProdCity:
    url: str
    keys_dir: Path  # the issuers' private keys, as prod keeps them: out of the database


@pytest.fixture(scope="session")
def prod_city(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> ProdCity:
    """The test city as prod runs it: imported (in dev, keys made at first use), then its issuers'
    private keys moved out of the database into a directory (XINZHENG_SIGNING_KEYS_DIR), one
    PEM per key, as an operator does before the service may start in prod."""
    from sqlalchemy import select, update
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.db.models import SigningKey

    url = databases.new()
    data = city.write(tmp_path_factory.mktemp("prod-city") / "city.jsonl")
    result = run_cli("import", str(data), database_url=url)
    assert result.returncode == 0, result.stderr
    keys_dir = tmp_path_factory.mktemp("prod-keys")
    table = SigningKey.__table__

    async def move_keys() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                for kid, pem in await conn.execute(select(table.c.kid, table.c.private_pem)):
                    (keys_dir / f"{kid}.pem").write_text(pem)
                await conn.execute(update(table).values(private_pem=None))
        finally:
            await engine.dispose()

    asyncio.run(move_keys())  # a session fixture made before the suite's loop runs, as city_database is
    return ProdCity(url, keys_dir)


@contextlib.asynccontextmanager
async def api_for(database_url: str) -> AsyncIterator[Api]:
    """The service on this database, called in process."""
    settings = settings_for(database_url)
    app = create_app(settings)
    engine = app.state.engine
    engines = [e for e in (engine.sync_engine, app.state.read_engine) if e is not None]
    # The app's lifespan, as a server runs it: at the end it closes its connections.
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test", headers=ENGLISH) as client,
    ):
        yield Api(client, settings, engines)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api(city_database: str) -> AsyncIterator[Api]:
    async with api_for(city_database) as service:
        yield service


def today() -> dt.date:
    return city.TODAY


__all__ = ["ENGLISH", "Api", "Path", "all_codes", "codes_at", "run_cli", "today"]
