"""The second pass of an import: upserts, in batches, in an order the foreign keys accept.

Every write is `INSERT ... ON CONFLICT (natural key) DO UPDATE ... WHERE something differs`,
sent with executemany. A row equal to the one on file is not touched at all, so importing the
same input twice changes nothing. The caller holds the one transaction around all of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, BindParameter, Table, Text, bindparam, cast, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from app.certificates.signing import KeyRing
from app.domain.enums import HolderKind
from app.imports.certificate import signed_content
from app.imports.check import Checked, Loc
from app.imports.kinds import KINDS
from app.imports.record import Holder, Record

BATCH = 2_000  # rows per executemany: large enough to be quick, small enough to stay lean
# A kind's batch is written only after the kinds it refers to, so a foreign key always finds
# its row. Authorities are written before the pass starts (see `Writer.start`).
DEPENDS_ON = {"enterprise": ("person",)}
# Kinds whose holder an update may move: the previous holder's score must be recomputed too.
MOVABLE = ("licence", "penalty")

KEYS: BindParameter[list[str]] = bindparam("keys", expanding=True)


class Writer:
    """Buffers good records by kind and writes them in batches."""

    def __init__(self, conn: AsyncConnection, checked: Checked) -> None:
        self.conn = conn
        self.checked = checked
        self.keys = KeyRing(conn)
        self.buffers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.held_back: list[dict[str, Any]] = []  # enterprises whose representative is not written yet
        self.touched: set[Holder] = set(checked.touched)
        self.statements = {kind: upsert_statement(conn.dialect.name, k.table, k.conflict) for kind, k in KINDS.items()}

    async def start(self) -> None:
        """Authorities first: everything else may name them, before or after their own line."""
        rows = self.checked.authority_rows
        for i in range(0, len(rows), BATCH):
            await self.conn.execute(self.statements["authority"], rows[i : i + BATCH])

    async def add(self, loc: Loc, record: Record) -> None:
        if record.kind == "authority":
            return  # written by `start`
        if record.kind == "certificate" and record.document is None:
            key = await self.keys.signing_key(record.row["issuer_code"])
            record.row["document"] = key.sign(signed_content(record.row))
        if loc in self.checked.deferred:
            self.held_back.append(record.row)
            return
        buffer = self.buffers[record.kind]
        buffer.append(record.row)
        if len(buffer) >= BATCH:
            await self.flush(record.kind)

    async def flush(self, kind: str) -> None:
        for dependency in DEPENDS_ON.get(kind, ()):
            await self.flush(dependency)
        rows = self.buffers.pop(kind, [])
        if not rows:
            return
        if kind in MOVABLE:
            await self._note_previous_holders(kind, rows)
        await self.conn.execute(self.statements[kind], rows)

    async def finish(self) -> None:
        for kind in KINDS:
            await self.flush(kind)
        if self.held_back:
            await self.conn.execute(self.statements["enterprise"], self.held_back)

    async def _note_previous_holders(self, kind: str, rows: list[dict[str, Any]]) -> None:
        table = KINDS[kind].table
        query = select(table.c.holder_kind, table.c.holder_id).where(table.c.decision_number.in_(KEYS))
        result = await self.conn.execute(query, {"keys": [r["decision_number"] for r in rows]})
        self.touched.update((HolderKind(k), i) for k, i in result)


def upsert_statement(dialect: str, table: Table, conflict: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT (natural key) DO UPDATE SET every other column, where one differs."""
    insert: Any = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    stmt = insert(table)
    update = [c.name for c in table.c if c.name not in conflict and c.name != "id"]  # id: the surrogate key
    differs = or_(*(_differs(table.c[name], stmt.excluded[name]) for name in update))
    return stmt.on_conflict_do_update(
        index_elements=list(conflict), set_={name: stmt.excluded[name] for name in update}, where=differs
    )


def _differs(current: ColumnElement[Any], new: ColumnElement[Any]) -> ColumnElement[bool]:
    if isinstance(current.type, JSON):
        # PostgreSQL's json has no equality operator; both sides serialise the same way.
        return cast(current, Text).is_distinct_from(cast(new, Text))
    return current.is_distinct_from(new)
