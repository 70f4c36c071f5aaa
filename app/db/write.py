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
audit store keeps it while entries keep coming). A transaction, on the driver:
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
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Executable, Insert, Row, Select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.compiled import Compiled
from app.db.errors import driver_error, refused_value
from app.db.read import fetch_asyncpg

# A write transaction on SQLite takes the writer lock when it begins, not at its first write: a
# deferred transaction that has read the head could not upgrade to write while another process
# writes, and would fail without waiting (SQLITE_BUSY).
SQLITE_BEGIN = "BEGIN IMMEDIATE"
# PostgreSQL: an advisory lock held to the end of the transaction (`Writer.transaction(lock=...)`).
ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")

Params = Mapping[str, Any]
T = TypeVar("T")


class Transaction(Protocol):
    """What a writer's transaction runs: the statements of app/audit/store.py's append."""

    async def first(self, statement: Select[Any], params: Params | None = None) -> Any | None: ...

    async def all(self, statement: Select[Any], params: Params | None = None) -> Sequence[Any]: ...

    async def execute(self, statement: Executable, params: Params | Sequence[Params]) -> None:
        """One statement; with a list of parameter sets, once per set (executemany)."""

    async def insert_if(
        self, condition: Select[Any], params: Params, inserts: Sequence[tuple[Insert, Sequence[Params]]]
    ) -> bool:
        """Only if the hot read `condition` finds a row: each INSERT with its (non-empty) rows.
        Returns whether it found one. On PostgreSQL through asyncpg, all in one statement."""


async def _insert_if(
    tx: Transaction, condition: Select[Any], params: Params, inserts: Sequence[tuple[Insert, Sequence[Params]]]
) -> bool:
    """`Transaction.insert_if` as a read, then each INSERT in turn."""
    if await tx.first(condition, params) is None:
        return False
    for statement, rows in inserts:
        await tx.execute(statement, rows)
    return True


