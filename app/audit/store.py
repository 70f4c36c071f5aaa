"""The audit log's one writer.

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

A batch's place in the chain and the tree is made one of two ways:
- PostgreSQL: by the database, in the one statement that inserts the batch (app/audit/chained.py);
- elsewhere (SQLite; and on PostgreSQL a mutation's entry, a retry, or a tree that lags the
  log): here, on the head this process knows (app/audit/extend.py).
Its rows and statements are app/audit/rows.py's.

Each entry is also a leaf of the log's Merkle tree (app/audit/merkle.py): a batch writes the
complete subtrees its entries complete, and a signed checkpoint (a C2SP note of the tree's size
and root, app/audit/note.py) whenever the log reaches a multiple of `checkpoint_every` (where
the database made the batch, stored by one more statement once the batch is committed: the key
never reaches the database). `sign_head` signs the head now, under the advisory lock (a batch
signs only sizes it makes, and a checkpoint's size is its primary key), so that no two
checkpoints ever have one size; a timer (`start`) calls it every `checkpoint_interval` seconds
when this process appended since.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import clock
from app.audit import chained
from app.audit.extend import Extender, HeadMoved
from app.audit.rows import DEFAULT_ORIGIN, HEAD, INSERT_CHECKPOINTS, LAST_CHECKPOINT, Item, Signer
from app.audit.tree import INSERT_NODES, TreeError
from app.db.transactions import Ordinary
from app.db.write import ADVISORY_LOCK, Writer
from app.observability.metrics import audit_appended

log = logging.getLogger("xinzheng.audit")

# pg_advisory_xact_lock key: "XZAUDIT" as a number, so it never collides with another lock of ours.
ADVISORY_LOCK_KEY = 0x585A4155444954
MAX_ATTEMPTS = 8
MAX_BATCH = 200  # entries written in one transaction at most
GATHER_TURNS = 4  # turns of the event loop a batch waits for more entries (see _flush_batches)

# An entry's fields and access records, and the future its caller waits on for its seq.
Waiting = tuple[dict[str, Any], list[dict[str, Any]], asyncio.Future[int]]


class AuditWriteFailed(Exception):
    """The entry could not be written: the request must fail closed."""


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
        self._sign_writer = Writer(engine, sqlite=sync_engine)
        # One signing at a time: the timer's and a receipt's share the signer's connection (PostgreSQL takes no turn).
        self._signing = asyncio.Lock()
        self.signer = Signer(key, origin)
        self.key = key
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = checkpoint_interval
        # The chain extended here: the head and the tree this process knows.
        self.extender = Extender(self.signer, checkpoint_every)
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

    async def _attempts(self, items: list[Item], conn: AsyncConnection | None) -> list[int]:
        for attempt in range(MAX_ATTEMPTS):
            try:
                seqs = await self._attempt(attempt, items, conn)
                self._appended = True
                return seqs
            except (IntegrityError, DBAPIError, HeadMoved) as e:
                # Another process took this seq first (or SQLite's writer lock was busy):
                # try again on the new head. Anything else is a failure to write.
                if not (isinstance(e, HeadMoved) or _contention(e)) or attempt == MAX_ATTEMPTS - 1:
                    raise AuditWriteFailed(str(getattr(e, "orig", e))) from e
                self.extender.contended()
                await asyncio.sleep(0.005 * (attempt + 1))
            except Exception as e:
                raise AuditWriteFailed(type(e).__name__) from e
        raise AuditWriteFailed("no attempts left")  # pragma: no cover

    async def _attempt(self, attempt: int, items: list[Item], conn: AsyncConnection | None) -> list[int]:
        if conn is not None:
            async with conn.begin_nested():
                mutation = Ordinary(conn)
                if self._postgres:
                    await mutation.execute(ADVISORY_LOCK, {"key": ADVISORY_LOCK_KEY})
                seqs = await self.extender.locked(mutation, items)
            await conn.commit()
            return seqs
        if attempt == 0:
            first = await self._append_chained(items) if self._postgres else None
            if first is None:
                first = await self.extender.alone(self._writer, items)
            if first is not None:
                return first
        async with self._writer.transaction(lock=ADVISORY_LOCK_KEY) as tx:
            return await self.extender.locked(tx, items)

    async def _append_chained(self, items: list[Item]) -> list[int] | None:
        """PostgreSQL: the batch given its place and inserted by the database (app/audit/chained.py),
        and the checkpoints due signed here. None, with nothing written, where the writer cannot
        (another driver), when the stored tree lags the log (the locked way catches it up), or
        when the database has no xz_audit_chain yet (migrated to the release before only)."""
        try:
            rows = await chained.append(self._writer, ADVISORY_LOCK_KEY, self.checkpoint_every, items)
        except chained.Unavailable as e:
            if e.missing and not self._chain_missing:
                log.warning("audit: the database has no xz_audit_chain yet (run `xinzheng migrate`): appending the slower way")
            self._chain_missing = e.missing
            self.extender.forget()
            return None
        if rows is None:
            return None
        self.extender.forget()  # the database extended the tree: a locked append reads it again
        due = [
            self.signer.row(row["seq"], bytes(row["root"]), row["hash"], items[row["n"] - 1][0]["at"])
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

    async def sign_head(self) -> int:
        """Sign a checkpoint of the tree's head now, unless one of its size exists; returns the size.
        Under the advisory lock (and SQLite's turn): one checkpoint a size. Raises AuditWriteFailed."""
        async with self._signing, self.turn or contextlib.nullcontext():
            try:
                async with self._sign_writer.transaction(lock=ADVISORY_LOCK_KEY) as tx:
                    head = await tx.first(HEAD)
                    last = await tx.first(LAST_CHECKPOINT)
                    if head is None or (last is not None and last.seq >= head.seq):
                        return head.seq if head is not None else 0
                    frontier, caught_up = await self.extender.frontier(tx, head)
                    if caught_up:
                        await tx.execute(INSERT_NODES, caught_up)
                    await tx.execute(INSERT_CHECKPOINTS, [self.signer.checkpoint(frontier, head.hash, clock.now())])
                    return int(head.seq)
            except (DBAPIError, TreeError) as e:
                raise AuditWriteFailed(str(getattr(e, "orig", e))) from e
            finally:
                await self._sign_writer.release()

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
