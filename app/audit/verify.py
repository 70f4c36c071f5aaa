"""Walks the chain and its signed checkpoints and names the first bad entry.

Detects an edited entry (its hash no longer matches its content), a deleted one (a gap in
seq), a reordering (an entry that does not follow the one before it), and a cut tail (a
signed checkpoint names an entry that is no longer there, or a different head). Used by
`auditIntegrity` and by `xinzheng audit verify`, on the database or on an export.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.audit import keys
from app.audit.chain import GENESIS, Break, entry_hash, timestamp
from app.audit.store import checkpoints, entries


@dataclass(frozen=True)
class Integrity:
    ok: bool
    entries: int
    head_hash: str | None
    first_bad: Break | None
    checkpoints: int


async def verify_entries(
    stream: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    signed: Sequence[Mapping[str, Any]],
    public_key: Ed25519PublicKey,
) -> Integrity:
    """Check a stream of entries (in seq order) against the signed checkpoints."""
    by_seq = {c["seq"]: c for c in signed}
    expected, prev, count, first_bad = 1, GENESIS, 0, None
    hashes_at_checkpoints: dict[int, str] = {}

    async def walk() -> None:
        nonlocal expected, prev, count, first_bad
        iterator = stream.__aiter__() if hasattr(stream, "__aiter__") else None
        source = iterator if iterator is not None else iter(stream)  # type: ignore[arg-type]
        while True:
            try:
                entry = await source.__anext__() if iterator is not None else next(source)  # type: ignore[union-attr,arg-type]
            except (StopAsyncIteration, StopIteration):
                return
            seq = entry["seq"]
            if seq != expected:
                first_bad = Break(expected, f"entry {expected} is missing (the next one is {seq})")
                return
            if entry["prevHash"] != prev:
                first_bad = Break(seq, f"entry {seq} does not follow entry {seq - 1} (prevHash differs): reordered or replaced")
                return
            if entry_hash(entry) != entry["hash"]:
                first_bad = Break(seq, f"entry {seq} was altered (its hash does not match its content)")
                return
            if seq in by_seq:
                hashes_at_checkpoints[seq] = entry["hash"]
            prev, expected, count = entry["hash"], seq + 1, count + 1

    await walk()
    if first_bad is None:
        for seq in sorted(by_seq):
            c = by_seq[seq]
            message = keys.checkpoint_message(seq, c["headHash"], c["at"] if isinstance(c["at"], str) else timestamp(c["at"]))
            if not keys.verify(public_key, message, c["signature"]):
                first_bad = Break(seq, f"the checkpoint at entry {seq} is not signed by the service's audit key")
                break
            if seq >= expected:
                first_bad = Break(expected, f"entries from {expected} on were removed (a signed checkpoint covers entry {seq})")
                break
            if hashes_at_checkpoints.get(seq) != c["headHash"]:
                first_bad = Break(seq, f"entry {seq} differs from the head its signed checkpoint recorded")
                break
    return Integrity(
        ok=first_bad is None,
        entries=count,
        head_hash=prev if count else None,
        first_bad=first_bad,
        checkpoints=len(by_seq),
    )


async def checkpoint_rows(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = (await conn.execute(select(checkpoints).order_by(checkpoints.c.seq))).all()
    return [
        {"seq": r.seq, "headHash": r.head_hash, "at": timestamp(r.at), "keyId": r.key_id, "signature": r.signature}
        for r in rows
    ]


async def verify_database(conn: AsyncConnection, public_key: Ed25519PublicKey) -> Integrity:
    """The whole chain as stored, with its checkpoints."""
    return await verify_entries(entries(conn), await checkpoint_rows(conn), public_key)
