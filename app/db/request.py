"""One database connection per GraphQL request for reads, opened on first use; one for writes.

graphql-core resolves sibling fields concurrently, and one connection runs one statement at a
time, so reads take turns under a lock. DataLoaders batch each level of the query into one
statement per list, so taking turns costs little and a request holds one pooled connection.
Reads return plain Rows (no ORM identity map, no lazy loads).

Writes (mutations) go to a second connection whose transaction stays open until the request
ends, so that the view can append the audit entry to it and commit both together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class RequestDatabase:
    def __init__(
        self, engine: AsyncEngine, write_turn: asyncio.Lock | None = None, read_engine: Engine | None = None
    ) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        # SQLite: reads through plain sqlite3 on the loop (app/db/session.py create_read_engine).
        self._read_engine = read_engine
        self._sync_conn: Connection | None = None
        self._lock = asyncio.Lock()
        self._writer: AsyncConnection | None = None
        # The audit writer's turn, taken before the first write and kept until the commit:
        # on SQLite an open write transaction holds the database's one writer lock, and the
        # audit append of another request must not wait on it while holding the turn itself.
        self._write_turn = write_turn
        self._holds_turn = False

    async def rows(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Row[Any]]:
        if self._read_engine is not None:
            if self._sync_conn is None:
                # The sqlite3 driver opens no transaction for a SELECT: each read autocommits.
                self._sync_conn = self._read_engine.connect()
            return self._sync_conn.execute(statement, params).all()
        async with self._lock:
            if self._conn is None:
                # Reads run in autocommit: no BEGIN and ROLLBACK round trips around them.
                conn = await self._engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await self._conn.execute(statement, params)
            return result.all()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write, kept in the request's transaction until the view commits it with the audit entry.

        If the block fails, its writes are undone (a savepoint) and the rest of the request stands.
        """
        if self._writer is None:
            if self._write_turn is not None:
                await self._write_turn.acquire()
                self._holds_turn = True
            self._writer = await self._engine.connect()
            await self._writer.begin()
        async with self._writer.begin_nested():
            yield self._writer

    @property
    def writer(self) -> AsyncConnection | None:
        """The open write transaction, if this request wrote anything."""
        return self._writer

    async def release_reads(self) -> None:
        """Give the read connection back as soon as the answer is made, before the audit entry is
        written: a request waiting for its entry must not hold a connection the writer needs."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
        if self._sync_conn is not None:
            sync_conn, self._sync_conn = self._sync_conn, None
            sync_conn.close()

    async def close(self) -> None:
        """Give the connections back (anything not committed is rolled back)."""
        try:
            await self.release_reads()
            if self._writer is not None:
                writer, self._writer = self._writer, None
                await writer.close()
        finally:
            if self._holds_turn and self._write_turn is not None:
                self._holds_turn = False
                self._write_turn.release()
