"""The batch writers' turn: imports and the recompute of every score write one at a time.

A batch writer holds every row it writes until it commits: an import its persons, enterprises
and decisions, both of them the subjects whose scores they recompute (app/scoring/recompute.py
locks them). Two of them at once, reaching the same rows in two orders, would each wait for a
row the other holds; PostgreSQL ends such a deadlock by failing one of them, whole. So each
takes this turn before it writes, and the second waits for the first to commit.

On PostgreSQL the turn is an advisory lock held to the transaction's end: the two-key form,
"XZBW" as a number (the issuers' turns are "XZSL" and an issuer, app/certificates/entries.py;
the audit log's lock has one key). SQLite writes one transaction at a time anyway.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

TRY_BATCH_TURN = "SELECT pg_try_advisory_xact_lock(1482310231, 0)"
BATCH_TURN = "SELECT pg_advisory_xact_lock(1482310231, 0)"


async def take_batch_turn(conn: AsyncConnection, waiting: Callable[[], None] | None = None) -> None:
    """The batch writers' turn, held to the end of `conn`'s transaction. `waiting` is called when
    another batch writer has it, before waiting for it to commit."""
    if conn.dialect.name != "postgresql":
        return
    if not (await conn.exec_driver_sql(TRY_BATCH_TURN)).scalar():
        if waiting is not None:
            waiting()
        await conn.exec_driver_sql(BATCH_TURN)
