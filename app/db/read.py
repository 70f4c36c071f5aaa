"""The hot reads (app/db/hot.py) compiled once per database and run on the driver itself.

Profiled, `Connection.execute` was a large share of a credit query's CPU: the cache key, the
execution context, the IN lists expanded again on every call, the result set-up. The hot reads
are module-level constants, so all of that is worked out once per statement and database, with
SQLAlchemy's public API only: `statement.compile(dialect=...)` writes the SQL, its `positiontup`
and `binds` give the parameters' order and types, `construct_expanded_state` the SQL of an IN
list of a given length; `selected_columns` the result's names and types. Values are converted by
the explicit table of app/db/convert.py, and rows are plain named tuples (`Rows`): attribute
access by column name, as the resolvers use them, and `_mapping`, as on SQLAlchemy's rows.

Expanding IN lists (`bindparam(..., expanding=True)`):
- SQLite: one SQL text per combination of list lengths, kept (at most MAX_LENGTHS per
  statement); the items are bound one by one. A list of more than PAD_FROM items is padded to
  a power of two, so that 5 to 8 keys share one text, 9 to 16 another: sqlite3 keeps 128
  prepared statements per connection, and one request's lists of 1 to 40 keys, one text per
  length, did not fit (they were prepared again and again; bench/README.md has the cost).
- PostgreSQL: `col = ANY($n::VARCHAR[])`, one text whatever the lengths, so asyncpg prepares
  each statement once per connection instead of once per length (cheaper: see `Reads`). The
  array is cast without a length: a cast to VARCHAR(18)[] would cut longer
  keys short and match the wrong rows (SQLAlchemy drops the length on scalar casts for the
  same reason).
"""

from __future__ import annotations

import enum
import keyword
import re
import weakref
from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ARRAY, BinaryExpression, Select, String, any_, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ClauseElement
from sqlalchemy.sql.sqltypes import TupleType

from app.db.convert import Converter, bind_converter, result_converter
from app.db.hot import name_of

MAX_LENGTHS = 64
PAD_FROM = 4


class Kind(enum.Enum):
    SCALAR = 1  # one value, one placeholder
    EXPANDED = 2  # a list, one placeholder per item (SQLite)
    ARRAY = 3  # a list, one array placeholder (PostgreSQL's = ANY)


def _padded(length: int) -> int:
    return length if length <= PAD_FROM else 1 << (length - 1).bit_length()


def _pad(items: list[Any]) -> list[Any]:
    """A list longer than PAD_FROM, padded with its last item to a power of two (the same rows:
    repeats in an IN list change nothing)."""
    return items + items[-1:] * (_padded(len(items)) - len(items))


_REQUIRED = object()  # a bind parameter with no value of its own: the caller must give one


def row_class(name: str, fields: Sequence[str]) -> type[tuple[Any, ...]]:
    """A named tuple for one statement's rows, with `_mapping` (name -> value) as SQLAlchemy's rows have."""
    if len(set(fields)) != len(fields) or any(not f.isidentifier() or keyword.iskeyword(f) or f.startswith("_") for f in fields):
        raise ValueError(f"{name}: its columns need distinct plain names to be a row's attributes: {list(fields)}")
    base = namedtuple(f"{name}_row", fields)  # type: ignore[misc]
    return type(base.__name__, (base,), {"__slots__": (), "_mapping": property(lambda row: dict(zip(row._fields, row, strict=True)))})


