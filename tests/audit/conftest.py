"""The audit log as an attacker, an operator and an auditor meet it: real requests make the chain,
real SQL tampers with it, and the `xinzheng` command, run as a user runs it, judges it.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit import keys
from app.audit.rows import audit_log
from app.audit.verify import entries
from app.config import Settings
from app.main import create_app
from tests.api.conftest import ENGLISH, TEST_AUDIT_KEY, TEST_SECRET, Tokens, settings_for
from tests.conftest import DatabaseFactory

XINZHENG = Path(sys.executable).with_name("xinzheng")  # the console script the package installs
CHECKPOINT_EVERY = 5
ENTRIES = 12  # made by make_chain: signed checkpoints at 5 and 10
BROKEN_AT = re.compile(r"broken at entry (\d+)")


KNOWN_BANK = "91330100MA2H00001P"  # 惠民银行, the one organisation the `service` fixture's database knows


def service_env(database_url: str) -> dict[str, str]:
    """The environment of a service (or command) on this database, with the test keys."""
    settings = settings_for(database_url)
    return {
        **os.environ,
        "XINZHENG_ENV": "dev",
        "XINZHENG_DATABASE_URL": database_url,
        "XINZHENG_AUDIT_KEY": TEST_AUDIT_KEY,
        "XINZHENG_JWT_SECRET": TEST_SECRET,
        "XINZHENG_JWT_ISSUER": settings.jwt_issuer,
        "XINZHENG_JWT_AUDIENCE": settings.jwt_audience,
        # As settings_for: these tests load the service for the log's sake, not the limiter's
        # (tests/api/test_rate_limits.py has those). On, a worker that happened to take most
        # of a burst refused the public's requests past 60 a minute.
        "XINZHENG_RATE_LIMITS": "off",
    }


def xinzheng(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    """The `xinzheng` command in a fresh process, as a user runs it."""
    command = [str(XINZHENG)] if XINZHENG.exists() else [sys.executable, "-m", "app.cli"]
    return subprocess.run(
        [*command, *args], env=service_env(database_url), capture_output=True, text=True, timeout=120
    )


def first_bad_seq(result: subprocess.CompletedProcess[str]) -> int:
    """The entry `xinzheng audit verify` names as the first bad one."""
    assert result.returncode != 0, result.stdout
    found = BROKEN_AT.search(result.stderr)
    assert found, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback
    return int(found.group(1))


async def sql(database_url: str, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Raw SQL in one transaction, as someone with direct access to the database runs it."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement), params or {})
    finally:
        await engine.dispose()


async def stored_entries(database_url: str) -> list[dict[str, Any]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [e async for e in entries(conn)]
    finally:
        await engine.dispose()


async def entry_count(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())
    finally:
        await engine.dispose()


class Service:
    """The app in this process over its ASGI interface, on one database."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.url = settings.database_url
        self.tokens = Tokens(settings)

    async def post(
        self, json: Any = None, *, token: str | None = None, headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        h = dict(headers or {})
        if token:
            h["authorization"] = f"Bearer {token}"
        return await self.client.post("/graphql", json=json, content=content, headers=h)

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, *, operation_name: str | None = None, **kw: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name is not None:
            body["operationName"] = operation_name
        return await self.post(body, **kw)


@pytest_asyncio.fixture
async def service(empty_database_url: str) -> AsyncIterator[Service]:
    """The service on a new database that knows one bank (tokens must name a known organisation)
    and nothing else, a signed checkpoint every CHECKPOINT_EVERY entries."""
    await sql(
        empty_database_url, "INSERT INTO authorities (code, name, authority_type) VALUES (:code, '惠民银行', 'BANK')",
        params={"code": KNOWN_BANK},
    )  # fmt: skip
    # No timer: these tests count checkpoints, and must not depend on how long they take.
    settings = replace(settings_for(empty_database_url, checkpoint_every=CHECKPOINT_EVERY), audit_checkpoint_seconds=3600)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test", headers=ENGLISH
    ) as client:
        yield Service(client, settings)


def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


async def drop_append_only_trigger(database_url: str, *tables: str) -> None:
    """What an attacker with access to the database does first (to the log, or to these tables)."""
    for table in tables or ("audit_log",):
        if backend(database_url) == "sqlite":
            await sql(database_url, f"DROP TRIGGER IF EXISTS {table}_no_update", f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            await sql(database_url, f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")


def public_pem(key: Ed25519PrivateKey, path: Path) -> Path:
    """The public half of a key as a PEM file, as `--public-key` takes it."""
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


def service_audit_key() -> Ed25519PrivateKey:
    """The test service's checkpoint key (TEST_AUDIT_KEY)."""
    return keys.audit_key(settings_for("sqlite://"))


async def make_chain(service: Service) -> None:
    """ENTRIES entries from requests of every fate: answered, refused, malformed."""
    requests: list[Callable[[], Awaitable[Any]]] = [
        lambda: service.query("{ me { role } }"),
        lambda: service.query("{ me { role } }", token=service.tokens.admin),
        lambda: service.query("{ me { role }"),  # a syntax error
        lambda: service.query("{ me { role } }", token="not-a-token"),  # 401
        lambda: service.post(content=b'{"query": ', headers={"content-type": "application/json"}),
        lambda: service.query('{ person(idNumber: "330106198503120028") { name } }'),  # denied
    ]
    for i in range(ENTRIES):
        await requests[i % len(requests)]()
    assert await entry_count(service.url) == ENTRIES
    assert ENTRIES // CHECKPOINT_EVERY == 2


@pytest.fixture
def postgres_url(databases: DatabaseFactory) -> str:
    """A fresh database on PostgreSQL; the test is skipped on SQLite. What these tests meet is
    PostgreSQL's: several writers at once (SQLite serves one worker, and takes its writer lock
    before the head is read), its locks, its driver."""
    if databases.backend != "postgresql":
        pytest.skip("PostgreSQL's own: several writers at once, its locks, its driver")
    return databases.new()
