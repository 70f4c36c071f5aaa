"""Test databases: every database test runs on SQLite and on PostgreSQL.

- `databases` (session, parametrised by backend) makes fresh, migrated, empty databases:
  SQLite files copied from one migrated file, PostgreSQL databases cloned from one migrated
  template. Each is dropped at the end of the session.
- XINZHENG_TEST_BACKENDS (default `sqlite,postgresql`) names the backends to run on.
- PostgreSQL is found at XINZHENG_TEST_POSTGRES_URL (default: the local server's `test`
  database). Where it cannot be reached its tests are skipped, unless
  XINZHENG_REQUIRE_POSTGRES=1 (CI sets it), which turns its absence into a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from app.cli.migrate import upgrade
from app.db import request as request_module

# XINZHENG_TEST_BACKENDS=sqlite (or postgresql) runs the database tests on one backend only: a
# shuffled run (.ci/run) takes one backend at a time, as tests of both interleaved would set up
# and tear down the session's databases at every switch.
BACKENDS = os.environ.get("XINZHENG_TEST_BACKENDS", "sqlite,postgresql").split(",")
PG_URL = os.environ.get("XINZHENG_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("XINZHENG_REQUIRE_POSTGRES") == "1"


def _pg_dsn(database: str | None = None) -> str:
    url = make_url(PG_URL).set(drivername="postgresql")
    if database:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _pg(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(_pg_dsn(), timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


async def drop_sessions(database_url: str) -> int:
    """Close every other session of a PostgreSQL database, as a restart would; how many there were."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        dropped = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return len(dropped)


class DatabaseFactory:
    """Fresh, migrated, empty databases of one backend."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.workdir = workdir
        self.created: list[str] = []
        if backend == "sqlite":
            self.template = workdir / "template.db"
            upgrade(f"sqlite+aiosqlite:///{self.template}")
        else:
            self.template_name = f"xz_tmpl_{uuid.uuid4().hex[:10]}"
            _pg(f'CREATE DATABASE "{self.template_name}"')
            self.created.append(self.template_name)
            upgrade(make_url(PG_URL).set(database=self.template_name).render_as_string(hide_password=False))

    def new(self) -> str:
        """The URL of a new empty database at the latest schema."""
        name = f"xz_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            path = self.workdir / f"{name}.db"
            shutil.copyfile(self.template, path)
            return f"sqlite+aiosqlite:///{path}"
        _pg(f'CREATE DATABASE "{name}" TEMPLATE "{self.template_name}"')
        self.created.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        for name in reversed(self.created):
            _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_reachable() -> str | None:
    try:
        _pg("SELECT 1")
    except Exception as e:  # any failure to connect means: not reachable
        return f"{type(e).__name__}: {e}"
    return None


@pytest.fixture(scope="session", params=BACKENDS)
def databases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    backend: str = request.param
    if backend == "postgresql":
        problem = _postgres_reachable()
        if problem:
            if REQUIRE_PG:
                pytest.fail(f"PostgreSQL is required (XINZHENG_REQUIRE_POSTGRES=1) but unreachable at {PG_URL}: {problem}")
            pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {problem}")
    factory = DatabaseFactory(backend, tmp_path_factory.mktemp(backend))
    yield factory
    factory.close()


@pytest.fixture
def empty_database_url(databases: DatabaseFactory) -> str:
    """A new empty database at the latest schema, for this test alone."""
    return databases.new()


def reads_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the SQL of each read statement the request databases send to PostgreSQL
    (app/db/request.py), in the order sent."""
    sent: list[str] = []
    fetch = request_module.fetch_asyncpg

    async def counted(driver: Any, sql: str, args: Any) -> Any:
        sent.append(sql)
        return await fetch(driver, sql, args)

    monkeypatch.setattr(request_module, "fetch_asyncpg", counted)
    return sent
