"""Walks the chain, rebuilds the Merkle tree, checks the signed checkpoints; names the first bad entry.

Detects an edited entry (its hash no longer matches its content), a deleted one (a gap in
seq), a reordering (an entry that does not follow the one before it), and a cut tail (a
signed checkpoint names an entry that is no longer there, or a different tree). A checkpoint
is a signed note of the tree's size and root (app/audit/note.py); one from before the tree
signs the chain's head (`keys.checkpoint_message`) and is checked as such. The walk also keeps
the tree's root at any size asked for (`roots_at`), for a witness's cosigned checkpoint
(app/audit/witness.py). Used by `auditIntegrity` and by `xinzheng audit verify`, on the
database or on an export.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
import orjson
from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.audit import keys, note
from app.audit.chain import GENESIS, Break, canonical, timestamp
from app.audit.merkle import Frontier, leaf_hash
from app.audit.rows import COLUMNS, audit_log, checkpoints, from_row

JSON_COLUMNS = ("variables", "subjects", "fields_masked", "fields_denied", "error_codes")
BATCH = 5000
# Every column of an entry, the JSON ones as their stored text: decoded here by orjson, about
# four times faster than the json module (which a value orjson refuses still goes to).
_ENTRY_COLUMNS = [
    cast(audit_log.c[c], String).label(c) if c in JSON_COLUMNS else audit_log.c[c] for c in COLUMNS.values()
]
_NAMES = list(COLUMNS)
_JSON_AT = [i for i, c in enumerate(COLUMNS.values()) if c in JSON_COLUMNS]


@dataclass(frozen=True)
class Integrity:
    ok: bool
    entries: int
    head_hash: str | None
    first_bad: Break | None
    checkpoints: int
    roots: dict[int, bytes] = field(default_factory=dict)  # the tree's root at the sizes asked for


def checkpoint_row(r: Any) -> dict[str, Any]:
    """A checkpoint row in the names the export uses."""
    return {
        "seq": r.seq, "headHash": r.head_hash, "at": timestamp(r.at), "keyId": r.key_id, "signature": r.signature,
        "rootHash": r.root_hash, "note": r.note,
    }  # fmt: skip


async def verify_entries(
    stream: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    signed: Sequence[Mapping[str, Any]],
    public_key: Ed25519PublicKey,
    *,
    roots_at: Collection[int] = (),
) -> Integrity:
    """Check a stream of entries (in seq order) against the signed checkpoints."""
    by_seq = {c["seq"]: c for c in signed}
    expected, prev, count, first_bad = 1, GENESIS, 0, None
    hashes_at_checkpoints: dict[int, str] = {}
    tree, roots = Frontier(), {0: Frontier().root()} if 0 in roots_at else {}
    wanted = set(roots_at) | set(by_seq)

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
            body = canonical(entry)
            if hashlib.sha256(body).hexdigest() != entry["hash"]:
                first_bad = Break(seq, f"entry {seq} was altered (its hash does not match its content)")
                return
            tree.append(leaf_hash(body))
            if seq in wanted:
                hashes_at_checkpoints[seq] = entry["hash"]
                roots[seq] = tree.root()
            prev, expected, count = entry["hash"], seq + 1, count + 1

    await walk()
    if first_bad is None:
        for seq in sorted(by_seq):
            first_bad = _check_checkpoint(by_seq[seq], public_key, expected, hashes_at_checkpoints, roots)
            if first_bad is not None:
                break
    return Integrity(
        ok=first_bad is None,
        entries=count,
        head_hash=prev if count else None,
        first_bad=first_bad,
        checkpoints=len(by_seq),
        roots={size: roots[size] for size in roots_at if size in roots},
    )


def _check_checkpoint(
    c: Mapping[str, Any], public_key: Ed25519PublicKey, expected: int, hashes: dict[int, str], roots: dict[int, bytes]
) -> Break | None:
    """A signed checkpoint against the entries walked (`expected` is the seq after the last)."""
    seq = c["seq"]
    unsigned = Break(seq, f"the checkpoint at entry {seq} is not signed by the service's audit key")
    if c.get("note") is None:  # from before the tree: it signs the chain's head
        message = keys.checkpoint_message(seq, c["headHash"], c["at"] if isinstance(c["at"], str) else timestamp(c["at"]))
        if not keys.verify(public_key, message, c["signature"]):
            return unsigned
        signed_root = None
    else:
        try:
            checkpoint = note.open_checkpoint(c["note"], note.parse(c["note"])[0].origin, public_key)
        except note.NoteError:
            return unsigned
        if checkpoint.size != seq or checkpoint.root.hex() != c.get("rootHash"):
            return Break(seq, f"the checkpoint row at entry {seq} does not say what its signed note says")
        signed_root = checkpoint.root
    if seq >= expected:
        return Break(expected, f"entries from {expected} on were removed (a signed checkpoint covers entry {seq})")
    if signed_root is None and hashes.get(seq) != c["headHash"]:
        return Break(seq, f"entry {seq} differs from the head its signed checkpoint recorded")
    if signed_root is not None and roots.get(seq) != signed_root:
        return Break(seq, f"the log up to entry {seq} differs from the head its signed checkpoint recorded (its tree root)")
    return None


async def checkpoint_rows(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = (await conn.execute(select(checkpoints).order_by(checkpoints.c.seq))).all()
    return [checkpoint_row(r) for r in rows]


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, an integer past 64 bits: what the json module wrote, it reads
        return json.loads(text)


async def stored_entries(conn: AsyncConnection) -> AsyncIterator[dict[str, Any]]:
    """Every entry in seq order, as `entries` gives them, read faster: verifying a million
    entries is mostly reading them (tuples, not mappings; JSON decoded by orjson)."""
    after = 0
    while True:
        rows = (
            await conn.execute(select(*_ENTRY_COLUMNS).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(BATCH))
        ).all()  # rows behave as tuples (SQLAlchemy 2.1 deprecates `tuples()`)
        for row in rows:
            values = list(row)
            for i in _JSON_AT:
                values[i] = _json(values[i])
            yield dict(zip(_NAMES, values, strict=True))
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


async def verify_database(
    conn: AsyncConnection, public_key: Ed25519PublicKey, *, roots_at: Collection[int] = ()
) -> Integrity:
    """The whole chain as stored, with its checkpoints."""
    return await verify_entries(stored_entries(conn), await checkpoint_rows(conn), public_key, roots_at=roots_at)


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
