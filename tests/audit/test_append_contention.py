"""The audit log's writer meeting other writers: they extend one chain and one tree, taking turns.

Two stores (two processes' workers) append in turn, each on a head the other moved. SQLite's
busy writer lock is waited for and retried, and failed closed when it never comes. A batch
cancelled while it waits (the service shutting down) answers its callers and stores nothing.
On PostgreSQL a writer that extended the head first makes the loser retry on the new head, a
database not yet migrated to the chain function is still written, and a connection the
database dropped fails one batch at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit import extend
from app.audit.rows import HEAD
from app.audit.store import ADVISORY_LOCK_KEY, AuditWriteFailed
from app.db.session import AUDIT_BUSY_MS
from app.db.transactions import Transaction
from tests.audit.conftest import backend, stored_entries, xinzheng
from tests.conftest import DatabaseFactory, drop_sessions
from tests.audit.appending import (
    append_batch, audit_store, item, used_the_driver,
)


async def test_two_writers_taking_turns_extend_one_chain_and_one_tree(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes' stores append in turn, each time on a head the other moved, and the log
    verifies whole. On SQLite each reads the head and the tree's frontier again (in one read);
    on PostgreSQL the database gives each batch its place, and neither store reads anything."""
    monkeypatch.setattr(extend, "READ_FIRST", 2)
    async with audit_store(empty_database_url) as one, audit_store(empty_database_url) as two:
        seqs = []
        for k, size in enumerate([1, 3, 2, 1, 5, 1, 1, 4, 2, 1]):
            store = (one, two)[k % 2]
            seqs += await append_batch(store, [item(len(seqs) + i) for i in range(size)])
        assert seqs == list(range(1, 22))
        if backend(empty_database_url) == "postgresql":
            assert one.extender.read_first == two.extender.read_first == 0  # neither failed on the other's head
        else:
            assert one.extender.read_first == two.extender.read_first == 2  # each saw the head moved, and reads it first
        # Alone again, a store finds the head it left, and after READ_FIRST batches goes back to
        # its one statement.
        for i in range(21, 24):
            assert await append_batch(two, [item(i)]) == [i + 1]
        assert two.extender.read_first == 0
    assert [e["requestId"] for e in await stored_entries(empty_database_url)] == [f"req-{i:04d}" for i in range(24)]
    assert xinzheng("audit", "verify", database_url=empty_database_url).returncode == 0


@pytest.fixture
def sqlite_url(databases: DatabaseFactory) -> str:
    if databases.backend != "sqlite":
        pytest.skip("SQLite's writer lock")
    return databases.new()


@contextlib.contextmanager
def writer_lock_held(url: str) -> Iterator[sqlite3.Connection]:
    """Another process's write transaction: it holds SQLite's one writer lock until it ends."""
    rival = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    rival.execute("BEGIN IMMEDIATE")
    try:
        yield rival
    finally:
        if rival.in_transaction:
            rival.rollback()
        rival.close()


async def test_sqlite_waits_for_a_busy_writer_lock_and_tries_again(sqlite_url: str) -> None:
    async with audit_store(sqlite_url) as store:
        with writer_lock_held(sqlite_url) as rival:
            waiting = asyncio.create_task(store.append(*item(0)))
            await asyncio.sleep(0.08)  # a few attempts, each waiting AUDIT_BUSY_MS at most
            assert not waiting.done()
            rival.rollback()
        assert await waiting == 1
        assert used_the_driver(store)


async def test_sqlite_fails_closed_when_the_writer_lock_never_comes(sqlite_url: str) -> None:
    async with audit_store(sqlite_url) as store:
        with writer_lock_held(sqlite_url):
            started = asyncio.get_running_loop().time()
            with pytest.raises(AuditWriteFailed, match="database is locked"):
                await store.append(*item(0))
            assert asyncio.get_running_loop().time() - started >= 8 * AUDIT_BUSY_MS / 1000  # every attempt
        assert await append_batch(store, [item(1)]) == [1]  # the lock gone, the writer goes on


@contextlib.asynccontextmanager
async def appends_held(url: str) -> AsyncIterator[None]:
    """Another process in the middle of an append: on SQLite it holds the writer lock, on
    PostgreSQL the audit log's advisory lock, until the block ends."""
    if backend(url) == "sqlite":
        with writer_lock_held(url):
            yield
        return
    rival = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        async with rival.transaction():
            await rival.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_KEY)
            yield
    finally:
        await rival.close()


async def test_a_batch_cancelled_mid_write_answers_its_callers(empty_database_url: str) -> None:
    """The service shutting down while a batch waits to be written: its callers are answered
    AUDIT_UNAVAILABLE at once, never left waiting, nothing of it is stored, and the writer goes
    on once it is asked again. On PostgreSQL the batch is one statement waiting inside the
    database for the lock: its connection dropped, the server stops it (app/db/session.py
    CLIENT_CHECK_MS) before the lock would let it commit."""
    url = empty_database_url
    async with audit_store(url) as store:
        async with appends_held(url):
            waiting = [asyncio.create_task(store.append(*item(i))) for i in range(3)]
            await asyncio.sleep(0.1)  # the batch taken, waiting for the lock (or between tries)
            assert store._flusher is not None and not store._flusher.done()
            store._flusher.cancel()
            results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), timeout=2)
            if backend(url) == "postgresql":
                await until_lock_waiters(url, lambda n: n == 0)
        assert all(isinstance(r, AuditWriteFailed) and "shutting down" in str(r) for r in results), results
        assert await append_batch(store, [item(3)]) == [1]
    assert [e["requestId"] for e in await stored_entries(url)] == ["req-0003"]


