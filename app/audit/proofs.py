"""What a caller is given to check the log offline: receipts and consistency proofs.

A receipt is an entry's leaf hash, its inclusion proof and the newest signed checkpoint, which
covers it (if none does yet, the head is signed now: a caller never waits for the timer). A
consistency proof runs from any size to the size of a signed checkpoint, whose note comes
with it. Used by the GraphQL fields (app/resolvers/audit.py) and the witness's HTTP endpoints
(app/audit/endpoints.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contextlib import AbstractAsyncContextManager

from sqlalchemy import bindparam, select

from app.audit import tree
from app.audit.rows import audit_log
from app.audit.store import AuditStore
from app.i18n import Localised, Text


class ProofRequestError(Localised, ValueError):
    """The sizes or seq asked for cannot be proved; the message (a text of app/i18n) says why (the caller's fault)."""


@dataclass(frozen=True)
class Receipt:
    seq: int
    leaf_index: int
    leaf_hash: str
    tree_size: int
    root_hash: str
    inclusion_proof: list[str]
    checkpoint: str


@dataclass(frozen=True)
class Consistency:
    from_size: int
    to_size: int
    from_root_hash: str
    to_root_hash: str
    consistency_proof: list[str]
    checkpoint: str


MAX_SEQ = 2**63 - 1  # audit_log.seq is a BIGINT

ACTOR = select(audit_log.c.actor_role, audit_log.c.actor_sub, audit_log.c.actor_org).where(
    audit_log.c.seq == bindparam("seq")
)


def reading(store: AuditStore) -> AbstractAsyncContextManager[tree.Run]:
    return tree.reading(store.engine, store.sync_engine)


async def entry_actor(store: AuditStore, seq: int) -> Any | None:
    """Who made entry `seq` (its role, sub and organisation), or None if there is no such entry."""
    async with reading(store) as run:
        rows = await run(ACTOR, {"seq": seq})
    return rows[0] if rows else None


async def receipt(store: AuditStore, seq: int) -> Receipt:
    """The receipt of an entry that exists."""
    async with reading(store) as run:
        latest = await tree.latest_checkpoint(run)
    if latest is None or latest.seq < seq:
        await store.sign_head()
        async with reading(store) as run:
            latest = await tree.latest_checkpoint(run)
    assert latest is not None and latest.seq >= seq
    async with reading(store) as run:
        proof = await tree.inclusion(run, seq - 1, latest.seq)
    return Receipt(
        seq=seq,
        leaf_index=seq - 1,
        leaf_hash=proof.leaf.hex(),
        tree_size=latest.seq,
        root_hash=proof.root.hex(),
        inclusion_proof=[p.hex() for p in proof.proof],
        checkpoint=latest.note,
    )


async def consistency(
    store: AuditStore, from_size: int, to_size: int, *, names: tuple[str, str] = ("fromSize", "toSize")
) -> Consistency:
    """The proof that the tree at `from_size` is a prefix of the signed one at `to_size`.

    `names`: the two sizes' names as the caller gave them, for the reason of a refusal."""
    low, high = names
    if not 0 <= from_size <= to_size:
        raise ProofRequestError("audit.proof_sizes", low=low, high=high)
    async with reading(store) as run:
        # A size past any seq (a BIGINT) is no checkpoint's: not looked up, which the database would refuse.
        signed = await tree.signed_note(run, to_size) if to_size <= MAX_SEQ else None
        if signed is None:
            latest = await tree.latest_checkpoint(run)
            newest = Text("audit.newest_checkpoint", {"seq": latest.seq}) if latest is not None else Text("audit.no_checkpoint")
            raise ProofRequestError("audit.proof_to_size", high=high, newest=newest)
        old_root, new_root, proof = await tree.consistency(run, from_size, to_size)
    return Consistency(
        from_size=from_size,
        to_size=to_size,
        from_root_hash=old_root.hex(),
        to_root_hash=new_root.hex(),
        consistency_proof=[p.hex() for p in proof],
        checkpoint=signed,
    )
