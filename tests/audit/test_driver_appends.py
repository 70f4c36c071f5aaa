"""Batched appends on the driver (app/db/write.py) store what SQLAlchemy's execution stores.

The same entries, in the same batches, are appended on the driver (sqlite3, asyncpg) to one
database and through SQLAlchemy (what a listener on the engine gets) to another; every stored
row must be the same, column by column, as the driver reads it back (SQLite's storage class and
text, PostgreSQL's JSON text and timestamps). A log written both ways must verify. And the
driver path keeps the append's failure semantics: a value its column refuses fails its entry
alone, SQLite's busy writer lock is waited for and retried, and on PostgreSQL a writer that
extended the head first makes the loser retry on the new head.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit import keys
from app.audit import extend
from app.audit.tree import INSERT_NODES
from app.audit.rows import HEAD, INSERT_ACCESSES, INSERT_CHECKPOINTS, INSERT_ENTRIES
from app.audit.store import ADVISORY_LOCK_KEY, AuditStore, AuditWriteFailed
from app.db.session import AUDIT_BUSY_MS, create_audit_engine, create_engine
from app.db.transactions import Transaction
from app.db.write import Writer
from tests.api.conftest import settings_for
from tests.audit.conftest import backend, stored_entries, xinzheng
from tests.conftest import DatabaseFactory, drop_sessions

CHECKPOINT_EVERY = 7
BATCHES = [1, 16, 1, 5, 16, 1]  # 40 entries, checkpoints inside batches and between them
ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=8)), dt.timezone(dt.timedelta(hours=-3, minutes=-30))]
VARIABLES: list[Any] = [
    None,  # stored as JSON null, not SQL NULL
    {},
    {"id": "330106198503120028", "access": {"purpose": "LOAN_APPROVAL", "token": "[redacted]"}},
    {"名字": "王芳", "n": [1, 2.5, None, True, -7], "quote": 'say "hi"\n\\'},
    ["a", {"b": {}}],
]
TABLES = {"audit_log": "seq", "access_records": "id", "audit_checkpoints": "seq", "audit_tree": "level, idx"}

Item = tuple[dict[str, Any], list[dict[str, Any]]]


def item(i: int) -> Item:
    """An entry's fields and its access records, as the view makes them, different by i."""
    role = ["bank", "citizen", "public", "admin"][i % 4]
    fields = {
        "at": dt.datetime(2026, 11, 27, 8 + i % 5, i % 60, (i * 7) % 60, (i * 7919) % 1_000_000, tzinfo=ZONES[i % 3]),
        "requestId": f"req-{i:04d}",
        "actorSub": None if role == "public" else f"用户-{i}",
        "actorRole": role,
        "actorOrg": "91330100MA2H00001P" if role == "bank" else None,
        "clientAddress": None if i % 7 == 0 else f"10.0.{i % 255}.{i % 7}",
        "operationName": [None, "Me", 'Q"uote', "查询"][i % 4],
        "operationType": ["QUERY", "MUTATION", None][i % 3],
        "queryHash": None if i % 6 == 0 else f"{i:064x}",
        "queryText": None if i % 6 == 0 else f"query Me {{ me {{ role }} }} # {i} 中文",
        "variables": VARIABLES[i % len(VARIABLES)],
        "purpose": "LOAN_APPROVAL" if i % 2 else None,
        "consentId": f"c-{i}" if i % 3 == 0 else None,
        "caseNumber": "案-2026-01" if i % 5 == 0 else None,
        "subjects": [f"PERSON:3301061985031200{i % 100:02d}", "ENTERPRISE:91330100MA2H00001P"][: i % 3],
        "fieldsMasked": ["person.phone"] if i % 2 else [],
        "fieldsDenied": ["person.address", "person.phone"][: i % 3],
        "outcome": ["SERVED", "PARTIAL", "DENIED", "REJECTED", "FAILED"][i % 5],
        "errorCodes": [[], ["FORBIDDEN"], ["BAD_USER_INPUT", "FORBIDDEN"]][i % 3],
        "durationMs": i * 3,
    }
    accesses = [
        {
            "holder_kind": "PERSON" if k == 0 else "ENTERPRISE",
            "holder_id": "330106198503120028" if k == 0 else "91330100MA2H00001P",
            "organisation_code": fields["actorOrg"],
            "role": role,
            "purpose": fields["purpose"],
            "consent_id": fields["consentId"],
            "case_number": fields["caseNumber"],
        }
        for k in range(i % 3)
    ]
    return fields, accesses


def batches(start: int = 0) -> Iterator[list[Item]]:
    i = start
    for size in BATCHES:
        yield [item(i + k) for k in range(size)]
        i += size


async def append_batch(store: AuditStore, items: list[Item]) -> list[int]:
    """Appended together: every append is waiting before the flush starts, so one batch."""
    return list(await asyncio.gather(*(store.append(fields, accesses) for fields, accesses in items)))


