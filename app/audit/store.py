"""The audit log's one writer, and the mapping between its rows and its entries.

Appends form a single chain however many workers write: within a process they take turns
under a lock; across processes PostgreSQL serialises them with an advisory transaction
lock, and `seq` being the primary key means two writers can never both extend the same head
(the loser tries again on the new head). An entry commits with the transaction it is given
(a mutation's), so the two commit together or not at all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Row, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.audit import keys
from app.audit.chain import GENESIS, entry_hash, timestamp
from app.db.models import AccessRecord, AuditCheckpoint, AuditEntry

audit_log = AuditEntry.__table__
checkpoints = AuditCheckpoint.__table__
access_records = AccessRecord.__table__

# pg_advisory_xact_lock key: "XZAUDIT" as a number, so it never collides with another lock of ours.
ADVISORY_LOCK_KEY = 0x585A4155444954
MAX_ATTEMPTS = 8
HEAD = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)

# Entry field (API name) -> column.
COLUMNS = {
    "seq": "seq", "at": "at", "requestId": "request_id", "actorSub": "actor_sub", "actorRole": "actor_role",
    "actorOrg": "actor_org", "clientAddress": "client_address", "operationName": "operation_name",
    "operationType": "operation_type", "queryHash": "query_hash", "queryText": "query_text",
    "variables": "variables", "purpose": "purpose", "consentId": "consent_id", "caseNumber": "case_number",
    "subjects": "subjects", "fieldsMasked": "fields_masked", "fieldsDenied": "fields_denied",
    "outcome": "outcome", "errorCodes": "error_codes", "durationMs": "duration_ms", "prevHash": "prev_hash",
    "hash": "hash",
}


class AuditWriteFailed(Exception):
    """The entry could not be written: the request must fail closed."""


def to_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {column: entry[name] for name, column in COLUMNS.items()}


def from_row(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    mapping = row._mapping if isinstance(row, Row) else row
    return {name: mapping[column] for name, column in COLUMNS.items()}


class AuditStore:
    def __init__(self, engine: AsyncEngine, key: Ed25519PrivateKey, checkpoint_every: int) -> None:
        self.engine = engine
        self.key = key
        self.key_id = keys.key_id(key.public_key())
        self.checkpoint_every = checkpoint_every
        self.turn = asyncio.Lock()  # appends within this process take turns
        self._postgres = engine.dialect.name == "postgresql"

    async def append(
        self, fields: dict[str, Any], accesses: list[dict[str, Any]], conn: AsyncConnection | None = None
    ) -> int:
        """Write one entry and its access records, committed; returns its seq.

        With `conn` (an open transaction holding a mutation's writes, whose request already
        holds `turn`) the entry joins it, and that transaction commits here. Raises
        AuditWriteFailed when the entry cannot be written.
        """
        if conn is not None:
            return await self._attempts(fields, accesses, conn)
        async with self.turn:
            return await self._attempts(fields, accesses, None)

    async def _attempts(self, fields: dict[str, Any], accesses: list[dict[str, Any]], conn: AsyncConnection | None) -> int:
        for attempt in range(MAX_ATTEMPTS):
            try:
                if conn is None:
                    async with self.engine.begin() as own:
                        return await self._append(own, fields, accesses)
                async with conn.begin_nested():
                    seq = await self._append(conn, fields, accesses)
                await conn.commit()
                return seq
            except (IntegrityError, DBAPIError) as e:
                # Another process took this seq first (or SQLite's writer lock was busy):
                # try again on the new head. Anything else is a failure to write.
                if not _contention(e) or attempt == MAX_ATTEMPTS - 1:
                    raise AuditWriteFailed(str(getattr(e, "orig", e))) from e
                await asyncio.sleep(0.005 * (attempt + 1))
            except Exception as e:
                raise AuditWriteFailed(type(e).__name__) from e
        raise AuditWriteFailed("no attempts left")  # pragma: no cover

    async def _append(self, conn: AsyncConnection, fields: dict[str, Any], accesses: list[dict[str, Any]]) -> int:
        if self._postgres:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        head = (await conn.execute(HEAD)).first()
        seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
        entry = {**fields, "seq": seq, "prevHash": prev}
        entry["hash"] = entry_hash(entry)
        await conn.execute(insert(audit_log), [to_row(entry)])
        if accesses:
            await conn.execute(insert(access_records), [{**a, "at": fields["at"], "audit_seq": seq} for a in accesses])
        if seq % self.checkpoint_every == 0:
            await conn.execute(insert(checkpoints), [self.checkpoint(seq, entry["hash"], fields["at"])])
        return seq

    def checkpoint(self, seq: int, head_hash: str, at: dt.datetime) -> dict[str, Any]:
        message = keys.checkpoint_message(seq, head_hash, timestamp(at))
        return {"seq": seq, "head_hash": head_hash, "at": at, "key_id": self.key_id, "signature": keys.sign(self.key, message)}


def _contention(error: Exception) -> bool:
    message = str(getattr(error, "orig", error)).lower()
    return "pk_audit_log" in message or "unique" in message or "locked" in message or "busy" in message


async def entries(conn: AsyncConnection, *, start: int = 1, batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
    """Every entry from `start` in seq order, read in batches."""
    after = start - 1
    while True:
        rows = (
            await conn.execute(select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(batch))
        ).all()
        for row in rows:
            yield from_row(row)
        if len(rows) < batch:
            return
        after = rows[-1].seq
