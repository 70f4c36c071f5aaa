"""A write transaction's statements, run straight on the driver (sqlite3, asyncpg) or through
SQLAlchemy's execution: what a `Writer` (app/db/write.py) hands out.

Each statement is compiled once by SQLAlchemy (app/db/compiled.py) and stores the rows
SQLAlchemy's execution would. A failed statement rolls the transaction back, then is raised as
SQLAlchemy's exception of its kind (app/db/errors.py: a DBAPIError, or a StatementError for a
value its type refuses), and `broken` says when the connection's state is unknown (no
transaction began, or its end failed): the writer then invalidates it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn, Protocol

from sqlalchemy import Connection, Executable, Insert, Row, Select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.compiled import Compiled
from app.db.errors import driver_error, refused_value
from app.db.read import fetch_asyncpg

Params = Mapping[str, Any]


class Transaction(Protocol):
    """What a writer's transaction runs: the statements of the audit append (app/audit/extend.py)."""

    async def first(self, statement: Select[Any], params: Params | None = None) -> Any | None: ...

    async def all(self, statement: Select[Any], params: Params | None = None) -> Sequence[Any]: ...

    async def execute(self, statement: Executable, params: Params | Sequence[Params]) -> None:
        """One statement; with a list of parameter sets, once per set (executemany)."""

    async def insert_if(
        self, condition: Select[Any], params: Params, inserts: Sequence[tuple[Insert, Sequence[Params]]]
    ) -> bool:
        """Only if the hot read `condition` finds a row: each INSERT with its (non-empty) rows.
        Returns whether it found one. On PostgreSQL through asyncpg, all in one statement."""


def _bound(compiled: Compiled, statement: Select[Any], params: Params | None) -> tuple[Any, str, Any]:
    """A hot read compiled for the driver, and its SQL and arguments with these parameters."""
    read = compiled.read(statement)
    query = read.bind(params or {})
    if query is None:
        raise ValueError("a parameter of this read is missing")
    sql, args = query
    return read, sql, args


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


class OrdinarySync:
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


class SQLiteTransaction:
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
        read, sql, args = _bound(self.compiled, statement, params)
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


class AsyncpgTransaction:
    """Statements on asyncpg itself, inside a transaction begun by hand (`Begun`)."""

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
        read, sql, args = _bound(self.compiled, statement, params)
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


class Begun:
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