class CompiledRead:
    """One SELECT compiled for one dialect: its SQL, how to bind its parameters, how to make its rows."""

    def __init__(
        self,
        name: str,
        compiled: SQLCompiler,
        slots: Sequence[tuple[str, Any, Converter | None, Kind]],
        columns: Sequence[tuple[str, Converter | None]],
    ) -> None:
        self.name = name
        self._compiled = compiled
        self._slots = tuple(slots)
        self._required = frozenset(key for key, default, _, _ in slots if default is _REQUIRED)
        self._expanded = tuple(dict.fromkeys(key for key, _, _, kind in slots if kind is Kind.EXPANDED))
        self._sql: str | None = None if self._expanded else compiled.string
        self._by_lengths: dict[tuple[int, ...], str] = {}
        self.row = row_class(name, [key for key, _ in columns])
        self._convert = tuple((i, f) for i, (_, f) in enumerate(columns) if f is not None)

    @property
    def fixed_sql(self) -> str | None:
        """Its SQL, if that is one text whatever the parameters (no IN list to expand), else None."""
        return self._sql

    def bind(self, params: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
        """The SQL and its positional arguments, or None if a parameter is missing.

        A value that its type refuses raises here (LookupError, ValueError); the caller then
        runs the statement the ordinary way, which raises it as SQLAlchemy always has.
        """
        if not self._required.issubset(params):
            return None
        args: list[Any] = []
        for key, default, convert, kind in self._slots:
            value = params.get(key, default)
            if kind is Kind.SCALAR:
                args.append(value if convert is None else convert(value))
            elif kind is Kind.EXPANDED:
                args.extend(_pad(list(value) if convert is None else [convert(v) for v in value]))
            else:
                args.append(list(value) if convert is None else [convert(v) for v in value])
        sql = self._sql
        if sql is None:
            lengths = tuple(_padded(len(params[key])) for key in self._expanded)
            sql = self._by_lengths.get(lengths) or self._expand(params, lengths)
        return sql, args

    def _expand(self, params: Mapping[str, Any], lengths: tuple[int, ...]) -> str:
        """The SQL for these list lengths, rendered by SQLAlchemy, and kept."""
        state = self._compiled.construct_expanded_state({**params, **{k: _pad(list(params[k])) for k in self._expanded}})
        # The items must come in the order the slots give them: each list's, in its place.
        expected: list[str] = []
        for key, _, _, kind in self._slots:
            expected.extend(state.parameter_expansion.get(key, ()) if kind is Kind.EXPANDED else (key,))
        if list(state.positiontup or ()) != expected:
            raise ValueError(f"{self.name}: its expanded parameters come in an order the fast path does not follow")
        if len(self._by_lengths) >= MAX_LENGTHS:
            del self._by_lengths[next(iter(self._by_lengths))]
        self._by_lengths[lengths] = state.statement
        return state.statement

    def rows(self, raw: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The driver's rows (sqlite3's tuples, asyncpg's Records) as this statement's rows."""
        make = self.row._make  # type: ignore[attr-defined]
        convert = self._convert
        if not convert:
            return [make(r) for r in raw]
        out = []
        for r in raw:
            values = list(r)
            for i, f in convert:
                values[i] = f(values[i])
            out.append(make(values))
        return out


class Reads:
    """The compiled hot reads of one database (one dialect), by statement.

    Args:
        dialect: the engine's dialect (SQLite through sqlite3, PostgreSQL through asyncpg).
        arrays: IN lists as `= ANY(array)`; by default on PostgreSQL. With lists of varying
            lengths, per-length texts cost more CPU and time (bench/README.md, "Figures behind
            the code's choices"): asyncpg keeps 100 prepared statements per connection and
            prepares the others again.
    """

    def __init__(self, dialect: Dialect, *, arrays: bool | None = None) -> None:
        self.dialect = dialect
        self.arrays = dialect.name == "postgresql" if arrays is None else arrays
        self._compiled: dict[int, CompiledRead] = {}

    def __contains__(self, statement: Any) -> bool:
        """The statement is compiled here."""
        return id(statement) in self._compiled

    def get(self, statement: Any) -> CompiledRead | None:
        """The compiled read of a hot statement (compiled when first asked for), or None: a statement
        not registered in app/db/hot.py runs through SQLAlchemy's execution."""
        read = self._compiled.get(id(statement))
        if read is None:
            name = name_of(statement)
            if name is None:
                return None
            read = self._compiled[id(statement)] = compile_read(name, statement, self.dialect, arrays=self.arrays)
        return read


_reads: weakref.WeakKeyDictionary[Dialect, Reads] = weakref.WeakKeyDictionary()


DRIVERS = {("sqlite", "pysqlite"), ("postgresql", "asyncpg")}  # the ones RequestDatabase runs


def reads_for(dialect: Dialect) -> Reads | None:
    """The compiled reads of a database, or None if its driver is not one the fast path knows."""
    reads = _reads.get(dialect)
    if reads is None:
        if (dialect.name, dialect.driver) not in DRIVERS:
            return None
        reads = _reads[dialect] = Reads(dialect)
    return reads


def compile_read(name: str, statement: Select[Any], dialect: Dialect, *, arrays: bool) -> CompiledRead:
    """Compile a SELECT for the driver. Raises ValueError or TypeError for one that needs
    SQLAlchemy's execution: registered statements are constants, so that is a mistake to see at once."""
    if statement.get_execution_options():
        raise ValueError(f"{name}: execution options need SQLAlchemy's execution")
    columns = [(key, result_converter(column.type, dialect)) for key, column in statement.selected_columns.items()]
    array_items: dict[str, Converter | None] = {}
    if arrays:
        statement, array_items = _in_lists_as_arrays(statement, dialect)
    compiled = statement.compile(dialect=dialect)
    if not compiled.positional or compiled.literal_execute_params or any(
        not b.expanding for b in compiled.post_compile_params
    ):
        raise ValueError(f"{name}: a parameter rendered at execution needs SQLAlchemy's execution")
    slots: list[tuple[str, Any, Converter | None, Kind]] = []
    for bind_name in compiled.positiontup or ():
        bind = compiled.binds[bind_name]
        if bind.callable is not None or (bind.key != bind_name and bind.required):
            raise ValueError(f"{name}: parameter {bind.key!r} needs SQLAlchemy's execution")
        # Given by its key (a literal in the statement has an anonymous key: nobody gives it,
        # and its own value is used).
        default = _REQUIRED if bind.required else bind.value
        if bind_name in array_items:
            slots.append((bind.key, default, array_items[bind_name], Kind.ARRAY))
        else:
            kind = Kind.EXPANDED if bind.expanding else Kind.SCALAR
            slots.append((bind.key, default, bind_converter(bind.type, dialect), kind))
    return CompiledRead(name, compiled, slots, columns)


def _in_lists_as_arrays(statement: Select[Any], dialect: Dialect) -> tuple[Select[Any], dict[str, Converter | None]]:
    """`col IN (:keys)` with an expanding parameter becomes `col = ANY(:keys)`, an array.

    Returns the new statement and, per rewritten parameter, the converter of its items.
    """
    replaced: dict[BindParameter[Any], BindParameter[Any]] = {}
    items: dict[str, Converter | None] = {}

    def replace(element: ClauseElement) -> ClauseElement | None:
        if not (
            isinstance(element, BinaryExpression)
            and element.operator is operators.in_op
            and isinstance(element.right, BindParameter)
            and element.right.expanding
            and not isinstance(element.left.type, TupleType)
        ):
            return None
        original = element.right
        item_type = element.left.type
        array = replaced.get(original)
        if array is None:
            # No length in the cast: VARCHAR(18)[] would silently cut a longer key short.
            cast_as = String() if isinstance(item_type, String) else item_type
            array = replaced[original] = bindparam(original.key, type_=ARRAY(cast_as))
            items[original.key] = bind_converter(item_type, dialect)
        return element.left == any_(array)

    return cast(Select[Any], visitors.replacement_traverse(statement, {}, replace)), items  # type: ignore[call-overload]


_PLACEHOLDER = re.compile(r"\$(\d+)")
MAX_FUSED = 256  # texts kept: one per combination of reads asked for together


def placeholder_count(sql: str) -> int | None:
    """How many parameters a compiled read's PostgreSQL text numbers ($1 to $n, each used), if
    the text can be renumbered and set beside others: None if it quotes text (where `$n` could be
    a literal's) or skips a number."""
    numbers = sorted({int(n) for n in _PLACEHOLDER.findall(sql)})
    if "'" in sql or numbers != list(range(1, len(numbers) + 1)):
        return None
    return len(numbers)


def fused(queries: Sequence[tuple[str, Sequence[Any]]]) -> tuple[str, list[Any]]:
    """Several compiled reads (PostgreSQL: their SQL and arguments) as one statement, whose one
    row holds, for each read, the array of its rows as records: `SELECT ARRAY(SELECT ROW(q.*)
    FROM (<read>) AS q), ...`. Each read keeps its SQL whole, its placeholders renumbered
    after the ones before it; asyncpg decodes each record's fields by their types, as it
    decodes the read's own columns. An array keeps its read's order: it is built in the order
    the read's sorted subquery gives its rows, with no join or grouping around it that could
    reorder them (the manual gives a sorted subquery as the way to feed an aggregate ordered
    input, and warns only of such outer processing: section 9.21). tests/integration/
    test_compiled_reads.py compares every hot read fused with the same read alone."""
    key = tuple(sql for sql, _ in queries)
    sql = _fused.get(key)
    if sql is None:
        parts, offset = [], 0
        for read_sql, args in queries:
            if placeholder_count(read_sql) != len(args):
                raise ValueError(f"a read that cannot be renumbered: {read_sql}")
            renumbered = _PLACEHOLDER.sub(lambda m, at=offset: f"${int(m.group(1)) + at}", read_sql)  # type: ignore[misc]
            parts.append(f"ARRAY(SELECT ROW(q.*) FROM ({renumbered}) AS q)")
            offset += len(args)
        sql = "SELECT " + ", ".join(parts)
        if len(_fused) >= MAX_FUSED:
            del _fused[next(iter(_fused))]
        _fused[key] = sql
    return sql, [arg for _, args in queries for arg in args]


_fused: dict[tuple[str, ...], str] = {}


async def fetch_asyncpg(driver: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    """A compiled read's records from an asyncpg connection (asyncpg prepares it once per connection)."""
    return await driver.fetch(sql, *args)


def fetch_sqlite(dbapi_connection: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    """A compiled read's rows from a sqlite3 connection."""
    cursor = dbapi_connection.cursor()
    try:
        return cursor.execute(sql, args).fetchall()
    finally:
        cursor.close()