@contextlib.contextmanager
def through_sqlalchemy(store: AuditStore) -> Iterator[list[str]]:
    """Meanwhile the store's batches go through SQLAlchemy's execution (a writer made `ordinary`),
    and the statements the engine runs are listed (a listener sees them there)."""
    engine = store.sync_engine or store.engine.sync_engine
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    on_driver = store._writer
    store._writer = Writer(store.engine, sqlite=store.sync_engine, ordinary=True)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        store._writer = on_driver


async def test_a_listener_does_not_turn_the_driver_path_off(empty_database_url: str) -> None:
    """Whoever listens to the engine (a tracer, a test) changes nothing: batches stay on the driver."""
    async with audit_store(empty_database_url) as store:
        engine = store.sync_engine or store.engine.sync_engine
        seen: list[Any] = []
        listener = lambda *args: seen.append(args)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert await append_batch(store, [item(0), item(1)]) == [1, 2]
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert used_the_driver(store)
        assert not [args for args in seen if "audit_log" in str(args[2])]


@contextlib.asynccontextmanager
async def audit_store(url: str) -> AsyncIterator[AuditStore]:
    settings = settings_for(url, checkpoint_every=CHECKPOINT_EVERY)
    engine = create_engine(settings)
    store = AuditStore(engine, keys.audit_key(settings), CHECKPOINT_EVERY, create_audit_engine(settings))
    try:
        yield store
    finally:
        await engine.dispose()
        if store.sync_engine is not None:
            store.sync_engine.dispose()


def used_the_driver(store: AuditStore, *statements: Any) -> bool:
    compiled = store._writer.compiled
    return all(statement in compiled for statement in (INSERT_ENTRIES, *statements))


async def stored_rows(url: str) -> dict[str, list[list[tuple[str, Any]]]]:
    """Every row of the audit tables as the driver reads it, each value with its type."""
    out: dict[str, list[list[tuple[str, Any]]]] = {}
    if backend(url) == "sqlite":
        db = sqlite3.connect(make_url(url).database or "")
        try:
            for table, order in TABLES.items():
                rows = db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
                out[table] = [[(type(v).__name__, v) for v in row] for row in rows]
        finally:
            db.close()
        return out
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:  # asyncpg's own codecs: JSON comes back as its stored text
        for table, order in TABLES.items():
            rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY {order}")
            out[table] = [[(type(v).__name__, v) for v in row.values()] for row in rows]
    finally:
        await conn.close()
    return out


@pytest.fixture
def two_databases(databases: DatabaseFactory) -> tuple[str, str]:
    return databases.new(), databases.new()


