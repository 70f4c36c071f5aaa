"""Reads compiled once and run straight on the driver, without SQLAlchemy's per-statement work.

Profiled, `Connection.execute` was about a quarter of a credit query's CPU: the cache key, the
execution context, the IN lists expanded again on every call, the result set-up. Yet the
loaders' statements are module-level constants, the same object on every call, so all of that
can be worked out once per statement and database: the SQL, the order of its parameters and
their bind processors, the result processors. SQLAlchemy's compiler still writes every
statement, and rows are real `Row`s, built with the processors SQLAlchemy would use.

A statement is compiled here the second time it is seen. One built per call (a search, a page
of the audit log) is seen once, runs the ordinary way through SQLAlchemy's own compiled cache,
and leaves nothing here; the cache holds at most MAX_STATEMENTS.

Expanding IN lists (`bindparam(..., expanding=True)`):
- SQLite: one SQL text per combination of list lengths, rendered by SQLAlchemy and kept
  (at most MAX_LENGTHS per statement); the items are bound one by one. A list of more than
  PAD_FROM items is padded to a power of two, so that 5 to 8 keys share one text, 9 to 16
  another: sqlite3 keeps 128 prepared statements per connection, and one request's lists of
  1 to 40 keys, one text per length, did not fit (measured: 20% more CPU, preparing again).
- PostgreSQL: `col = ANY($n::VARCHAR[])`, one text whatever the lengths, so asyncpg prepares
  each statement once per connection instead of once per length (measured: cheaper, see
  `Reads`). The array is cast without a length: a cast to VARCHAR(18)[] would cut longer
  keys short and match the wrong rows (SQLAlchemy drops the length on scalar casts for the
  same reason).
"""

from __future__ import annotations

import enum
import functools
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

from sqlalchemy import ARRAY, BinaryExpression, Connection, Row, Select, String, any_, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ClauseElement
from sqlalchemy.sql.sqltypes import TupleType

MAX_STATEMENTS = 256
MAX_LENGTHS = 64
PAD_FROM = 4

Processor = Callable[[Any], Any]


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


