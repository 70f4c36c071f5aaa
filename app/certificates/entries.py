"""Status-list entries: each certificate gets a random free index in its issuer's open list.

An issuer's lists are numbered from 1. New entries go to its highest list until that holds
FILL_LIMIT entries (half: a random free index is then found in two tries on average, and the
list still hides each certificate among many), then to a new list. The database's unique
(issuer_code, status_list, status_index) is the last word: two transactions that picked the
same index cannot both commit.

An issuer's lists are written by one transaction at a time: the first to read them takes the
issuer's turn (on PostgreSQL an advisory lock, held to its commit; SQLite writes one transaction
at a time anyway), so that what it read stays true while it picks. Without it, an issuance
committed while an import was writing the same issuer's certificates could take an entry the
import then picked too, and the whole import failed at its end. An issuance waits for such an
import; a second import of the same issuer's certificates waits for the first. An import takes
all its issuers' turns as it starts writing, in the order of their codes (`take_turns`), so
that two imports never each hold a turn the other waits for.

The bits themselves are never stored apart from the certificates: a list is built from its
certificates' statuses when it is published (app/certificates/publish.py), so a status change
and its status-list bit are one write, committed together by construction.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.certificates.signing import status_reference
from app.certificates.statuslist import LIST_SIZE
from app.db.models import Certificate

FILL_LIMIT = LIST_SIZE // 2
# Certificates an import places from which reading each issuer's open list whole is the quicker way.
READ_WHOLE_FROM = 2_000
# An issuer's turn: pg_advisory_xact_lock's two-key form (its keys never meet the audit log's
# one-key lock), "XZSL" as a number and the issuer's code hashed by PostgreSQL.
ISSUER_TURN = text("SELECT pg_advisory_xact_lock(1482314572, hashtext(:issuer))")
certificates: Table = Certificate.__table__


class Taken:
    """The indexes taken in one list: a bitmap (16 KB a list), so that an import of millions of
    certificates holds no set of them."""

    def __init__(self) -> None:
        self.bits = bytearray(LIST_SIZE // 8)
        self.count = 0

    def __contains__(self, index: int) -> bool:
        return bool(self.bits[index >> 3] & (1 << (index & 7)))

    def add(self, index: int, *, count: bool = True) -> None:
        """`count`: whether it adds to `count` (not when it is counted there already)."""
        if index not in self:
            self.bits[index >> 3] |= 1 << (index & 7)
            self.count += count


async def take_turn(conn: AsyncConnection, issuer_code: str) -> None:
    """The issuer's turn, held to the transaction's end (PostgreSQL; SQLite has one writer)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(ISSUER_TURN, {"issuer": issuer_code})


async def take_one(conn: AsyncConnection, issuer_code: str) -> tuple[int, int]:
    """One free (list id, index) of this issuer's, at random, for one certificate (an issuance),
    in the issuer's turn (taken here if the caller has not). Each index tried is looked up by the
    unique index, two tries on average, rather than the open list read whole as a large import
    does: that is up to FILL_LIMIT rows for each certificate issued."""
    return await Allocator(conn, expected=1).take(issuer_code)


class Allocator:
    """Hands out entries inside one transaction, remembering what it took (an import takes many).

    For many certificates (`expected` at least READ_WHOLE_FROM) it reads each issuer's open list
    whole, once, and picks from memory. For a few it reads only the list's size, then looks
    each index it tries up by the unique index, as an issuance does (`take_one`): a seven-line
    import into a city of 100,000 persons read the police's 53,743 entries for two certificates.
    `before_reading` is awaited before each such look-up (the importer lets its statement in
    flight end: one statement at a time on the connection)."""

    def __init__(
        self,
        conn: AsyncConnection,
        *,
        expected: int = READ_WHOLE_FROM,
        before_reading: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.conn = conn
        self.whole = expected >= READ_WHOLE_FROM
        self.before_reading = before_reading
        self._open: dict[str, tuple[int, Taken]] = {}  # issuer -> (list id, indexes taken or known taken)

    async def _load(self, issuer_code: str) -> tuple[int, Taken]:
        if issuer_code not in self._open:
            await take_turn(self.conn, issuer_code)
            issuer = certificates.c.issuer_code == issuer_code
            list_id = (await self.conn.execute(select(func.max(certificates.c.status_list)).where(issuer))).scalar_one() or 1
            in_list = (issuer, certificates.c.status_list == list_id)
            taken = Taken()
            if self.whole:
                for index in (await self.conn.execute(select(certificates.c.status_index).where(*in_list))).scalars():
                    taken.add(index)
            else:
                taken.count = (await self.conn.execute(select(func.count()).select_from(certificates).where(*in_list))).scalar_one()
            self._open[issuer_code] = (list_id, taken)
        return self._open[issuer_code]

    async def take_turns(self, issuer_codes: set[str]) -> None:
        """These issuers' turns, all at once and in one order (their codes'), before any is
        needed: two imports taking them as their batches came, one issuer's then another's and
        the other import the other way round, each waited for the other's (PostgreSQL found the
        deadlock and one of them failed whole)."""
        for code in sorted(issuer_codes):
            await take_turn(self.conn, code)

    async def load(self, issuer_codes: set[str]) -> None:
        """Read what these issuers' open lists hold now (an import does, before a batch is in flight)."""
        for code in sorted(issuer_codes):
            await self._load(code)

    async def take(self, issuer_code: str) -> tuple[int, int]:
        """A free (list id, index) of this issuer's, at random (reading its open list first, if not yet read)."""
        list_id, taken = await self._load(issuer_code)
        if taken.count >= FILL_LIMIT:
            list_id, taken = list_id + 1, Taken()
            self._open[issuer_code] = (list_id, taken)
        while True:
            index = secrets.randbelow(LIST_SIZE)
            if index in taken:
                continue
            if not self.whole and await self._on_file(issuer_code, list_id, index):
                taken.add(index, count=False)  # counted already: not tried again
                continue
            taken.add(index)
            return list_id, index

    async def _on_file(self, issuer_code: str, list_id: int, index: int) -> bool:
        if self.before_reading is not None:
            await self.before_reading()
        query = select(certificates.c.id).where(
            certificates.c.issuer_code == issuer_code,
            certificates.c.status_list == list_id,
            certificates.c.status_index == index,
        )
        return (await self.conn.execute(query)).first() is not None

    def claim(self, issuer_code: str, list_id: int, index: int) -> None:
        """An entry a document already names (an imported, externally signed one)."""
        opened = self._open.get(issuer_code)
        if opened and opened[0] == list_id:
            opened[1].add(index)


def entry_of(payload: dict[str, Any], issuer_code: str) -> tuple[int, int] | None:
    """The (list id, index) a document's `status` claim names in its issuer's lists, if any."""
    reference = payload.get("status")
    try:
        index = reference["status_list"]["idx"]  # type: ignore[index]
        uri = reference["status_list"]["uri"]  # type: ignore[index]
    except (TypeError, KeyError):
        return None
    prefix = f"/status-lists/{issuer_code}/"
    if not (isinstance(index, int) and isinstance(uri, str) and uri.startswith(prefix)):
        return None
    list_id = uri[len(prefix):]
    if not list_id.isdigit() or not 0 <= index < LIST_SIZE:
        return None
    if status_reference(int(list_id), index, issuer_code) != reference:
        return None
    return int(list_id), index