async def test_the_driver_stores_the_rows_sqlalchemy_stores(two_databases: tuple[str, str]) -> None:
    on_driver, on_sqlalchemy = two_databases
    async with audit_store(on_driver) as store:
        seqs = [await append_batch(store, b) for b in batches()]
        # On PostgreSQL the database makes the tree's nodes (xz_audit_chain): compared below.
        tree = [INSERT_NODES] if backend(on_driver) == "sqlite" else []
        assert used_the_driver(store, INSERT_ACCESSES, INSERT_CHECKPOINTS, *tree)
    async with audit_store(on_sqlalchemy) as store:
        with through_sqlalchemy(store) as statements:
            ordinary = [await append_batch(store, b) for b in batches()]
        assert not used_the_driver(store)
        assert sum("INSERT INTO audit_log" in s for s in statements) == len(BATCHES)
    assert seqs == ordinary
    assert [s for batch in seqs for s in batch] == list(range(1, sum(BATCHES) + 1))

    mine, theirs = await stored_rows(on_driver), await stored_rows(on_sqlalchemy)
    assert [len(mine[t]) for t in TABLES] == [40, sum(i % 3 for i in range(40)), 40 // CHECKPOINT_EVERY, 2 * 40 - 2]  # complete subtrees: 40 leaves, 20 + 10 + 5 + 2 + 1 nodes
    for table in TABLES:
        assert mine[table] == theirs[table], table
    # What the comparison covered: JSON null, text, datetimes as the backend keeps them.
    types = {value_type for row in mine["audit_log"] for value_type, _ in row}
    assert {"int", "str", "NoneType"} <= types
    assert ("str", "null") in mine["audit_log"][0]


async def test_a_log_written_both_ways_verifies(empty_database_url: str) -> None:
    url = empty_database_url
    async with audit_store(url) as store:
        for n, batch in enumerate(batches()):
            if n % 2:
                with through_sqlalchemy(store):
                    await append_batch(store, batch)
            else:
                await append_batch(store, batch)
        assert used_the_driver(store)
    result = xinzheng("audit", "verify", database_url=url)
    assert result.returncode == 0, result.stderr
    assert f"intact: {sum(BATCHES)} entries" in result.stdout
    assert f"{sum(BATCHES) // CHECKPOINT_EVERY} signed checkpoint(s)" in result.stdout


@pytest.mark.parametrize("ordinary", [False, True], ids=["driver", "sqlalchemy"])
async def test_an_entry_its_column_refuses_fails_alone(empty_database_url: str, ordinary: bool) -> None:
    """A naive timestamp is refused by the column's type: that entry fails closed, the rest of
    its batch is written one by one, and both paths fail it the same way."""
    items = [item(i) for i in range(5)]
    fields, accesses = items[2]
    items[2] = ({**fields, "at": fields["at"].replace(tzinfo=None)}, accesses)
    async with audit_store(empty_database_url) as store:
        with through_sqlalchemy(store) if ordinary else contextlib.nullcontext():
            results = await asyncio.gather(*(store.append(f, a) for f, a in items), return_exceptions=True)
        bad = results.pop(2)
        assert isinstance(bad, AuditWriteFailed) and str(bad) == "StatementError"
        assert results == [1, 2, 3, 4]
        assert await append_batch(store, [item(9)]) == [5]  # and the writer goes on
    assert [e["requestId"] for e in await stored_entries(empty_database_url)] == [
        "req-0000", "req-0001", "req-0003", "req-0004", "req-0009",
    ]  # fmt: skip
    assert xinzheng("audit", "verify", database_url=empty_database_url).returncode == 0


async def test_on_the_head_it_left_a_refused_value_fails_its_entry_alone(empty_database_url: str) -> None:
    """Once the store knows the head, a batch goes as one statement on PostgreSQL: a value its
    column refuses (a naive timestamp; a request id longer than its VARCHAR(64)) still fails its
    own entry alone, and a value is never cut to fit."""
    long_id = "r" * 65
    async with audit_store(empty_database_url) as store:
        assert await append_batch(store, [item(0)]) == [1]  # the head is now the store's own
        items = [item(i) for i in range(1, 6)]
        fields, accesses = items[1]
        items[1] = ({**fields, "at": fields["at"].replace(tzinfo=None)}, accesses)
        items[3] = ({**items[3][0], "requestId": long_id}, items[3][1])
        results = await asyncio.gather(*(store.append(f, a) for f, a in items), return_exceptions=True)
        assert isinstance(results[1], AuditWriteFailed) and str(results[1]) == "StatementError"
        assert store.extender.read_first == 0  # a refused value is not another writer: the next batch tries its head
        stored = [e["requestId"] for e in await stored_entries(empty_database_url)]
        if backend(empty_database_url) == "postgresql":  # SQLite does not enforce VARCHAR(n)
            assert isinstance(results[3], AuditWriteFailed) and "too long" in str(results[3])
            assert results[:1] + results[2:3] + results[4:] == [2, 3, 4]
            assert stored == ["req-0000", "req-0001", "req-0003", "req-0005"]
        else:
            assert stored == ["req-0000", "req-0001", "req-0003", long_id, "req-0005"]
    assert xinzheng("audit", "verify", database_url=empty_database_url).returncode == 0


async def test_postgresql_a_batch_is_one_round_trip(postgres_url: str) -> None:
    """The batch's place in the chain and the tree (given by the database, under the lock) and
    every insert, as one statement outside any transaction: its own implicit one, committed
    before the server answers. A checkpoint due is signed here and stored by one more."""
    async with audit_store(postgres_url) as store:
        sent: list[str] = []

        def log_queries(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.driver_connection.add_query_logger(lambda query: sent.append(query.query))

        event.listen(store.engine.sync_engine, "connect", log_queries)
        assert await append_batch(store, [item(0)]) == [1]
        assert await append_batch(store, [item(1)]) == [2]  # asyncpg learns the arrays' types once
        sent.clear()
        assert await append_batch(store, [item(i) for i in range(2, 6)]) == list(range(3, 7))
        assert len(sent) == 1, sent
        assert sent[0].startswith("WITH f AS MATERIALIZED (SELECT * FROM xz_audit_chain(")
        for table in ("audit_log", "access_records"):
            assert f"INSERT INTO {table} " in sent[0]
        sent.clear()
        assert await append_batch(store, [item(6), item(7)]) == [7, 8]  # entry 7 is checkpointed
        assert len(sent) == 2, sent
        assert sent[0].startswith("WITH f AS MATERIALIZED") and sent[1].startswith("INSERT INTO audit_checkpoints ")
    assert len(await stored_entries(postgres_url)) == 8
    result = xinzheng("audit", "verify", database_url=postgres_url)
    assert result.returncode == 0, result.stderr
    assert "1 signed checkpoint(s)" in result.stdout


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


@pytest.fixture
def postgres_url(databases: DatabaseFactory) -> str:
    if databases.backend != "postgresql":
        pytest.skip("on SQLite the writer lock is taken before the head is read: no writer can come between")
    return databases.new()


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
