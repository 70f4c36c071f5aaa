"""Hot reads on the driver (app/db/read.py) answer exactly as SQLAlchemy's own execution does.

Every statement registered in app/db/hot.py (the registry the executor uses, so nothing can run on
the driver without being compared here), against a seeded database on each backend, with
parameters drawn from the data itself: the rows `RequestDatabase.rows` returns must equal those
of `conn.execute(statement).all()`, value for value and type for type (a date left as text, a
Decimal left as integer fen, JSON left as a string, an enum left as its string all fail), with
the same names.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import enum
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import BinaryExpression, Column, Integer, MetaData, Select, Table, bindparam, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

import app.schema  # noqa: F401  (first: the resolvers' modules and the schema import each other)
from app.audit import keys as audit_keys
from app.audit.store import AuditStore
from app.db import hot
from app.db import read as read_module
from app.db.hot import HOT_READS
from app.db.read import Reads, reads_for
from app.db.request import RequestDatabase, SQLiteReader
from app.db.session import create_audit_engine, create_engine, create_read_engine
from app.imports.seed import seed
from app.resolvers import loaders
from tests.api.conftest import settings_for
from tests.audit.test_driver_appends import item
from tests.cli.lines import TODAY
from tests.conftest import DatabaseFactory, reads_sent


@dataclass
class Seeded:
    engine: AsyncEngine
    read_engine: Engine | None
    values: dict[Any, list[Any]]  # every column a hot read's parameter is compared with -> its values

    def database(self) -> RequestDatabase:
        return RequestDatabase(self.engine, sqlite=SQLiteReader(self.read_engine) if self.read_engine else None)

    @property
    def dialect(self) -> Any:
        return (self.read_engine or self.engine).dialect

    @property
    def reads(self) -> Reads:
        reads = reads_for(self.dialect)
        assert reads is not None
        return reads


def parameters(statement: Select[Any]) -> dict[str, Column[Any]]:
    """Each parameter of a statement -> the column it is compared with."""
    found: dict[str, Column[Any]] = {}
    for element in visitors.iterate(statement):
        if isinstance(element, BinaryExpression) and isinstance(element.right, BindParameter):
            found[element.right.key] = element.left
    return found


@pytest.fixture(scope="module")
def database_url(databases: DatabaseFactory) -> str:
    return databases.new()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(database_url: str) -> AsyncIterator[Seeded]:
    url = database_url
    settings = settings_for(url, checkpoint_every=2)
    engine = create_engine(settings)
    await seed(engine, persons=40, today=TODAY)
    # A few audit entries, for the audit writer's head.
    store = AuditStore(engine, audit_keys.audit_key(settings), 2, create_audit_engine(settings))
    await asyncio.gather(*(store.append(*item(i)) for i in range(3)))
    if store.sync_engine is not None:
        store.sync_engine.dispose()
    values: dict[Any, list[Any]] = {}
    async with engine.connect() as conn:
        for statement in HOT_READS.values():
            for column in parameters(statement).values():
                if column not in values:
                    found = (await conn.execute(select(column).distinct().order_by(column))).scalars().all()
                    values[column] = [str(v) if isinstance(v, enum.Enum) else v for v in found]
    read_engine = create_read_engine(settings)
    yield Seeded(engine, read_engine, values)
    await engine.dispose()
    if read_engine is not None:
        read_engine.dispose()


def parameter_sets(statement: Select[Any], values: dict[Any, list[Any]]) -> list[dict[str, Any]]:
    """Each value alone, a few, all of them, one nobody has, and one longer than the column
    (it must match nothing: a cast to the column's VARCHAR(n) would cut it short, and it would
    match its prefix); lists of the other parameters whole, then each value of theirs alone."""
    binds = {key: column for key, column in parameters(statement).items()}
    if not binds:
        return [{}]
    lists = {key for key in binds if _expanding(statement, key)}
    first, *others = sorted(binds, key=lambda k: (-len(values[binds[k]]), k))
    mine = values[binds[first]]
    # A whole-number parameter (the audit tree's level and index, a seq) has no "longer" value.
    nobody, longer = ("nobody", mine[0] + "X") if isinstance(mine[0], str) else (-1, max(mine) + 1)
    choices = [[v] for v in mine] + [mine[:3], mine, [nobody], [longer], [*mine[:2], nobody]]
    whole = {key: values[binds[key]] for key in others}
    sets = [{first: c, **whole} for c in choices]
    for key in others:
        sets += [{first: mine, **whole, key: [v]} for v in values[binds[key]]]
    return [{k: (v if k in lists else v[0]) for k, v in p.items()} for p in sets]


def _expanding(statement: Select[Any], key: str) -> bool:
    return any(isinstance(e, BindParameter) and e.key == key and e.expanding for e in visitors.iterate(statement))


def described(row: Any) -> tuple[Any, ...]:
    """A row's values with their exact types, for comparing and sorting."""
    return tuple((type(v).__name__, repr(v)) for v in row)


