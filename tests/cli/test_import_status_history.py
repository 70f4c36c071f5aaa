"""An import writes each certificate's status history: one entry for a certificate it adds, one
more when it changes a certificate's status, none when it changes nothing (SPEC section 8).

Between the imports the tables are analyzed, as autovacuum does on a live database: the case
where the history was once read once per certificate (app/certificates/status.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.cli.conftest import write_jsonl, xinzheng
from tests.cli.lines import ALICE, AUTHORITIES, BOB, POLICE, certificate, person


async def histories(database_url: str) -> dict[str, list[tuple[str, str]]]:
    """Each certificate's number and its history, oldest first: (status, reason)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT c.number, h.status, h.reason FROM certificates c "
                    "JOIN certificate_status_changes h ON h.certificate_id = c.id ORDER BY c.number, h.at, h.id"
                )
            )
            found: dict[str, list[tuple[str, str]]] = {}
            for number, status, reason in rows:
                found.setdefault(number, []).append((status, reason))
            return found
    finally:
        await engine.dispose()


async def analyze(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


def city(**bob_card: Any) -> list[dict[str, Any]]:
    return [
        *AUTHORITIES,
        person(ALICE, "王芳"),
        person(BOB, "李明"),
        certificate("ID_CARD", ALICE, "PERSON", ALICE, POLICE),
        certificate("ID_CARD", BOB, "PERSON", BOB, POLICE, **bob_card),
    ]


async def test_the_history_has_an_entry_per_status_an_import_gives(empty_database_url: str, tmp_path: Path) -> None:
    url = empty_database_url
    assert xinzheng("import", str(write_jsonl(tmp_path / "a.jsonl", city())), database_url=url).returncode == 0
    assert await histories(url) == {ALICE: [("VALID", "imported")], BOB: [("VALID", "imported")]}

    await analyze(url)
    assert xinzheng("import", str(write_jsonl(tmp_path / "b.jsonl", city())), database_url=url).returncode == 0
    assert await histories(url) == {ALICE: [("VALID", "imported")], BOB: [("VALID", "imported")]}  # nothing changed

    await analyze(url)
    revoked = write_jsonl(tmp_path / "c.jsonl", city(status="REVOKED"))
    assert xinzheng("import", str(revoked), database_url=url).returncode == 0
    assert xinzheng("import", str(revoked), database_url=url).returncode == 0  # again: nothing more
    assert await histories(url) == {
        ALICE: [("VALID", "imported")],
        BOB: [("VALID", "imported"), ("REVOKED", "imported")],
    }
