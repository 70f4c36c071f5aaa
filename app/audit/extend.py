"""The chain and the tree extended in the service: a batch's seqs, prevHashes, hashes, tree nodes
and due checkpoints made here, on a head this process knows, and written only if it is still
the head.

The audit store (app/audit/store.py) takes this way on SQLite, and on PostgreSQL for a
mutation's entry, a retry, or a tree that lags the log (elsewhere the database extends the
chain: app/audit/chained.py). Two ways in:
- `alone`: on the head this process left, written only if that is still the head (`HEAD_IS`),
  as a transaction of its own (on PostgreSQL one statement, committed in one round trip, with
  no lock: `seq` as primary key is what keeps two writers from both extending a head);
- `locked`: on the head and the tree's frontier read (a read each), in a transaction that holds
  the append's lock (or SQLite's writer lock). When another process moved the head, the next
  READ_FIRST batches take this way first.

What the tree looks like at the head (its frontier) is kept between batches, keyed by the
head's seq and hash, and read again (one read of a few rows) when another process moved the
head.
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.audit.chain import GENESIS, canonical
from app.audit.merkle import Frontier, leaf_hash
from app.audit.rows import ENTRY, HEAD, HEAD_IS, Batch, Item, Signer, from_row, to_row
from app.audit.tree import TreeError, frontier_at, node_rows, stored_frontier
from app.db.transactions import Transaction
from app.db.write import Writer

# Once another process is seen writing, this many batches read the head first (under the lock)
# rather than try the head this process left: with two workers each would fail every other time.
READ_FIRST = 64


class HeadMoved(Exception):
    """Another writer extended the head between its read and the batch's insert: try again."""


class Extender:
    """The chain as this process knows it, and the batches made on it (see the module's docstring)."""

    def __init__(self, signer: Signer, checkpoint_every: int) -> None:
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        # The tree at the head this process last wrote or read: (seq, hash) -> its frontier.
        self.tree: tuple[tuple[int, str], Frontier] | None = None
        # Batches still to read the head first, under the lock: another process has been seen
        # writing, and a batch made on this process's own head would likely fail and be made again.
        self.read_first = 0

    def forget(self) -> None:
        """Someone else extended the chain (the database, another writer): read the head next time."""
        self.tree = None

    def contended(self) -> None:
        """Another process took the head this process tried: read it first for a while."""
        self.read_first = READ_FIRST

    async def alone(self, writer: Writer, items: list[Item]) -> list[int] | None:
        """The batch made on the head this process left and written, as a transaction of its own,
        only if that is still the head; its seqs. None if this process has no head to go on, or
        another process moved it (then `locked`, and for the next READ_FIRST batches, first)."""
        kept = self.tree
        if kept is None or self.read_first:
            return None
        (seq, hash_), frontier = kept
        batch = self.prepare(seq, hash_, frontier.copy(), items)
        try:
            written = await writer.insert_if(HEAD_IS, {"hash": hash_}, batch.statements())
        except BaseException:
            self.tree = kept  # not written (a value refused, say): the head is still this one
            raise
        if not written:
            self.contended()
            return None
        return batch.seqs

    async def locked(self, tx: Transaction, items: list[Item]) -> list[int]:
        """The batch made on the head as read and written, in a transaction that holds the append's
        lock (or SQLite's writer lock); its seqs. Raises HeadMoved if a writer that does not take
        the lock moved the head meanwhile."""
        kept = self.tree
        head = await tx.first(HEAD)
        if kept is not None and head is not None and kept[0] != (head.seq, head.hash):
            self.contended()  # another process wrote since this one's last batch
        elif self.read_first:
            self.read_first -= 1
        frontier, caught_up = await self.frontier(tx, head)
        batch = self.prepare(head.seq if head else 0, head.hash if head else GENESIS, frontier, items)
        batch.nodes[:0] = caught_up
        if head is None:  # the first entry: `seq` 1 can be written once only
            for statement, rows in batch.statements():
                await tx.execute(statement, rows)
        elif not await tx.insert_if(HEAD_IS, {"hash": head.hash}, batch.statements()):
            raise HeadMoved("another writer moved the head")  # under the lock: one that does not take it
        return batch.seqs

    async def frontier(self, tx: Transaction, head: Any | None) -> tuple[Frontier, list[dict[str, Any]]]:
        """The tree at `head` (a copy, to extend), and the nodes of entries it lacked: kept from
        the last batch if the head is the one it left, else read. Entries the tree lacks (written
        by the release before, while workers rolled over) are added to it here."""
        if head is None:
            return Frontier(), []
        if self.tree is not None and self.tree[0] == (head.seq, head.hash):
            return self.tree[1].copy(), []
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

    def prepare(self, seq: int, prev: str, frontier: Frontier, items: list[Item]) -> Batch:
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
                batch.checkpoints.append(self.signer.checkpoint(frontier, prev, fields["at"]))
            batch.seqs.append(seq)
        self.tree = ((seq, prev), frontier)
        return batch
