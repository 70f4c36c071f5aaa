"""The audit log's one writer, and the mapping between its rows and its entries.

Appends form a single chain however many workers write. On PostgreSQL `seq` being the primary
key means two writers can never both extend the same head (the loser tries again on the new
head); every append that reads the head, in this process or another, batch or mutation, takes
an advisory transaction lock first, so that they take turns instead of failing. On SQLite the
database's one writer lock does it across processes, and within a process appends take turns
under `turn`: a mutation's open transaction holds SQLite's writer lock, so a batch must not
begin (and wait on the loop) while one is open. PostgreSQL has no such lock to wait on, so there
`turn` is None and a mutation holds nothing of the process's across its transaction. An entry
commits with the transaction it is given (a mutation's), so the two commit together or not at
all. Entries of requests that finish at the same moment are written in one transaction (group
commit), so under load the cost of a commit is shared while every caller still waits for its
own entry to be durable.

A batch's statements run on the driver itself (sqlite3, asyncpg), compiled once by SQLAlchemy
(app/db/write.py), and store the rows SQLAlchemy's execution would; a mutation's entry joins the
mutation's transaction through SQLAlchemy.
- PostgreSQL: the database gives a batch its place (`_append_chained`): one statement, outside
  any transaction (its own implicit one), calls xz_audit_chain (made by the migrations), which
  takes the advisory lock, reads the head and the tree's frontier, and returns each entry's
  seq, prevHash and hash, having inserted the tree's nodes; the same statement inserts the
  entries and their access records. One round trip, and the lock is held only while the
  database does that work, never across a round trip: with several workers each used to read
  the head and write under the lock, and they queued on each other's round trips (two workers
  served half of what one did). The entries' canonical forms are made here
  (`chain.canonical_parts`), and a checkpoint due is signed here: the key never reaches the
  database.
- Elsewhere (SQLite; and on PostgreSQL a mutation's entry, a retry, or a tree that lags the
  log), the batch is made here: on the head this process left, and written only if that is
  still the head (`HEAD_IS`), or, when another process moved the head, on the head and the
  tree's frontier read (a read each) under the lock; for the next READ_FIRST batches the head
  is then read first.

Each entry is also a leaf of the log's Merkle tree (app/audit/merkle.py): the batch writes the
complete subtrees its entries complete, and a signed checkpoint (a C2SP note of the tree's size
and root, app/audit/note.py) whenever the log reaches a multiple of `checkpoint_every` (on
PostgreSQL stored by one more statement once the batch is committed). What the tree looks like
at the head (its frontier) is kept between batches made here, keyed by the head's seq and hash,
and read again (one read of a few rows) when another process moved the head. `sign_head` signs
the head now, under the advisory lock (a batch signs only sizes it makes, and a checkpoint's
size is its primary key), so that no two checkpoints ever have one size; a timer (`start`)
calls it every `checkpoint_interval` seconds when this process appended since.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, Row, bindparam, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import clock
from app.audit import keys, note
from app.audit.chain import GENESIS, canonical, canonical_parts
from app.audit.merkle import Frontier, leaf_hash
from app.audit.tree import INSERT_NODES, TreeError, frontier_at, node_rows, stored_frontier
from app.db.hot import hot
from app.db.models import AccessRecord, AuditCheckpoint, AuditEntry
from app.db.write import ADVISORY_LOCK, Ordinary, Transaction, Writer
from app.observability.metrics import audit_appended

log = logging.getLogger("xinzheng.audit")

audit_log = AuditEntry.__table__
checkpoints = AuditCheckpoint.__table__
access_records = AccessRecord.__table__

DEFAULT_ORIGIN = "xinzheng/audit"

# pg_advisory_xact_lock key: "XZAUDIT" as a number, so it never collides with another lock of ours.
ADVISORY_LOCK_KEY = 0x585A4155444954
MAX_ATTEMPTS = 8
MAX_BATCH = 200  # entries written in one transaction at most
GATHER_TURNS = 4  # turns of the event loop a batch waits for more entries (see _flush_batches)
# Once another process is seen writing, this many batches read the head first (under the lock)
# rather than try the head this process left: with two workers each would fail every other time.
READ_FIRST = 64
# The append's statements, made once: a batch runs them on the driver, compiled once (app/db/write.py).
HEAD = hot("audit_head", select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1))
_later = audit_log.alias("later")
# A row if the head is still the entry whose hash this is (hashes are unique): a batch made on
# that head is written only then.
HEAD_IS = hot(
    "audit_head_is",
    select(audit_log.c.seq).where(
        audit_log.c.hash == bindparam("hash"), audit_log.c.seq == select(func.max(_later.c.seq)).scalar_subquery()
    ),
)
INSERT_ENTRIES = insert(audit_log)
INSERT_ACCESSES = insert(access_records)
INSERT_CHECKPOINTS = insert(checkpoints)
ENTRY = hot("audit_entry", select(audit_log).where(audit_log.c.seq == bindparam("seq")))
LAST_CHECKPOINT = hot("audit_last_checkpoint", select(checkpoints.c.seq).order_by(checkpoints.c.seq.desc()).limit(1))

# PostgreSQL: the function that gives a batch its place in the chain and the tree, under the
# advisory lock, in the statement that inserts it (migrations' xz_audit_chain); its arguments:
# the lock's key, the entries' canonical forms in three parts (chain.canonical_parts), and how
# often a checkpoint is due. The columns the INSERTs take from its rows:
CHAIN_CALL = "xz_audit_chain($1, $2::bytea[], $3::bytea[], $4::bytea[], $5)"
ENTRY_TAKES = {"seq": "seq", "prev_hash": "prev_hash", "hash": "hash"}
# Each entry's seq, and each access record's audit_seq, is sent as its entry's n in the batch.
ACCESS_TAKES = {"audit_seq": "seq"}
TREE_LAGS = "XZ001"  # the function's SQLSTATE when the tree lacks a node of the head's frontier
# PostgreSQL's SQLSTATE for a function that does not exist: a database migrated only to the
# release before (this code started before `xinzheng migrate`), whose appends take the other path.
NO_FUNCTION = "42883"

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


class HeadMoved(Exception):
    """Another writer extended the head between its read and the batch's insert: try again."""