class Ordinary:
    """A transaction's statements through SQLAlchemy's execution, on an AsyncConnection."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def first(self, statement: Select[Any], params: Params | None = None) -> Row[Any] | None:
        return (await self.conn.execute(statement, params)).first()

    async def all(self, statement: Select[Any], params: Params | None = None) -> Sequence[Row[Any]]:
        return (await self.conn.execute(statement, params)).all()

    async def execute(self, statement: Executable, params: Params | Sequence[Params]) -> None:
        await self.conn.execute(statement, params)

    insert_if = _insert_if


class _OrdinarySync:
    """The same on a sync Connection (SQLite's writer engine)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def first(self, statement: Select[Any], params: Params | None = None) -> Row[Any] | None:
        return self.conn.execute(statement, params).first()

    async def all(self, statement: Select[Any], params: Params | None = None) -> Sequence[Row[Any]]:
        return self.conn.execute(statement, params).all()

    async def execute(self, statement: Executable, params: Params | Sequence[Params]) -> None:
        self.conn.execute(statement, params)

    insert_if = _insert_if


class _SQLiteTransaction:
    """Statements on sqlite3 itself, inside BEGIN IMMEDIATE."""

    def __init__(self, conn: Connection, dbapi: Any, compiled: Compiled) -> None:
        self.conn = conn
        self.dbapi = dbapi
        self.cursor = dbapi.cursor()
        self.compiled = compiled
        self.broken = False  # not rolled back: the connection's state is unknown

    def run(self, sql: str, args: Any = (), many: bool = False) -> None:
        try:
            if many:
                self.cursor.executemany(sql, args)
            else:
                self.cursor.execute(sql, args)
        except sqlite3.Error as error:
            if self.conn.dialect.is_disconnect(error, self.dbapi, self.cursor):  # type: ignore[arg-type]
                self.broken = True
            self.rollback()
            raise driver_error(error, sql, args, invalidated=self.broken) from error

    def refused(self, error: Exception, sql: str, args: Any) -> NoReturn:
        self.rollback()
        raise refused_value(error, sql, args) from error

    def rollback(self) -> None:
        try:
            if self.dbapi.in_transaction:
                self.dbapi.rollback()
        except Exception:
            self.broken = True

    async def first(self, statement: Select[Any], params: Params | None = None) -> Any | None:
        rows = await self.all(statement, params)
        return rows[0] if rows else None

    async def all(self, statement: Select[Any], params: Params | None = None) -> Sequence[Any]:
        read = self.compiled.read(statement)
        query = read.bind(params or {})
        if query is None:
            raise ValueError("a parameter of this read is missing")
        sql, args = query
        self.run(sql, args)
        return read.rows(self.cursor.fetchall())

    async def execute(self, statement: Executable, params: Params | Sequence[Params]) -> None:
        write, rows = self.compiled.write_for(statement, params)
        try:
            args: Any = write.many(rows) if len(rows) > 1 else write.args(rows[0])
        except Exception as error:  # a value its type refuses: a StatementError, as SQLAlchemy raises it
            self.refused(error, write.sql, rows)
        self.run(write.sql, args, many=len(rows) > 1)

    insert_if = _insert_if


class _AsyncpgTransaction:
    """Statements on asyncpg itself, inside a transaction begun by hand (`_Begun`)."""

    def __init__(self, conn: AsyncConnection, driver: Any, compiled: Compiled) -> None:
        self.conn = conn
        self.driver = driver
        self.compiled = compiled
        self.transaction: Any = None
        self.broken = False  # not rolled back: the connection's state is unknown

    async def fail(self, error: Exception, sql: str, args: Any) -> NoReturn:
        """A driver's error: rolled back (if it can be), raised as SQLAlchemy's of its kind."""
        await self.rollback()
        lost = self.broken or self.driver.is_closed()
        raise driver_error(error, sql, args, invalidated=lost) from error

    async def refused(self, error: Exception, sql: str, args: Any) -> NoReturn:
        await self.rollback()
        raise refused_value(error, sql, args) from error

    async def rollback(self) -> None:
        transaction, self.transaction = self.transaction, None
        if transaction is None:
            return
        try:
            await transaction.rollback()
        except Exception:
            self.broken = True

    async def first(self, statement: Select[Any], params: Params | None = None) -> Any | None:
        rows = await self.all(statement, params)
        return rows[0] if rows else None

    async def all(self, statement: Select[Any], params: Params | None = None) -> Sequence[Any]:
        read = self.compiled.read(statement)
        query = read.bind(params or {})
        if query is None:
            raise ValueError("a parameter of this read is missing")
        sql, args = query
        try:
            records = await fetch_asyncpg(self.driver, sql, args)
        except Exception as error:
            await self.fail(error, sql, args)
        return read.rows(records)

    async def execute(self, statement: Executable, params: Params | Sequence[Params]) -> None:
        write, rows = self.compiled.write_for(statement, params)
        many = len(rows) > 1
        try:
            args: Any = write.many(rows) if many else write.args(rows[0])
        except Exception as error:  # a value its type refuses: a StatementError, as SQLAlchemy raises it
            await self.refused(error, write.sql, rows)
        try:
            if many:
                await self.driver.executemany(write.sql, args)
            else:
                await self.driver.execute(write.sql, *args)
        except Exception as error:
            await self.fail(error, write.sql, args)

    async def insert_if(
        self, condition: Select[Any], params: Params, inserts: Sequence[tuple[Insert, Sequence[Params]]]
    ) -> bool:
        try:
            together, args = self.compiled.together(condition, params, inserts)
        except Exception as error:  # a value its type refuses: a StatementError, as SQLAlchemy raises it
            await self.refused(error, "insert_if", inserts)
        try:
            return bool(await self.driver.fetchval(together.sql, *args))
        except Exception as error:
            await self.fail(error, together.sql, args)

    async def chained(
        self,
        call: str,
        arguments: Sequence[Any],
        inserts: Sequence[tuple[Insert, Sequence[Params], Mapping[str, str], str]],
    ) -> Sequence[Any]:
        try:
            chained, args = self.compiled.chained(call, arguments, [i for i in inserts if i[1]])
        except Exception as error:  # a value its type refuses: a StatementError, as SQLAlchemy raises it
            await self.refused(error, "chained", inserts)
        try:
            rows: Sequence[Any] = await self.driver.fetch(chained.sql, *args)
            return rows
        except Exception as error:
            await self.fail(error, chained.sql, args)


class _Begun:
    """A transaction on asyncpg begun by hand, so that BEGIN and the advisory lock are one round
    trip (a simple query of two statements: asyncpg's Transaction sends BEGIN alone)."""

    def __init__(self, driver: Any, lock: int | None) -> None:
        self.driver = driver
        self.begin = "BEGIN" if lock is None else f"BEGIN; SELECT pg_advisory_xact_lock({int(lock)})"

    async def start(self) -> None:
        await self.driver.execute(self.begin)

    async def commit(self) -> None:
        # COMMIT of a transaction that failed rolls it back, and says so instead of failing.
        status = await self.driver.execute("COMMIT")
        if status != "COMMIT":
            raise RuntimeError(f"the transaction did not commit: {status}")

    async def rollback(self) -> None:
        await self.driver.execute("ROLLBACK")


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
                yield _OrdinarySync(conn)
            return
        tx = _SQLiteTransaction(conn, conn.connection.dbapi_connection, self._compiled)
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

    async def _alone(self, conn: AsyncConnection, run: Callable[[_AsyncpgTransaction], Awaitable[T]]) -> T:
        """One statement outside any transaction; the connection given back if it fails."""
        if self._driver is None:
            self._driver = (await conn.get_raw_connection()).driver_connection
        tx = _AsyncpgTransaction(conn, self._driver, self._compiled)  # no transaction to roll back
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
        tx = _AsyncpgTransaction(conn, self._driver, self._compiled)
        try:
            transaction = _Begun(self._driver, lock)
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