def assert_same_rows(fast: Any, ordinary: Any, ordered: bool, where: str) -> None:
    if not ordered:
        fast, ordinary = sorted(fast, key=described), sorted(ordinary, key=described)
    assert [described(r) for r in fast] == [described(r) for r in ordinary], where
    for mine, theirs in zip(fast, ordinary, strict=True):
        assert isinstance(mine, tuple), where  # a plain row: a named tuple
        assert mine._fields == theirs._fields, where
        assert dict(mine._mapping) == dict(theirs._mapping), where
        assert all(getattr(mine, f) == getattr(theirs, f) for f in theirs._fields), where


def value_types(rows: Any) -> Iterator[type]:
    for row in rows:
        for value in row:
            yield type(value)


async def ordinary_rows(seeded: Seeded, statement: Any, params: dict[str, Any]) -> Any:
    if seeded.read_engine is not None:
        with seeded.read_engine.connect() as conn:
            return conn.execute(statement, params).all()
    async with seeded.engine.connect() as conn:
        return (await conn.execute(statement, params)).all()


def ordered(statement: Select[Any]) -> bool:
    """It promises an order (without ORDER BY, rows may come back in any order)."""
    return "ORDER BY" in str(statement)


@pytest.mark.parametrize("name", list(HOT_READS))
async def test_the_fast_path_answers_as_sqlalchemy_does(seeded: Seeded, name: str) -> None:
    statement = HOT_READS[name]
    db = seeded.database()
    seen: set[type] = set()
    try:
        for params in parameter_sets(statement, seeded.values):
            assert seeded.reads.get(statement).bind(params) is not None, "these parameters leave the fast path"  # type: ignore[union-attr]
            fast = await db.rows(statement, params)
            assert statement in seeded.reads, "the statement did not run on the driver"
            ordinary = await ordinary_rows(seeded, statement, params)
            assert_same_rows(fast, ordinary, ordered(statement), f"{name} {params}")
            seen.update(value_types(ordinary))
    finally:
        await db.close()
    assert seen, f"{name} found no rows: the comparison proves nothing"


