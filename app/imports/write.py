"""The second pass of an import: upserts, in batches, in an order the foreign keys accept.

Every write is `INSERT ... ON CONFLICT (natural key) DO UPDATE ... WHERE something differs`
(`upsert_statement`), sent by `Bulk` straight to the driver:
executemany on SQLite, COPY into a temporary table then one INSERT ... SELECT on PostgreSQL.
A row equal to the one on file is not touched at all, so importing the same input twice
changes nothing. The caller holds the one transaction around all of it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import JSON, Column, MetaData, Table, Text, cast, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from app.certificates.entries import Allocator
from app.certificates.keys import DEV_KEYS, KeyRing, KeyStore
from app.certificates.signing import IssuerKey
from app.db.among import among
from app.db.turns import take_batch_turn
from app.domain.enums import HolderKind
from app.imports.certificate import signed_content
from app.imports.check import Checked, Loc
from app.imports.kinds import KINDS
from app.imports.record import Holder
from app.imports.signer import Signer

BATCH = 2_000  # rows per executemany: large enough to be quick, small enough to stay lean
YIELD_EVERY = 100  # records between turns of the event loop, which sends and receives the batch in flight
# A kind's batch is written only after the kinds it refers to, so a foreign key always finds
# its row. Authorities are written before the pass starts (see `Writer.start`).
DEPENDS_ON = {"enterprise": ("person",)}
# Kinds whose holder an update may move: the previous holder's score must be recomputed too.
MOVABLE = ("licence", "penalty")
# Below this many certificates an import keeps their identifiers: their status history is then
# looked at alone, not every certificate on file (`record_imported_statuses`).
FEW_CERTIFICATES = 20_000

# SQLite's page cache for an import, in KiB. Its default (2 MB) is far smaller than the indexes
# a large import updates in random key order, so each batch evicted the pages the next one
# needed, and the write pass slowed per row as the city grew (bench/README.md, "Figures behind
# the code's choices").
SQLITE_CACHE_KIB = 64 * 1024  # counts in the import's memory: a million persons must stay under 500 MB


class Writer:
    """Buffers good records by kind and writes them in batches.

    A batch is sent and left to the database while the next one is read, parsed and signed:
    the database's time and ours overlap. Only one statement is ever in flight on the
    connection; anything else that uses it first waits for that one (`_settle`). Certificates
    to sign go in batches to the `Signer` and are sent when signed: nothing refers to a
    certificate, so they may reach the database after rows that follow them.
    """

    def __init__(self, conn: AsyncConnection, checked: Checked, keys: KeyStore = DEV_KEYS) -> None:
        self.conn = conn
        self.checked = checked
        self.keys = KeyRing(conn, keys)
        certificates = checked.counts["certificate"]
        self.entries = Allocator(conn, expected=certificates, before_reading=self._settle)
        # A small import's certificates, for their status history (app/certificates/status.py).
        self.certificate_identifiers: list[str] | None = [] if certificates < FEW_CERTIFICATES else None
        self.certificates: list[dict[str, Any]] = []  # waiting for their status-list entries
        self.buffers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.held_back: list[dict[str, Any]] = []  # enterprises whose representative is not written yet
        self.moved: set[Holder] = set()  # previous holders of decisions given to another
        self.statements = {kind: Bulk(conn.dialect, k.table, k.conflict) for kind, k in KINDS.items()}
        self._in_flight: asyncio.Future[Any] | None = None
        self._added = 0
        self._sqlite_cache: int | None = None  # the connection's own cache size, given back at the end
        self.signer = Signer(certificates)
        self.issuer_keys: dict[str, IssuerKey] = {}
        self.to_sign: list[dict[str, Any]] = []
        self.signing: deque[tuple[asyncio.Future[list[str]], list[dict[str, Any]]]] = deque()

    async def start(self, waiting: Callable[[], None] | None = None) -> None:
        """The batch writers' turn (app/db/turns.py: imports write one at a time), then the
        certificates' issuers' turns (app/certificates/entries.py), then the authorities:
        everything else may name them, before or after their own line. `waiting` is called when
        another import (or recompute of every score) is writing, before waiting for it to end."""
        await take_batch_turn(self.conn, waiting)
        if self.conn.dialect.name == "sqlite":
            # Per connection, and allowed inside a transaction; `close` sets it back.
            self._sqlite_cache = (await self.conn.exec_driver_sql("PRAGMA cache_size")).scalar_one()
            await self.conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        await self.entries.take_turns(self.checked.issuers)
        rows = self.checked.authority_rows
        for i in range(0, len(rows), BATCH):
            await self._send("authority", rows[i : i + BATCH])
        await self._settle()

    async def add(self, loc: Loc, kind: str, row: dict[str, Any]) -> None:
        """One good line's row, of its kind."""
        self._added += 1
        if not self._added % YIELD_EVERY:
            await asyncio.sleep(0)  # let the statement in flight make progress
        if kind == "authority":
            return  # written by `start`
        if kind == "certificate":
            self.certificates.append(row)
            if self.certificate_identifiers is not None:
                self.certificate_identifiers.append(row["identifier"])
            if len(self.certificates) >= BATCH:
                await self._prepare_certificates()
            return
        if loc in self.checked.deferred:
            self.held_back.append(row)
            return
        buffer = self.buffers[kind]
        buffer.append(row)
        if len(buffer) >= BATCH:
            await self.flush(kind)

    async def flush(self, kind: str) -> None:
        for dependency in DEPENDS_ON.get(kind, ()):
            await self.flush(dependency)
        rows = self.buffers.pop(kind, [])
        if not rows:
            return
        if kind in MOVABLE:
            await self._note_previous_holders(kind, rows)
        await self._send(kind, rows)

    async def _prepare_certificates(self) -> None:
        """Give each certificate its status-list entry (the one on file, if it is there), then
        send it to be signed (when it came without a document) or written.

        A certificate on file keeps its entry, and its document when that is still the content
        signed: importing the same input twice changes nothing, whatever the key's algorithm."""
        rows, self.certificates = self.certificates, []
        if not rows:
            return
        await self._settle()
        table = KINDS["certificate"].table
        query = select(table.c.identifier, table.c.status_list, table.c.status_index, table.c.document, table.c.kid)
        on_file = {
            r.identifier: r
            for r in await self.conn.execute(query.where(self._among(table.c.identifier)), {"keys": [r["identifier"] for r in rows]})
        }
        # Read now, while nothing is in flight: once a batch is sent, the connection is busy.
        await self.entries.load({row["issuer_code"] for row in rows})
        for row in rows:
            issuer, known = row["issuer_code"], on_file.get(row["identifier"])
            if row["status_list"] is not None:
                self.entries.claim(issuer, row["status_list"], row["status_index"])
            elif known is not None and known.status_list is not None:
                row["status_list"], row["status_index"] = known.status_list, known.status_index
            else:
                row["status_list"], row["status_index"] = await self.entries.take(issuer)
            if row["document"] is not None:
                self.buffers["certificate"].append(row)
            elif known is not None and _signs(known.document, signed_content(row)):
                row["document"], row["kid"] = known.document, known.kid
                self.buffers["certificate"].append(row)
            else:
                if issuer not in self.issuer_keys:
                    await self._settle()  # the statement in flight first: one at a time on the connection
                    self.issuer_keys[issuer] = await self.keys.signing_key(issuer)
                row["kid"] = self.issuer_keys[issuer].kid
                self.to_sign.append(row)
                if len(self.to_sign) >= BATCH:
                    await self._sign_batch()
        if len(self.buffers["certificate"]) >= BATCH:
            await self.flush("certificate")

    async def finish(self) -> None:
        """Write what is buffered, and wait until the database has it all."""
        await self._prepare_certificates()
        for kind in KINDS:
            await self.flush(kind)
        if self.held_back:
            await self._send("enterprise", self.held_back)
        await self._sign_batch()
        await self._send_signed(wait=True)
        await self._settle()

    async def _sign_batch(self) -> None:
        if self.to_sign:
            rows, self.to_sign = self.to_sign, []
            self.signing.append((self.signer.sign(self.issuer_keys, rows), rows))
        # Enough batches at the signers to keep them busy; more would only hold rows in memory.
        await self._send_signed(wait=False, keep=2 * self.signer.workers)

    async def _send_signed(self, *, wait: bool, keep: int = 0) -> None:
        """Send the signed batches, in order: those done, and (`wait`) or while more than `keep` remain."""
        while self.signing and (wait or self.signing[0][0].done() or len(self.signing) > keep):
            future, rows = self.signing.popleft()
            for row, document in zip(rows, await future, strict=True):
                row["document"] = document
            await self._send("certificate", rows)

    async def close(self) -> None:
        """At the end, whatever the outcome. On failure: let the statement in flight end (its
        outcome no longer matters), so that the connection is free for the rollback. Cancelling
        it instead could leave the driver half-way through a protocol exchange."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            with contextlib.suppress(Exception):
                await in_flight
        self.signer.close()
        if self._sqlite_cache is not None:
            cache, self._sqlite_cache = self._sqlite_cache, None
            with contextlib.suppress(Exception):  # a broken connection is discarded anyway
                await self.conn.exec_driver_sql(f"PRAGMA cache_size={int(cache)}")

    async def _send(self, kind: str, rows: list[dict[str, Any]]) -> None:
        await self._settle()  # the foreign keys of this batch may need the one before
        self._in_flight = asyncio.ensure_future(self.statements[kind].write(self.conn, rows))

    async def _settle(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    def _among(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        return among(self.conn.dialect.name, column)

    async def _note_previous_holders(self, kind: str, rows: list[dict[str, Any]]) -> None:
        await self._settle()
        table = KINDS[kind].table
        query = select(table.c.holder_kind, table.c.holder_id).where(self._among(table.c.decision_number))
        result = await self.conn.execute(query, {"keys": [r["decision_number"] for r in rows]})
        self.moved.update((HolderKind(k), i) for k, i in result)


def _signs(document: str | None, content: dict[str, Any]) -> bool:
    """Whether a document on file (signed here: its signature is not in question) is over this content."""
    if not document:
        return False
    try:
        segment = document.split(".")[1]
        return bool(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))) == json.loads(
            json.dumps(content, default=str)
        ))
    except (IndexError, ValueError):
        return False


class Bulk:
    """One kind's upsert (`upsert_statement`) as the driver takes it: its SQL compiled once, each
    row a list of database values made by the columns' own types (SQLAlchemy's bind processors).

    SQLite: the driver's executemany. PostgreSQL: the batch is copied (COPY, asyncpg's
    `copy_records_to_table`) into a temporary table of the import's own, dropped at commit,
    and upserted from there in one statement. Either way the same statement decides what
    changes: a row equal to the one on file is not touched.
    """

    def __init__(self, dialect: Dialect, table: Table, conflict: Sequence[str]) -> None:
        columns = written_columns(table, conflict)
        self.copy = dialect.name == "postgresql"
        self.staging = Table(f"xz_import_{table.name}", MetaData(), *(Column(c.name, c.type) for c in columns))
        self.staged = False
        quote = dialect.identifier_preparer.quote
        self.create_staging = (
            f"CREATE TEMPORARY TABLE {quote(self.staging.name)} ON COMMIT DROP AS "
            f"SELECT {', '.join(quote(c.name) for c in columns)} FROM {quote(table.name)} WITH NO DATA"
        )
        self.empty_staging = f"TRUNCATE {quote(self.staging.name)}"
        if self.copy:
            stmt = upsert_statement(dialect.name, table, conflict, rows_from=select(*self.staging.c))
        else:
            stmt = upsert_statement(dialect.name, table, conflict)
        compiled = stmt.compile(dialect=dialect, column_keys=[c.name for c in columns])
        self.sql = str(compiled)
        # The values in the order the statement (VALUES) or the copy (the staging table) takes them.
        self.columns = [c.name for c in columns] if self.copy else list(compiled.positiontup or ())
        types = {c.name: c.type for c in columns}
        self.processors = [(name, types[name].dialect_impl(dialect).bind_processor(dialect)) for name in self.columns]

    def values(self, row: dict[str, Any]) -> list[Any]:
        # A list, not a tuple: CPython keeps thousands of freed tuples of each size for reuse.
        return [row[name] if p is None else p(row[name]) for name, p in self.processors]

    async def write(self, conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
        values = [self.values(row) for row in rows]
        raw: Any = (await conn.get_raw_connection()).driver_connection  # aiosqlite's or asyncpg's
        with _refusals(conn.dialect.name, self.sql):
            if not self.copy:
                await raw.executemany(self.sql, values)
                return
            if not self.staged:
                await raw.execute(self.create_staging)
                self.staged = True
            await raw.copy_records_to_table(self.staging.name, records=values, columns=self.columns)
            await raw.execute(self.sql)
            await raw.execute(self.empty_staging)


@contextlib.contextmanager
def _refusals(dialect: str, statement: str) -> Iterator[None]:
    """The driver's own errors, as SQLAlchemy raises them from a statement it sends: DBAPIError."""
    if dialect == "sqlite":
        import sqlite3

        errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    else:
        import asyncpg

        errors = (asyncpg.PostgresError, asyncpg.InterfaceError)
    try:
        yield
    except errors as e:
        raise DBAPIError(statement, None, e) from e


