"""The log's Merkle tree as stored: its complete subtrees (audit_tree), and the proofs made of them.

The append (app/audit/store.py) writes the nodes; here they are read: the frontier an append
extends, and for a receipt or a witness the root of any size up to the head, an inclusion proof
and a consistency proof, each a few rows fetched in one query (app/audit/merkle.py says which).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from app.audit import merkle
from app.audit.merkle import Frontier, Get, Node
from app.db.hot import hot
from app.db.models import AuditCheckpoint, AuditTreeNode
from app.db.write import Transaction

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


class TreeError(Exception):
    """The stored tree lacks a node it should have (it was tampered with, or is being written)."""


def node_rows(made: list[tuple[int, int, bytes]]) -> list[dict[str, Any]]:
    return [{"level": level, "idx": idx, "hash": h.hex()} for level, idx, h in made]


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


async def _read(conn: AsyncConnection, compute: Callable[[Get], Any]) -> Any:
    """Run a computation over stored nodes: find the nodes it needs, read them in one query, run it."""
    wanted = merkle.needed(compute)
    found: dict[Node, bytes] = {}
    if wanted:
        rows = await conn.execute(select(tree.c.level, tree.c.idx, tree.c.hash).where(tuple_(tree.c.level, tree.c.idx).in_(wanted)))
        found = {(r.level, r.idx): bytes.fromhex(r.hash) for r in rows}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise TreeError(f"the audit tree lacks node {missing[0]}")
    return compute(found.__getitem__)


async def root(conn: AsyncConnection, size: int) -> bytes:
    return bytes(await _read(conn, lambda get: merkle.subtree(0, size, get) if size else merkle.EMPTY_ROOT))


@dataclass(frozen=True)
class Inclusion:
    leaf: bytes
    root: bytes
    proof: list[bytes]


async def inclusion(conn: AsyncConnection, index: int, size: int) -> Inclusion:
    """Leaf `index`, the root at `size` and the path between them, in one read."""

    def compute(get: Get) -> Inclusion:
        return Inclusion(get((0, index)), merkle.subtree(0, size, get), merkle.inclusion(index, size, get))

    result: Inclusion = await _read(conn, compute)
    return result


async def consistency(conn: AsyncConnection, old: int, new: int) -> tuple[bytes, bytes, list[bytes]]:
    """The roots at `old` and `new` and the proof that the first is a prefix of the second."""

    def compute(get: Get) -> tuple[bytes, bytes, list[bytes]]:
        old_root = merkle.subtree(0, old, get) if old else merkle.EMPTY_ROOT
        return old_root, merkle.subtree(0, new, get), merkle.consistency(old, new, get)

    result: tuple[bytes, bytes, list[bytes]] = await _read(conn, compute)
    return result


async def latest_checkpoint(conn: AsyncConnection) -> Any | None:
    """The newest signed note (a row with `seq` and `note`), or None before the first."""
    statement = select(checkpoints.c.seq, checkpoints.c.note).where(checkpoints.c.note.is_not(None))
    return (await conn.execute(statement.order_by(checkpoints.c.seq.desc()).limit(1))).first()
