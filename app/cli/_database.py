"""What the commands that use the database share: an engine on a reachable, migrated database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli.migrate import alembic_config
from app.config import Settings
from app.db.session import create_engine


@asynccontextmanager
async def migrated_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """An engine on the configured database, or CliError if it is unreachable or not migrated."""
    from app.cli import CliError

    engine = create_engine(settings)
    try:
        try:
            async with engine.connect() as conn:
                current = set(await conn.run_sync(_current_heads))
        except (OSError, DBAPIError) as e:
            raise CliError(f"cannot reach the database {redacted(settings.database_url)}: {reason(e)}") from None
        latest = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        if not current:
            raise CliError("the database has no schema yet: run `xinzheng migrate` first")
        if current != latest:
            raise CliError("the database schema is not the latest: run `xinzheng migrate` first")
        yield engine
    finally:
        await engine.dispose()


def _current_heads(conn: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(conn).get_current_heads()


def reason(e: BaseException) -> str:
    """The first line of a database error, without SQL or parameters."""
    orig = getattr(e, "orig", None) or e
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