def upsert_statement(dialect: str, table: Table, conflict: Sequence[str], *, rows_from: Any = None) -> Any:
    """INSERT ... ON CONFLICT (natural key) DO UPDATE SET every other column, where one differs.

    `rows_from`: a SELECT of the `written_columns`, to insert its rows (else VALUES)."""
    insert: Any = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    stmt = insert(table)
    if rows_from is not None:
        stmt = stmt.from_select([c.name for c in written_columns(table, conflict)], rows_from)
    update = [c.name for c in table.c if c.name not in conflict and c.name != "id"]  # id: the surrogate key
    differs = or_(*(_differs(table.c[name], stmt.excluded[name]) for name in update))
    return stmt.on_conflict_do_update(
        index_elements=list(conflict), set_={name: stmt.excluded[name] for name in update}, where=differs
    )


def insert_new_statement(dialect: str, table: Table, conflict: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT (natural key) DO NOTHING: a row whose key is on file, or is being
    written by a transaction not yet committed (waited for), is left as it is."""
    insert: Any = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict))


def written_columns(table: Table, conflict: Sequence[str]) -> list[Column[Any]]:
    """The columns an import row gives: all but a surrogate `id` (a consent's id is its natural key)."""
    return [c for c in table.c if c.name != "id" or c.name in conflict]


def _differs(current: ColumnElement[Any], new: ColumnElement[Any]) -> ColumnElement[bool]:
    if isinstance(current.type, JSON):
        # PostgreSQL's json has no equality operator; both sides serialise the same way.
        return cast(current, Text).is_distinct_from(cast(new, Text))
    return current.is_distinct_from(new)