class CompiledRead:
    """One SELECT compiled for one dialect: its SQL, how to bind its parameters, how to make its rows."""

    def __init__(
        self,
        statement: Select[Any],
        compiled: SQLCompiler,
        slots: Sequence[tuple[str, Any, Processor | None, Kind]],
        renamed: Sequence[str],
        result: SQLCompiler,
        dialect: Dialect,
    ) -> None:
        self.statement = statement  # kept alive: its id is the key of the cache
        self._compiled = compiled
        self._slots = tuple(slots)
        self._required = frozenset(key for key, default, _, _ in slots if default is _REQUIRED)
        self._renamed = frozenset(renamed)  # compiled names that differ from their keys
        self._expanded = tuple(dict.fromkeys(key for key, _, _, kind in slots if kind is Kind.EXPANDED))
        self._sql: str | None = None if self._expanded else compiled.string
        self._by_lengths: dict[tuple[int, ...], str] = {}
        self._dialect = dialect
        columns = result._result_columns
        self._types = [c.type for c in columns]
        # The keys a Row answers to: the column's name and the objects SQLAlchemy maps to it
        # (the Column itself, its label), as on the rows of an ordinary execution.
        self._metadata = SimpleResultMetaData([c.keyname for c in columns], extra=[c.objects for c in columns])
        self.make_row: Callable[[Sequence[Any]], Row[Any]] | None = None

    @property
    def width(self) -> int:
        return len(self._types)

    def describe(self, coltypes: Sequence[Any]) -> None:
        """Set the result processors, from the driver's type of each column (as SQLAlchemy does)."""
        processors = [t._cached_result_processor(self._dialect, coltype) for t, coltype in zip(self._types, coltypes)]
        metadata = self._metadata
        self.make_row = functools.partial(
            Row, metadata, processors if any(processors) else None, metadata._key_to_index
        )

    def bind(self, params: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
        """The SQL and its positional arguments, or None if a parameter is missing.

        A value that its type refuses raises here (a bind processor's error); the caller then
        runs the statement the ordinary way, which raises it as SQLAlchemy always has.
        """
        if not self._required.issubset(params) or (self._renamed and not self._renamed.isdisjoint(params)):
            return None
        args: list[Any] = []
        for key, default, process, kind in self._slots:
            value = params.get(key, default)
            if kind is Kind.SCALAR:
                args.append(value if process is None else process(value))
            elif kind is Kind.EXPANDED:
                args.extend(_pad(list(value) if process is None else [process(v) for v in value]))
            else:
                args.append(list(value) if process is None else [process(v) for v in value])
        sql = self._sql
        if sql is None:
            lengths = tuple(_padded(len(params[key])) for key in self._expanded)
            sql = self._by_lengths.get(lengths)
            if sql is None:
                sql = self._expand(params, lengths)
                if sql is None:
                    return None
        return sql, args

    def _expand(self, params: Mapping[str, Any], lengths: tuple[int, ...]) -> str | None:
        """The SQL for these list lengths, rendered by SQLAlchemy, and kept."""
        state = self._compiled.construct_expanded_state({**params, **{k: _pad(list(params[k])) for k in self._expanded}})
        # The items must come in the order the slots give them: each list's, in its place.
        expected: list[str] = []
        for key, _, _, kind in self._slots:
            if kind is Kind.EXPANDED:
                expected.extend(state.parameter_expansion.get(key, ()))
            else:
                expected.append(key)
        if list(state.positiontup or ()) != expected:
            return None
        if len(self._by_lengths) >= MAX_LENGTHS:
            del self._by_lengths[next(iter(self._by_lengths))]
        self._by_lengths[lengths] = state.statement
        return state.statement

    def rows(self, raw: Iterable[Sequence[Any]]) -> list[Row[Any]]:
        assert self.make_row is not None
        return list(map(self.make_row, raw))


class Reads:
    """The compiled reads of one database (one dialect), by statement.

    Args:
        dialect: the engine's dialect (SQLite through sqlite3, PostgreSQL through asyncpg).
        arrays: IN lists as `= ANY(array)`; by default on PostgreSQL. Measured on the loaders'
            statements through asyncpg, one connection running them in turn as a request does:
            with one key per list both ways cost the same; with 1 to 20 keys, per-length texts
            took 1.8 times the CPU per round (1,740 against 980 us) and twice the time, because
            asyncpg keeps 100 prepared statements per connection and prepares the others again.
    """

    def __init__(self, dialect: Dialect, *, arrays: bool | None = None) -> None:
        self.dialect = dialect
        self.arrays = dialect.name == "postgresql" if arrays is None else arrays
        self._compiled: dict[int, CompiledRead] = {}
        self._ordinary: dict[int, Any] = {}  # seen twice, not compiled here: kept alive for their ids
        self._seen: weakref.WeakValueDictionary[int, Select[Any]] = weakref.WeakValueDictionary()

    def __contains__(self, statement: Any) -> bool:
        """The statement is compiled here."""
        return id(statement) in self._compiled

    def __len__(self) -> int:
        """Statements kept: compiled, or seen twice and left to SQLAlchemy."""
        return len(self._compiled) + len(self._ordinary)

    def get(self, statement: Any) -> CompiledRead | None:
        """The compiled read of this statement, or None: run it the ordinary way."""
        read = self._compiled.get(id(statement))
        if read is not None:
            return read
        key = id(statement)
        if key in self._ordinary or not isinstance(statement, Select):
            return None
        if self._seen.get(key) is not statement:
            self._seen[key] = statement
            return None
        del self._seen[key]
        if len(self) >= MAX_STATEMENTS:
            return None
        read = compile_read(statement, self.dialect, arrays=self.arrays)
        if read is None:
            self._ordinary[key] = statement
        else:
            self._compiled[key] = read
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


def compile_read(statement: Select[Any], dialect: Dialect, *, arrays: bool) -> CompiledRead | None:
    """Compile a SELECT for the fast path, or None where it needs SQLAlchemy's execution."""
    if statement.get_execution_options():
        return None
    result = statement.compile(dialect=dialect)
    compiled = result
    array_items: dict[str, Processor | None] = {}
    if arrays:
        rewritten, array_items = _in_lists_as_arrays(statement, dialect)
        if array_items:
            compiled = rewritten.compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.escaped_bind_names or not compiled.positional:
        return None
    if any(not b.expanding for b in compiled.post_compile_params):
        return None
    if not result._result_columns or _ambiguous(result):
        return None
    processors = compiled._bind_processors
    slots: list[tuple[str, Any, Processor | None, Kind]] = []
    renamed: list[str] = []
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        if bind.callable is not None:
            return None
        default = _REQUIRED if bind.required else bind.value
        # Given by its key (a literal in the statement has an anonymous key: nobody gives it,
        # and its own value is used). SQLAlchemy also takes a value by the compiled name.
        if bind.key != name and default is _REQUIRED:
            return None
        if name in array_items:
            slots.append((bind.key, default, array_items[name], Kind.ARRAY))
        elif bind.expanding:
            slots.append((bind.key, default, processors.get(name), Kind.EXPANDED))
        else:
            slots.append((bind.key, default, processors.get(name), Kind.SCALAR))
        if bind.key != name:
            renamed.append(name)
    read = CompiledRead(statement, compiled, slots, renamed, result, dialect)
    if dialect.name == "sqlite":
        read.describe([None] * read.width)  # sqlite3 reports no column types
    return read


def _ambiguous(compiled: SQLCompiler) -> bool:
    """Two result columns answer to the same key: SQLAlchemy's rows refuse it, so leave it to them."""
    owner: dict[Any, int] = {}
    for index, column in enumerate(compiled._result_columns):
        for key in (column.keyname, *column.objects):
            if owner.setdefault(key, index) != index:
                return True
    return False


def _in_lists_as_arrays(statement: Select[Any], dialect: Dialect) -> tuple[Select[Any], dict[str, Processor | None]]:
    """`col IN (:keys)` with an expanding parameter becomes `col = ANY(:keys)`, an array.

    Returns the new statement and, per rewritten parameter, the bind processor of its items.
    """
    replaced: dict[BindParameter[Any], BindParameter[Any]] = {}
    items: dict[str, Processor | None] = {}

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
            cast_as = String() if item_type._type_affinity is String else item_type
            array = replaced[original] = bindparam(original.key, type_=ARRAY(cast_as))
            items[original.key] = item_type._cached_bind_processor(dialect)
        return element.left == any_(array)

    return visitors.replacement_traverse(statement, {}, replace), items


def observed(conn: Connection) -> bool:
    """Someone listens to this engine's statements or logs them: then every statement goes through
    SQLAlchemy's execution, where they see it (the fast path fires no cursor events)."""
    dispatch = conn.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute) or conn._echo


