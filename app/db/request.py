"""One database connection per GraphQL request, opened on first use.

graphql-core resolves sibling fields concurrently, and one connection runs one statement at a
time, so statements take turns under a lock. DataLoaders batch each level of the query into
one statement per list, so taking turns costs little and a request holds one pooled connection.
Reads return plain Rows (no ORM identity map, no lazy loads).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class RequestDatabase:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def rows(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Row[Any]]:
        async with self._lock:
            if self._conn is None:
                self._conn = await self._engine.connect()
            result = await self._conn.execute(statement, params)
            return result.all()

    async def close(self) -> None:
        """Give the connection back to the pool (its read transaction is rolled back)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write: its own connection and transaction, committed whole at the end or not at all."""
        async with self._engine.begin() as conn:
            yield conn
