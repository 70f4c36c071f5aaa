"""Batched appends on the driver (app/db/write.py) store what SQLAlchemy's execution stores.

The same entries, in the same batches, are appended on the driver (sqlite3, asyncpg) to one
database and through SQLAlchemy (what a listener on the engine gets) to another; every stored
row must be the same, column by column, as the driver reads it back (SQLite's storage class and
text, PostgreSQL's JSON text and timestamps). A log written both ways must verify. And a value
its column refuses fails its entry alone, either way. Writers that meet each other:
tests/audit/test_append_contention.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from app.audit.rows import INSERT_ACCESSES, INSERT_CHECKPOINTS
from app.audit.store import AuditWriteFailed
from app.audit.tree import INSERT_NODES
from tests.audit.conftest import backend, stored_entries, xinzheng
from tests.conftest import DatabaseFactory
from tests.audit.appending import (
    BATCHES, CHECKPOINT_EVERY, append_batch, audit_store, batches, item, through_sqlalchemy, used_the_driver,
)

TABLES = {"audit_log": "seq", "access_records": "id", "audit_checkpoints": "seq", "audit_tree": "level, idx"}


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


