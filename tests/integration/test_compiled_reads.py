"""Reads on the fast path (app/db/read.py) answer exactly as SQLAlchemy's own execution does.

Every statement the loaders and the gate run, against a seeded database on each backend: the
rows `RequestDatabase.rows` returns once the statement is compiled must equal those of
`conn.execute(statement).all()`, value for value and type for type (a date left as text, a
Decimal left as integer fen, JSON left as a string all fail), with the same keys.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, Row, Table, bindparam, event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

import app.schema  # noqa: F401  (first: the resolvers' modules and the schema import each other)
from app.auth.gate import CONSENT_BY_ID
from app.config import Settings
from app.db import read as read_module
from app.db.read import Reads, reads_for
from app.db.request import RequestDatabase, SQLiteReader
from app.db.session import create_engine, create_read_engine
from app.imports.seed import seed
from app.resolvers import loaders
from app.resolvers.certificate import CATALOGUE
from tests.cli.lines import TODAY
from tests.conftest import DatabaseFactory


@dataclass
class Seeded:
    engine: AsyncEngine
    read_engine: Engine | None
    keys: dict[str, list[str]]

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


def settings(url: str) -> Settings:
    return Settings(
        database_url=url, env="dev", jwt_secret=None, jwt_public_key=None, jwt_issuer="xinzheng-test",
        jwt_audience="xinzheng", dev_secret=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def database_url(databases: DatabaseFactory) -> str:
    return databases.new()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(database_url: str) -> AsyncIterator[Seeded]:
    url = database_url
    engine = create_engine(settings(url))
    await seed(engine, persons=40, today=TODAY)
    async with engine.connect() as conn:

        async def column(sql: str) -> list[str]:
            return [r[0] for r in await conn.execute(text(sql))]

        keys = {
            "persons": await column("SELECT id_number FROM persons ORDER BY id_number"),
            "enterprises": await column("SELECT credit_code FROM enterprises ORDER BY credit_code"),
            "certificates": await column("SELECT identifier FROM certificates ORDER BY identifier"),
            "consents": await column("SELECT id FROM consents ORDER BY id"),
        }
    read_engine = create_read_engine(settings(url))
    yield Seeded(engine, read_engine, keys)
    await engine.dispose()
    if read_engine is not None:
        read_engine.dispose()


Params = Callable[[dict[str, list[str]]], list[dict[str, Any]]]
BOTH_KINDS = ["ENTERPRISE", "PERSON"]


def lists(pool: str, kinds: bool = False) -> Params:
    """Each key alone, a few, all of them, one nobody has, and one longer than the column."""

    def make(keys: dict[str, list[str]]) -> list[dict[str, Any]]:
        ids = keys[pool] + (keys["enterprises"] if kinds else [])
        # A key with one character more than the column holds: it must match nothing (a cast
        # to the column's VARCHAR(n) would cut it short, and it would match its prefix).
        choices = [[k] for k in ids] + [ids[:3], ids, ["nobody"], [ids[0] + "X"], ids[:2] + ["nobody"]]
        extra = {"kinds": BOTH_KINDS} if kinds else {}
        return [{"keys": sorted(set(c)), **extra} for c in choices] + (
            [{"keys": ids[:5], "kinds": ["PERSON"]}] if kinds else []
        )

    return make


# Every statement the loaders and the gate run through RequestDatabase.rows, with the order
# each one promises (a statement with no ORDER BY may come back in any order).
STATEMENTS: dict[str, tuple[Any, Params, bool]] = {
    "persons": (loaders.PERSONS, lists("persons"), False),
    "enterprises": (loaders.ENTERPRISES, lists("enterprises"), False),
    "enterprises_by_rep": (loaders.ENTERPRISES_BY_REP, lists("persons"), True),
    "certificates": (loaders.CERTIFICATES, lists("certificates"), False),
    "licences": (loaders.LICENCES, lists("persons", kinds=True), True),
    "penalties": (loaders.PENALTIES, lists("persons", kinds=True), True),
    "certificates_by_holder": (loaders.CERTIFICATES_BY_HOLDER, lists("persons", kinds=True), True),
    "consents": (loaders.CONSENTS, lists("persons", kinds=True), True),
    "scores": (loaders.SCORES, lists("persons", kinds=True), False),
    "consent_by_id": (CONSENT_BY_ID, lambda keys: [{"id": k} for k in keys["consents"]] + [{"id": "nobody"}], True),
    "catalogue": (CATALOGUE, lambda keys: [{}], True),
}


def described(row: Any) -> tuple[Any, ...]:
    """A row's values with their exact types, for comparing and sorting."""
    return tuple((type(v).__name__, repr(v)) for v in row)


def assert_same_rows(fast: Any, ordinary: Any, ordered: bool, where: str) -> None:
    if not ordered:
        fast, ordinary = sorted(fast, key=described), sorted(ordinary, key=described)
    assert [described(r) for r in fast] == [described(r) for r in ordinary], where
    for mine, theirs in zip(fast, ordinary):
        assert type(mine) is type(theirs), where
        assert mine._fields == theirs._fields, where
        assert dict(mine._mapping) == dict(theirs._mapping), where


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


async def compiled(db: RequestDatabase, statement: Any, params: dict[str, Any]) -> None:
    """Run a statement until it is compiled (the second time it is seen)."""
    for _ in range(2):
        await db.rows(statement, params)


