"""Time moves scores on (issue 12): no read shows a score the date has since changed.

One person with a GENERAL penalty, a licence that ends and a dishonest-debtor listing that ends.
The clock is injected (time-machine): the import runs on one day, the reads on the day before
and the day after each bound. The day before, the stored score is shown; the day after, one
computed for that day, before and after `xinzheng score recompute --due` stores it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import time_machine
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.cli import main as xinzheng
from app.imports.pipeline import import_files
from app.main import create_app
from app.scoring.rules import BASE_SCORE
from tests.api.conftest import Tokens, settings_for

POLICE = "113301000024891313"
PERSON = "330106198503120028"
DECIDED = dt.date(2025, 3, 10)  # GENERAL: weighs 1.0 until 2026-03-09, 0.6 from 2026-03-10
LICENCE_ENDS = dt.date(2026, 6, 30)  # in force to the end of that day
LISTED_UNTIL = dt.date(2026, 9, 30)
DAY = dt.timedelta(days=1)
QUERY = "query($id: String!) { person(idNumber: $id) { creditScore { score computedAt factors { code impact } } } }"


@contextmanager
def on(day: dt.date) -> Iterator[None]:
    """The city's clock (UTC+8) at noon of `day`, frozen."""
    with time_machine.travel(dt.datetime.combine(day, dt.time(12), dt.timezone(dt.timedelta(hours=8))), tick=False):
        yield


def lines() -> list[dict[str, Any]]:
    return [
        {"kind": "authority", "code": POLICE, "name": "杭州市公安局", "authority_type": "ISSUER"},
        {"kind": "person", "id_number": PERSON, "name": "王芳"},
        {
            "kind": "penalty", "decision_number": "杭公罚〔2025〕1号", "holder_kind": "PERSON", "holder_id": PERSON,
            "severity": "GENERAL", "category": "治安", "reason": "噪声扰民", "basis": "《治安管理处罚法》第五十八条",
            "amount": "500.00", "authority_code": POLICE, "decided_on": DECIDED.isoformat(), "status": "ACTIVE",
        },
        {
            "kind": "licence", "decision_number": "杭公许〔2024〕9号", "holder_kind": "PERSON", "holder_id": PERSON,
            "category": "资格许可", "title": "保安员证", "content": "保安服务", "authority_code": POLICE,
            "decided_on": "2024-01-01", "valid_from": "2024-01-01", "valid_to": LICENCE_ENDS.isoformat(), "status": "VALID",
        },
        {
            "kind": "credit_flag", "holder_kind": "PERSON", "holder_id": PERSON, "flag": "DISHONEST_DEBTOR",
            "source": "最高人民法院失信被执行人名单", "since": "2025-06-01", "until": LISTED_UNTIL.isoformat(),
        },
    ]  # fmt: skip


async def read(database_url: str, day: dt.date) -> dict[str, Any]:
    with on(day):
        settings = settings_for(database_url)
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://xinzheng.test") as client,
        ):
            token = Tokens(settings).admin
            response = await client.post(
                "/graphql", json={"query": QUERY, "variables": {"id": PERSON}}, headers={"authorization": f"Bearer {token}"}
            )
    assert response.status_code == 200, response.text
    score: dict[str, Any] = response.json()["data"]["person"]["creditScore"]
    return score


async def stored(database_url: str) -> tuple[int, dt.date]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text("select score, holds_until from credit_scores"))).one()
    finally:
        await engine.dispose()
    holds = row.holds_until if isinstance(row.holds_until, dt.date) else dt.date.fromisoformat(row.holds_until)
    return row.score, holds


async def recompute_due(database_url: str, day: dt.date, monkeypatch: Any) -> None:
    """`xinzheng score recompute --due` on `day`, in this process (so that the clock is the
    test's) and in a thread of its own (the command runs its own event loop)."""
    monkeypatch.setenv("XINZHENG_DATABASE_URL", database_url)
    with on(day):
        assert await asyncio.to_thread(xinzheng, ["score", "recompute", "--due"]) == 0


def impacts(score: dict[str, Any]) -> dict[str, int]:
    return {f["code"]: f["impact"] for f in score["factors"]}


async def test_each_bound_the_day_before_and_the_day_after(empty_database_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    url = empty_database_url
    source = tmp_path / "facts.jsonl"
    source.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines()))
    engine = create_async_engine(url)
    try:
        with on(dt.date(2026, 1, 15)):
            report = await import_files(engine, [source])
    finally:
        await engine.dispose()
    assert not report.bad_lines
    first = BASE_SCORE - 40 + 5 - 250
    assert await stored(url) == (first, DECIDED.replace(year=2026) - DAY)

    before = await read(url, dt.date(2026, 3, 9))
    assert before["score"] == first and impacts(before)["PENALTY_GENERAL"] == -40
    after = await read(url, dt.date(2026, 3, 10))  # the penalty is a year old: it weighs 0.6
    assert after["score"] == first + 16 and impacts(after)["PENALTY_GENERAL"] == -24
    assert after["computedAt"] > before["computedAt"]
    assert (await stored(url))[0] == first  # a read writes nothing

    await recompute_due(url, dt.date(2026, 3, 10), monkeypatch)
    assert await stored(url) == (first + 16, LICENCE_ENDS)
    assert await read(url, dt.date(2026, 3, 10)) == after | {"computedAt": (await read(url, dt.date(2026, 3, 10)))["computedAt"]}

    assert impacts(await read(url, LICENCE_ENDS))["LICENCES_IN_FORCE"] == 5
    assert "LICENCES_IN_FORCE" not in impacts(await read(url, LICENCE_ENDS + DAY))
    await recompute_due(url, LICENCE_ENDS + DAY, monkeypatch)
    assert await stored(url) == (first + 16 - 5, LISTED_UNTIL)

    assert impacts(await read(url, LISTED_UNTIL))["DISHONEST_DEBTOR"] == -250
    lifted = await read(url, LISTED_UNTIL + DAY)
    assert "DISHONEST_DEBTOR" not in impacts(lifted) and lifted["score"] == first + 16 - 5 + 250

    # Nothing is due on a day a score still holds: the daily job changes nothing then.
    await recompute_due(url, LISTED_UNTIL + DAY, monkeypatch)
    score, holds = await stored(url)
    await recompute_due(url, LISTED_UNTIL + 2 * DAY, monkeypatch)
    assert await stored(url) == (score, holds) and holds == dt.date(2028, 3, 9)  # the 3-year bound is next
