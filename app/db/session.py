"""The async engine. One per process, opened and closed by the app's lifespan or the CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import VAR_DIR, Settings


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.database_url
    if settings.is_sqlite:
        if url.startswith(f"sqlite+aiosqlite:///{VAR_DIR}"):
            VAR_DIR.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # No pre-ping: it costs a round trip on every checkout. After a database restart the
    # first statement on a dead connection fails with a clear error, SQLAlchemy invalidates
    # the pool, and the next requests get fresh connections: the service recovers by itself.
    return create_async_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