@pytest.mark.parametrize("name", list(STATEMENTS))
async def test_the_fast_path_answers_as_sqlalchemy_does(seeded: Seeded, name: str) -> None:
    statement, make_params, ordered = STATEMENTS[name]
    db = seeded.database()
    reads = seeded.reads
    seen: set[type] = set()
    try:
        all_params = make_params(seeded.keys)
        await compiled(db, statement, all_params[0])
        assert statement in reads, "the statement was not compiled for the fast path"
        for params in all_params:
            assert reads.get(statement).bind(params) is not None, "these parameters leave the fast path"  # type: ignore[union-attr]
            fast = await db.rows(statement, params)
            ordinary = await ordinary_rows(seeded, statement, params)
            assert_same_rows(fast, ordinary, ordered, f"{name} {params}")
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
        for name, (statement, make_params, ordered) in STATEMENTS.items():
            all_params = make_params(seeded.keys)
            await compiled(db, statement, all_params[0])
            assert statement in seeded.reads
            for params in all_params[-6:]:
                fast = await db.rows(statement, params)
                assert_same_rows(fast, await ordinary_rows(seeded, statement, params), ordered, f"{name} {params}")
    finally:
        await db.close()


async def test_the_seeded_rows_hold_every_kind_of_value_that_needs_a_processor(seeded: Seeded) -> None:
    """Dates, aware datetimes, Decimal, JSON and enums come back through the compared statements."""
    seen: set[type] = set()
    for statement, make_params, _ in STATEMENTS.values():
        for params in make_params(seeded.keys)[-4:]:
            seen.update(value_types(await ordinary_rows(seeded, statement, params)))
    assert {dt.date, dt.datetime, decimal.Decimal, list, dict} <= seen
    assert any(issubclass(t, enum.Enum) for t in seen)


async def test_a_dropped_result_processor_would_be_caught(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above sees values left as the driver gives them (on SQLite, dates as text)."""

    def without_processors(self: read_module.CompiledRead, coltypes: Any) -> None:
        metadata = self._metadata
        self.make_row = functools.partial(Row, metadata, None, metadata._key_to_index)

    monkeypatch.setattr(read_module, "_reads", weakref.WeakKeyDictionary())  # compiled afresh
    monkeypatch.setattr(read_module.CompiledRead, "describe", without_processors)
    statement, _, ordered = STATEMENTS["licences"]
    params = {"keys": seeded.keys["persons"], "kinds": BOTH_KINDS}
    db = seeded.database()
    try:
        await compiled(db, statement, params)
        fast = await db.rows(statement, params)
    finally:
        await db.close()
    with pytest.raises(AssertionError):
        assert_same_rows(fast, await ordinary_rows(seeded, statement, params), ordered, "licences")


async def test_statements_built_per_call_stay_on_the_ordinary_path(seeded: Seeded) -> None:
    """A statement seen once is never compiled here, and nothing of it is kept."""
    reads = seeded.reads
    before = len(reads)
    db = seeded.database()
    keys = [("PERSON", k, 5, None) for k in seeded.keys["persons"][:3]]
    try:
        for _ in range(50):
            await db.rows(loaders.access_records_statement(keys, 5, None))
            await db.rows(select(loaders.persons).where(loaders.persons.c.id_number == seeded.keys["persons"][0]))
    finally:
        await db.close()
    assert len(reads) == before


MISSING = Table("no_such_table", MetaData(), Column("id", Integer))
MISSING_BY_ID = select(MISSING).where(MISSING.c.id.in_(bindparam("keys", expanding=True)))


async def test_a_failing_statement_fails_as_it_does_through_sqlalchemy(seeded: Seeded) -> None:
    db = seeded.database()
    try:
        with pytest.raises(DBAPIError) as ordinary:
            await db.rows(MISSING_BY_ID, {"keys": [1]})
        with pytest.raises(DBAPIError) as second:  # compiled now: the driver raises it
            await db.rows(MISSING_BY_ID, {"keys": [1]})
        assert MISSING_BY_ID in seeded.reads
        with pytest.raises(DBAPIError) as fast:
            await db.rows(MISSING_BY_ID, {"keys": [1, 2]})
        assert type(fast.value) is type(second.value) is type(ordinary.value)
        assert type(fast.value.orig) is type(ordinary.value.orig)
        # The connection is still good for the next read.
        assert len(await db.rows(loaders.PERSONS, {"keys": seeded.keys["persons"][:2]})) == 2
    finally:
        await db.close()


async def test_a_value_its_type_refuses_fails_as_it_does_through_sqlalchemy(seeded: Seeded) -> None:
    db = seeded.database()
    try:
        await compiled(db, loaders.LICENCES, {"keys": ["x"], "kinds": ["PERSON"]})
        with pytest.raises(StatementError, match="not among the defined enum values"):
            await db.rows(loaders.LICENCES, {"keys": ["x"], "kinds": ["NOT_A_KIND"]})
        with pytest.raises(StatementError, match="A value is required for bind parameter 'kinds'"):
            await db.rows(loaders.LICENCES, {"keys": ["x"]})
    finally:
        await db.close()


async def test_a_listener_on_the_engine_sees_every_read(seeded: Seeded) -> None:
    """Tests, tracing: whoever listens to cursor events gets reads through SQLAlchemy's execution."""
    engine = seeded.read_engine or seeded.engine.sync_engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    db = seeded.database()
    try:
        for _ in range(3):
            await db.rows(loaders.PERSONS, {"keys": seeded.keys["persons"][:2]})
    finally:
        await db.close()
        event.remove(engine, "before_cursor_execute", count)
    assert len([s for s in statements if "FROM persons" in s]) == 3
