"""The chain and the tree extended by PostgreSQL: a batch given its place by the database, in the
statement that inserts it.

One statement, outside any transaction (its own implicit one), calls xz_audit_chain (made by
the migrations), which takes the advisory lock, reads the head and the tree's frontier, and
returns each entry's seq, prevHash and hash, having inserted the tree's nodes; the same
statement inserts the entries and their access records (app/db/compiled.py `CompiledChained`).
One round trip, and the lock is held only while the database does that work, never across a
round trip: with several workers each used to read the head and write under the lock, and they
queued on each other's round trips (two workers served half of what one did). The entries'
canonical forms are made in the service (`chain.canonical_parts`), and so is the signature of
a checkpoint due (the store's): the key never reaches the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

from app.audit.chain import canonical_parts
from app.audit.rows import CHAIN_COLUMNS, INSERT_ACCESSES, INSERT_ENTRIES, UNCHAINED, Item
from app.db.write import Writer

# The function's arguments: the lock's key, the entries' canonical forms in three parts
# (chain.canonical_parts), and how often a checkpoint is due. Its rows: each entry's n in the
# batch, seq, prev_hash and hash, and the tree's root where a checkpoint is due.
CHAIN_CALL = "xz_audit_chain($1, $2::bytea[], $3::bytea[], $4::bytea[], $5)"
# The columns the INSERTs take from its rows. Each entry's seq, and each access record's
# audit_seq, is sent as its entry's n in the batch.
ENTRY_TAKES = {column: column for column in CHAIN_COLUMNS}
ACCESS_TAKES = {"audit_seq": "seq"}
TREE_LAGS = "XZ001"  # the function's SQLSTATE when the tree lacks a node of the head's frontier
# PostgreSQL's SQLSTATE for a function that does not exist: a database migrated only to the
# release before (this code started before `xinzheng migrate`).
NO_FUNCTION = "42883"


class Unavailable(Exception):
    """The database did not extend the chain, and wrote nothing: the stored tree lags the log, or
    it has no xz_audit_chain yet (`missing`). The service's own way (app/audit/extend.py) can."""

    def __init__(self, missing: bool) -> None:
        super().__init__("the database has no xz_audit_chain" if missing else "the audit tree lags the log")
        self.missing = missing


async def append(writer: Writer, lock_key: int, checkpoint_every: int, items: Sequence[Item]) -> Sequence[Any] | None:
    """The batch appended by the database; the function's rows, in the entries' order. None, with
    nothing written, where the writer cannot (another driver than asyncpg). Raises Unavailable."""
    first, second, third = zip(*(canonical_parts(fields) for fields, _ in items), strict=True)
    entries = [
        {"seq": n, **{column: fields[name] for name, column in UNCHAINED.items()}} for n, (fields, _) in enumerate(items, 1)
    ]
    accesses = [
        {**a, "at": fields["at"], "audit_seq": n} for n, (fields, subject_accesses) in enumerate(items, 1)
        for a in subject_accesses
    ]  # fmt: skip
    try:
        return await writer.chained(
            CHAIN_CALL,
            [lock_key, list(first), list(second), list(third), checkpoint_every],
            [(INSERT_ENTRIES, entries, ENTRY_TAKES, "seq"), (INSERT_ACCESSES, accesses, ACCESS_TAKES, "audit_seq")],
        )
    except DBAPIError as e:
        state = getattr(e.orig, "sqlstate", None)  # asyncpg's own error
        if state in (TREE_LAGS, NO_FUNCTION):
            raise Unavailable(missing=state == NO_FUNCTION) from e
        raise
