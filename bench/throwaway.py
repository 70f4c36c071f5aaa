"""A throwaway database for a benchmark: a temp SQLite file, or a new database on a PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import make_url


class DatabaseError(Exception):
    """The database could not be made; the message says why and what to do."""


@contextlib.contextmanager
def throwaway_database(database_url: str | None, workdir: Path, *, prefix: str, keep: bool = False) -> Iterator[str]:
    """The URL of a new, empty database (not migrated), dropped on exit unless `keep`.

    Without a URL: a SQLite file in `workdir` (which the caller removes). With a
    postgresql+asyncpg:// URL of a server: a new database `<prefix>_<random>` on it.
    """
    if database_url is None:
        yield f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        return
    if not database_url.startswith("postgresql+asyncpg://"):
        raise DatabaseError("--database-url takes a postgresql+asyncpg:// URL (the default is a temp SQLite file)")
    server = make_url(database_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)

    async def execute(sql: str) -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(admin, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # any failure to create it: say why, and what the user needs
        raise DatabaseError(f"cannot create a database on {server.render_as_string()}: {e} (the user needs CREATEDB)") from e
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept the database: {server.set(database=name).render_as_string()}")
        else:
            asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
