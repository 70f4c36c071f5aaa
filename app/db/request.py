"""A GraphQL request's database: its reads, and its writes kept open for the audit entry.

PostgreSQL: each request borrows one of the read connections kept open (`PostgresReader`)
when it first reads. Sibling fields resolve concurrently and a connection runs one statement
at a time, so reads take turns under a lock; the loaders batch each level of a query into one
statement per list (app/resolvers/loaders.py), so taking turns costs little. SQLite: every
request reads through one sqlite3 connection of the process (`SQLiteReader`), which needs no
turns: a statement runs to its end on the event loop (`rows_now`). Reads return plain rows
(no ORM identity map, no lazy loads). The hot reads (registered in app/db/hot.py: the loaders'
statements, the gate's consent) are compiled once and run on the driver itself
(app/db/read.py); every other statement through SQLAlchemy's execution. Either way each read
is counted, with the time it took, in `statements` and `seconds`.

On PostgreSQL the hot reads asked for in one turn of the event loop go to the server together,
as one statement (`rows_soon`, app/db/read.py `fused`): a bank's credit query asks for the
consent, the person, and the person's score, penalties and licences in one turn (the gate asks
for the rows of the selected fields with the consent: app/auth/gate.py `_reads_soon`), so it
costs one round trip where it cost five. Each read keeps its own SQL, parameters and rows; only
the trip is shared.

Writes (mutations) go to a connection of their own whose transaction stays open until the
request ends, so that the view can append the audit entry to it and commit both together.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.errors import driver_error
from app.db.read import CompiledRead, fetch_asyncpg, fetch_sqlite, fused, reads_for

Shape = Callable[[Sequence[Any]], Any]


class SQLiteReader:
    """SQLite: one sqlite3 connection for the reads of every request in this process.

    sqlite3 runs a statement to its end without giving the event loop a turn, and in
    autocommit each SELECT is its own transaction, so requests never interleave inside a
    statement and none holds anything between two. A connection per request cost a pool
    checkout and return (a reset, events, a Connection object) on every request: profiled,
    more than a small query's statements. In WAL mode a reader never waits for the writer.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # app/db/session.py create_read_engine
        self._conn: Connection | None = None
        self.reads = reads_for(engine.dialect)

    def connection(self) -> Connection:
        conn = self._conn
        if conn is None or conn.invalidated or conn.closed:
            conn = self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
        self.engine.dispose()


@dataclass(eq=False)
class HeldConnection:
    conn: AsyncConnection
    generation: int
    driver: Any = None  # asyncpg's own connection under it, once asked for
    broken: bool = False  # a statement failed on it: it is closed, not lent again


class PostgresReader:
    """PostgreSQL: read connections kept open in autocommit and lent to one request at a time.

    Checking a connection out of SQLAlchemy's async pool and back for every request (a
    Connection object, pool events, the hop into a greenlet, a reset on return) cost about as
    much as a request's statements on the client side. These stay checked out, up to `size`;
    a request that waits for one waits in turn. A connection a statement failed on is closed
    and replaced; as it may have been lost (the database restarted, say), the idle
    ones are replaced too when next lent (as SQLAlchemy's pool does after a disconnect; a
    failed read is rare enough that replacing them after any failure costs nothing that matters).
    """

    def __init__(self, engine: AsyncEngine, size: int, *, keep: bool = True) -> None:
        self.engine = engine
        self.keep = keep  # False: every connection is closed when given back (one-off uses, tests)
        self.reads = reads_for(engine.dialect)
        self._generation = 0
        self._slots: asyncio.LifoQueue[HeldConnection | None] = asyncio.LifoQueue()
        for _ in range(size):
            self._slots.put_nowait(None)  # a slot with no connection yet

    async def acquire(self) -> HeldConnection:
        held = await self._slots.get()
        if held is not None and held.generation == self._generation:
            return held
        try:
            if held is not None:
                await _close(held, discard=True)  # of a generation before a failure: it may be lost
            conn = await self.engine.connect()
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")  # no BEGIN/ROLLBACK round trips
        except BaseException:
            self._slots.put_nowait(None)
            raise
        return HeldConnection(conn, self._generation)

    async def release(self, held: HeldConnection) -> None:
        if self.keep and not (held.broken or held.conn.closed or held.conn.invalidated):
            self._slots.put_nowait(held)
            return
        # A statement failed on it: if the database dropped it, it dropped the idle ones too.
        self._generation += 1
        try:
            await _close(held, discard=held.broken)
        finally:
            self._slots.put_nowait(None)

    async def close(self) -> None:
        """Close the idle connections (at shutdown; lent ones are closed as they come back)."""
        while not self._slots.empty():
            held = self._slots.get_nowait()
            if held is not None:
                await _close(held)
        self._generation += 1