# The columns of an entry before it has its place in the chain.
UNCHAINED = {name: column for name, column in COLUMNS.items() if column not in ENTRY_TAKES}


def to_row(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {column: entry[name] for name, column in COLUMNS.items()}


def from_row(row: Row[Any] | Mapping[str, Any] | tuple[Any, ...]) -> dict[str, Any]:
    """An entry from its row: SQLAlchemy's, a mapping, or a hot read's named tuple."""
    if isinstance(row, Row):
        mapping: Any = row._mapping
    elif isinstance(row, tuple):
        mapping = row._asdict()  # type: ignore[attr-defined]  # a named tuple
    else:
        mapping = row
    return {name: mapping[column] for name, column in COLUMNS.items()}


class AuditStore:
    def __init__(
        self,
        engine: AsyncEngine,
        key: Ed25519PrivateKey,
        checkpoint_every: int,
        sync_engine: Engine | None = None,
        *,
        checkpoint_interval: float | None = None,
        origin: str = DEFAULT_ORIGIN,
    ) -> None:
        self.engine = engine
        # SQLite: batches are appended through sqlite3 (app/db/session.py create_audit_engine).
        self.sync_engine = sync_engine
        # Batches' transactions, on one connection kept while entries keep coming.
        self._writer = Writer(engine, sqlite=sync_engine)
        # sign_head's transactions (the timer's, a receipt's), on a connection of their own.
        self._signer = Writer(engine, sqlite=sync_engine)
        # One signing at a time: the timer's and a receipt's share the signer's connection (PostgreSQL takes no turn).
        self._signing = asyncio.Lock()
        self.key = key
        self.key_id = keys.key_id(key.public_key())
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        note.checkpoint_text(origin, 0, bytes(32))  # refuses an origin a note cannot carry
        self.origin = origin
        # The tree at the head this process last wrote or read: (seq, hash) -> its frontier.
        self._tree: tuple[tuple[int, str], Frontier] | None = None
        # Batches still to read the head first, under the lock: another process has been seen
        # writing, and a batch made on this process's own head would likely fail and be made again.
        self._read_first = 0
        self._chain_missing = False  # the database had no xz_audit_chain at the last batch (said once)
        self._appended = False  # since the timer last signed
        self._timer: asyncio.Task[None] | None = None
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

    async def _attempts(
        self, items: list[tuple[dict[str, Any], list[dict[str, Any]]]], conn: AsyncConnection | None
    ) -> list[int]:
        for attempt in range(MAX_ATTEMPTS):
            try:
                if conn is None:
                    if attempt == 0:
                        seqs = await self._append_chained(items) if self._postgres else None
                        if seqs is None:
                            seqs = await self._append_alone(items)
                        if seqs is not None:
                            return seqs
                    async with self._writer.transaction(lock=ADVISORY_LOCK_KEY) as tx:
                        return await self._append(tx, items)
                async with conn.begin_nested():
                    tx = Ordinary(conn)
                    if self._postgres:
                        await tx.execute(ADVISORY_LOCK, {"key": ADVISORY_LOCK_KEY})
                    seqs = await self._append(tx, items)
                await conn.commit()
                return seqs
            except (IntegrityError, DBAPIError, HeadMoved) as e:
                # Another process took this seq first (or SQLite's writer lock was busy):
                # try again on the new head. Anything else is a failure to write.
                if not (isinstance(e, HeadMoved) or _contention(e)) or attempt == MAX_ATTEMPTS - 1:
                    raise AuditWriteFailed(str(getattr(e, "orig", e))) from e
                self._read_first = READ_FIRST
                await asyncio.sleep(0.005 * (attempt + 1))
            except Exception as e:
                raise AuditWriteFailed(type(e).__name__) from e
        raise AuditWriteFailed("no attempts left")  # pragma: no cover

    async def _append_chained(self, items: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[int] | None:
        """PostgreSQL through asyncpg: the batch given its place in the chain and the tree by the
        database, under the advisory lock, and inserted, in one statement outside any transaction
        (its own implicit one): one round trip, and the lock held only while the database does
        the work, never across a round trip, so that workers do not queue on each other. None,
        with nothing written, where the writer cannot (another driver), when the stored tree
        lags the log (the locked path catches it up), or when the database has no such function
        yet (migrated to the release before only)."""
        first, second, third = zip(*(canonical_parts(fields) for fields, _ in items), strict=True)
        entries = [
            {"seq": n, **{column: fields[name] for name, column in UNCHAINED.items()}} for n, (fields, _) in enumerate(items, 1)
        ]
        accesses = [
            {**a, "at": fields["at"], "audit_seq": n} for n, (fields, subject_accesses) in enumerate(items, 1)
            for a in subject_accesses
        ]  # fmt: skip
        try:
            rows = await self._writer.chained(
                CHAIN_CALL,
                [ADVISORY_LOCK_KEY, list(first), list(second), list(third), self.checkpoint_every],
                [(INSERT_ENTRIES, entries, ENTRY_TAKES, "seq"), (INSERT_ACCESSES, accesses, ACCESS_TAKES, "audit_seq")],
            )
        except DBAPIError as e:
            state = getattr(e.orig, "sqlstate", None)  # asyncpg's own error
            if state == NO_FUNCTION and not self._chain_missing:
                log.warning("audit: the database has no xz_audit_chain yet (run `xinzheng migrate`): appending the slower way")
            if state in (TREE_LAGS, NO_FUNCTION):
                self._chain_missing = state == NO_FUNCTION
                self._tree = None
                return None
            raise
        if rows is None:
            return None
        self._tree = None  # the database extended the tree: a locked append reads it again
        self._appended = True
        due = [
            self._checkpoint_row(row["seq"], bytes(row["root"]), row["hash"], items[row["n"] - 1][0]["at"])
            for row in rows if row["root"] is not None
        ]  # fmt: skip
        if due:
            await self._sign_due(due)
        return [row["seq"] for row in rows]

    async def _sign_due(self, rows: list[dict[str, Any]]) -> None:
        """The checkpoints due at sizes a chained batch reached, signed here (the key never reaches
        the database) after the batch committed. A failure loses no entry: it is logged, and the
        timer or the next due size signs a later head."""
        try:
            await self._writer.execute(INSERT_CHECKPOINTS, rows)
        except IntegrityError:
            pass  # a checkpoint of that size was signed meanwhile (sign_head): one a size
        except Exception:
            log.exception("audit: a checkpoint due at seq %s could not be stored", rows[-1]["seq"])

    async def _append_alone(self, items: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[int] | None:
        """Most often the head is still the one this process left: the batch is made on it, and
        written only if it still is, as a transaction of its own (on PostgreSQL one statement,
        committed in one round trip, with no lock: `seq` as primary key is what keeps two
        writers from both extending a head). None if this process has no head to go on, or
        another process moved it (the head is then read: `_append`, under the lock; and for the
        next READ_FIRST batches, read first)."""
        kept = self._tree
        if kept is None or self._read_first:
            return None
        (seq, hash_), frontier = kept
        batch = self._prepare(seq, hash_, frontier.copy(), items)
        try:
            written = await self._writer.insert_if(HEAD_IS, {"hash": hash_}, batch.statements())
        except BaseException:
            self._tree = kept  # not written (a value refused, say): the head is still this one
            raise
        if not written:
            self._read_first = READ_FIRST
            return None
        self._appended = True
        return batch.seqs

    async def _append(self, tx: Transaction, items: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[int]:
        """The batch's rows made on the head as read, in a transaction that holds the append's
        lock (or SQLite's writer lock)."""
        kept = self._tree
        head = await tx.first(HEAD)
        if kept is not None and head is not None and kept[0] != (head.seq, head.hash):
            self._read_first = READ_FIRST  # another process wrote since this one's last batch
        elif self._read_first:
            self._read_first -= 1
        frontier, caught_up = await self._frontier(tx, head)
        batch = self._prepare(head.seq if head else 0, head.hash if head else GENESIS, frontier, items)
        batch.nodes[:0] = caught_up
        if head is None:  # the first entry: `seq` 1 can be written once only
            for statement, rows in batch.statements():
                await tx.execute(statement, rows)
        elif not await tx.insert_if(HEAD_IS, {"hash": head.hash}, batch.statements()):
            raise HeadMoved("another writer moved the head")  # under the lock: one that does not take it
        self._appended = True
        return batch.seqs

    async def _frontier(self, tx: Transaction, head: Any | None) -> tuple[Frontier, list[dict[str, Any]]]:
        """The tree at `head` (a copy, to extend), and the nodes of entries it lacked: kept from
        the last batch if the head is the one it left, else read. Entries the tree lacks (written
        by the release before, while workers rolled over) are added to it here."""
        if head is None:
            return Frontier(), []
        if self._tree is not None and self._tree[0] == (head.seq, head.hash):
            return self._tree[1].copy(), []
        at_head = await frontier_at(tx, head.seq)
        if at_head is not None:
            return at_head, []
        frontier = await stored_frontier(tx)
        made: list[dict[str, Any]] = []
        while frontier.size < head.seq:
            row = await tx.first(ENTRY, {"seq": frontier.size + 1})
            if row is None:
                raise TreeError(f"the audit log has no entry {frontier.size + 1}")
            made += node_rows(frontier.append(leaf_hash(canonical(from_row(row)))))
        return frontier, made

    def _prepare(
        self, seq: int, prev: str, frontier: Frontier, items: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    ) -> Batch:
        """The rows that extend the chain and the tree at the head (`seq`, its hash `prev`; 0 and
        GENESIS for none) with these entries (pure: no I/O). `frontier`, the tree at the head, is
        extended in place and kept for the next batch (whose head check fails if this one is
        not written)."""
        batch = Batch()
        for fields, subject_accesses in items:
            seq += 1
            entry = {**fields, "seq": seq, "prevHash": prev}
            body = canonical(entry)
            entry["hash"] = prev = hashlib.sha256(body).hexdigest()
            batch.entries.append(to_row(entry))
            batch.nodes += node_rows(frontier.append(leaf_hash(body)))
            batch.accesses += [{**a, "at": fields["at"], "audit_seq": seq} for a in subject_accesses]
            if seq % self.checkpoint_every == 0:
                batch.checkpoints.append(self.checkpoint(frontier, prev, fields["at"]))
            batch.seqs.append(seq)
        self._tree = ((seq, prev), frontier)
        return batch

    def checkpoint(self, frontier: Frontier, head_hash: str, at: dt.datetime) -> dict[str, Any]:
        """The row of a signed checkpoint of the tree `frontier` is, whose last entry's hash is `head_hash`."""
        return self._checkpoint_row(frontier.size, frontier.root(), head_hash, at)

    def _checkpoint_row(self, size: int, root: bytes, head_hash: str, at: dt.datetime) -> dict[str, Any]:
        signed = note.sign(note.checkpoint_text(self.origin, size, root), self.origin, self.key)
        signature = signed.rsplit(" ", 1)[1].strip()
        return {
            "seq": size, "head_hash": head_hash, "at": at, "key_id": self.key_id, "signature": signature,
            "root_hash": root.hex(), "note": signed,
        }  # fmt: skip

    async def sign_head(self) -> int:
        """Sign a checkpoint of the tree's head now, unless one of its size exists; returns the size.
        Under the advisory lock (and SQLite's turn): one checkpoint a size. Raises AuditWriteFailed."""
        async with self._signing, self.turn or contextlib.nullcontext():
            try:
                async with self._signer.transaction(lock=ADVISORY_LOCK_KEY) as tx:
                    head = await tx.first(HEAD)
                    last = await tx.first(LAST_CHECKPOINT)
                    if head is None or (last is not None and last.seq >= head.seq):
                        return head.seq if head is not None else 0
                    frontier, caught_up = await self._frontier(tx, head)
                    if caught_up:
                        await tx.execute(INSERT_NODES, caught_up)
                    await tx.execute(INSERT_CHECKPOINTS, [self.checkpoint(frontier, head.hash, clock.now())])
                    return int(head.seq)
            except (DBAPIError, TreeError) as e:
                raise AuditWriteFailed(str(getattr(e, "orig", e))) from e
            finally:
                await self._signer.release()

    def start(self) -> None:
        """Sign the head every `checkpoint_interval` seconds while entries arrive (in a running loop)."""
        if self.checkpoint_interval is not None and self._timer is None:
            self._timer = asyncio.create_task(self._tick(self.checkpoint_interval))

    async def shut_down(self) -> int:
        """At shutdown, once no request is left: every entry still waiting is written, the timer
        stopped, and the head signed, unless a checkpoint covers it already (another worker's, or
        the every-N one). Returns the head's size. Raises AuditWriteFailed."""
        if self._flusher is not None:
            await asyncio.wait([self._flusher])  # its callers have their answers, failed or not
        await self.close()
        return await self.sign_head()

    async def close(self) -> None:
        """Stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None

    async def _tick(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if not self._appended:
                continue
            self._appended = False
            try:
                await self.sign_head()
            except AuditWriteFailed as e:
                self._appended = True  # try again at the next tick
                log.warning("audit checkpoint not signed: %s", e)


@dataclass
class Batch:
    entries: list[dict[str, Any]] = field(default_factory=list)
    accesses: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)

    def statements(self) -> list[tuple[Any, list[dict[str, Any]]]]:
        out: list[tuple[Any, list[dict[str, Any]]]] = [(INSERT_ENTRIES, self.entries), (INSERT_NODES, self.nodes)]
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
