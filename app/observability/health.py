"""`/healthz` (the process answers) and `/readyz` (it can serve: the database answers and the
audit log can be written, since no request is answered without its entry)."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.audit.rows import HEAD
from app.audit.store import AuditStore

READY_SECONDS = 3.0  # a database that has not answered by then is as good as down
# PostgreSQL: a server that takes writes, and a role that may append to the log.
POSTGRES_WRITABLE = text(
    "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'"
    " AND has_table_privilege('audit_log', 'INSERT')"
)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(engine: AsyncEngine, store: AuditStore | None) -> JSONResponse:
    reason = await not_ready(engine, store)
    if reason is not None:
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ok"})


async def not_ready(engine: AsyncEngine, store: AuditStore | None) -> str | None:
    """Why the service cannot serve now, or None. Writes nothing: the audit log's head is read
    and the database asked whether the log could be appended to."""
    try:
        async with asyncio.timeout(READY_SECONDS):
            conn = await engine.connect()
    except TimeoutError:
        return f"database: no connection within {READY_SECONDS:g} s"
    except Exception as e:
        # The pool replaces its connections by itself when the database comes back.
        return f"database: unreachable ({type(e).__name__})"
    try:
        async with asyncio.timeout(READY_SECONDS):
            try:
                await conn.execute(text("SELECT 1"))
            except Exception as e:
                return f"database: not answering ({type(e).__name__})"
            if store is not None:
                return await _audit_not_writable(conn, engine)
    except TimeoutError:
        return f"database: no answer within {READY_SECONDS:g} s"
    finally:
        await conn.close()
    return None


async def _audit_not_writable(conn: AsyncConnection, engine: AsyncEngine) -> str | None:
    try:
        await conn.execute(HEAD)
    except Exception as e:
        return f"audit log: its head cannot be read ({type(e).__name__})"
    if engine.dialect.name == "postgresql":
        try:
            writable = (await conn.execute(POSTGRES_WRITABLE)).scalar_one()
        except Exception as e:
            return f"audit log: cannot tell whether it can be written ({type(e).__name__})"
        return None if writable else "audit log: the database refuses writes to it (read-only, a standby, or no INSERT grant)"
    path = engine.url.database
    if path and path != ":memory:":
        # SQLite writes the file and, beside it, its -wal and -shm files.
        if not os.access(path, os.W_OK) or not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
            return "audit log: the database file or its directory is not writable"
    return None
