"""The audit log's one writer, and the mapping between its rows and its entries.

Appends form a single chain however many workers write. PostgreSQL serialises every append,
in this process or another, batch or mutation, with an advisory transaction lock taken before
the head is read; and `seq` being the primary key means two writers can never both extend the
same head (the loser tries again on the new head). On SQLite the database's one writer lock
does it across processes, and within a process appends take turns under `turn`: a mutation's
open transaction holds SQLite's writer lock, so a batch must not begin (and wait on the loop)
while one is open. PostgreSQL has no such lock to wait on, so there `turn` is None and a
mutation holds nothing of the process's across its transaction. An entry commits with the
transaction it is given (a mutation's), so the two commit together or not at all. Entries of requests that finish
at the same moment are written in one transaction (group commit), so under load the cost of
a commit is shared while every caller still waits for its own entry to be durable.

A batch's statements run on the driver itself (sqlite3, asyncpg), compiled once by SQLAlchemy
(app/db/write.py), and store the rows SQLAlchemy's execution would; a mutation's entry joins the
mutation's transaction through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dataclasses import dataclass, field

from sqlalchemy import Engine, Row, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import clock
from app.audit import keys
from app.audit.chain import GENESIS, entry_hash, timestamp
from app.db.hot import hot
from app.db.models import AccessRecord, AuditCheckpoint, AuditEntry
from app.db.write import Ordinary, Transaction, Writer
from app.observability.metrics import audit_appended

audit_log = AuditEntry.__table__
checkpoints = AuditCheckpoint.__table__
access_records = AccessRecord.__table__

# pg_advisory_xact_lock key: "XZAUDIT" as a number, so it never collides with another lock of ours.
ADVISORY_LOCK_KEY = 0x585A4155444954
MAX_ATTEMPTS = 8
MAX_BATCH = 200  # entries written in one transaction at most
GATHER_TURNS = 4  # turns of the event loop a batch waits for more entries (see _flush_batches)
# The append's statements, made once: a batch runs them on the driver, compiled once (app/db/write.py).
HEAD = hot("audit_head", select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1))
LOCK = text("SELECT pg_advisory_xact_lock(:key)")
INSERT_ENTRIES = insert(audit_log)
INSERT_ACCESSES = insert(access_records)
INSERT_CHECKPOINTS = insert(checkpoints)
CHECKPOINT_AT = select(checkpoints.c.seq).where(checkpoints.c.seq == bindparam("seq"))

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


# An entry's fields and access records, and the future its caller waits on for its seq.
Waiting = tuple[dict[str, Any], list[dict[str, Any]], asyncio.Future[int]]


class AuditWriteFailed(Exception):
    """The entry could not be written: the request must fail closed."""


def to_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {column: entry[name] for name, column in COLUMNS.items()}


def from_row(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    mapping = row._mapping if isinstance(row, Row) else row
    return {name: mapping[column] for name, column in COLUMNS.items()}


class AuditStore:
    def __init__(
        self, engine: AsyncEngine, key: Ed25519PrivateKey, checkpoint_every: int, sync_engine: Engine | None = None
    ) -> None:
        self.engine = engine
        # SQLite: batches are appended through sqlite3 (app/db/session.py create_audit_engine).
        self.sync_engine = sync_engine
        # Batches' transactions, on one connection kept while entries keep coming.
        self._writer = Writer(engine, sqlite=sync_engine)
        self.key = key
        self.key_id = keys.key_id(key.public_key())
        self.checkpoint_every = checkpoint_every
        self._postgres = engine.dialect.name == "postgresql"
        # SQLite: appends within this process take turns, and a request that writes holds the turn
        # from its first write to its commit (app/db/request.py). PostgreSQL: its advisory lock.
        self.turn: asyncio.Lock | None = None if self._postgres else asyncio.Lock()
        self._waiting: list[Waiting] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(
        self, fields: dict[str, Any], accesses: list[dict[str, Any]], conn: AsyncConnection | None = None
    ) -> int:
        """Write one entry and its access records, committed; returns its seq.

        Without `conn`, entries that arrive while another batch is being written are written
        together in the next transaction (group commit): each caller still returns only once
        its own entry is committed. With `conn` (an open transaction holding a mutation's
        writes, whose request holds `turn` on SQLite) the entry joins that transaction, which
        commits here. Raises AuditWriteFailed when the entry cannot be written.
        """
        if conn is not None:
            started = time.perf_counter()
            (seq,) = await self._attempts([(fields, accesses)], conn)
            audit_appended(1, time.perf_counter() - started)
            return seq
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((fields, accesses, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        try:
            await self._flush_waiting()
        except asyncio.CancelledError:
            # Shutting down: whoever still waits is answered AUDIT_UNAVAILABLE, never left hanging.
            waiting, self._waiting = self._waiting, []
            for _, _, done in waiting:
                _settle(done, error=AuditWriteFailed("the service is shutting down"))
            raise

    async def _flush_waiting(self) -> None:
        while self._waiting:
            try:
                await self._flush_batches()
            finally:
                # Back to the pool until entries come again (if some came meanwhile: at once).
                await self._writer.release()

    async def _flush_batches(self) -> None:
        while self._waiting:
            # Let the loop turn a few times first: requests finishing at nearly the same moment
            # then share this batch's commit. Idle, the turns take microseconds; under load each
            # turn moves other requests on, and on SQLite, where the batch is written on the loop,
            # the commit's cost was shared by 5 entries on average without this and by 14 with it
            # (bench/run.py, 16 connections: 0.44 -> 0.47 of the reference; PostgreSQL unchanged).
            for _ in range(GATHER_TURNS):
                await asyncio.sleep(0)
            async with self.turn or contextlib.nullcontext():
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    await self._write(batch)
                except BaseException:
                    # Cancelled part-way (shutting down): the batch is out of `_waiting`, so
                    # `_flush` cannot answer its callers; whoever it has not answered yet is
                    # answered AUDIT_UNAVAILABLE here, never left hanging.
                    for _, _, done in batch:
                        _settle(done, error=AuditWriteFailed("the service is shutting down"))
                    raise

    async def _write(self, batch: list[Waiting]) -> None:
        started = time.perf_counter()
        try:
            seqs = await self._attempts([(f, a) for f, a, _ in batch], None)
        except AuditWriteFailed as e:
            if len(batch) == 1:
                _settle(batch[0][2], error=e)
                return
            # One entry that cannot be stored must not fail the requests beside it:
            # write them one by one, and only the bad one fails closed.
            for fields, accesses, done in batch:
                try:
                    (seq,) = await self._attempts([(fields, accesses)], None)
                except AuditWriteFailed as alone:
                    _settle(done, error=alone)
                else:
                    _settle(done, seq=seq)
        else:
            audit_appended(len(batch), time.perf_counter() - started)
            for (_, _, done), seq in zip(batch, seqs, strict=True):
                _settle(done, seq=seq)

    async def sign_head(self) -> int | None:
        """At shutdown, once no request is left: every entry still waiting is written, then a
        checkpoint of the head signed, unless one covers it already (another worker's, or the
        every-N one). Returns the head's seq (None for an empty log). Raises what the database
        raises."""
        if self._flusher is not None:
            await asyncio.wait([self._flusher])  # its callers have their answers, failed or not
        writer = Writer(self.engine, sqlite=self.sync_engine, ordinary=True)
        try:
            async with self.turn or contextlib.nullcontext(), writer.transaction() as tx:
                if self._postgres:
                    await tx.execute(LOCK, {"key": ADVISORY_LOCK_KEY})
                head = await tx.first(HEAD)
                if head is None:
                    return None
                if await tx.first(CHECKPOINT_AT, {"seq": head.seq}) is None:
                    await tx.execute(INSERT_CHECKPOINTS, [self.checkpoint(head.seq, head.hash, clock.now())])
                return int(head.seq)
        finally:
            await writer.release()

    async def _attempts(
        self, items: list[tuple[dict[str, Any], list[dict[str, Any]]]], conn: AsyncConnection | None
    ) -> list[int]:
        for attempt in range(MAX_ATTEMPTS):
            try:
                if conn is None:
                    async with self._writer.transaction() as tx:
                        return await self._append(tx, items)
                async with conn.begin_nested():
                    seqs = await self._append(Ordinary(conn), items)
                await conn.commit()
                return seqs
            except (IntegrityError, DBAPIError) as e:
                # Another process took this seq first (or SQLite's writer lock was busy):
                # try again on the new head. Anything else is a failure to write.
                if not _contention(e) or attempt == MAX_ATTEMPTS - 1:
                    raise AuditWriteFailed(str(getattr(e, "orig", e))) from e
                await asyncio.sleep(0.005 * (attempt + 1))
            except Exception as e:
                raise AuditWriteFailed(type(e).__name__) from e
        raise AuditWriteFailed("no attempts left")  # pragma: no cover

    async def _append(self, tx: Transaction, items: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[int]:
        if self._postgres:
            await tx.execute(LOCK, {"key": ADVISORY_LOCK_KEY})
        head = await tx.first(HEAD)
        batch = self._prepare(head, items)
        for statement, rows in batch.statements():
            await tx.execute(statement, rows)
        return batch.seqs

    def _prepare(self, head: Row[Any] | None, items: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> Batch:
        """The rows that extend the chain from `head` with these entries (pure: no I/O)."""
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        batch = Batch()
        for fields, subject_accesses in items:
            seq += 1
            entry = {**fields, "seq": seq, "prevHash": prev}
            entry["hash"] = prev = entry_hash(entry)
            batch.entries.append(to_row(entry))
            batch.accesses += [{**a, "at": fields["at"], "audit_seq": seq} for a in subject_accesses]
            if seq % self.checkpoint_every == 0:
                batch.checkpoints.append(self.checkpoint(seq, entry["hash"], fields["at"]))
            batch.seqs.append(seq)
        return batch

    def checkpoint(self, seq: int, head_hash: str, at: dt.datetime) -> dict[str, Any]:
        message = keys.checkpoint_message(seq, head_hash, timestamp(at))
        return {"seq": seq, "head_hash": head_hash, "at": at, "key_id": self.key_id, "signature": keys.sign(self.key, message)}


@dataclass
class Batch:
    entries: list[dict[str, Any]] = field(default_factory=list)
    accesses: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)

    def statements(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        out: list[tuple[Any, list[dict[str, Any]]]] = [(INSERT_ENTRIES, self.entries)]
        if self.accesses:
            out.append((INSERT_ACCESSES, self.accesses))
        if self.checkpoints:
            out.append((INSERT_CHECKPOINTS, self.checkpoints))
        return out


def _settle(done: asyncio.Future[int], *, seq: int | None = None, error: Exception | None = None) -> None:
    if done.done():  # the caller went away; its entry is written all the same
        return
    if error is not None:
        done.set_exception(error)
    else:
        assert seq is not None
        done.set_result(seq)


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
