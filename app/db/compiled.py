"""Statements compiled once for a writer's transactions on the driver (app/db/write.py).

SQLAlchemy compiles each statement once per database and set of parameter keys, through its
public API (`compile(...)`, the compiled `string`, `positiontup` and `binds`); kept are its SQL,
the order of its parameters and their converters (app/db/convert.py). A writer's reads are hot
reads (app/db/hot.py), compiled by app/db/read.py.

On PostgreSQL, several INSERTs and the read they depend on also go as one statement
(`CompiledTogether`): one round trip where each took its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, Insert, Select, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from app.db.convert import Converter, bind_converter
from app.db.hot import name_of
from app.db.read import CompiledRead, compile_read, placeholder_count

Params = Mapping[str, Any]
MAX_STATEMENTS = 64  # compiled and kept, per database


class CompiledWrite:
    """One statement without a result compiled for one dialect and one set of parameter keys."""

    def __init__(self, statement: Executable, sql: str, slots: Sequence[tuple[str, Converter | None]]) -> None:
        self.statement = statement  # kept alive: its id is part of the cache's key
        self.sql = sql
        self._slots = tuple(slots)  # (key, converter or None), in the order of the placeholders
        self.keys = tuple(key for key, _ in self._slots)

    def args(self, params: Params) -> list[Any]:
        return [params[key] if convert is None else convert(params[key]) for key, convert in self._slots]

    def many(self, rows: Sequence[Params]) -> list[list[Any]]:
        slots = self._slots
        return [[row[key] if convert is None else convert(row[key]) for key, convert in slots] for row in rows]


def compile_write(statement: Executable, dialect: Dialect, keys: Sequence[str]) -> CompiledWrite:
    """Compile a statement as SQLAlchemy's execution does for parameters with these keys.

    Raises ValueError for a statement that needs SQLAlchemy's execution (a Python-side default,
    RETURNING, a parameter rendered at execution): these are fixed statements, so that is a
    mistake to see at once, not a case to handle.
    """
    # As Connection.execute compiles it for a list of parameter sets: the keys sorted.
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys), for_executemany=True)  # type: ignore[attr-defined]
    assert isinstance(compiled, SQLCompiler)
    if (
        compiled.returning
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or not compiled.positional
    ):
        raise ValueError(f"this statement needs SQLAlchemy's execution: {compiled.string}")
    slots: list[tuple[str, Converter | None]] = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        if bind.callable is not None or bind.key != name or not bind.required:
            raise ValueError(f"parameter {name!r} needs SQLAlchemy's execution: {compiled.string}")
        slots.append((name, bind_converter(bind.type, dialect)))
    return CompiledWrite(statement, compiled.string, slots)


def _as_arrays(writes: Sequence[CompiledWrite], row_sets: Sequence[Sequence[Params]]) -> list[list[Any]]:
    """Each INSERT's rows as one array per column (its placeholders' order), each value converted
    as the table's own INSERT converts it: the arguments `unnest` takes."""
    return [
        list(column)
        for write, rows in zip(writes, row_sets, strict=True)
        for column in zip(*write.many(rows), strict=True)
    ]


_LENGTH = re.compile(r"\(\s*\d+(\s*,\s*\d+)?\s*\)")


def _array_placeholder(number: int, column: Any, dialect: Dialect) -> str:
    """`$n` cast to an array of the column's type without its length: a cast to VARCHAR(n) would
    cut a longer value short, where the INSERT must refuse it as the single-row one does."""
    return f"${number}::{_LENGTH.sub('', column.type.compile(dialect=dialect))}[]"


class CompiledTogether:
    """INSERTs into several tables, done only if a read finds a row, as one PostgreSQL statement:

        WITH ok AS (SELECT EXISTS (<read>) AS ok),
             i0 AS (INSERT INTO t0 (a, b) SELECT * FROM unnest($3::BIGINT[], $4::VARCHAR[])
                    WHERE (SELECT ok FROM ok)),
             ...
        SELECT ok FROM ok

    Each table's rows go as one array per column, each value converted as the table's own
    INSERT converts it (`CompiledWrite`), so the rows stored are the same. The arrays are cast
    to the columns' types without their lengths: a cast to VARCHAR(n) would cut a longer value
    short, where the INSERT must refuse it as the single-row one does. The read sees the
    database as it was when the statement began; the statement's rows are one change, all or
    none.
    """

    def __init__(self, sql: str, condition: CompiledRead, writes: Sequence[CompiledWrite]) -> None:
        self.sql = sql
        self._condition = condition
        self._writes = tuple(writes)

    def args(self, params: Params, row_sets: Sequence[Sequence[Params]]) -> list[Any]:
        query = self._condition.bind(params)
        if query is None:
            raise ValueError("a parameter of this read is missing")
        return [*query[1], *_as_arrays(self._writes, row_sets)]


