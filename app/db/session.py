"""The async engine. One per process, opened and closed by the app's lifespan or the CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import VAR_DIR, Settings


# Connections kept open. A request holds one while it reads, and the audit writer one more;
# connections beyond the pool are opened and closed per request, which on PostgreSQL means a
# new session and every statement prepared again (which, profiled, cost more than the queries).
POOL_SIZE = 32
MAX_OVERFLOW = 32
# PostgreSQL: connections kept for reads (app/db/request.py PostgresReader), out of the pool's;
# the rest serve the audit log, mutations and the health checks.
READ_CONNECTIONS = 24
# PostgreSQL: how often a session that runs a statement checks that its client is still there.
CLIENT_CHECK_MS = 100


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.database_url
    kwargs.setdefault("pool_size", POOL_SIZE)
    kwargs.setdefault("max_overflow", MAX_OVERFLOW)
    if settings.is_sqlite:
        if url.startswith(f"sqlite+aiosqlite:///{VAR_DIR}"):
            VAR_DIR.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "connect", _sqlite_no_driver_transactions)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # No pre-ping: it costs a round trip on every checkout. After a database restart the
    # first statement on a dead connection fails with a clear error, SQLAlchemy invalidates
    # the pool, and the next requests get fresh connections: the service recovers by itself.
    # A statement whose connection this process dropped (a request or a batch cancelled while
    # it waited, say for the audit log's lock) stops within CLIENT_CHECK_MS, instead of running
    # to its end, committing, unseen.
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("server_settings", {}).setdefault("client_connection_check_interval", str(CLIENT_CHECK_MS))
    return create_async_engine(url, **kwargs)


def create_read_engine(settings: Settings) -> Engine | None:
    """SQLite only: a plain sqlite3 engine for the reads, run on the event loop itself, through
    one connection for the whole process (app/db/request.py SQLiteReader).

    Through aiosqlite every statement is several hand-offs to a thread, which cost several times
    what our indexed reads cost through sqlite3 (bench/README.md). In WAL mode a reader never waits for a writer, so a
    read cannot stall the loop on a lock. Mutations stay on the async engine, where waiting
    for SQLite's one writer lock does not block other requests; the audit log's batches have
    an engine of their own (create_audit_engine).
    """
    if not settings.is_sqlite:
        return None
    url = make_url(settings.database_url).set(drivername="sqlite")
    engine = create_sync_engine(url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_audit_engine(settings: Settings) -> Engine | None:
    """SQLite only: a plain sqlite3 engine for the audit log's batched appends.

    Same reason as create_read_engine: through aiosqlite the append's five statements cost
    more CPU than the request they record. A batch takes the writer lock at BEGIN IMMEDIATE and
    waits for it at most a moment on the loop; if another process holds it, the store retries
    asynchronously (and fails closed if it never gets it).
    """
    if not settings.is_sqlite:
        return None
    url = make_url(settings.database_url).set(drivername="sqlite")
    engine = create_sync_engine(url, pool_size=2, max_overflow=2)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "connect", _sqlite_no_driver_transactions)
    event.listen(engine, "connect", _sqlite_short_wait)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _sqlite_short_wait(dbapi_connection: Any, _record: Any) -> None:
    # On the event loop a writer may wait for the lock only briefly; the store retries.
    dbapi_connection.execute(f"PRAGMA busy_timeout={AUDIT_BUSY_MS}")


AUDIT_BUSY_MS = 20


def _sqlite_no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 driver opens transactions on its own terms (not before a SAVEPOINT), so a
    # savepoint opened a transaction that its RELEASE then committed: a mutation was committed
    # before its audit entry was written. With the driver's handling off and BEGIN emitted on
    # SQLAlchemy's own begin (the recipe of SQLAlchemy's SQLite docs), a transaction is exactly
    # what engine.begin() says it is, savepoints included.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
