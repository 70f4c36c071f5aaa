"""The log's Merkle tree as stored: its complete subtrees (audit_tree), and the proofs made of them.

The append (app/audit/extend.py, app/audit/chained.py) writes the nodes; here they are read: the frontier an append
extends, and for a receipt or a witness the root of any size up to the head, an inclusion proof
and a consistency proof, each a few rows fetched in one query (app/audit/merkle.py says which).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Executable, TextClause, bindparam, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit import merkle
from app.audit.merkle import Frontier, Get, Node
from app.db.hot import hot
from app.db.models import AuditCheckpoint, AuditTreeNode
from app.db.transactions import Transaction

tree = AuditTreeNode.__table__
checkpoints = AuditCheckpoint.__table__

INSERT_NODES = insert(tree)
# The last node of a level (level 0: the last leaf, so the tree's size).
LAST_NODE = hot(
    "audit_tree_last", select(tree.c.idx).where(tree.c.level == bindparam("level")).order_by(tree.c.idx.desc()).limit(1)
)
NODE = hot(
    "audit_tree_node", select(tree.c.hash).where(tree.c.level == bindparam("level"), tree.c.idx == bindparam("idx"))
)
# The nodes whose levels and indexes are among these (the frontier's pairs are among them).
NODES_AMONG = hot(
    "audit_tree_nodes_among",
    select(tree.c.level, tree.c.idx, tree.c.hash).where(
        tree.c.level.in_(bindparam("levels", expanding=True)), tree.c.idx.in_(bindparam("idxs", expanding=True))
    ),
)


class TreeError(Exception):
    """The stored tree lacks a node it should have (it was tampered with, or is being written)."""


def node_rows(made: list[tuple[int, int, bytes]]) -> list[dict[str, Any]]:
    return [{"level": level, "idx": idx, "hash": h.hex()} for level, idx, h in made]


async def frontier_at(tx: Transaction, size: int) -> Frontier | None:
    """The tree of `size` leaves as stored, in one read; None if it lacks one of its nodes (it
    lags the log: see the store's catch-up)."""
    wanted = Frontier.nodes(size)
    if not wanted:
        return Frontier()
    params = {"levels": sorted({level for level, _ in wanted}), "idxs": sorted({idx for _, idx in wanted})}
    found = {(r.level, r.idx): r.hash for r in await tx.all(NODES_AMONG, params)}
    if any(node not in found for node in wanted):
        return None
    return Frontier(size, [bytes.fromhex(found[node]) for node in wanted])


async def stored_frontier(tx: Transaction) -> Frontier:
    """The tree as stored (it may lag the log: see the store's catch-up)."""
    last = await tx.first(LAST_NODE, {"level": 0})
    size = last.idx + 1 if last is not None else 0
    roots = []
    for level, idx in Frontier.nodes(size):
        node = await tx.first(NODE, {"level": level, "idx": idx})
        if node is None:
            raise TreeError(f"the audit tree lacks its node ({level}, {idx}) at size {size}")
        roots.append(bytes.fromhex(node.hash))
    return Frontier(size, roots)


# A read: a statement and its parameters in, its rows out.
Run = Callable[[Executable, Mapping[str, Any]], Awaitable[Sequence[Any]]]


@contextlib.asynccontextmanager
async def reading(engine: AsyncEngine, sync_engine: Engine | None) -> AsyncIterator[Run]:
    """Reads of the tree and its checkpoints: on SQLite through sqlite3 on the loop (a handful of
    primary-key reads, as the service's other SQLite reads are), else on the async engine."""
    if sync_engine is not None:
        with sync_engine.connect() as sync_conn:

            async def run_sync(statement: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
                return sync_conn.execute(statement, dict(params)).all()

            yield run_sync
        return
    async with engine.connect() as conn:

        async def run(statement: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
            return (await conn.execute(statement, dict(params))).all()

        yield run


@functools.lru_cache(maxsize=128)
def _nodes(count: int) -> TextClause:
    """`count` nodes by primary key, one statement per count (SQLite plans a row-value IN list as a scan)."""
    keys = " OR ".join(f"(level = :l{i} AND idx = :i{i})" for i in range(count))
    return text(f"SELECT level, idx, hash FROM audit_tree WHERE {keys}")


async def _read(run: Run, compute: Callable[[Get], Any]) -> Any:
    """Run a computation over stored nodes: find the nodes it needs, read them in one query, run it."""
    wanted = merkle.needed(compute)
    found: dict[Node, bytes] = {}
    if wanted:
        params: dict[str, int] = {}
        for i, (level, idx) in enumerate(wanted):
            params[f"l{i}"], params[f"i{i}"] = level, idx
        found = {(r.level, r.idx): bytes.fromhex(r.hash) for r in await run(_nodes(len(wanted)), params)}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise TreeError(f"the audit tree lacks node {missing[0]}")
    return compute(found.__getitem__)


async def root(run: Run, size: int) -> bytes:
    return bytes(await _read(run, lambda get: merkle.subtree(0, size, get) if size else merkle.EMPTY_ROOT))


@dataclass(frozen=True)
class Inclusion:
    leaf: bytes
    root: bytes
    proof: list[bytes]


async def inclusion(run: Run, index: int, size: int) -> Inclusion:
    """Leaf `index`, the root at `size` and the path between them, in one read."""

    def compute(get: Get) -> Inclusion:
        return Inclusion(get((0, index)), merkle.subtree(0, size, get), merkle.inclusion(index, size, get))

    result: Inclusion = await _read(run, compute)
    return result


async def consistency(run: Run, old: int, new: int) -> tuple[bytes, bytes, list[bytes]]:
    """The roots at `old` and `new` and the proof that the first is a prefix of the second."""

    def compute(get: Get) -> tuple[bytes, bytes, list[bytes]]:
        old_root = merkle.subtree(0, old, get) if old else merkle.EMPTY_ROOT
        return old_root, merkle.subtree(0, new, get), merkle.consistency(old, new, get)

    result: tuple[bytes, bytes, list[bytes]] = await _read(run, compute)
    return result


LATEST = select(checkpoints.c.seq, checkpoints.c.note).where(checkpoints.c.note.is_not(None)).order_by(checkpoints.c.seq.desc()).limit(1)
SIGNED = select(checkpoints.c.note).where(checkpoints.c.seq == bindparam("size"), checkpoints.c.note.is_not(None))


async def latest_checkpoint(run: Run) -> Any | None:
    """The newest signed note (a row with `seq` and `note`), or None before the first."""
    rows = await run(LATEST, {})
    return rows[0] if rows else None


async def signed_note(run: Run, size: int) -> str | None:
    """The signed note of the checkpoint at `size`, if there is one."""
    rows = await run(SIGNED, {"size": size})
    return rows[0].note if rows else None