def compile_together(
    condition: CompiledRead, inserts: Sequence[tuple[Table, CompiledWrite]], dialect: Dialect
) -> CompiledTogether:
    """The statement of `CompiledTogether` for PostgreSQL. The read must bind a fixed number of
    parameters (no IN list), numbered first."""
    sql = condition.fixed_sql
    offset = None if sql is None else placeholder_count(sql)
    if sql is None or offset is None:
        raise ValueError(f"{condition.name}: a read that cannot go first in a statement")
    quote = dialect.identifier_preparer
    parts = [f"ok AS (SELECT EXISTS ({sql}) AS ok)"]
    for i, (table, write) in enumerate(inserts):
        columns = [table.c[key] for key in write.keys]
        arrays = [_array_placeholder(offset + j, column, dialect) for j, column in enumerate(columns, 1)]
        offset += len(columns)
        parts.append(
            f"i{i} AS (INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(c.name) for c in columns)}) "
            f"SELECT * FROM unnest({', '.join(arrays)}) WHERE (SELECT ok FROM ok))"
        )
    return CompiledTogether("WITH " + ", ".join(parts) + " SELECT ok FROM ok", condition, [w for _, w in inserts])


class CompiledChained:
    """INSERTs whose rows take some of their columns from the rows of a set-returning function,
    as one PostgreSQL statement:

        WITH f AS MATERIALIZED (SELECT * FROM <call>),
             i0 AS (INSERT INTO t0 (a, b, seq) SELECT u.c0, u.c1, f.seq
                    FROM unnest($6::VARCHAR[], $7::VARCHAR[], $8::BIGINT[]) WITH ORDINALITY AS u (c0, c1, c2, o)
                    JOIN f ON f.n = u.c2 ORDER BY u.o),
             ...
        SELECT * FROM f ORDER BY n

    The call is made once, before any INSERT. Each INSERT's rows carry, under one key (`by`),
    the `n` of the function's row they go with; that key's column, and any other the INSERT
    takes from the function's row, is given the function's value. Rows are inserted in the order
    given (a serial key numbers them so), and sent as `CompiledTogether` sends them. The call's
    own arguments come first, as given.
    """

    def __init__(self, sql: str, call_arguments: int, writes: Sequence[CompiledWrite]) -> None:
        self.sql = sql
        self._call_arguments = call_arguments
        self._writes = tuple(writes)

    def args(self, call: Sequence[Any], row_sets: Sequence[Sequence[Params]]) -> list[Any]:
        if len(call) != self._call_arguments:
            raise ValueError(f"the call takes {self._call_arguments} arguments, not {len(call)}")
        return [*call, *_as_arrays(self._writes, row_sets)]


# An INSERT of `compile_chained`: its table and compiled statement, the columns it takes from the
# function's row ({column: the function's column}), and the key whose value is that row's `n`.
Chained = tuple[Table, CompiledWrite, Mapping[str, str], str]


def compile_chained(call: str, call_arguments: int, inserts: Sequence[Chained], dialect: Dialect) -> CompiledChained:
    """The statement of `CompiledChained` for PostgreSQL. `call` is the function's call, its
    arguments numbered $1 to $call_arguments."""
    quote = dialect.identifier_preparer
    offset = call_arguments
    parts = [f"f AS MATERIALIZED (SELECT * FROM {call})"]
    for i, (table, write, taken, by) in enumerate(inserts):
        if by not in write.keys:
            raise ValueError(f"the rows of {table.name} do not carry {by!r}")
        arrays, targets, selected = [], [], []
        for j, key in enumerate(write.keys):
            offset += 1
            column = table.c[key]
            arrays.append(_array_placeholder(offset, column, dialect))
            if key not in taken:
                targets.append(quote.quote(column.name))
                selected.append(f"u.c{j}")
        for key, source in taken.items():
            targets.append(quote.quote(table.c[key].name))
            selected.append(f"f.{quote.quote(source)}")
        names = ", ".join(f"c{j}" for j in range(len(write.keys)))
        parts.append(
            f"i{i} AS (INSERT INTO {quote.format_table(table)} ({', '.join(targets)}) "
            f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) WITH ORDINALITY AS u ({names}, o) "
            f"JOIN f ON f.n = u.c{write.keys.index(by)} ORDER BY u.o)"
        )
    sql = "WITH " + ", ".join(parts) + " SELECT * FROM f ORDER BY n"
    return CompiledChained(sql, call_arguments, [w for _, w, _, _ in inserts])


