"""Write transactions run straight on the driver, their statements compiled once, as reads are
(app/db/read.py).

Made for the audit log's batched appends (app/audit/store.py). Profiled, SQLAlchemy's work around
each statement (the execution context, every row's parameters constructed and processed one by
one for executemany, Engine.begin and connect, on PostgreSQL the async adapter's hand-offs) was
over half of a one-entry append's CPU, yet its statements are a few constants. So SQLAlchemy
compiles each statement once per database and set of parameter keys (public API only: its
`string`, `positiontup` and `binds`), and its SQL, the order of its parameters and their
converters (app/db/convert.py, applied to every value, None included, as SQLAlchemy applies its
processors) are kept: the rows stored are the same as through SQLAlchemy's execution, byte for
byte (tests/audit/test_driver_appends.py). Its reads are hot reads (app/db/hot.py).

`Writer` holds one pooled connection for a run of transactions and gives it back when told (the
audit store keeps it while entries keep coming). A transaction, on the driver (its statements:
app/db/transactions.py):
- SQLite, through sqlite3 (with the driver's own transaction handling off, as app/db/session.py
  sets it): BEGIN IMMEDIATE, so the writer lock is taken first, waiting for it at most the
  connection's busy timeout; then COMMIT.
- PostgreSQL, through asyncpg: BEGIN (at the server's default isolation, as SQLAlchemy's would
  be), with the advisory lock it is asked for in the same round trip; then COMMIT. `insert_if`
  sends its read and its INSERTs as one statement (app/db/compiled.py `CompiledTogether`);
  `Writer.insert_if` sends that statement alone, outside any transaction, and so do
  `Writer.execute` (one INSERT) and `Writer.chained` (a function's call and INSERTs that take
  columns from its rows, app/db/compiled.py `CompiledChained`).
A failed statement rolls the transaction back, then is raised as SQLAlchemy's exception of its
kind (app/db/errors.py: a DBAPIError, or a StatementError for a value its type refuses), the
connection invalidated if it was lost or its state is unknown (no transaction began, or its end
failed); the writer then gives the connection back and takes another for the next transaction.

A driver this module does not know (aiosqlite), or a writer made with `ordinary=True`, runs the
same transaction through SQLAlchemy's own execution.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Insert, Select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.compiled import Compiled
from app.db.transactions import AsyncpgTransaction, Begun, Ordinary, OrdinarySync, Params, SQLiteTransaction, Transaction

# A write transaction on SQLite takes the writer lock when it begins, not at its first write: a
# deferred transaction that has read the head could not upgrade to write while another process
# writes, and would fail without waiting (SQLITE_BUSY).
SQLITE_BEGIN = "BEGIN IMMEDIATE"
# PostgreSQL: an advisory lock held to the end of the transaction (`Writer.transaction(lock=...)`).
ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")

T = TypeVar("T")


class Writer:
    """One pooled connection for a run of write transactions, on the driver where it can be.

    Args:
        engine: the database's async engine. On PostgreSQL through asyncpg, transactions run on
            asyncpg; otherwise through SQLAlchemy.
        sqlite: SQLite: a sync sqlite3 engine (app/db/session.py create_audit_engine), whose
            transactions run on sqlite3 itself. It must begin with SQLITE_BEGIN for the ordinary
            path to match.
        ordinary: run every transaction through SQLAlchemy's execution (tests compare the two).

    Statements are compiled by identity: make them once, as module constants.

    Usage:
        HEAD = select(audit_log.c.seq).order_by(audit_log.c.seq.desc()).limit(1)
        INSERT_ENTRIES = insert(audit_log)

        writer = Writer(engine)
        try:
            async with writer.transaction() as tx:
                head = await tx.first(HEAD)
                await tx.execute(INSERT_ENTRIES, rows)
        finally:
            await writer.release()
    """

    def __init__(self, engine: AsyncEngine, sqlite: Engine | None = None, *, ordinary: bool = False) -> None:
        self.engine = engine
        self.sqlite = sqlite
        self.ordinary = ordinary
        self._conn: AsyncConnection | None = None
        self._sync_conn: Connection | None = None
        self._driver: Any = None
        # Compiled when first run, once the dialect knows its server.
        self._compiled = Compiled((sqlite or engine.sync_engine).dialect)

    @contextlib.asynccontextmanager
    async def transaction(self, lock: int | None = None) -> AsyncIterator[Transaction]:
        """A transaction, committed when the block ends; rolled back if it raises, and the
        connection given back (invalidated if its state is unknown).

        `lock`: on PostgreSQL, the transaction first takes this advisory lock (held to its end);
        SQLite's transaction holds the database's writer lock already."""
        ok = False
        try:
            if self.sqlite is not None:
                async with self._sqlite_transaction() as tx:
                    yield tx
            else:
                async with self._async_transaction(lock) as tx:
                    yield tx
            ok = True
        finally:
            if not ok:
                await self.release()

    @contextlib.asynccontextmanager
    async def _sqlite_transaction(self) -> AsyncIterator[Transaction]:
        assert self.sqlite is not None
        if self._sync_conn is None:
            self._sync_conn = self.sqlite.connect()
        conn = self._sync_conn
        if self.ordinary or conn.dialect.driver != "pysqlite":
            with conn.begin():
                yield OrdinarySync(conn)
            return
        tx = SQLiteTransaction(conn, conn.connection.dbapi_connection, self._compiled)
        try:
            tx.run(SQLITE_BEGIN)
            yield tx
            tx.run("COMMIT")
        except BaseException as error:
            tx.rollback()
            if tx.broken:
                conn.invalidate(error)
            raise
        finally:
            tx.cursor.close()

    async def insert_if(
        self, condition: Select[Any], params: Params, inserts: Sequence[tuple[Insert, Sequence[Params]]]
    ) -> bool:
        """`Transaction.insert_if` committed on its own. On PostgreSQL through asyncpg it is one
        statement outside any transaction (its own implicit one, committed before the server
        answers): one round trip in all. Elsewhere, in a transaction of its own."""
        if (conn := await self._asyncpg()) is not None:
            return await self._alone(conn, lambda tx: tx.insert_if(condition, params, inserts))
        async with self.transaction() as tx:
            return await tx.insert_if(condition, params, inserts)

    async def execute(self, statement: Insert, rows: Sequence[Params]) -> None:
        """`Transaction.execute` committed on its own: on PostgreSQL through asyncpg one statement
        outside any transaction; elsewhere in a transaction of its own."""
        if (conn := await self._asyncpg()) is not None:
            return await self._alone(conn, lambda tx: tx.execute(statement, rows))
        async with self.transaction() as tx:
            await tx.execute(statement, rows)

    async def chained(
        self,
        call: str,
        arguments: Sequence[Any],
        inserts: Sequence[tuple[Insert, Sequence[Params], Mapping[str, str], str]],
    ) -> Sequence[Any] | None:
        """A set-returning function's call and INSERTs that take columns from its rows, as one
        statement outside any transaction (app/db/compiled.py `CompiledChained`); the function's
        rows. PostgreSQL through asyncpg only: None elsewhere, and nothing is done."""
        if (conn := await self._asyncpg()) is None:
            return None
        return await self._alone(conn, lambda tx: tx.chained(call, arguments, inserts))

    async def _asyncpg(self) -> AsyncConnection | None:
        """The connection, if statements go to asyncpg itself (not SQLite, not `ordinary`)."""
        if self.sqlite is not None or self.ordinary:
            return None
        if self._conn is None:
            self._conn = await self.engine.connect()
        return self._conn if self._conn.dialect.driver == "asyncpg" else None

    async def _alone(self, conn: AsyncConnection, run: Callable[[AsyncpgTransaction], Awaitable[T]]) -> T:
        """One statement outside any transaction; the connection given back if it fails."""
        if self._driver is None:
            self._driver = (await conn.get_raw_connection()).driver_connection
        tx = AsyncpgTransaction(conn, self._driver, self._compiled)  # no transaction to roll back
        ok = False
        try:
            done = await run(tx)
            ok = True
            return done
        except Exception as error:
            if (tx.broken or self._driver.is_closed()) and conn.sync_connection is not None:
                conn.sync_connection.invalidate(error)
            raise
        except BaseException as error:  # cancelled mid-statement: as in `_async_transaction`
            if conn.sync_connection is not None:
                conn.sync_connection.invalidate(error)
            raise
        finally:
            if not ok:
                await self.release()

    @contextlib.asynccontextmanager
    async def _async_transaction(self, lock: int | None) -> AsyncIterator[Transaction]:
        if self._conn is None:
            self._conn = await self.engine.connect()
        conn = self._conn
        postgres = conn.dialect.name == "postgresql"
        if self.ordinary or conn.dialect.driver != "asyncpg":
            async with conn.begin():
                ordinary = Ordinary(conn)
                if lock is not None and postgres:
                    await ordinary.execute(ADVISORY_LOCK, {"key": lock})
                yield ordinary
            return
        if self._driver is None:
            self._driver = (await conn.get_raw_connection()).driver_connection
        tx = AsyncpgTransaction(conn, self._driver, self._compiled)
        try:
            transaction = Begun(self._driver, lock)
            try:
                await transaction.start()
            except Exception as error:
                tx.broken = True  # no transaction to roll back: the connection's state is unknown
                await tx.fail(error, transaction.begin, ())
            tx.transaction = transaction
            yield tx
            transaction, tx.transaction = tx.transaction, None
            try:
                await transaction.commit()
            except Exception as error:
                tx.broken = True  # committed or not, the connection's state is unknown
                await tx.fail(error, "COMMIT", ())
        except Exception as error:
            await tx.rollback()
            if (tx.broken or self._driver.is_closed()) and conn.sync_connection is not None:
                conn.sync_connection.invalidate(error)
            raise
        except BaseException as error:
            # Cancelled mid-statement: the connection's state is unknown, and it must never be
            # handed out again (as SQLAlchemy's own path does).
            if conn.sync_connection is not None:
                conn.sync_connection.invalidate(error)
            raise

    @property
    def compiled(self) -> Compiled:
        """The statements this writer has run on the driver."""
        return self._compiled

    async def release(self) -> None:
        """Give the connection back to the pool (closed, if it was invalidated)."""
        self._driver = None
        if self._sync_conn is not None:
            sync_conn, self._sync_conn = self._sync_conn, None
            sync_conn.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
