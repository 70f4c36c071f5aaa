"""What an attacker with the database (and perhaps the audit key) does to rewrite history whole:
the chain recomputed, the Merkle tree rebuilt, checkpoints signed again. Written with the
service's own code, as an attacker who read it would.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit import keys, note
from app.audit.chain import canonical, entry_hash
from app.audit.merkle import Frontier, leaf_hash
from app.audit.rows import DEFAULT_ORIGIN, audit_log, checkpoints, to_row
from app.audit.tree import tree
from tests.audit.conftest import drop_append_only_trigger, stored_entries

TABLES = ("audit_log", "audit_tree", "audit_checkpoints")


async def rewrite(url: str, *, change: int | None = None, keep: int | None = None) -> list[dict[str, Any]]:
    """Entry `change` made to say the request came from elsewhere and/or the log cut to its first
    `keep` entries; the chain recomputed and the tree rebuilt to match. Returns the new log."""
    await drop_append_only_trigger(url, *TABLES)
    log = [e for e in await stored_entries(url) if keep is None or e["seq"] <= keep]
    prev = None
    for entry in log:
        if entry["seq"] == change:
            entry["clientAddress"] = "10.9.8.7"
        if prev is not None:
            entry["prevHash"] = prev
        entry["hash"] = prev = entry_hash(entry)
    frontier, nodes = Frontier(), []
    for entry in log:
        nodes += [{"level": lv, "idx": ix, "hash": h.hex()} for lv, ix, h in frontier.append(leaf_hash(canonical(entry)))]
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(audit_log))
            await conn.execute(delete(tree))
            if log:
                await conn.execute(insert(audit_log), [to_row(e) for e in log])
                await conn.execute(insert(tree), nodes)
            if keep is not None:
                await conn.execute(delete(checkpoints).where(checkpoints.c.seq > keep))
    finally:
        await engine.dispose()
    return log


async def resign(url: str, key: Ed25519PrivateKey, sizes: list[int], *, origin: str = DEFAULT_ORIGIN) -> None:
    """The checkpoints of these sizes replaced by notes of the tree as it now is, signed with `key`."""
    log = await stored_entries(url)
    frontier, rows = Frontier(), []
    for entry in log:
        frontier.append(leaf_hash(canonical(entry)))
        if entry["seq"] in sizes:
            signed = note.sign(note.checkpoint_text(origin, frontier.size, frontier.root()), origin, key)
            rows.append({
                "seq": entry["seq"], "head_hash": entry["hash"], "at": dt.datetime.now(dt.UTC),
                "key_id": keys.key_id(key.public_key()), "signature": signed.rsplit(" ", 1)[1].strip(),
                "root_hash": frontier.root().hex(), "note": signed,
            })  # fmt: skip
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(checkpoints).where(checkpoints.c.seq.in_(sizes)))
            await conn.execute(insert(checkpoints), rows)
    finally:
        await engine.dispose()