class Compiled:
    """The statements of one database compiled for the driver, by statement (and keys)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._writes: dict[tuple[int, tuple[str, ...]], CompiledWrite] = {}
        self._reads: dict[int, CompiledRead] = {}
        self._together: dict[tuple[Any, ...], CompiledTogether] = {}
        self._chained: dict[tuple[Any, ...], CompiledChained] = {}

    def write(self, statement: Executable, keys: Sequence[str]) -> CompiledWrite:
        key = (id(statement), tuple(keys))
        write = self._writes.get(key)
        if write is None:
            write = compile_write(statement, self.dialect, keys)
            if len(self._writes) < MAX_STATEMENTS:  # a statement made per call is compiled per call
                self._writes[key] = write
        return write

    def __contains__(self, statement: Executable) -> bool:
        """The statement is compiled here (for some keys)."""
        key = id(statement)
        return key in self._reads or any(k == key for k, _ in self._writes)

    def write_for(
        self, statement: Executable, params: Params | Sequence[Params]
    ) -> tuple[CompiledWrite, Sequence[Params]]:
        """The compiled statement for these parameters (one set, or a non-empty list of sets
        with the keys of the first, as SQLAlchemy's executemany takes them), and the sets."""
        rows: Sequence[Params] = [params] if isinstance(params, Mapping) else params
        return self.write(statement, list(rows[0])), rows

    def together(
        self, condition: Select[Any], params: Params, inserts: Sequence[tuple[Insert, Sequence[Params]]]
    ) -> tuple[CompiledTogether, list[Any]]:
        """The one statement of `CompiledTogether` for these INSERTs (each with its non-empty list
        of rows, with the keys of the first) and this hot read, and its arguments."""
        writes = [(statement, self.write(statement, list(rows[0]))) for statement, rows in inserts]
        key = (id(condition), *((id(s), w.keys) for s, w in writes))
        together = self._together.get(key)
        if together is None:
            tables = []
            for statement, write in writes:
                if not isinstance(statement.table, Table):
                    raise ValueError(f"only an INSERT into a table goes with others: {write.sql}")
                tables.append((statement.table, write))
            together = compile_together(self.read(condition), tables, self.dialect)
            if len(self._together) < MAX_STATEMENTS:
                self._together[key] = together
        return together, together.args(params, [rows for _, rows in inserts])

    def chained(
        self,
        call: str,
        arguments: Sequence[Any],
        inserts: Sequence[tuple[Insert, Sequence[Params], Mapping[str, str], str]],
    ) -> tuple[CompiledChained, list[Any]]:
        """The one statement of `CompiledChained` for this call (its SQL, a constant) and these
        INSERTs (each with its non-empty list of rows, with the keys of the first), and its
        arguments."""
        writes = [(statement, self.write(statement, list(rows[0]))) for statement, rows, _, _ in inserts]
        key = (call, *((id(s), w.keys, tuple(t.items()), by) for (s, w), (_, _, t, by) in zip(writes, inserts, strict=True)))
        chained = self._chained.get(key)
        if chained is None:
            tables: list[Chained] = []
            for (statement, write), (_, _, taken, by) in zip(writes, inserts, strict=True):
                if not isinstance(statement.table, Table):
                    raise ValueError(f"only an INSERT into a table goes with others: {write.sql}")
                tables.append((statement.table, write, taken, by))
            chained = compile_chained(call, len(arguments), tables, self.dialect)
            if len(self._chained) < MAX_STATEMENTS:
                self._chained[key] = chained
        return chained, chained.args(arguments, [rows for _, rows, _, _ in inserts])

    def read(self, statement: Select[Any]) -> CompiledRead:
        """A hot read (app/db/hot.py), compiled for this database's driver."""
        read = self._reads.get(id(statement))
        if read is None:
            name = name_of(statement)
            if name is None:
                raise ValueError("only hot reads (app/db/hot.py) run on the driver")
            read = self._reads[id(statement)] = compile_read(name, statement, self.dialect, arrays=False)
        return read
