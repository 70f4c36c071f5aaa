"""Two issuances at once on PostgreSQL: each picks its identifier's version and its status-list
entry from what is committed, so two that overlap can pick the same ones. The second to insert
waits for the first, and then must not fail: it picks again, from what the first committed.

SQLite takes one write transaction at a time (app/db/request.py), so no two issuances overlap there."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from app.certificates import entries
from app.certificates.issue import issue_certificate
from app.certificates.keys import DEV_KEYS
from app.identifiers import parse_certificate_identifier
from app.imports.seed import seed
from tests.cli.lines import TODAY
from tests.conftest import DatabaseFactory

POLICE = "113301000024891313"  # 杭州市公安局, an issuer of the demo city
WANG_FANG = "330106198503120028"
AT = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def card(number: str) -> dict[str, Any]:
    return {"type_code": "DRIVING_LICENCE", "number": number, "holder_kind": "PERSON", "holder_id": WANG_FANG,
            "issuer_code": POLICE, "issued_on": "2026-11-30", "valid_from": "2026-11-30", "valid_until": None,
            "data": {}}  # fmt: skip


async def waits_on_a_lock(conn: AsyncConnection, pid: int) -> None:
    """Until the backend `pid` waits on a lock (the other's uncommitted row)."""
    for _ in range(2_000):
        wait = (await conn.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"), {"p": pid})).scalar()
        if wait == "Lock":
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the second issuance never waited for the first")


def picks(*indexes: int) -> Iterator[int]:
    yield from indexes


@pytest.mark.parametrize("second_number", ["A-1", "B-2"], ids=["same-certificate", "another-certificate"])
async def test_two_overlapping_issuances_both_succeed_with_their_own_identifier_and_entry(
    databases: DatabaseFactory, empty_database_url: str, monkeypatch: pytest.MonkeyPatch, second_number: str
) -> None:
    if databases.backend != "postgresql":
        pytest.skip("SQLite takes one write transaction at a time: no two issuances overlap")
    engine = create_async_engine(empty_database_url)
    try:
        await seed(engine, today=TODAY)  # the demo city, its issuers' keys made
        # Both pick entry 7 of the police's list; picking again, the second finds it taken.
        drawn = picks(7, 7, 7, 8)
        monkeypatch.setattr(entries.secrets, "randbelow", lambda _n: next(drawn))
        async with engine.connect() as first, engine.connect() as second, engine.connect() as watch:
            await first.begin()
            await second.begin()
            pid = (await second.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            one = await issue_certificate(first, card("A-1"), keys=DEV_KEYS, actor_org=POLICE, at=AT)
            pending = asyncio.ensure_future(
                issue_certificate(second, card(second_number), keys=DEV_KEYS, actor_org=POLICE, at=AT)
            )
            await waits_on_a_lock(watch, pid)
            await first.commit()
            two = await pending
            await second.commit()
            rows = (
                await watch.execute(
                    text("SELECT identifier, status_index FROM certificates WHERE identifier IN (:a, :b) ORDER BY identifier"),
                    {"a": one, "b": two},
                )
            ).all()
    finally:
        await engine.dispose()
    assert one != two
    if second_number == "A-1":  # the same certificate issued again: the next version
        first_version, second_version = (int(parse_certificate_identifier(i).version) for i in (one, two))
        assert second_version == first_version + 1
    assert sorted(index for _, index in rows) == [7, 8]