async def test_per_length_texts_on_postgresql_answer_the_same_too(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """The alternative to = ANY (one SQL text per list length, as on SQLite) stays correct."""
    if seeded.dialect.name != "postgresql":
        pytest.skip("SQLite has no arrays: per-length texts are its only way")
    monkeypatch.setattr(read_module, "_reads", weakref.WeakKeyDictionary({seeded.dialect: Reads(seeded.dialect, arrays=False)}))
    db = seeded.database()
    try:
        for name, statement in HOT_READS.items():
            for params in parameter_sets(statement, seeded.values)[-6:]:
                fast = await db.rows(statement, params)
                assert statement in seeded.reads
                assert_same_rows(fast, await ordinary_rows(seeded, statement, params), ordered(statement), f"{name} {params}")
    finally:
        await db.close()


async def test_the_seeded_rows_hold_every_kind_of_value_that_needs_a_converter(seeded: Seeded) -> None:
    """Dates, aware datetimes, Decimal, JSON and enums come back through the compared statements."""
    seen: set[type] = set()
    for statement in HOT_READS.values():
        for params in parameter_sets(statement, seeded.values)[-4:]:
            seen.update(value_types(await ordinary_rows(seeded, statement, params)))
    assert {dt.date, dt.datetime, decimal.Decimal, list, dict} <= seen
    assert any(issubclass(t, enum.Enum) for t in seen)


async def test_a_dropped_result_converter_would_be_caught(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above sees values left as the driver gives them (on SQLite, dates as text)."""
    monkeypatch.setattr(read_module, "_reads", weakref.WeakKeyDictionary())  # compiled afresh
    monkeypatch.setattr(read_module, "result_converter", lambda type_, dialect: None)
    statement = loaders.LICENCES
    params = {"keys": seeded.values[loaders.licences.c.holder_id], "kinds": ["ENTERPRISE", "PERSON"]}
    db = seeded.database()
    try:
        fast = await db.rows(statement, params)
    finally:
        await db.close()
    with pytest.raises(AssertionError):
        assert_same_rows(fast, await ordinary_rows(seeded, statement, params), True, "licences")


async def test_statements_not_registered_run_through_sqlalchemy_and_leave_nothing(seeded: Seeded) -> None:
    reads = seeded.reads
    db = seeded.database()
    person = seeded.values[loaders.persons.c.id_number][0]
    keys = [("PERSON", person, 5, None)]
    try:
        for _ in range(5):
            await db.rows(loaders.access_records_statement(keys, 5, None))
            rows = await db.rows(select(loaders.persons).where(loaders.persons.c.id_number == person))
            assert rows[0].id_number == person
    finally:
        await db.close()
    assert all(read.name in HOT_READS for read in reads._compiled.values())


async def test_reads_are_counted_and_timed_per_request(seeded: Seeded) -> None:
    db = seeded.database()
    persons = seeded.values[loaders.persons.c.id_number][:2]
    try:
        assert (db.statements, db.seconds) == (0, 0.0)
        await db.rows(loaders.PERSONS, {"keys": persons})  # on the driver
        await db.rows(select(loaders.persons).where(loaders.persons.c.id_number == persons[0]))  # through SQLAlchemy
        assert db.statements == 2
        assert 0 < db.seconds < 5
    finally:
        await db.close()


MISSING = Table("no_such_table", MetaData(), Column("id", Integer))
MISSING_BY_ID = select(MISSING).where(MISSING.c.id.in_(bindparam("keys", expanding=True)))


async def test_a_failing_statement_fails_as_it_does_through_sqlalchemy(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    db = seeded.database()
    try:
        with pytest.raises(DBAPIError) as ordinary:
            await db.rows(MISSING_BY_ID, {"keys": [1]})
        monkeypatch.setitem(hot.HOT_READS, "missing", MISSING_BY_ID)
        monkeypatch.setitem(hot._names, id(MISSING_BY_ID), "missing")
        with pytest.raises(DBAPIError) as fast:
            await db.rows(MISSING_BY_ID, {"keys": [1, 2]})
        assert MISSING_BY_ID in seeded.reads
        assert type(fast.value) is type(ordinary.value)  # ProgrammingError on PostgreSQL, OperationalError on SQLite
        assert not fast.value.connection_invalidated
        # The driver's own exception: sqlite3's, as through SQLAlchemy; asyncpg's (SQLAlchemy's is its adapter's).
        assert type(fast.value.orig).__module__.split(".")[0] in ("sqlite3", "asyncpg")
        # The connection is still good for the next read.
        assert len(await db.rows(loaders.PERSONS, {"keys": seeded.values[loaders.persons.c.id_number][:2]})) == 2
    finally:
        await db.close()
        del seeded.reads._compiled[id(MISSING_BY_ID)]


async def test_a_value_its_type_refuses_fails_as_it_does_through_sqlalchemy(seeded: Seeded) -> None:
    db = seeded.database()
    try:
        await db.rows(loaders.LICENCES, {"keys": ["x"], "kinds": ["PERSON"]})
        with pytest.raises(StatementError, match="not among the defined enum values"):
            await db.rows(loaders.LICENCES, {"keys": ["x"], "kinds": ["NOT_A_KIND"]})
        with pytest.raises(StatementError, match="A value is required for bind parameter 'kinds'"):
            await db.rows(loaders.LICENCES, {"keys": ["x"]})
    finally:
        await db.close()


async def test_a_listener_on_the_engine_does_not_turn_the_fast_path_off(seeded: Seeded) -> None:
    """Tests, tracing: whoever listens to cursor events changes nothing; reads stay on the driver,
    and are counted in the request's database instead."""
    engine = seeded.read_engine or seeded.engine.sync_engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    db = seeded.database()
    try:
        for _ in range(3):
            rows = await db.rows(loaders.PERSONS, {"keys": seeded.values[loaders.persons.c.id_number][:2]})
            assert len(rows) == 2
    finally:
        await db.close()
        event.remove(engine, "before_cursor_execute", count)
    assert loaders.PERSONS in seeded.reads
    assert not [s for s in statements if "FROM persons" in s]
    assert db.statements == 3


def postgresql_only(seeded: Seeded) -> None:
    if seeded.dialect.name != "postgresql":
        pytest.skip("SQLite reads on the loop, each at once: there is no round trip to share")


async def test_hot_reads_asked_for_in_one_turn_go_in_one_statement_and_answer_as_alone(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every hot read at once, several times over with other parameters: one statement each time
    (app/db/read.py `fused`), and each read's rows as SQLAlchemy gives them, in their order."""
    postgresql_only(seeded)
    trips = reads_sent(monkeypatch)
    sets = {name: parameter_sets(statement, seeded.values) for name, statement in HOT_READS.items()}
    db = seeded.database()
    try:
        for round_ in range(max(len(s) for s in sets.values())):
            asked = {name: s[round_ % len(s)] for name, s in sets.items()}
            trips.clear()
            answers = await asyncio.gather(*(db.rows(HOT_READS[name], params) for name, params in asked.items()))
            assert len(trips) == 1 and trips[0].startswith("SELECT ARRAY("), trips
            for (name, params), fast in zip(asked.items(), answers, strict=True):
                ordinary = await ordinary_rows(seeded, HOT_READS[name], params)
                assert_same_rows(fast, ordinary, ordered(HOT_READS[name]), f"{name} {params}")
    finally:
        await db.close()


async def test_a_failing_read_fails_each_read_of_its_turn_and_the_next_turn_reads(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgresql_only(seeded)
    monkeypatch.setitem(hot.HOT_READS, "missing", MISSING_BY_ID)
    monkeypatch.setitem(hot._names, id(MISSING_BY_ID), "missing")
    persons = seeded.values[loaders.persons.c.id_number][:2]
    db = seeded.database()
    try:
        answers = await asyncio.gather(
            db.rows(loaders.PERSONS, {"keys": persons}), db.rows(MISSING_BY_ID, {"keys": [1]}), return_exceptions=True
        )
        assert all(isinstance(a, DBAPIError) for a in answers), answers
        assert len(await db.rows(loaders.PERSONS, {"keys": persons})) == 2  # the connection still reads
    finally:
        await db.close()
        del seeded.reads._compiled[id(MISSING_BY_ID)]
