"""Tampering with the audit log for real, as someone with access to the database would, and
`xinzheng audit verify` naming the first bad entry every time.

The chain is made by real GraphQL requests (12 entries, a signed checkpoint at 5 and 10).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from app.audit.chain import entry_hash
from app.audit.rows import audit_log, to_row
from tests.audit.forge import resign, rewrite
from tests.audit.conftest import (
    CHECKPOINT_EVERY,
    ENTRIES,
    Service,
    backend,
    drop_append_only_trigger,
    entry_count,
    first_bad_seq,
    make_chain,
    public_pem,
    sql,
    stored_entries,
    xinzheng,
)


async def replace_entries(url: str, new: list[dict[str, Any]]) -> None:
    """Delete the entries with these seqs and insert these in their place."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(audit_log).where(audit_log.c.seq.in_([e["seq"] for e in new])))
            await conn.execute(insert(audit_log), [to_row(e) for e in new])
    finally:
        await engine.dispose()


async def edit_a_field(url: str) -> None:
    """Entry 7 now says the request came from elsewhere."""
    await sql(url, "UPDATE audit_log SET client_address = '10.9.8.7' WHERE seq = 7")


async def delete_one_in_the_middle(url: str) -> None:
    await sql(url, "DELETE FROM audit_log WHERE seq = 7")


async def swap_two(url: str) -> None:
    """Entries 6 and 7 trade places: each keeps its seq and takes the other's content."""
    six, seven = [e for e in await stored_entries(url) if e["seq"] in (6, 7)]
    await replace_entries(url, [{**seven, "seq": 6}, {**six, "seq": 7}])


async def cut_the_tail(url: str) -> None:
    """Everything from entry 8 on is gone; the checkpoint at 10 still stands."""
    await sql(url, "DELETE FROM audit_log WHERE seq >= 8")


async def rewrite_and_rehash(url: str) -> None:
    """Entry 7 is changed and the chain recomputed from it: every hash matches, but the signed head at 10 does not."""
    chain = [e for e in await stored_entries(url) if e["seq"] >= 7]
    prev = None
    for entry in chain:
        if entry["seq"] == 7:
            entry["clientAddress"], prev = "10.9.8.7", entry["prevHash"]
        entry["prevHash"] = prev
        entry["hash"] = prev = entry_hash(entry)
    await replace_entries(url, chain)


async def rewrite_and_rebuild_the_tree(url: str) -> None:
    """Entry 7 is changed, the chain recomputed and the Merkle tree rebuilt to match: the signed root at 10 differs."""
    await rewrite(url, change=7)


async def rewrite_and_sign_with_another_key(url: str) -> None:
    """As above, and the checkpoint at 10 replaced by a note of the new tree signed with a key that is not the service's."""
    await rewrite(url, change=7)
    await resign(url, Ed25519PrivateKey.generate(), [10])


TAMPERINGS = {
    # name: (what is done, the first bad entry, a word of the reason)
    "edit_a_field": (edit_a_field, 7, "altered"),
    "delete_one_in_the_middle": (delete_one_in_the_middle, 7, "missing"),
    "swap_two": (swap_two, 6, "does not follow"),
    "cut_the_tail": (cut_the_tail, 8, "removed"),
    "rewrite_and_rehash": (rewrite_and_rehash, 10, "differs from the head its signed checkpoint recorded"),
    "rewrite_and_rebuild_the_tree": (rewrite_and_rebuild_the_tree, 10, "differs from the head its signed checkpoint recorded"),
    "rewrite_and_sign_with_another_key": (rewrite_and_sign_with_another_key, 10, "not signed by the service's audit key"),
}


async def test_an_untouched_chain_verifies(service: Service) -> None:
    await make_chain(service)
    result = xinzheng("audit", "verify", database_url=service.url)
    assert result.returncode == 0, result.stderr
    assert f"intact: {ENTRIES} entries" in result.stdout
    assert "2 signed checkpoint(s)" in result.stdout
    assert "entries 11-12 are not yet under a signed checkpoint" in result.stdout


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
async def test_verify_names_the_first_bad_entry(service: Service, tampering: str) -> None:
    tamper, bad_seq, reason = TAMPERINGS[tampering]
    await make_chain(service)
    await drop_append_only_trigger(service.url)
    await tamper(service.url)

    result = xinzheng("audit", "verify", database_url=service.url)

    assert first_bad_seq(result) == bad_seq, result.stderr
    assert reason in result.stderr


async def test_verify_with_another_public_key_fails_at_the_first_checkpoint(service: Service, tmp_path: Path) -> None:
    await make_chain(service)
    other = public_pem(Ed25519PrivateKey.generate(), tmp_path / "other.pem")
    result = xinzheng("audit", "verify", "--public-key", str(other), database_url=service.url)
    assert first_bad_seq(result) == CHECKPOINT_EVERY
    assert "not signed" in result.stderr


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET outcome = 'SERVED' WHERE seq = 3", "DELETE FROM audit_log WHERE seq = 3",
                                       "DELETE FROM audit_log",
                                       "UPDATE audit_checkpoints SET head_hash = 'x'", "DELETE FROM audit_checkpoints"])
async def test_the_database_refuses_to_change_or_delete_entries(service: Service, statement: str) -> None:
    await make_chain(service)
    before = await stored_entries(service.url)

    with pytest.raises(DBAPIError, match="append-only"):
        await sql(service.url, statement)

    assert await stored_entries(service.url) == before


async def test_postgresql_refuses_to_truncate_the_log(service: Service) -> None:
    if backend(service.url) == "sqlite":
        pytest.skip("SQLite has no TRUNCATE (its DELETE without WHERE is refused above)")
    await make_chain(service)
    with pytest.raises(DBAPIError, match="append-only"):
        await sql(service.url, "TRUNCATE audit_log")
    assert await entry_count(service.url) == ENTRIES
