"""A small import looks at what it writes, not at everything on file (issue 8, scale).

An import of a few lines into a large city used to read its issuers' whole open status lists
(53,743 entries for two certificates of the police's) and every certificate's status history.
Now, below a size, it looks up each status-list entry it tries and the history of its own
certificates only. Each way must give what the other gives."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.certificates import entries, status
from app.imports import import_files, write
from tests.cli.conftest import write_jsonl
from tests.cli.lines import ALICE, BOB, POLICE, TODAY, certificate
from tests.cli.test_import_status_history import city, histories


@pytest.mark.parametrize("whole", [False, True], ids=["entries-looked-up", "list-read-whole"])
async def test_an_import_never_picks_a_status_list_entry_on_file(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: bool
) -> None:
    if whole:
        monkeypatch.setattr(entries, "READ_WHOLE_FROM", 0)
    drawn = iter([7, 7, 9])  # the second import draws the first one's entry first
    monkeypatch.setattr(entries.secrets, "randbelow", lambda _n: next(drawn))
    first = [*city()[:4], certificate("ID_CARD", ALICE, "PERSON", ALICE, POLICE)]
    assert (await import_files(engine, [write_jsonl(tmp_path / "a.jsonl", first)], today=TODAY)).ok
    second = [*first, certificate("DRIVING_LICENCE", "D-1", "PERSON", ALICE, POLICE)]
    assert (await import_files(engine, [write_jsonl(tmp_path / "b.jsonl", second)], today=TODAY)).ok

    async with engine.connect() as conn:
        found = await conn.execute(text("SELECT number, status_list, status_index FROM certificates ORDER BY number"))
        assert [tuple(r) for r in found] == [(ALICE, 1, 7), ("D-1", 1, 9)]


@pytest.mark.parametrize("own", [True, False], ids=["its-own-certificates", "every-certificate"])
async def test_the_status_history_is_the_same_whichever_certificates_an_import_looks_at(
    engine: AsyncEngine, empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own: bool
) -> None:
    if own:  # one certificate a statement: the chunks meet
        monkeypatch.setattr(status, "ARRAY_CHUNK", 1)
        monkeypatch.setattr(status, "IN_CHUNK", 1)
    else:
        monkeypatch.setattr(write, "FEW_CERTIFICATES", 0)
    revoked = write_jsonl(tmp_path / "revoked.jsonl", city(status="REVOKED"))
    for path in (write_jsonl(tmp_path / "city.jsonl", city()), revoked, revoked):
        assert (await import_files(engine, [path], today=TODAY)).ok
    assert await histories(empty_database_url) == {
        ALICE: [("VALID", "imported")],
        BOB: [("VALID", "imported"), ("REVOKED", "imported")],
    }