async def fetch_asyncpg(driver: Any, read: CompiledRead, sql: str, args: Sequence[Any]) -> list[Row[Any]]:
    """A compiled read run on an asyncpg connection. Its first run prepares it, to learn the types
    of its columns (asyncpg's), which choose the result processors."""
    if read.make_row is None:
        prepared = await driver.prepare(sql)
        read.describe([attribute.type.oid for attribute in prepared.get_attributes()])
        records = await prepared.fetch(*args)
    else:
        records = await driver.fetch(sql, *args)  # asyncpg prepares it once per connection
    return read.rows(records)


def raise_sqlite_error(conn: Connection, error: BaseException, sql: str, args: Sequence[Any], cursor: Any) -> NoReturn:
    """Raise a driver error as the ordinary path would: wrapped by SQLAlchemy, the connection
    invalidated if it was lost, the engine's handle_error listeners called."""
    conn._handle_dbapi_exception(error, sql, tuple(args), cursor, None)


def raise_asyncpg_error(conn: Connection, error: Exception, sql: str, args: Sequence[Any]) -> NoReturn:
    """The same for asyncpg (run inside `AsyncConnection.run_sync`, where invalidating a lost
    connection may await): first asyncpg's exception as the dialect's DBAPI exception, as
    SQLAlchemy's asyncpg adapter raises it."""
    try:
        conn.connection.dbapi_connection._handle_exception(error)  # type: ignore[union-attr]
    except Exception as dbapi_error:
        conn._handle_dbapi_exception(dbapi_error, sql, tuple(args), None, None)
    raise AssertionError("unreachable: the adapter re-raises every error")  # pragma: no cover