async def _close(held: HeldConnection, *, discard: bool = False) -> None:
    """Give a connection back to the pool; if `discard`, it is closed instead (invalidated), so
    that a connection the database may have dropped is never lent again, by the pool either."""
    with contextlib.suppress(Exception):  # it is being thrown away; a lost one may not close cleanly
        if discard and not held.conn.invalidated:
            await held.conn.invalidate()
    with contextlib.suppress(Exception):
        await held.conn.close()


class RequestDatabase:
    def __init__(
        self,
        engine: AsyncEngine,
        write_turn: asyncio.Lock | None = None,
        sqlite: SQLiteReader | None = None,
        postgres: PostgresReader | None = None,
    ) -> None:
        self._engine = engine
        self._sqlite = sqlite
        self._postgres = postgres
        self._held: HeldConnection | None = None
        self._lock = asyncio.Lock()
        # Hot reads asked for in this turn of the loop, sent together at its end (`rows_soon`).
        self._turn: list[tuple[CompiledRead, tuple[str, list[Any]], Shape | None, asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[Any]] = set()
        self._released = False  # release_reads has run: the request reads no more
        self._writer: AsyncConnection | None = None
        # SQLite: the audit writer's turn (app/audit/store.py), taken before the first write and
        # kept until the commit: an open write transaction holds the database's one writer lock,
        # and the audit append of another request must not wait on it while holding the turn
        # itself. PostgreSQL: None (`seq` as key and its advisory lock keep appends apart; nothing is held here).
        self._write_turn = write_turn
        self._holds_turn = False
        self.statements = 0  # reads run for this request
        self.seconds = 0.0  # and the time they took, from asking to rows (waiting for a connection included)

    @property
    def reads_now(self) -> bool:
        """Reads are had without waiting (SQLite on the loop): `rows_now` may be used."""
        return self._sqlite is not None

    def rows_now(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        assert self._sqlite is not None, "only where reads_now"
        started = time.perf_counter()
        try:
            return _sqlite_rows(self._sqlite, statement, params)
        finally:
            self.statements += 1
            self.seconds += time.perf_counter() - started

    async def rows(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Any]:
        if self._sqlite is not None:
            return self.rows_now(statement, params)
        return await self.rows_soon(statement, params)

    def rows_soon(self, statement: Executable, params: Mapping[str, Any] | None = None, shape: Shape | None = None) -> asyncio.Future[Any]:
        """PostgreSQL: the rows of a read (passed through `shape`, if given), asked for now. A hot
        read goes with the other hot reads asked for in this turn of the loop, in one round trip."""
        assert self._sqlite is None, "SQLite reads at once (rows_now)"
        reads = self._reader().reads
        read = None if reads is None else reads.get(statement)
        query = _bind(read, params)
        if read is None or query is None:
            return self._track(self._one(statement, params, shape))
        waiter = asyncio.get_running_loop().create_future()
        self._turn.append((read, query, shape, waiter))
        if len(self._turn) == 1:
            asyncio.get_running_loop().call_soon(self._send_turn)
        return waiter

    def _reader(self) -> PostgresReader:
        if self._postgres is None:  # no reader given (one-off uses, tests): one connection, closed after
            self._postgres = PostgresReader(self._engine, 1, keep=False)
        return self._postgres

    async def _hold(self) -> HeldConnection:
        """The request's read connection (under the lock: a connection runs one statement at a time)."""
        if self._released:  # a connection taken now would never be given back
            raise RuntimeError("a read after the request gave its read connection back")
        if self._held is None:
            self._held = await self._reader().acquire()
        return self._held

    async def _one(self, statement: Executable, params: Mapping[str, Any] | None, shape: Shape | None) -> Any:
        """A read that is not hot, through SQLAlchemy's execution."""
        started = time.perf_counter()
        try:
            async with self._lock:
                held = await self._hold()
                try:
                    rows = (await held.conn.execute(statement, params)).all()
                except BaseException:
                    held.broken = True  # closed and replaced when the request gives it back
                    raise
        finally:
            self.statements += 1
            self.seconds += time.perf_counter() - started
        return rows if shape is None else shape(rows)

    def _send_turn(self) -> None:
        turn, self._turn = self._turn, []
        if turn:  # else stopped (`stop_reads`)
            self._track(self._send(turn))

    def _track(self, sending: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(sending)
        self._sending.add(task)  # held until done (the loop keeps only a weak reference), and awaited by release_reads
        task.add_done_callback(self._sending.discard)
        return task

    async def _send(self, turn: list[tuple[CompiledRead, tuple[str, list[Any]], Shape | None, asyncio.Future[Any]]]) -> None:
        """One turn's hot reads, in one statement; a failure fails each of them, as a failed
        batch fails each of its keys."""
        started = time.perf_counter()
        try:
            async with self._lock:
                held = await self._hold()
                try:
                    if len(turn) == 1:
                        answers = [await _asyncpg_records(held, *turn[0][1])]
                    else:
                        (row,) = await _asyncpg_records(held, *fused([query for _, query, _, _ in turn]))
                        answers = list(row)
                except BaseException:
                    held.broken = True  # closed and replaced when the request gives it back
                    raise
        except BaseException as error:
            for *_, waiter in turn:
                if waiter.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    waiter.cancel()
                else:
                    waiter.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        finally:
            self.statements += len(turn)
            self.seconds += time.perf_counter() - started
        for (read, _, shape, waiter), records in zip(turn, answers, strict=True):
            if waiter.done():  # its asker went away
                continue
            try:
                rows = read.rows(records)
                waiter.set_result(rows if shape is None else shape(rows))
            except Exception as error:
                waiter.set_exception(error)

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
        written: a request waiting for its entry must not hold a connection the writer needs.

        A read may still be running then: its fields were cancelled (a null propagated past
        them, say) but the statement goes on. It ends first, rather than being cut off (a
        connection cut mid-statement is lost): lent to another request meanwhile, the
        connection would still be busy with it ("another operation is in progress")."""
        while self._turn or self._sending:  # reads asked for, sent or about to be
            if self._turn:
                await asyncio.sleep(0)  # its turn is sent at the end of this one
            else:
                await asyncio.gather(*self._sending, return_exceptions=True)
        self._released = True
        async with self._lock:  # a read through SQLAlchemy
            if self._held is not None:
                held, self._held = self._held, None
                assert self._postgres is not None
                await self._postgres.release(held)

    async def stop_reads(self) -> None:
        """Cut off the reads in flight: the request ran out of time, and a read held up (by a lock
        in the database, say) would hold up its end for as long. The connection they were on is
        not lent again (`_asyncpg_records`)."""
        turn, self._turn = self._turn, []
        for *_, waiter in turn:
            waiter.cancel()
        for task in self._sending:
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)

    async def discard_writes(self) -> None:
        """Roll back this request's writes, if any (it failed: none of them may stand)."""
        try:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                await writer.close()
        finally:
            if self._holds_turn and self._write_turn is not None:
                self._holds_turn = False
                self._write_turn.release()

    async def close(self) -> None:
        """Give the connections back (anything not committed is rolled back)."""
        try:
            await self.release_reads()
        finally:
            await self.discard_writes()


def _bind(read: CompiledRead | None, params: Mapping[str, Any] | None) -> tuple[str, list[Any]] | None:
    if read is None:
        return None
    try:
        return read.bind(params or {})
    except Exception:  # a value its type refuses: SQLAlchemy's execution raises it, as it always has
        return None


async def _asyncpg_records(held: HeldConnection, sql: str, args: list[Any]) -> list[Any]:
    conn = held.conn
    if held.driver is None:
        held.driver = (await conn.get_raw_connection()).driver_connection
    try:
        return await fetch_asyncpg(held.driver, sql, args)
    except Exception as error:
        # Lost (the database restarted, say): thrown away now, as SQLAlchemy's own path does.
        lost = held.driver.is_closed()
        if lost:
            await conn.invalidate(error)
        raise driver_error(error, sql, args, invalidated=lost) from error
    except BaseException as error:
        # Cancelled mid-statement: the connection's state is unknown. SQLAlchemy's own path
        # invalidates it too, so that the pool never hands it out again.
        if conn.sync_connection is not None:
            conn.sync_connection.invalidate(error)
        raise


def _sqlite_rows(sqlite: SQLiteReader, statement: Executable, params: Mapping[str, Any] | None) -> Sequence[Any]:
    conn = sqlite.connection()
    read = None if sqlite.reads is None else sqlite.reads.get(statement)
    query = _bind(read, params)
    if read is None or query is None:
        return conn.execute(statement, params).all()
    sql, args = query
    dbapi_connection = conn.connection.dbapi_connection
    try:
        raw = fetch_sqlite(dbapi_connection, sql, args)
    except sqlite3.Error as error:
        lost = conn.dialect.is_disconnect(error, dbapi_connection, None)  # type: ignore[arg-type]
        if lost:
            conn.invalidate(error)  # the reader opens another when next asked
        raise driver_error(error, sql, args, invalidated=lost) from error
    return read.rows(raw)