async def test_postgresql_a_writer_that_extended_the_head_first_makes_the_loser_retry(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers that take no lock (a worker of the release before) extend the head twice under
    this append: the first holds the entry after the head uncommitted while this append's
    statement, given its place by the database, inserts on the same head (its inserts wait on
    the rival's rows, then fail on a key the rival took once it commits); the second commits between the append's read of the
    head under the lock and its insert (the retry), which then inserts nothing. The append
    tries again on the new head each time."""
    url = postgres_url
    async with audit_store(url) as store, audit_store(url) as rival:
        assert await append_batch(store, [item(0)]) == [1]
        writer = store._writer
        real = writer.transaction
        rivals = [item(1), item(4)]
        engine = create_async_engine(url)

        async def race(tx: Transaction, conn: Any) -> None:
            head = await tx.first(HEAD)
            frontier, _ = await rival.extender.frontier(tx, head)
            batch = rival.extender.prepare(head.seq, head.hash, frontier, [rivals.pop(0)])
            for insert, rows in batch.statements():
                await conn.execute(insert, rows)

        @contextlib.asynccontextmanager
        async def racing(lock: int | None = None) -> AsyncIterator[Transaction]:
            async with real(lock=None) as tx:  # the lock would keep the rival waiting
                yield Racing(tx)

        class Racing:
            def __init__(self, tx: Transaction) -> None:
                self.tx = tx
                self.execute = tx.execute
                self.all = tx.all
                self.insert_if = tx.insert_if

            async def first(self, statement: Any, params: Any = None) -> Any:
                head = await self.tx.first(statement, params)
                if statement is HEAD and len(rivals) == 1:
                    async with engine.begin() as conn:
                        await race(self.tx, conn)
                return head

        try:
            monkeypatch.setattr(writer, "transaction", racing)
            async with engine.begin() as conn:
                async with real() as tx:
                    await race(tx, conn)  # inserted, not committed
                appending = asyncio.create_task(append_batch(store, [item(2), item(3)]))
                await until_lock_waiters(url, lambda n: n > 0)  # the append's insert, on the rival's row
            assert await appending == [4, 5]
        finally:
            await engine.dispose()
        assert not rivals
    assert [e["requestId"] for e in await stored_entries(url)] == [
        "req-0000", "req-0001", "req-0004", "req-0002", "req-0003",
    ]  # fmt: skip
    assert xinzheng("audit", "verify", database_url=url).returncode == 0


async def until_lock_waiters(url: str, done: Callable[[int], bool]) -> None:
    """Until the number of this database's sessions waiting on a lock is `done` (polled, for 30 s
    at most), watched from a connection of its own."""
    watcher = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        for _ in range(3000):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if done(waiting):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"still {waiting} session(s) waiting on a lock")
    finally:
        await watcher.close()


async def test_postgresql_a_database_not_yet_migrated_to_the_chain_function_is_still_written(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """This release started before `xinzheng migrate` made xz_audit_chain: batches are written
    the way the release before wrote them (read the head, extend it here), not refused."""
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP FUNCTION xz_audit_chain(bigint, bytea[], bytea[], bytea[], bigint)"))
    finally:
        await engine.dispose()
    async with audit_store(postgres_url) as store:
        for i in range(0, 9, 3):
            assert await append_batch(store, [item(i), item(i + 1), item(i + 2)]) == [i + 1, i + 2, i + 3]
    assert [r.getMessage() for r in caplog.records if "xz_audit_chain" in r.getMessage()] == [
        "audit: the database has no xz_audit_chain yet (run `xinzheng migrate`): appending the slower way"
    ]
    result = xinzheng("audit", "verify", database_url=postgres_url)
    assert result.returncode == 0, result.stderr
    assert "1 signed checkpoint(s)" in result.stdout


async def test_postgresql_a_connection_the_database_dropped_fails_one_batch_at_most(postgres_url: str) -> None:
    """After a restart the writer's pooled connection is dead: at most one batch fails closed, and
    the connection is not handed out again."""
    async with audit_store(postgres_url) as store:
        assert await append_batch(store, [item(0), item(1)]) == [1, 2]
        assert await drop_sessions(postgres_url)
        try:
            after = await append_batch(store, [item(2)])
        except AuditWriteFailed:
            after = []
        for i in range(3, 6):
            after += await append_batch(store, [item(i)])
        assert len(after) >= 3 and after == list(range(3, 3 + len(after)))
    assert xinzheng("audit", "verify", database_url=postgres_url).returncode == 0


